"""`publish init`: a folder of real (tiny) GGUFs of several tiers → a manifest that validates and
verifies; never an overwrite without --force; what cannot be decided is commented with why."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path

import pytest
from support.gguf_factory import DEFAULT_CHAT_TEMPLATE, T, write_gemma4_gguf
from typer.testing import CliRunner

from publisher.cli import app
from publisher.gguf.checks import CheckResult
from publisher.scaffold import proposal as scaffold

runner = CliRunner()
LINEAGE = {
    "general.base_model.0.organization": "google",
    "general.base_model.0.name": "gemma-4-26B-A4B-it",
    "general.base_model.0.repo_url": "https://huggingface.co/google/gemma-4-26B-A4B-it",
}
ARGS = ["--ollama-model", "me/m-98e", "--hf-repo", "me/m-98e-GGUF"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PUBLISHER_GGUF_DIR", raising=False)


def ladder(folder: Path) -> Path:
    """Plain, `_L`, IQ, a CD tier and a 3-shard split set, named the way quantizers name them."""
    folder.mkdir(parents=True)
    write_gemma4_gguf(folder / "m-98e-Q4_K_M.gguf", file_type=15, extra_kv=LINEAGE)
    write_gemma4_gguf(
        folder / "m-98e-Q6_K_L.gguf", file_type=18, token_embd_type=T.Q8_0, extra_kv=LINEAGE
    )
    write_gemma4_gguf(folder / "m-98e-IQ4_XS.gguf", file_type=30, extra_kv=LINEAGE)
    write_gemma4_gguf(
        folder / "m-98e-CD-Q4_K_M.gguf",
        file_type=15,
        expert_type=T.Q5_K,
        attn_type=T.Q4_K,
        extra_kv=LINEAGE,
    )
    write_gemma4_gguf(folder / "m-98e-Q8_0.gguf", file_type=7, split=3, extra_kv=LINEAGE)
    return folder


def init(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["init", *args])
    return result.exit_code, result.output


def test_a_ladder_becomes_a_manifest_that_validates_and_verifies(tmp_path: Path) -> None:
    folder = ladder(tmp_path / "gguf")
    out = tmp_path / "manifests" / "m.toml"
    code, output = init(str(folder), *ARGS, "--out", str(out))
    assert code == 0, output
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    tags = {t["tag"]: t for t in data["tags"]}
    assert set(tags) == {"Q8_0", "Q6_K_L", "CD-Q4_K_M", "Q4_K_M", "IQ4_XS"}
    assert all("file" not in t for t in tags.values())  # every name fits the pattern
    assert data["files"] == {"gguf_dir": "../gguf", "name": "m-98e-{tag}.gguf"}
    assert data["ollama"]["latest"] == "Q4_K_M"  # the plain Q4_K_M, not its CD twin
    assert data["model"]["architecture"] == "gemma4" and data["model"]["experts"] == 98
    assert data["model"]["base_model"] == "google/gemma-4-26B-A4B-it"
    assert data["ollama"]["parameters"]["num_ctx"] == 262144
    pin = hashlib.sha256(DEFAULT_CHAT_TEMPLATE.encode()).hexdigest()
    assert data["checks"] == {
        "eos_token_id": 106,
        "chat_template_sha256": pin,
        "require_chat_template": True,
    }
    validate = runner.invoke(app, ["validate", str(out), "--json"])
    assert validate.exit_code == 0, validate.output
    assert json.loads(validate.stdout)[0]["latest"] == "Q4_K_M"
    verify = runner.invoke(app, ["verify", str(out), "--json"])
    assert verify.exit_code == 0, verify.output
    tag_lines = [line for line in out.read_text().splitlines() if line.startswith("tag = ")]
    shards = [line for line in tag_lines if "shards" in line]
    assert len(shards) == 1 and shards[0].startswith('tag = "Q8_0"')  # the one split set
    assert shards[0].endswith(", 3 shards")  # its comment: the set's size, then its shard count


def test_an_existing_file_is_never_overwritten_without_force(tmp_path: Path) -> None:
    folder = ladder(tmp_path / "gguf")
    out = tmp_path / "m.toml"
    out.write_text("# mine\n")
    code, output = init(str(folder), *ARGS, "--out", str(out))
    assert code == 2 and "exists: pass --force" in output
    assert out.read_text() == "# mine\n"
    code, output = init(str(folder), *ARGS, "--out", str(out), "--force")
    assert code == 0, output
    assert "[[tags]]" in out.read_text()


def test_tags_it_cannot_decide_are_commented_out_with_the_reason(tmp_path: Path) -> None:
    folder = tmp_path / "gguf"
    folder.mkdir()
    write_gemma4_gguf(folder / "m-Q4_K_M.gguf", file_type=15)
    write_gemma4_gguf(folder / "m-Q3_K_M.gguf", file_type=15)  # misnamed: it is Q4_K_M
    write_gemma4_gguf(folder / "notes.gguf", file_type=None)  # no label, no ftype
    write_gemma4_gguf(folder / "m-Q5_K_M.gguf", file_type=17, experts=128)  # another model
    (folder / "broken.gguf").write_bytes(b"GGUF\x03\x00")
    write_gemma4_gguf(folder / "m-Q8_0.gguf", file_type=7, split=2)
    (folder / "m-Q8_0-00002-of-00002.gguf").unlink()
    out = tmp_path / "m.toml"
    code, output = init(str(folder), *ARGS, "--out", str(out), "--base-model", "google/x")
    assert code == 0, output
    text = out.read_text()
    data = tomllib.loads(text)
    assert [t["tag"] for t in data["tags"]] == ["Q4_K_M"]
    held = text.split("# Not decided from the files")[1]
    assert "# m-Q3_K_M.gguf: tag Q4_K_M is already proposed for m-Q4_K_M.gguf" in held
    assert "# notes.gguf: no quant label in the name and no general.file_type" in held
    assert "# m-Q5_K_M.gguf: expert_count: expected gemma4.expert_count = 98" in held
    assert "# broken.gguf: unreadable: broken.gguf: byte" in held
    assert "# m-Q8_0.gguf: incomplete split set: m-Q8_0-00002-of-00002.gguf missing" in held
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0


def test_the_proposal_follows_verifys_quant_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """init asks verify's own check_quant: a stricter rule there is a stricter proposal here."""
    folder = ladder(tmp_path / "gguf")

    def refuse_l_tiers(tag: str, header: object, tensors: object) -> tuple[CheckResult, str]:
        ok = not tag.endswith("_L")
        return CheckResult("quant", ok, f"rule for {tag}", "refused" if not ok else "ok"), tag

    monkeypatch.setattr(scaffold, "check_quant", refuse_l_tiers)
    proposals, _, _ = scaffold.propose_release(folder)
    by_file = {p.fileset.name: p for p in proposals}
    q6 = by_file["m-98e-Q6_K_L.gguf"]
    assert q6.tag == "Q6_K" and "the name says Q6_K_L: refused" in q6.notes
    assert by_file["m-98e-Q4_K_M.gguf"].tag == "Q4_K_M"


def test_extends_leaves_what_the_base_says_to_the_base(tmp_path: Path) -> None:
    folder = ladder(tmp_path / "gguf")
    base = tmp_path / "manifests" / "base.toml"
    base.parent.mkdir()
    base.write_text(
        '[model]\nfamily = "m-98e"\nbase_model = "google/gemma-4-26B-A4B-it"\n'
        'architecture = "gemma4"\nexperts = 98\n\n[checks]\neos_token_id = 106\n'
        '\n[files]\ngguf_dir = "../gguf"\n'
    )
    out = tmp_path / "manifests" / "v1.toml"
    code, output = init(str(folder), *ARGS, "--out", str(out), "--extends", str(base))
    assert code == 0, output
    data = tomllib.loads(out.read_text())
    assert data["extends"] == "base.toml"
    assert "architecture" not in data["model"] and "experts" not in data["model"]
    assert "eos_token_id" not in data["checks"] and "gguf_dir" not in data["files"]
    assert data["model"]["variant"] == "m-98e"
    assert runner.invoke(app, ["verify", str(out)]).exit_code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ollama-model", "me/x:latest", "--hf-repo", "me/r"], "--ollama-model"),
        (["--ollama-model", "me/x", "--hf-repo", "not a repo"], "--hf-repo"),
    ],
)
def test_bad_names_are_one_line_errors(tmp_path: Path, args: list[str], message: str) -> None:
    folder = ladder(tmp_path / "gguf")
    code, output = init(str(folder), *args, "--out", str(tmp_path / "m.toml"))
    assert code == 2 and message in output
    assert "Traceback" not in output and not (tmp_path / "m.toml").exists()


def test_a_folder_without_ggufs_is_a_usage_error(tmp_path: Path) -> None:
    code, output = init(str(tmp_path), *ARGS, "--out", str(tmp_path / "m.toml"))
    assert code == 2 and "no .gguf files" in output


def test_the_default_output_is_the_variant_in_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ladder(tmp_path / "gguf")
    monkeypatch.chdir(tmp_path)
    code, output = init("gguf", *ARGS)
    assert code == 0, output
    assert tomllib.loads((tmp_path / "m-98e.toml").read_text())["files"]["gguf_dir"] == "gguf"


def test_a_split_q4_k_m_goes_to_the_hub_only_and_is_not_latest_under_direct_push(
    tmp_path: Path,
) -> None:
    """A direct registry push cannot carry shards: the split tag is Hub-only, and `latest`
    (an Ollama tag) cannot point at it — the manifest still validates."""
    folder = tmp_path / "gguf"
    folder.mkdir()
    write_gemma4_gguf(folder / "m-Q4_K_M.gguf", file_type=15, split=2)
    write_gemma4_gguf(folder / "m-Q6_K.gguf", file_type=18)
    out = tmp_path / "m.toml"
    code, output = init(str(folder), *ARGS, "--out", str(out), "--base-model", "google/x")
    assert code == 0, output
    data = tomllib.loads(out.read_text())
    assert data["ollama"]["registry"] == "https://registry.ollama.ai"
    tags = {t["tag"]: t for t in data["tags"]}
    assert tags["Q4_K_M"]["targets"] == ["huggingface"] and "targets" not in tags["Q6_K"]
    assert "latest" not in data["ollama"] and "no Q4_K_M-class latest" in output
    assert runner.invoke(app, ["validate", str(out)]).exit_code == 0


def test_files_that_name_no_base_model_ask_for_it(tmp_path: Path) -> None:
    """An empty `base_model` would publish a card with no lineage: init asks instead."""
    folder = tmp_path / "gguf"
    folder.mkdir()
    write_gemma4_gguf(folder / "m-Q4_K_M.gguf", file_type=15)  # no general.base_model.*
    out = tmp_path / "m.toml"
    code, output = init(str(folder), *ARGS, "--out", str(out))
    assert code == 2 and "pass --base-model OWNER/NAME" in output, output
    assert "Traceback" not in output and not out.exists()
    code, output = init(str(folder), *ARGS, "--out", str(out), "--base-model", "google/x")
    assert code == 0 and tomllib.loads(out.read_text())["model"]["base_model"] == "google/x"
