"""Test-session hygiene: the suite gives the same result whatever the user's shell exported.

Every variable the tool or its libraries read is cleared, or pinned to a session value, before
any test module is imported (huggingface_hub and ollama read theirs at import):
- the tool's own `PUBLISHER_*` (cache folder pinned to a session folder, so the Go renderer is
  built once and nothing lands in ~/.cache);
- huggingface_hub's `HF_*` / `HUGGINGFACE_*` (huggingface_hub/constants.py: HF_HUB_OFFLINE turns
  every request into an error, HF_ENDPOINT moves the Hub, HF_TOKEN / HF_HOME bring a token);
- the ollama client's `OLLAMA_*` (ollama/_client.py: OLLAMA_HOST, OLLAMA_API_KEY);
- `HOME` → an empty session home: no `~/.ollama` key (publisher/ollama/auth.py), no `~/.cache`,
  no Go env file; `XDG_*` (but the runtime dir) cleared, so caches fall back into that home;
- rich/typer/click's console variables (`NO_COLOR`, `FORCE_COLOR`, `COLUMNS`, `LINES`, `TERM…`);
- httpx's proxy and CA variables (a proxy would swallow the loopback doubles' traffic);
- Go's (`GO*`, `CGO_*`): GOROOT, GOFLAGS or GOTOOLCHAIN would change or download the toolchain.

Live runs (`pytest -m live`, a mark expression that selects `live`) keep the user's values of
what the live tests need: the daemon and Hub addresses, tokens, test repos, HOME and proxies.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from support.session_env import LIVE_NAMES, read_by_the_tool, selects_live

# Fixtures every test file may use by name, never by import (an imported fixture is an unused
# import to linters and is shadowed by the test's parameter): the session's docker-registry,
# the Ollama daemon stand-ins, and the end-to-end release world.
pytest_plugins = [
    "doubles.registry_server",
    "doubles.ollama_standin",
    "doubles.ollama_chat_standin",
    "support.release_world",
]


def pytest_configure(config: pytest.Config) -> None:
    """Clear or pin the environment before test modules (and their libraries) are imported."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if read_by_the_tool(name):
            del os.environ[name]
    session = tempfile.mkdtemp(prefix="publisher-test-session-")
    config.add_cleanup(lambda: shutil.rmtree(session, ignore_errors=True))
    home = os.path.join(session, "home")
    os.makedirs(home)
    os.environ["HOME"] = home
    os.environ["PUBLISHER_CACHE_DIR"] = os.path.join(session, "cache")
    if selects_live(str(config.option.markexpr or "")):
        for name in LIVE_NAMES:
            for spelling in (name, name.lower()):
                if spelling in saved:
                    os.environ[spelling] = saved[spelling]
