"""Benchmark results the Hub reads: `.eval_results/*.yaml` in the GGUF repo.

Format (hub-docs `docs/hub/eval-results.md`, "Adding Evaluation Results"): each file is a YAML
list of results, each with `dataset: {id, task_id}` (a Hub Benchmark dataset and its task) and
`value`; optional `notes` say how the result was obtained. Only rows the manifest says were
measured on a file of this repo (`measured_on` = a tag sent to the Hub) are written: a score of
the BF16 source belongs to the source repo.

The value is in the unit the benchmark's leaderboard ranks by, which is the benchmark's own
convention, not one rule: hub-docs gives `value: 0.412` for `Idavidrein/gpqa` / `gpqa_diamond`
(eval-results.md "Adding Evaluation Results", and the spec `eval_results.yaml`) — GPQA's
`eval.yaml` names inspect-ai, whose accuracy is a fraction — but `value: 20.90` for `cais/hle`.
The manifest's scores are percent (the card's table), so a fraction benchmark gets score / 100
(75.25 → 0.7525); a benchmark this table does not know keeps the percent, and its notes say so.
"""

from __future__ import annotations

import re
from decimal import Decimal

import yaml

from publisher.manifest import BenchmarkRow, Release

EVAL_RESULTS_DIR = ".eval_results"
# The unit of `value` per Hub Benchmark dataset, from hub-docs' own examples (see above).
VALUE_UNITS = {"Idavidrein/gpqa": "fraction", "cais/hle": "percent"}


def hub_value(row: BenchmarkRow) -> float:
    """The row's score (percent) in its benchmark's unit: a fraction where the Hub ranks by one.
    Decimal keeps 75.25 → 0.7525 exact instead of 0.7525000000000001."""
    if VALUE_UNITS.get(row.hub_dataset or "") == "fraction":
        return float(Decimal(repr(float(row.score))) / 100)
    return float(row.score)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "result"


def eval_file_name(row: BenchmarkRow) -> str:
    """`.eval_results/<dataset name>-<task>.yaml`: one file per benchmark task."""
    assert row.hub_dataset is not None and row.task_id is not None
    return f"{EVAL_RESULTS_DIR}/{_slug(row.hub_dataset.split('/')[-1])}-{_slug(row.task_id)}.yaml"


def _notes(release: Release, row: BenchmarkRow) -> str:
    """What was scored, in words: the tag and its file, the sample count and mode."""
    tag = release.tag(row.measured_on or "")
    unit = VALUE_UNITS.get(row.hub_dataset or "", "percent")
    value = "value as a fraction of 1" if unit == "fraction" else "value in percent"
    parts = [f"measured on this repo's {tag.tag} GGUF ({tag.file})", value]
    if row.n is not None:
        parts.append(f"n={row.n}")
    if row.mode:
        parts.append(row.mode)
    return "; ".join(parts)


def repo_rows(release: Release, published: set[str] | None = None) -> list[BenchmarkRow]:
    """The rows with a Hub Benchmark dataset that were measured on a file this repo holds
    (`published`: the tags the repo holds now, as the seal read them; None: every Hub tag)."""
    rows = release.benchmarks.rows if release.benchmarks else []
    hub_tags = {
        t.tag.lower()
        for t in release.tags
        if "huggingface" in t.targets and (published is None or t.tag in published)
    }
    return [
        row
        for row in rows
        if row.hub_dataset and row.measured_on and row.measured_on.lower() in hub_tags
    ]


def eval_results(release: Release, published: set[str] | None = None) -> dict[str, str]:
    """`{path in repo: YAML text}` for this repo's results; empty without such rows. The seal
    passes `published` so no result cites a file the repo does not hold yet."""
    files: dict[str, list[dict[str, object]]] = {}
    for row in repo_rows(release, published):
        entry = {
            "dataset": {"id": row.hub_dataset, "task_id": row.task_id},
            "value": hub_value(row),
            "notes": _notes(release, row),
        }
        files.setdefault(eval_file_name(row), []).append(entry)
    return {
        path: yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=1000)
        for path, entries in files.items()
    }
