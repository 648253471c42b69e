"""Opt-in live push to ollama.com; passing it is what lifts the "experimental" warning.

Run: PUBLISHER_OLLAMA_TEST_MODEL=<your-namespace>/publisher-test:live pytest -m live \
tests/test_registry_live.py  (uses ~/.ollama/id_ed25519, whose .pub must be on your account).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from publisher.ollama import image as oi
from publisher.ollama.registry import OllamaKeyAuth, RegistryClient, parse_ollama_name, push_image

MODEL = os.environ.get("PUBLISHER_OLLAMA_TEST_MODEL")

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not MODEL, reason="set PUBLISHER_OLLAMA_TEST_MODEL=ns/model:tag"),
]


def test_direct_push_to_ollama_com(tmp_path: Path) -> None:
    name = parse_ollama_name(MODEL or "")
    gguf = tmp_path / "tiny.gguf"
    try:
        from gguf_factory import write_gemma4_gguf

        write_gemma4_gguf(gguf)
    except ImportError:
        gguf.write_bytes(b"GGUF" + os.urandom(4096))
    data = gguf.read_bytes()
    image = oi.build_image(
        oi.ImageInputs(
            gguf,
            hashlib.sha256(data).hexdigest(),
            len(data),
            "gemma4",
            "1M",
            "Q8_0",
            params={"temperature": 0.6, "stop": ["<turn|>"]},
            renderer="gemma4",
            parser="gemma4",
        )
    )
    with RegistryClient(name.base_url, name.repository, auth=OllamaKeyAuth()) as client:
        push_image(client, image, [name.tag])
        assert client.manifest_digest(name.tag) == image.manifest_digest
        got = client.get_manifest(name.tag)
        assert got is not None and oi.manifest_differences(got[0], image) == []
        assert push_image(client, image, [name.tag]).bytes_uploaded == 0
