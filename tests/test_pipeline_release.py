"""`publish release` end to end: tiny gemma4 GGUFs, a real docker-registry, the strict HF double.

Covers the issue's "done means": a full release; a broken GGUF stops everything before the first
byte; an interruption resumes to the same end state; a second run is a no-op (0 bytes uploaded,
0 bytes hashed); the lock refuses a concurrent run; the dry run touches nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.gguf_factory import write_gemma4_gguf
from support.release_world import FTYPES, TOKEN, World, runner

from publisher.cli import app
from publisher.lock import release_lock
from publisher.ollama.registry import RegistryClient


def test_dry_run_renders_and_plans_but_touches_no_remote(world: World) -> None:
    code, data, output = world.run("--dry-run")
    assert code == 0, output
    assert [t["status"] for t in data["tags"]] == ["ok", "ok", "ok"]
    assert all(len(t["sha256"]) == 64 for t in data["tags"])
    files = {f["path_in_repo"]: f for f in data["huggingface"]["files"]}
    assert {"tiny-Q4_K_M.gguf", "tiny-Q4_K_M.gguf.sha256", "README.md", "params"} <= set(files)
    assert files["tiny-F16.gguf"]["sha256"] == data["tags"][2]["sha256"]
    assert {op["tag"] for op in data["ollama"]["operations"]} == {"Q4_K_M", "Q6_K", "latest"}
    assert data["bytes_uploaded"] == 0
    assert world.manifest_digest("Q4_K_M") is None and world.hub.calls == []
    assert (Path("build") / "t1" / "huggingface" / "README.md").is_file()
    assert not (world.manifest.parent / "t1.lock.json").exists()


@pytest.mark.slow
def test_full_release_then_noop_rerun(world: World) -> None:
    code, data, output = world.run("--yes")
    assert code == 0, output
    assert data["ok"] and data["bytes_uploaded"] > 0

    # Ollama side: every tag in the registry, latest equal to its source, params exact
    q4 = world.manifest_digest("Q4_K_M")
    assert q4 is not None and world.manifest_digest("latest") == q4
    assert world.manifest_digest("Q6_K") not in (None, q4)
    assert world.manifest_digest("F16") is None  # F16 is HF-only
    with RegistryClient(world.registry, world.repository, insecure=True) as client:
        manifest, _ = client.get_manifest("Q6_K")  # type: ignore[misc]
        params = next(
            layer for layer in manifest["layers"] if layer["mediaType"].endswith(".params")
        )
        assert json.loads(client.get_blob(params["digest"]))["temperature"] == 0.8
        model = next(layer for layer in manifest["layers"] if layer["mediaType"].endswith(".model"))
        assert model["digest"] == "sha256:" + data["tags"][1]["sha256"]

    # HF side: GGUFs, sidecars, side files and card
    files = world.hub_files()
    for tag in FTYPES:
        name = f"tiny-{tag}.gguf"
        assert files[name] == (world.gguf_dir / name).read_bytes()
        sidecar = files[f"{name}.sha256"].decode()
        assert sidecar.split()[0] == next(t["sha256"] for t in data["tags"] if t["tag"] == tag)
    assert b"<!-- publisher:begin" in files["README.md"]
    assert json.loads(files["params"])["stop"] == ["<turn|>", "<|tool_response>"]

    ledger = json.loads((world.manifest.parent / "t1.lock.json").read_text())
    assert ledger["targets"]["ollama"]["push:latest"]["manifest_digest"] == q4
    assert TOKEN not in json.dumps(ledger)

    commits_before = len(world.hub.commits(world.hf_repo))
    code, again, output = world.run("--yes")
    assert code == 0, output
    assert again["bytes_uploaded"] == 0 and again["bytes_hashed"] == 0
    assert len(world.hub.commits(world.hf_repo)) == commits_before
    assert {op["action"] for op in again["ollama"]["operations"]} == {"skip-tag"}
    assert world.manifest_digest("latest") == q4


def test_broken_gguf_stops_everything_before_the_first_byte(world: World) -> None:
    write_gemma4_gguf(
        world.gguf_dir / "tiny-Q6_K.gguf",
        file_type=18,
        tensor_experts={"blk.1.ffn_down_exps.weight": 128},
    )
    code, data, _ = world.run("--yes")
    assert code == 1
    assert "blk.1.ffn_down_exps.weight" in data["error"]
    assert [s["name"] for s in data["steps"]] == ["load", "verify"]
    assert world.manifest_digest("Q4_K_M") is None
    assert not any(name in ("create_commit", "create_repo") for name, _ in world.hub.calls)


@pytest.mark.slow
def test_failed_upload_resumes_to_the_same_end_state(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_put = RegistryClient.put_manifest
    calls = {"n": 0}

    def flaky_put(self: RegistryClient, tag: str, *args: Any, **kwargs: Any) -> str:
        calls["n"] += 1
        if tag == "Q6_K" and calls["n"] <= 2:
            raise httpx.ConnectError("connection dropped")
        return real_put(self, tag, *args, **kwargs)

    monkeypatch.setattr(RegistryClient, "put_manifest", flaky_put)
    world.hub.fail("create_commit", 500)
    code, data, output = world.run("--yes")
    assert code == 1, output
    assert "Q6_K" in data["failures"]["ollama"]
    assert world.manifest_digest("Q6_K") is None
    assert world.manifest_digest("Q4_K_M") is not None  # the run went on with the other tags

    code, resumed, output = world.run("--yes")
    assert code == 0, output
    skipped = {op["tag"] for op in resumed["ollama"]["operations"] if op["action"] == "skip-tag"}
    assert {"Q4_K_M", "latest"} <= skipped  # finished work is not redone
    assert world.manifest_digest("Q6_K") is not None
    assert resumed["bytes_hashed"] == 0

    # the end state equals an uninterrupted run's: a further run has nothing to do
    code, final, _ = world.run("--yes")
    assert code == 0 and final["bytes_uploaded"] == 0
    assert {op["action"] for op in final["ollama"]["operations"]} == {"skip-tag"}
    files = world.hub_files()
    assert all(f"tiny-{tag}.gguf" in files for tag in FTYPES)


def test_a_concurrent_run_is_refused(world: World) -> None:
    with release_lock(world.manifest.parent / ".t1.publish.lock"):
        code, data, _ = world.run("--yes")
    assert code == 2 and "another publish run" in data["error"]
    assert world.manifest_digest("Q4_K_M") is None


def test_missing_gguf_is_listed_in_the_dry_run_and_refused_for_real(world: World) -> None:
    (world.gguf_dir / "tiny-Q6_K.gguf").unlink()
    code, data, _ = world.run("--dry-run")
    assert code == 0 and {t["tag"]: t["status"] for t in data["tags"]}["Q6_K"] == "missing"
    code, data, _ = world.run("--yes")
    assert code == 1 and "missing" in data["error"]
    assert world.manifest_digest("Q4_K_M") is None


@pytest.mark.slow
def test_status_after_release(world: World) -> None:
    assert world.run("--yes")[0] == 0
    result = runner.invoke(app, ["status", str(world.manifest), "--json", "--only", "ollama"])
    assert result.exit_code == 0, result.output
    states = {(r["target"], r["tag"]): r["state"] for r in json.loads(result.stdout)["targets"]}
    assert (
        states[("ollama", "Q4_K_M")] == "up-to-date"
        and states[("ollama", "latest")] == "up-to-date"
    )
    assert states[("ledger", "Q6_K")] == "up-to-date" and states[("ledger", "F16")] == "up-to-date"
    # a tag the manifest does not declare shows as extra
    with RegistryClient(world.registry, world.repository, insecure=True) as client:
        manifest, _ = client.get_manifest("Q4_K_M")  # type: ignore[misc]
        client.put_manifest("old-experiment", json.dumps(manifest).encode())
    # a new GGUF for Q6_K makes the published tag (and the ledger) drift from the release
    write_gemma4_gguf(world.gguf_dir / "tiny-Q6_K.gguf", file_type=18, name="rebuilt")
    result = runner.invoke(app, ["status", str(world.manifest), "--json", "--only", "ollama"])
    assert result.exit_code == 1
    states = {(r["target"], r["tag"]): r["state"] for r in json.loads(result.stdout)["targets"]}
    assert states[("ollama", "Q6_K")] == "drifted" and states[("ledger", "Q6_K")] == "drifted"
    assert states[("ollama", "old-experiment")] == "extra"
    assert states[("ollama", "Q4_K_M")] == "up-to-date"


def test_dry_run_without_go_skips_the_template_check_but_a_release_refuses(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A fresh machine without Go can still dry-run; publishing never skips the check."""
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "no-renderer-built-here"))
    monkeypatch.setenv("PUBLISHER_GO", str(tmp_path / "no-go"))
    code, data, output = world.run("--dry-run")
    assert code == 0, output
    step = next(s for s in data["steps"] if s["name"] == "check-template")
    assert step["status"] == "skipped" and "needs Go" in step["detail"]
    code, data, _ = world.run("--yes")
    assert code == 2 and "needs Go" in data["error"]
    assert world.manifest_digest("Q4_K_M") is None


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_ledger_records_only_tags_that_were_published(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_put = RegistryClient.put_manifest

    def failing_put(self: RegistryClient, tag: str, *args: Any, **kwargs: Any) -> str:
        if tag == "Q6_K":
            raise httpx.ConnectError("connection dropped")
        return real_put(self, tag, *args, **kwargs)

    monkeypatch.setattr(RegistryClient, "put_manifest", failing_put)
    code, data, _ = world.run("--yes")
    assert code == 1 and "Q6_K" in data["failures"]["ollama"]
    ledger = json.loads((world.manifest.parent / "t1.lock.json").read_text())
    assert "Q4_K_M" in ledger["tags"] and "F16" in ledger["tags"]
    assert "Q6_K" not in ledger["tags"]  # never claim what did not happen


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_plan_counts_a_shared_blob_once_and_matches_what_was_sent(world: World) -> None:
    code, data, output = world.run("--yes", "--only", "ollama")
    assert code == 0, output
    uploads = [op for op in data["ollama"]["operations"] if op["action"] == "upload-blob"]
    assert len({op["subject"] for op in uploads}) == len(uploads)  # template/license once
    assert sum(op["size"] for op in uploads) == data["bytes_uploaded"]


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_each_run_leaves_a_log_without_secrets(world: World) -> None:
    assert world.run("--dry-run")[0] == 0
    assert world.run("--yes")[0] == 0
    logs = sorted((Path("build") / "t1" / "runs").glob("*.json"))
    assert [p.name.rsplit("-", 1)[-1] for p in logs] == ["run.json", "release.json"]
    for log in logs:
        text = log.read_text()
        assert TOKEN not in text and json.loads(text)["variant"] == "t1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--only", "ollama", "--only", "nowhere"], "--only takes ollama or huggingface"),
        (["--no-digest", "--yes"], "--no-digest is for --dry-run only"),
    ],
)
def test_bad_flags_are_usage_errors(world: World, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["release", str(world.manifest), *args])
    assert result.exit_code == 2 and message in result.output
    assert world.manifest_digest("Q4_K_M") is None


def test_only_a_target_the_manifest_lacks_is_refused(world: World) -> None:
    text = world.manifest.read_text()
    head, _, rest = text.partition("[huggingface]")
    world.manifest.write_text(
        head + rest.split("\n", 2)[2].replace('targets = ["huggingface"]', 'targets = ["ollama"]')
    )
    code, data, _ = world.run("--dry-run", "--only", "hf")
    assert code == 2 and "has no [huggingface] table" in data["error"]


def test_release_without_template_or_renderer_fails_the_template_preflight(world: World) -> None:
    world.manifest.write_text(
        world.manifest.read_text().replace('template = "gemma4-tools.gotmpl"\n', "")
    )
    code, data, _ = world.run("--dry-run")
    assert code == 1
    step = next(s for s in data["steps"] if s["name"] == "check-template")
    assert step["status"] == "failed"


@pytest.mark.slow
def test_a_killed_release_resumes_to_the_same_end_state(world: World) -> None:
    """SIGKILL the real process while it uploads the second tag; the next run finishes the job."""
    import os
    import signal
    import subprocess
    import sys
    import time

    big = world.gguf_dir / "tiny-Q6_K.gguf"
    with big.open("ab") as out:  # 96 MiB more, so the kill lands mid-upload
        out.write(os.urandom(96 << 20))
    ledger = world.manifest.parent / "t1.lock.json"
    command = [sys.executable, "-c", "from publisher.cli import app; app()"]
    args = ["release", str(world.manifest), "--only", "ollama", "--yes", "--json", "--quiet"]
    proc = subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if ledger.exists() and "push:Q4_K_M" in ledger.read_text():
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before the kill: enlarge the file"
    assert world.manifest_digest("Q6_K") is None  # it died before the manifest went up

    done = subprocess.run([*command, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    resumed = json.loads(done.stdout)
    actions = {op["tag"]: op["action"] for op in resumed["ollama"]["operations"]}
    assert actions["Q4_K_M"] == "skip-tag"  # finished work is not redone
    assert world.manifest_digest("Q6_K") is not None
    assert world.manifest_digest("latest") == world.manifest_digest("Q4_K_M")
    again = subprocess.run([*command, *args], capture_output=True, text=True, check=True)
    assert json.loads(again.stdout)["bytes_uploaded"] == 0


def test_a_dry_run_never_reads_a_remote(world: World) -> None:
    """Not even reads: the dry run works with the registry gone and the Hub unreachable."""
    code, data, output = world.run("--dry-run", "--ollama-registry", "http://127.0.0.1:9")
    assert code == 0, output
    assert data["ollama"]["operations"] and world.hub.calls == []


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_only_one_target_records_only_the_tags_it_completes(world: World) -> None:
    code, _, output = world.run("--yes", "--only", "ollama")
    assert code == 0, output
    ledger = json.loads((world.manifest.parent / "t1.lock.json").read_text())
    assert sorted(ledger["tags"]) == []  # Q4_K_M and Q6_K also go to the Hub, F16 only there
    code, _, output = world.run("--yes")
    assert code == 0, output
    ledger = json.loads((world.manifest.parent / "t1.lock.json").read_text())
    assert sorted(ledger["tags"]) == ["F16", "Q4_K_M", "Q6_K"]


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_target_no_selected_tag_goes_to_is_never_contacted(world: World) -> None:
    code, data, output = world.run(
        "--yes", "--tag", "F16", "--ollama-registry", "http://127.0.0.1:9"
    )
    assert code == 0, output
    assert list(data["plan"]) == ["huggingface"]
    assert "tiny-F16.gguf" in world.hub_files()


def test_json_failures_still_reach_stderr(world: World) -> None:
    result = runner.invoke(app, ["release", str(world.manifest.with_name("nope.toml")), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"] and "manifest not found" in result.stderr


def test_a_bad_registry_flag_is_a_usage_error(world: World) -> None:
    code, data, _ = world.run("--dry-run", "--ollama-registry", "ftp://x")
    assert code == 2 and "--ollama-registry" in data["error"]


@pytest.mark.slow
def test_hub_skips_are_recorded_and_status_checks_the_hub_ledger(world: World) -> None:
    """A stale `file:` entry shows in status; the next run records what the Hub holds."""
    assert world.run("--yes")[0] == 0
    path = world.manifest.parent / "t1.lock.json"

    def hub_ledger_states() -> tuple[int, dict[str, str]]:
        result = runner.invoke(app, ["status", str(world.manifest), "--json", "--only", "hf"])
        rows = json.loads(result.stdout)["targets"]
        return result.exit_code, {
            r["tag"]: r["state"] for r in rows if r["target"] == "ledger/huggingface"
        }

    code, states = hub_ledger_states()
    assert code == 0 and states["tiny-F16.gguf"] == "up-to-date"
    assert states["README.md"] == "up-to-date"  # a plain git blob: compared by blob id
    ledger = json.loads(path.read_text())
    ledger["targets"]["huggingface"]["file:tiny-F16.gguf"]["sha256"] = "0" * 64
    path.write_text(json.dumps(ledger))
    code, states = hub_ledger_states()
    assert code == 1 and states["tiny-F16.gguf"] == "drifted"

    code, data, output = world.run("--yes")
    assert code == 0 and data["bytes_uploaded"] == 0, output
    entry = json.loads(path.read_text())["targets"]["huggingface"]["file:tiny-F16.gguf"]
    assert entry["outcome"] == "already there" and entry["sha256"] == data["tags"][2]["sha256"]
    code, states = hub_ledger_states()
    assert code == 0 and set(states.values()) == {"up-to-date"}
