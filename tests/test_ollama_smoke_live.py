"""Opt-in: the smoke matrix against a real Ollama (`pytest -m live`).

Needs OLLAMA_HOST (e.g. http://127.0.0.1:11434) and PUBLISHER_SMOKE_MODEL (a model on that
daemon, e.g. mannix/gemma4-98e:Q4_K_M). With PUBLISHER_SMOKE_MANIFEST as well, the whole
`publish smoke` command runs for that model's tag, `/api/show` check included.
"""

from __future__ import annotations

import json
import os

import ollama
import pytest
from typer.testing import CliRunner

from publisher.cli import app
from publisher.ollama.smoke.cases import load_cases
from publisher.ollama.smoke.runner import DEFAULT_NUM_PREDICT, DEFAULT_SEED, run_case

HOST = os.environ.get("OLLAMA_HOST")
MODEL = os.environ.get("PUBLISHER_SMOKE_MODEL")
MANIFEST = os.environ.get("PUBLISHER_SMOKE_MANIFEST")

pytestmark = [
    pytest.mark.live,
    pytest.mark.slow,  # `-m "not slow"` replaces the default `-m "not live"`
    pytest.mark.skipif(
        not (HOST and MODEL),
        reason="set OLLAMA_HOST and PUBLISHER_SMOKE_MODEL to run against Ollama",
    ),
]


@pytest.mark.parametrize("case", load_cases(), ids=lambda case: case.name)
def test_case_passes_on_the_real_model(case) -> None:
    """Each built-in case with the model's own parameters, a fixed seed and the length cap."""
    assert MODEL is not None
    client = ollama.Client(host=HOST, timeout=900)
    run = run_case(client, MODEL, case, {"seed": DEFAULT_SEED, "num_predict": DEFAULT_NUM_PREDICT})
    assert run.passed, json.dumps(
        {"failures": [f.message for f in run.failures], "transcript": run.transcript},
        indent=1,
        ensure_ascii=False,
    )
    assert all(
        m.get("done_reason") == "stop" for m in run.transcript if m.get("role") == "assistant"
    )


@pytest.mark.skipif(not MANIFEST, reason="set PUBLISHER_SMOKE_MANIFEST to run `publish smoke`")
def test_publish_smoke_command_on_the_real_daemon() -> None:
    assert MODEL is not None and MANIFEST is not None
    tag = MODEL.rsplit(":", 1)[-1]
    result = CliRunner().invoke(
        app, ["smoke", MANIFEST, "--tag", tag, "--host", HOST or "", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["tags"][0]["model"] == MODEL
