"""`publish verify` as a user runs it: the table, the failures in words, JSON, exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.gguf_factory import write_gemma4_gguf
from support.release_fixtures import fam_gguf, fam_manifest, huggingface_tags
from typer.testing import CliRunner

from publisher.cli import app

runner = CliRunner()

MANIFEST = fam_manifest(
    huggingface_tags("Q4_K_M", "CD-Q4_K_M", "Q8_0", kinds={"CD-Q4_K_M": "contrib-dynamic"})
)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PUBLISHER_GGUF_DIR", raising=False)


def test_loose_good_file_exits_0_with_a_table(tmp_path: Path) -> None:
    path = write_gemma4_gguf(tmp_path / "m-Q4_K_M.gguf")
    result = runner.invoke(app, ["verify", str(path), "--tag", "Q4_K_M", "--experts", "98"])
    assert result.exit_code == 0, result.output
    for word in ("Q4_K_M", "m-Q4_K_M.gguf", "4.0 MB", "98", "ok", "quant layout", "= predicted"):
        assert word in result.stdout


def test_loose_bad_file_exits_1_and_says_why(tmp_path: Path) -> None:
    path = write_gemma4_gguf(tmp_path / "m.gguf", tensor_experts={"blk.0.ffn_gate_inp.weight": 128})
    result = runner.invoke(app, ["verify", str(path), "-t", "Q4_K_M", "--experts", "98"])
    assert result.exit_code == 1
    assert "expert_tensors: expected 98" in result.stdout
    assert "blk.0.ffn_gate_inp.weight has 128 (shape [256, 128])" in result.stdout
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a.gguf", "b.gguf", "--tag", "Q4_K_M"], "one --tag per GGUF file"),
        (["nope.gguf", "--tag", "Q4_K_M"], "no such file"),
        (["m.toml", "x.gguf"], "not both"),
        (["m.txt", "--tag", "Q4_K_M"], "expected a manifest (.toml) or GGUF files"),
    ],
)
def test_bad_usage_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["verify", *[str(tmp_path / a) if "." in a else a for a in args]])
    assert result.exit_code == 2 and message in " ".join(result.output.split())


def test_manifest_json_with_missing_and_duplicate_tiers(tmp_path: Path) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST)
    plain = fam_gguf(tmp_path / "gguf", "Q4_K_M")
    (tmp_path / "gguf/fam-v1-CD-Q4_K_M.gguf").write_bytes(plain.read_bytes())
    result = runner.invoke(app, ["verify", str(manifest), "--json"])
    assert result.exit_code == 1
    reports = {r["tag"]: r for r in json.loads(result.stdout)}
    assert reports["Q8_0"]["status"] == "missing"
    assert reports["Q4_K_M"]["status"] == "failed"
    unique = [c for c in reports["CD-Q4_K_M"]["results"] if c["name"] == "digest_unique"]
    assert unique[0]["found"] == "identical to Q4_K_M"
    only = runner.invoke(app, ["verify", str(manifest), "--tag", "Q4_K_M", "--no-digest"])
    assert only.exit_code == 0, only.output


def test_manifest_with_gguf_dir_flag(tmp_path: Path) -> None:
    manifest = tmp_path / "m.toml"
    manifest.write_text(MANIFEST)
    fam_gguf(tmp_path / "elsewhere", "Q4_K_M")
    args = ["verify", str(manifest), "-t", "Q4_K_M", "--gguf-dir", str(tmp_path / "elsewhere")]
    assert runner.invoke(app, args).exit_code == 0


def test_second_run_hashes_nothing(tmp_path: Path) -> None:
    path = write_gemma4_gguf(tmp_path / "m-Q4_K_M.gguf")
    env_cache = tmp_path / "cache" / "digests.json"
    assert runner.invoke(app, ["verify", str(path), "--tag", "Q4_K_M"]).exit_code == 0
    assert env_cache.exists()
    from publisher.digest import DigestCache, sha256_files

    again = DigestCache()
    sha256_files([path], again, progress=False)
    assert again.bytes_hashed == 0


@pytest.mark.slow
def test_console_script_runs_in_a_real_process(tmp_path: Path) -> None:
    path = write_gemma4_gguf(tmp_path / "m.gguf", eos=1)
    code = "from publisher.cli import app; app()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "verify", str(path), "--tag", "Q4_K_M", "--no-digest"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "eos_token_id: expected 106 (<turn|>), found 1 (<eos>)" in proc.stdout
    assert "1 of 1 tag(s) failed verification: Q4_K_M" in proc.stderr


def test_experts_column_shows_what_the_tensors_carry(tmp_path: Path) -> None:
    # metadata says 98; one tensor carries 128: the table must not say just "98"
    mixed = write_gemma4_gguf(
        tmp_path / "m-Q4_K_M.gguf", tensor_experts={"blk.1.ffn_down_exps.weight": 128}
    )
    result = runner.invoke(app, ["verify", str(mixed), "--tag", "Q4_K_M"])
    assert result.exit_code == 1
    assert "98/128 (meta 98)" in result.stdout
    whole = write_gemma4_gguf(tmp_path / "w-Q4_K_M.gguf", tensor_experts=128)
    result = runner.invoke(app, ["verify", str(whole), "--tag", "Q4_K_M", "--json"])
    (report,) = json.loads(result.stdout)
    assert report["experts"] == 128 and report["expert_axes"] == [128]
    assert report["expert_count_metadata"] == 98
    table = runner.invoke(app, ["verify", str(whole), "--tag", "Q4_K_M"])
    assert "128 (meta 98)" in table.stdout
