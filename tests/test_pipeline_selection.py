"""Selection for runners (`--present`, `--shard I/N`), the release's completeness in the summary
and `--json`, and the registry the summary names: against the real docker-registry and the
strict Hub double (the `world` fixture of support/release_world.py)."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from support.release_world import World, runner

from publisher.cli import app
from publisher.errors import UsageError
from publisher.manifest import load
from publisher.pipeline.selection import Shard, select


@pytest.mark.parametrize("text", ["0/1", "0/4", "3/4", " 2/3 "])
def test_a_shard_is_i_of_n_zero_based(text: str) -> None:
    shard = Shard.parse(text)
    assert 0 <= shard.index < shard.count and str(shard) == text.strip()


@pytest.mark.parametrize(
    "text", ["4/4", "1/0", "0/0", "-1/3", "1", "a/b", "1/2/3", "", "1 /2", "\u0661/\u0662"]
)
def test_a_bad_shard_is_a_usage_error_naming_the_rule(text: str) -> None:
    with pytest.raises(UsageError, match=r"--shard: expected I/N with 0 ≤ I < N"):
        Shard.parse(text)


def test_n_shards_cover_every_tag_exactly_once(world: World) -> None:
    release = load(world.manifest)
    names = [t.tag for t in release.tags]
    for count in range(1, 6):
        shares = [
            [t.tag for t in select(release, shard=Shard(i, count)).tags] for i in range(count)
        ]
        assert sorted(t for share in shares for t in share) == sorted(names)
        # round-robin in manifest order: position k goes to shard k mod N
        assert shares[0][0] == names[0] and all(len(s) <= -(-len(names) // count) for s in shares)
    assert select(release, shard=Shard(1, 2)).left_out == {
        "Q4_K_M": "in shard 0/2",
        "F16": "in shard 0/2",
    }


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_present_publishes_what_is_here_and_reports_the_rest(world: World) -> None:
    q6 = world.gguf_dir / "tiny-Q6_K.gguf"
    kept = q6.read_bytes()
    q6.unlink()
    code, data, output = world.run("--yes")
    assert code == 1 and "--present" in data["error"]  # without it a missing GGUF stops the run
    code, data, output = world.run("--yes", "--present")
    assert code == 0, output
    assert data["selection"]["tags"] == ["Q4_K_M", "F16"]
    assert "GGUF not here" in data["selection"]["left_out"]["Q6_K"]
    assert data["complete"] is False and data["missing_tags"] == ["Q6_K"]
    assert world.manifest_digest("Q4_K_M") and world.manifest_digest("Q6_K") is None
    assert "tiny-F16.gguf" in world.hub_files() and "tiny-Q6_K.gguf" not in world.hub_files()
    status = runner.invoke(app, ["status", str(world.manifest), "--json"])
    assert status.exit_code == 1  # until the release is complete

    q6.write_bytes(kept)
    code, text = _text_run(world, "--yes", "--present")
    assert code == 0, text
    assert "The release is complete: all 3 tags are published." in text
    assert world.manifest_digest("Q6_K") is not None


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_shards_publish_the_release_between_them(world: World) -> None:
    code, data, output = world.run("--yes", "--shard", "0/2")
    assert code == 0, output
    assert data["selection"]["tags"] == ["Q4_K_M", "F16"]
    assert data["complete"] is False and data["missing_tags"] == ["Q6_K"]
    assert world.manifest_digest("Q6_K") is None and "tiny-Q6_K.gguf" not in world.hub_files()
    code, text = _text_run(world, "--yes", "--shard", "1/2")
    assert code == 0, text
    assert "Not in this run: Q4_K_M (in shard 0/2), F16 (in shard 0/2)." in text
    assert "The release is complete: all 3 tags are published." in text
    assert world.manifest_digest("Q6_K") is not None and "tiny-Q6_K.gguf" in world.hub_files()


def test_a_shard_past_the_ladder_publishes_nothing_and_succeeds(world: World) -> None:
    code, data, output = world.run("--yes", "--shard", "4/5")
    assert code == 0, output
    assert data["selection"]["tags"] == [] and data["bytes_uploaded"] == 0
    assert data["complete"] is False and data["missing_tags"] == ["Q4_K_M", "Q6_K", "F16"]
    assert world.manifest_digest("Q4_K_M") is None and world.hub_files() == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", "3/3"], "--shard: expected I/N with 0 ≤ I < N"),
        (["--shard", "x"], "--shard: expected I/N"),
        (["--shard", "0/2", "--tag", "Q6_K"], "--tag and --shard both choose"),
    ],
)
def test_bad_selections_are_usage_errors(world: World, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["release", str(world.manifest), "--dry-run", *args])
    assert result.exit_code == 2 and message in result.output
    assert result.output.count("error:") == 1


def test_prune_with_a_partial_selection_says_it_is_manifest_wide(world: World) -> None:
    code, data, output = world.run("--dry-run", "--prune", "--shard", "1/2")
    assert code == 0, output
    assert data["prune_scope"] == "manifest"
    code, text = _text_run(world, "--dry-run", "--prune", "--shard", "1/2")
    assert "--prune is manifest-wide: it deletes only files that none of the manifest's 3" in text


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_the_summary_names_the_registry_actually_used(world: World) -> None:
    """`--ollama-registry` overrides `[ollama] registry`: every line names the override."""
    override = world.registry.replace("127.0.0.1", "localhost")
    code, text = _text_run(world, "--yes", "--only", "ollama", "--ollama-registry", override)
    assert code == 0, text
    assert f"via {override}" in text and f"via {world.registry})" not in text
    code, data, _ = world.run("--dry-run", "--ollama-registry", "http://127.0.0.1:9")
    assert "via http://127.0.0.1:9" in data["summary"]["sentence"]
    assert world.registry not in data["summary"]["sentence"]


def _text_run(world: World, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["release", str(world.manifest), *args])
    return result.exit_code, result.output


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_fresh_machine_sees_published_tags_as_published(
    world: World, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No GGUF, no ledger, another cache: every tag published elsewhere is published, and the
    release is complete; before that, status exits 1 and says which tags are not."""
    fresh = tmp_path_factory.mktemp("fresh-machine")
    manifest = fresh / world.manifest.name
    manifest.write_text(world.manifest.read_text())
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(fresh / "cache"))
    monkeypatch.setenv("HOME", str(fresh / "home"))

    def status() -> tuple[int, dict[tuple[str, str], str]]:
        result = runner.invoke(app, ["status", str(manifest), "--json"])
        rows = json.loads(result.stdout)["targets"]
        return result.exit_code, {(r["target"], r["tag"]): r["state"] for r in rows}

    assert world.run("--yes", "--tag", "Q4_K_M")[0] == 0
    code, states = status()
    assert code == 1
    assert states[("ollama", "Q4_K_M")] == states[("huggingface", "Q4_K_M")] == "up-to-date"
    assert states[("ollama", "Q6_K")] == states[("huggingface", "F16")] == "missing"
    assert world.run("--yes")[0] == 0
    code, states = status()
    assert code == 0, states
    assert not any(target == "ledger" for target, _ in states)  # nothing of this machine's
    assert not (fresh / "t1.lock.json").exists()


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_status_rebuilds_an_absent_ledger_from_the_remotes(world: World) -> None:
    assert world.run("--yes")[0] == 0
    ledger = world.manifest.parent / "t1.lock.json"
    recorded = json.loads(ledger.read_text())["tags"]
    ledger.unlink()
    result = runner.invoke(app, ["status", str(world.manifest), "--json"])
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(result.stdout)["targets"] if r["target"] == "ledger"]
    assert {r["tag"]: r["detail"] for r in rows} == dict.fromkeys(
        ["Q4_K_M", "Q6_K", "F16"], "rebuilt from the remotes"
    )
    rebuilt = json.loads(ledger.read_text())["tags"]
    for tag, entry in recorded.items():
        assert rebuilt[tag]["files"] == entry["files"]


def test_hub_ledger_entries_record_their_endpoint(world: World) -> None:
    assert world.run("--yes", "--tag", "F16")[0] == 0
    steps = json.loads((world.manifest.parent / "t1.lock.json").read_text())["targets"]
    entry = steps["huggingface"]["file:tiny-F16.gguf"]
    assert entry["repo"] == world.hf_repo and entry["endpoint"] == "https://huggingface.co"


def test_the_daemon_target_reads_the_registry_for_a_tag_whose_gguf_is_elsewhere(
    docker_registry: str, tmp_path: Path
) -> None:
    """Status on a machine without the GGUF: published when the registry holds the tag's
    manifest, missing when not — never "unknown" (the daemon path, as the direct push)."""
    from doubles.ollama_standin import make_payload

    from publisher.ollama.daemon import OllamaTarget
    from publisher.ollama.registry import DOCKER_MANIFEST_V2, RegistryClient

    repository = f"runs/daemon-{uuid.uuid4().hex[:8]}"
    payload = make_payload(tmp_path, model=repository)
    elsewhere = replace(payload, tags=[replace(tp, files=[]) for tp in payload.tags])
    target = OllamaTarget(
        payload.release, host="http://127.0.0.1:9", registry=docker_registry, insecure=True
    )
    config = b'{"published": "elsewhere"}'
    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_V2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": digest, "size": len(config)},
        "layers": [],
    }  # fmt: skip
    with RegistryClient(docker_registry, repository, insecure=True) as client:
        client.upload_blob(config, digest, len(config))
        published = client.put_manifest("Q4_K_M", json.dumps(manifest).encode())
    rows = {row.tag: row for row in target.status(elsewhere)}
    assert rows["Q4_K_M"].state == "up-to-date" and published in rows["Q4_K_M"].detail
    assert "GGUF not here" in rows["Q4_K_M"].detail
    assert rows["Q6_K"].state == "missing" and rows["latest"].state == "missing"
