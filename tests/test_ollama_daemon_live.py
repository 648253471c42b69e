"""Opt-in: a real Ollama daemon (`pytest -m live`, OLLAMA_HOST set and reachable).

Creates a tiny synthetic gemma4 GGUF under a throw-away test name, reads it back through the
target's exact comparison, and deletes it. Nothing is pushed.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from doubles.ollama_standin import make_payload
from support.live import live_daemon

from publisher.ollama.daemon import OllamaTarget
from publisher.ollama.daemon_steps import TagState

pytestmark = [pytest.mark.live, pytest.mark.slow]  # slow: `-m "not slow"` replaces `not live`


def test_create_read_back_delete_on_a_real_daemon(tmp_path: Path) -> None:
    host = live_daemon()
    name = f"publisher-live-test/fam{uuid.uuid4().hex[:8]}"
    payload = make_payload(tmp_path, model=name, tags={"Q4_K_M": {}}, latest=None)
    t = OllamaTarget(payload.release, host=host, skip_remote_verify=True)
    t.preflight()
    tp = payload.payload("Q4_K_M")
    ref = t.ref("Q4_K_M")
    try:
        t.steps.create(tp, ref, TagState())
        t.steps.read_back(tp, ref)  # raises StepFailed with every difference
    finally:
        if ref in t.steps.created:
            t.api.delete(ref)
        t.close()
    tags = httpx.get(f"{host}/api/tags", timeout=10).json().get("models") or []
    assert ref.lower() not in {str(m.get("name", "")).lower() for m in tags}
