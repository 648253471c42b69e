"""What the live tests (`pytest -m live`) share: finding the real services they talk to."""

from __future__ import annotations

import os

import httpx
import pytest


def live_daemon() -> str:
    """The URL of the Ollama daemon OLLAMA_HOST names; the test skips when none answers."""
    host = os.environ.get("OLLAMA_HOST")
    if not host:
        pytest.skip("OLLAMA_HOST is not set")
    url = host if "://" in host else f"http://{host}"
    try:
        httpx.get(f"{url}/api/version", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        pytest.skip(f"no Ollama daemon at {url}: {exc}")
    return url
