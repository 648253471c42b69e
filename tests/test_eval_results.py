"""Benchmarks the Hub reads: `.eval_results/*.yaml` (hub-docs eval-results.md) for the rows
measured on this repo's files, written by render and committed by the Hub target."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from publisher.errors import ManifestError
from publisher.manifest import load
from publisher.render import render_release, write_rendered
from publisher.render.eval_results import eval_results

ROOT = Path(__file__).resolve().parent.parent
V3 = ROOT / "manifests" / "v3.toml"
GPQA = ".eval_results/gpqa-gpqa_diamond.yaml"


def test_v3_writes_gpqa_measured_on_q6_k_and_nothing_measured_on_bf16() -> None:
    release = load(V3)
    files = eval_results(release)
    assert list(files) == [GPQA]
    (entry,) = yaml.safe_load(files[GPQA])
    # the required keys of hub-docs' minimal example; GPQA's leaderboard ranks fractions
    # (hub-docs' own GPQA example is `value: 0.412`), the manifest holds percent: 75.25 % → 0.7525
    assert entry["dataset"] == {"id": "Idavidrein/gpqa", "task_id": "gpqa_diamond"}
    assert entry["value"] == 0.7525 and "value: 0.7525\n" in files[GPQA]
    assert "value as a fraction of 1" in entry["notes"]
    assert "gemma-4-A4B-98e-v3-it-Q6_K.gguf" in entry["notes"] and "n=198" in entry["notes"]
    assert set(entry) == {"dataset", "value", "notes"}
    rows = {row.name: row.measured_on for row in release.benchmarks.rows}
    assert rows == {"GPQA Diamond": "Q6_K", "HumanEval-164 chat": "source", "MBPP-500": "source"}
    assert GPQA in render_release(release).hf_files


@pytest.mark.parametrize("variant", ["v4", "v5-coder"])
def test_siblings_without_benchmarks_write_no_results(variant: str) -> None:
    assert render_release(load(ROOT / "manifests" / f"{variant}.toml")).hf_eval_results == {}


@pytest.fixture
def variant_path(tmp_path: Path):
    """Make a copy of v3 (and its base) whose GPQA row's Hub keys are replaced by `row`."""
    base = ROOT / "manifests" / "gemma4-98e.base.toml"
    (tmp_path / base.name).write_text(base.read_text(encoding="utf-8"), encoding="utf-8")

    def make(row: str) -> Path:
        text = V3.read_text(encoding="utf-8")
        old = 'measured_on = "Q6_K"\nhub_dataset = "Idavidrein/gpqa"\ntask_id = "gpqa_diamond"\n'
        assert old in text
        path = tmp_path / "v3.toml"
        path.write_text(text.replace(old, row), encoding="utf-8")
        return path

    return make


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        (
            'measured_on = "Q7_K"\n',
            "benchmarks.rows[0].measured_on",
            "expected one of the declared tags or 'source', found 'Q7_K'",
        ),
        ('hub_dataset = "Idavidrein/gpqa"\n', "benchmarks.rows[0].hub_dataset", "go together"),
        (
            'hub_dataset = "Idavidrein/gpqa"\ntask_id = "gpqa_diamond"\n',
            "benchmarks.rows[0].hub_dataset",
            "needs measured_on",
        ),
        (
            'measured_on = "Q6_K"\nhub_dataset = "gpqa"\ntask_id = "gpqa_diamond"\n',
            "benchmarks.rows[0].hub_dataset",
            "expected a Hugging Face repo id",
        ),
    ],
)
def test_bad_benchmark_rows_are_manifest_errors(variant_path, row: str, field: str, words: str):
    with pytest.raises(ManifestError) as info:
        load(variant_path(row))
    assert info.value.field == field and words in str(info.value)
    assert info.value.line is not None


def test_a_row_measured_on_the_source_or_an_ollama_only_tag_is_not_written(variant_path) -> None:
    source = variant_path(
        'measured_on = "source"\nhub_dataset = "Idavidrein/gpqa"\ntask_id = "gpqa_diamond"\n'
    )
    assert eval_results(load(source)) == {}
    text = source.read_text(encoding="utf-8").replace(
        'measured_on = "source"\nhub', 'measured_on = "Q6_K"\nhub'
    )
    text = text.replace('tag = "Q6_K"\n', 'tag = "Q6_K"\ntargets = ["ollama"]\n', 1)
    source.write_text(text, encoding="utf-8")
    release = load(source)
    assert release.tag("Q6_K").targets == ["ollama"]
    assert eval_results(release) == {}


def test_render_writes_the_results_and_removes_stale_ones(tmp_path: Path) -> None:
    rendered = render_release(load(V3))
    old = {**rendered.hf_eval_results, ".eval_results/old-task.yaml": "- old\n"}
    write_rendered(dataclasses.replace(rendered, hf_eval_results=old), tmp_path)
    stale = tmp_path / "huggingface" / ".eval_results" / "old-task.yaml"
    stranger = stale.with_name("mine.yaml")  # a file the tool never wrote
    stranger.write_text("- mine\n", encoding="utf-8")
    assert stale.is_file()
    write_rendered(rendered, tmp_path)
    written = tmp_path / "huggingface" / GPQA
    assert yaml.safe_load(written.read_text(encoding="utf-8"))[0]["value"] == 0.7525
    assert not stale.exists() and stranger.read_text(encoding="utf-8") == "- mine\n"


def test_a_benchmark_ranked_in_percent_keeps_the_percent(variant_path) -> None:
    """hub-docs' HLE example is `value: 20.90`: the unit is the benchmark's, not one rule."""
    release = load(
        variant_path('measured_on = "Q6_K"\nhub_dataset = "cais/hle"\ntask_id = "hle"\n')
    )
    (entry,) = yaml.safe_load(eval_results(release)[".eval_results/hle-hle.yaml"])
    assert entry["value"] == 75.25 and "value in percent" in entry["notes"]


# The Hub target commits a result only once its `measured_on` tag is on the Hub: the seal's
# test, tests/test_seal.py::test_eval_results_wait_for_their_measured_on_tag.
