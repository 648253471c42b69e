"""The rendered v3 release: golden files, the seed's numbers, valid front matter, measured facts,
idempotent writes that keep hand-written card text, and `publish render` end to end.

Regenerate the golden files after an intended change with
`PUBLISHER_REGEN_GOLDEN=1 pytest tests/test_render_release.py` and review the diff.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from support.gguf_factory import write_gemma4_gguf
from support.modelfile_parser import parse_request
from support.release_fixtures import V3_SEED_PARAMETER_LINES
from typer.testing import CliRunner

from publisher.cli import app
from publisher.gguf.checks import TagReport
from publisher.manifest import Release, load
from publisher.render import render_modelfile, render_release, write_rendered

ROOT = Path(__file__).resolve().parent.parent
V3 = ROOT / "manifests" / "v3.toml"
GOLDEN = Path(__file__).resolve().parent / "golden" / "render" / "v3"
REGEN = os.environ.get("PUBLISHER_REGEN_GOLDEN") == "1"
TEMPLATE_PLACEHOLDER = "<<the text of {name}, checked by test_every_v3_tag_round_trips_exactly>>"
runner = CliRunner()

SEED_ROWS = [
    "| GPQA Diamond (198, flex) | 75.25 | 75.25 | 0.00 |",
    "| HumanEval-164 chat (BF16) | 76.83 | 73.78 | \u22123.05 |",
    "| MBPP-500 (BF16) | 89.60 | 85.60 | \u22124.00 |",
]
SEED_PARAMETER_BLOCK = "\n".join(V3_SEED_PARAMETER_LINES)
APACHE_2 = (ROOT / "publisher" / "templates" / "licenses" / "apache-2.0.txt").read_text("utf-8")


@pytest.fixture(scope="module")
def release() -> Release:
    return load(V3)


def golden_modelfile(release: Release, tag: str) -> str:
    """The Modelfile with FROM relative to the GGUF folder and the template text elided (the
    template has its own golden files and checks; this keeps these goldens about the layout)."""
    text = render_modelfile(release, tag, relative_to=release.gguf_dir)
    template = release.ollama.template.read_text(encoding="utf-8")
    assert f'TEMPLATE """{template}"""' in text
    text = text.replace(template, TEMPLATE_PLACEHOLDER.format(name=release.ollama.template.name))
    assert f'LICENSE """{APACHE_2}"""' in text  # the full text of [model] license = apache-2.0
    return text.replace(APACHE_2, "<<the text of licenses/apache-2.0.txt>>")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with PUBLISHER_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file; if intended, regenerate with "
        "PUBLISHER_REGEN_GOLDEN=1 and review the diff"
    )


@pytest.mark.parametrize("tag", ["Q4_K_M", "CD-Q3_K_M"])
def test_golden_modelfiles(release: Release, tag: str) -> None:
    check_golden(f"{tag}.Modelfile", golden_modelfile(release, tag))


def test_golden_card_page_and_params(release: Release) -> None:
    rendered = render_release(release)
    check_golden("README.md", rendered.hf_card)
    check_golden("page.md", rendered.ollama_page)
    check_golden("params", rendered.hf_side_files["params"])


def test_card_and_page_carry_the_seed_benchmarks_and_parameters(release: Release) -> None:
    rendered = render_release(release)
    for text in (rendered.hf_card, rendered.ollama_page):
        for row in SEED_ROWS:
            assert row in text
        assert "| Benchmark (n) | 128e ref | 98e v3 | Δ (v3 − 128e) |" in text
        assert f"```\n{SEED_PARAMETER_BLOCK}\n```" in text
        assert "-3.05" not in text and "\u22120.00" not in text


def test_page_follows_the_seed_structure(release: Release) -> None:
    page = render_release(release).ollama_page
    order = [
        "20.8B parameters · 98 experts (30 dropped) · single-class teacher-force drop map",
        "First publishable 98e variant.",
        "v3 matches 128e parity on GPQA Diamond",
        "| Format | Repo | Notes |",
        "**Pick v3 for:**",
        "**Pick v4 for:**",
        "**Pick v5-coder for:**",
        "# recommended default for most setups (≈14 GB VRAM)\nollama pull mannix/gemma4-98e:Q4_K_M",
        "# best quality at moderate size (≈17 GB VRAM)\nollama pull mannix/gemma4-98e:Q6_K",
        "# size-conscious (≈8 GB VRAM) — minimal quality loss\n"
        "ollama pull mannix/gemma4-98e:CD-Q3_K_M",
        "CD-* tags are ContribDynamic per-layer mixed quants",
        "GGUF Q6_K via llama.cpp on RTX 3090.",
        SEED_ROWS[0],
        "Reading the deltas:",
        "2nd-turn workaround for nested function calls",
        "Apache license 2.0 (`apache-2.0`",
        "[mannix/gemma4-98e-v4](https://ollama.com/mannix/gemma4-98e-v4)",
        "[mannix/gemma4-98e-v5-coder](https://ollama.com/mannix/gemma4-98e-v5-coder)",
    ]
    positions = [page.index(item) for item in order]
    assert positions == sorted(positions)
    assert ":F16" not in page  # F16 is a Hub-only tag: no pull line


def test_card_front_matter_is_valid_yaml_with_the_hub_metadata(release: Release) -> None:
    card = render_release(release).hf_card
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    # lineage: the files are quantized from the pruned BF16 repo, not from Google's model
    assert meta["base_model"] == "ManniX-ITA/gemma-4-A4B-98e-v3-it"
    assert meta["base_model_relation"] == "quantized"
    assert meta["license"] == "apache-2.0"
    assert "license_link" not in meta and "license_name" not in meta  # only for `other`
    assert meta["pipeline_tag"] == "text-generation"
    assert meta["quantized_by"] == "ManniX-ITA"
    assert {"gguf", "gemma4", "moe", "expert-pruning"} <= set(meta["tags"])


def test_card_links_siblings_and_shows_how_to_run(release: Release) -> None:
    card = render_release(release).hf_card
    assert "[GGUF](https://huggingface.co/ManniX-ITA/gemma-4-A4B-98e-v4-it-GGUF)" in card
    assert "[Ollama](https://ollama.com/mannix/gemma4-98e-v5-coder)" in card
    assert "ollama run mannix/gemma4-98e:Q4_K_M" in card
    # Q4_K_M's label is shared with CD-Q4_K_M's file: the file name is the tag that resolves
    repo, name = "ManniX-ITA/gemma-4-A4B-98e-v3-it-GGUF", "gemma-4-A4B-98e-v3-it-Q4_K_M.gguf"
    assert f"ollama run hf.co/{repo}:{name}\n" in card
    assert f"llama-server -hf {repo} --hf-file {name}\n" in card
    assert (
        "Original model: [google/gemma-4-26B-A4B-it](https://huggingface.co/google/gemma-4-26B-A4B-it)"
        in card
    )


def card_row(card: str, tag: str) -> list[str]:
    line = next(line for line in card.splitlines() if f"| {tag} |" in line)
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_without_reports_measured_cells_are_unknown(release: Release) -> None:
    card = render_release(release).hf_card
    row = card_row(card, "Q4_K_M")
    assert row[1:] == [
        "Q4_K_M",
        "`gemma-4-A4B-98e-v3-it-Q4_K_M.gguf`",
        "—",
        "—",
        "—",
        "≈14 GB",
        "recommended default for most setups",
    ]
    assert card_row(card, "Q6_K_L")[2] == "`Q6_K_L`"  # a label only its file carries


def test_reports_fill_size_quant_and_digest(release: Release, tmp_path: Path) -> None:
    digest = hashlib.sha256(b"q4").hexdigest()
    reports = [
        TagReport(
            tag="Q4_K_M",
            files=[tmp_path / "gemma-4-A4B-98e-v3-it-Q4_K_M.gguf"],
            size=13_960_000_000,
            quant="Q4_K_M",
            sha256={"gemma-4-A4B-98e-v3-it-Q4_K_M.gguf": digest},
        ),
        TagReport(tag="Q6_K", files=[tmp_path / "x-Q6_K.gguf"], missing=True),
        # duck-typed: anything with the same attributes will do
        SimpleNamespace(
            tag="IQ3_M",
            status="ok",
            size=9_400_000,
            quant="IQ3_M",
            files=[],
            sha256={"a-00001-of-00002.gguf": "a" * 64, "a-00002-of-00002.gguf": "b" * 64},
        ),
    ]
    card = render_release(release, reports).hf_card
    assert card_row(card, "Q4_K_M")[3:6] == ["Q4_K_M", "14.0 GB", f"`{digest}`"]
    assert card_row(card, "Q6_K")[3:6] == ["—", "—", "—"]
    split = card_row(card, "IQ3_M")
    assert "a-00001-of-00002.gguf" in split[0] and "a-00002-of-00002.gguf" in split[0]
    assert split[5] == f"`{'a' * 64}`<br>`{'b' * 64}`"
    assert split[2] == "`a-00001-of-00002.gguf`"  # the measured name carries no quant label


def test_write_twice_changes_nothing_and_keeps_hand_written_card_text(
    release: Release, tmp_path: Path
) -> None:
    out = tmp_path / "build" / "v3"
    rendered = render_release(release)
    written = write_rendered(rendered, out)
    assert {p.relative_to(out).as_posix() for p in written} >= {
        "ollama/Q4_K_M.Modelfile",
        "ollama/page.md",
        "huggingface/README.md",
        "huggingface/template",
        "huggingface/params",
    }
    assert not (out / "ollama" / "F16.Modelfile").exists()
    card_path = out / "huggingface" / "README.md"
    card = card_path.read_text(encoding="utf-8")
    hand = "\n## Methodology (hand-written)\n\nAblations the generator knows nothing about.\n"
    edited = card.replace(
        "<!-- publisher:begin benchmarks -->", hand + "\n<!-- publisher:begin benchmarks -->"
    )
    edited = edited.replace("| MBPP-500 (BF16) | 89.60 | 85.60 | \u22124.00 |", "| stale row |")
    card_path.write_text(edited, encoding="utf-8")

    write_rendered(rendered, out)
    merged = card_path.read_text(encoding="utf-8")
    assert hand in merged and "| stale row |" not in merged and SEED_ROWS[2] in merged
    snapshot = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    write_rendered(render_release(release), out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == snapshot


def test_write_removes_stale_generated_files_only(release: Release, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rendered = render_release(release)
    write_rendered(rendered, out)
    (out / "ollama" / "notes.txt").write_text("mine", encoding="utf-8")
    fewer = dataclasses.replace(rendered, modelfiles={"Q4_K_M": rendered.modelfiles["Q4_K_M"]})
    write_rendered(fewer, out)
    assert sorted(p.name for p in (out / "ollama").glob("*.Modelfile")) == ["Q4_K_M.Modelfile"]
    assert (out / "ollama" / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_no_merge_overwrites_the_card(release: Release, tmp_path: Path) -> None:
    card_path = tmp_path / "huggingface" / "README.md"
    card_path.parent.mkdir(parents=True)
    card_path.write_text("hand-written only\n", encoding="utf-8")
    rendered = render_release(release)
    write_rendered(rendered, tmp_path, existing_card_merge=False)
    assert card_path.read_text(encoding="utf-8") == rendered.hf_card


def test_cli_render_without_ggufs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["render", str(V3), "--gguf-dir", str(tmp_path / "none"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["out"] == str(Path("build") / "v3")  # default: build/<variant>/ here
    assert summary["measured"] == [] and len(summary["unknown"]) == 23
    assert (tmp_path / "build" / "v3" / "huggingface" / "README.md").is_file()
    assert len(list((tmp_path / "build" / "v3" / "ollama").glob("*.Modelfile"))) == 22


def test_cli_render_fills_measured_values_from_a_present_gguf(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "gguf").mkdir()
    gguf = write_gemma4_gguf(tmp_path / "gguf" / "gemma-4-A4B-98e-v3-it-Q4_K_M.gguf")
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    out = tmp_path / "out"
    args = ["render", str(V3), "--gguf-dir", str(gguf.parent), "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["measured"] == ["Q4_K_M"]
    card = (out / "huggingface" / "README.md").read_text(encoding="utf-8")
    row = card_row(card, "Q4_K_M")
    assert row[3] == "Q4_K_M" and row[5] == f"`{digest}`" and row[4] != "—"
    assert card_row(card, "Q6_K")[4:6] == ["—", "—"]
    modelfile = (out / "ollama" / "Q4_K_M.Modelfile").read_text(encoding="utf-8")
    assert parse_request(modelfile)["from"] == str(gguf)


def test_cli_render_bad_manifest_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["render", str(tmp_path / "absent.toml"), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "manifest not found" in result.output


@pytest.mark.parametrize("variant", ["v4", "v5-coder"])
def test_siblings_render_without_invented_numbers(variant: str) -> None:
    rendered = render_release(load(ROOT / "manifests" / f"{variant}.toml"))
    for text in (rendered.hf_card, rendered.ollama_page):
        assert "≈" not in text  # the manifests give no VRAM figure for these variants
        assert "## Benchmarks" not in text and "Δ" not in text
    assert "<!-- publisher:begin benchmarks -->\n<!-- publisher:end benchmarks -->" in (
        rendered.hf_card
    )  # kept as an empty section, so a later render can fill it in place


def test_render_help_shows_an_example() -> None:
    result = runner.invoke(app, ["render", "--help"])
    assert result.exit_code == 0 and "publish render manifests/v3.toml" in result.output


def test_cli_render_out_that_is_a_file_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "out.txt"
    blocker.write_text("x")
    for out in (blocker, blocker / "sub"):
        result = runner.invoke(
            app, ["render", str(V3), "--gguf-dir", str(tmp_path), "--out", str(out)]
        )
        assert result.exit_code == 2, result.output
        message = " ".join(result.output.split())
        assert f"cannot write the rendered files under {out}: {blocker} is a file" in message
        assert "Traceback" not in result.output
    assert blocker.read_text() == "x"


def test_write_rendered_turns_os_errors_into_usage_errors(release: Release, tmp_path: Path) -> None:
    from publisher.errors import UsageError

    (tmp_path / "ollama").mkdir()
    (tmp_path / "ollama" / "Q4_K_M.Modelfile").mkdir()  # a folder where a file must go
    with pytest.raises(UsageError) as info:
        write_rendered(render_release(release), tmp_path)
    message = str(info.value)
    assert f"{tmp_path / 'ollama' / 'Q4_K_M.Modelfile'}: output file is a directory" in message


def test_cli_render_measures_a_tag_present_only_as_a_split_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "gguf").mkdir()
    shard = tmp_path / "gguf" / "gemma-4-A4B-98e-v3-it-Q4_K_M-00001-of-00001.gguf"
    write_gemma4_gguf(shard)
    args = ["render", str(V3), "--gguf-dir", str(shard.parent), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["measured"] == ["Q4_K_M"]
