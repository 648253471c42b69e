"""Opt-in: the smoke matrix against a real Ollama (`pytest -m live`).

With OLLAMA_HOST (e.g. http://127.0.0.1:11434) alone: smoke's `/api/show` check on a tiny gemma4
model created for the test with `requires` set, read the way `publish smoke` reads it, then
deleted (issue 22: a daemon that honours `requires` reports it only in show's own field).
With PUBLISHER_SMOKE_MODEL as well (a model on that daemon, e.g. mannix/gemma4-98e:Q4_K_M): every
case of the matrix. With PUBLISHER_SMOKE_MANIFEST too, the whole `publish smoke` command runs
for that model's tag, `/api/show` check included.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import ollama
import pytest
from typer.testing import CliRunner

from publisher.cli import app
from publisher.ollama.smoke.cases import load_cases
from publisher.ollama.smoke.runner import DEFAULT_NUM_PREDICT, DEFAULT_SEED, run_case

HOST = os.environ.get("OLLAMA_HOST")
MODEL = os.environ.get("PUBLISHER_SMOKE_MODEL")
MANIFEST = os.environ.get("PUBLISHER_SMOKE_MANIFEST")

pytestmark = pytest.mark.live
needs_model = pytest.mark.skipif(
    not (HOST and MODEL), reason="set OLLAMA_HOST and PUBLISHER_SMOKE_MODEL to run against Ollama"
)


@pytest.mark.skipif(not HOST, reason="set OLLAMA_HOST to run against Ollama")
def test_show_check_passes_on_a_correct_tag_with_requires(tmp_path: Path) -> None:
    """Create a tag the way the daemon target does (renderer/parser gemma4, REQUIRES 0.30.0),
    then smoke's show row must find no drift — requires included — and delete the tag."""
    from doubles.ollama_standin import make_payload

    from publisher.ollama.daemon import OllamaTarget
    from publisher.ollama.daemon_steps import TagState
    from publisher.ollama.smoke.runner import show_case, show_json

    host = HOST if HOST and "://" in HOST else f"http://{HOST}"
    name = f"publisher-live-test/smoke{uuid.uuid4().hex[:8]}"
    payload = make_payload(
        tmp_path, model=name, tags={"Q4_K_M": {}}, latest=None, requires="0.30.0"
    )
    target = OllamaTarget(payload.release, host=host, skip_remote_verify=True)
    target.preflight()
    ref = target.ref("Q4_K_M")
    client = ollama.Client(host=host, timeout=120)
    try:
        target.steps.create(payload.payload("Q4_K_M"), ref, TagState())
        shown = show_json(client, ref)
        assert shown.get("requires") == "0.30.0", shown.get("requires")
        assert "REQUIRES" not in shown.get("modelfile", "")
        tag = payload.release.tag("Q4_K_M")
        report = show_case(client, ref, payload.release, tag)
        assert report.runs[0].failures == [], [f.message for f in report.runs[0].failures]
    finally:
        if ref in target.steps.created:
            target.api.delete(ref)
        target.close()
        client.close()


@needs_model
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


@needs_model
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
