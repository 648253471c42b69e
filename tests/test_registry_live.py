"""Opt-in live tests against ollama.com; passing them is what lifts the "experimental" warning.

Push (uses ~/.ollama/id_ed25519, whose .pub must be on your account):

    PUBLISHER_OLLAMA_TEST_MODEL=<your-namespace>/publisher-test:live pytest -m live \
        tests/test_registry_live.py

Render parity: a daemon (OLLAMA_HOST) pulls a tag published with the release's template and
`PARSER gemma4` and renders every corpus conversation with `"_debug_render_only": true`; each
prompt must equal our Go renderer's output for the template the daemon holds. The tag is
PUBLISHER_OLLAMA_RENDER_MODEL (e.g. mannix/gemma4-98e:Q4_K_M), else the pushed test model —
the daemon loads the model to render, so a real release tag is the dependable choice.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import httpx
import pytest
from test_live_ollama import _daemon as daemon_url

from publisher.chat.corpus import load_corpus
from publisher.chat.gorender import render
from publisher.chat.parity import diff
from publisher.manifest import TEMPLATES_DIR
from publisher.ollama import image as oi
from publisher.ollama.auth import OllamaKeyAuth
from publisher.ollama.registry import RegistryClient, parse_ollama_name, push_image

MODEL = os.environ.get("PUBLISHER_OLLAMA_TEST_MODEL")
RENDER_MODEL = os.environ.get("PUBLISHER_OLLAMA_RENDER_MODEL") or MODEL
TEMPLATE = (TEMPLATES_DIR / "ollama" / "gemma4-tools.gotmpl").read_text(encoding="utf-8")

pytestmark = pytest.mark.live


def test_direct_push_to_ollama_com(tmp_path: Path) -> None:
    if not MODEL:
        pytest.skip("set PUBLISHER_OLLAMA_TEST_MODEL=ns/model:tag")
    name = parse_ollama_name(MODEL)
    gguf = tmp_path / "tiny.gguf"
    from support.gguf_factory import write_gemma4_gguf

    write_gemma4_gguf(gguf)
    data = gguf.read_bytes()
    image = oi.build_image(
        oi.ImageInputs(
            gguf,
            hashlib.sha256(data).hexdigest(),
            len(data),
            "gemma4",
            "1M",
            "Q4_K_M",
            template=TEMPLATE,
            params={"temperature": 0.6, "stop": ["<turn|>", "<|tool_response>"]},
            parser="gemma4",
            requires="0.30.0",
        )
    )
    with RegistryClient(name.base_url, name.repository, auth=OllamaKeyAuth()) as client:
        push_image(client, image, [name.tag])  # same digest, or same content re-serialised
        got = client.get_manifest(name.tag)
        assert got is not None and oi.manifest_differences(got[0], image) == []
        config = json.loads(client.get_blob(image.config.digest))
        assert config["requires"] == "0.30.0" and config["parser"] == "gemma4"
        assert push_image(client, image, [name.tag]).bytes_uploaded == 0


def test_daemon_renders_the_corpus_like_our_go_renderer() -> None:
    if not RENDER_MODEL:
        pytest.skip("set PUBLISHER_OLLAMA_RENDER_MODEL (or PUBLISHER_OLLAMA_TEST_MODEL)")
    url = daemon_url()  # skips unless OLLAMA_HOST answers
    with httpx.Client(base_url=url, timeout=httpx.Timeout(30, read=None)) as http:
        pulled = http.post("/api/pull", json={"model": RENDER_MODEL, "stream": False})
        assert pulled.status_code == 200, pulled.text
        show = http.post("/api/show", json={"model": RENDER_MODEL}).json()
        template = show["template"]
        assert "PARSER gemma4" in show["modelfile"] and "RENDERER" not in show["modelfile"]
        differences = []
        for conv in load_corpus():
            request = {
                "model": RENDER_MODEL,
                "messages": conv.messages,
                "stream": False,
                "_debug_render_only": True,
            }
            if conv.tools:
                request["tools"] = conv.tools
            if conv.think is not None:
                request["think"] = conv.think
            resp = http.post("/api/chat", json=request)
            assert resp.status_code == 200, f"{conv.name}: {resp.text[:300]}"
            theirs = resp.json()["_debug_info"]["rendered_template"]
            ours = render(template, conv.values())
            differences.append(diff(theirs, ours, conv.name))  # daemon first, ours second
        assert "".join(differences) == ""
