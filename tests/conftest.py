"""Test-session hygiene: caches (digests, the built Go renderer) go to a session folder, not ~."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

# Fixtures every test file may use by name, never by import (an imported fixture is an unused
# import to linters and is shadowed by the test's parameter): the session's docker-registry,
# the Ollama daemon stand-ins, and the end-to-end release world.
pytest_plugins = [
    "doubles.registry_server",
    "doubles.ollama_standin",
    "doubles.ollama_chat_standin",
    "support.release_world",
]

_CACHE_ENV = "PUBLISHER_CACHE_DIR"


def pytest_configure(config: pytest.Config) -> None:
    """One cache per test session: the Go renderer is built once, nothing lands in ~/.cache."""
    if os.environ.get(_CACHE_ENV) is None:
        folder = tempfile.mkdtemp(prefix="publisher-test-cache-")
        os.environ[_CACHE_ENV] = folder
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))
