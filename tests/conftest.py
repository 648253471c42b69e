"""Test-session hygiene: the suite gives the same result whatever the user's shell exported.

Every variable the tool or its libraries read is cleared, or pinned to a session value, in this
module's own code, before its plugins or any test module is imported (huggingface_hub and ollama
read theirs at import):
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

import atexit
import os
import shutil
import sys
import tempfile

import pytest
from support.session_env import LIVE_NAMES, markexpr_from, read_by_the_tool, selects_live

# Module code, not a hook: pytest imports the plugins named in `pytest_plugins` below right after
# this module body runs and before `pytest_configure`; they import huggingface_hub, whose
# constants.py reads HF_HUB_OFFLINE, HF_ENDPOINT, HF_HOME… once, at import. Cleared any later,
# the user's shell values would stay frozen in the library for the whole session.
_SAVED = dict(os.environ)
_LIVE = selects_live(markexpr_from(sys.argv[1:], os.environ.get("PYTEST_ADDOPTS", "")))
for _name in list(os.environ):
    if read_by_the_tool(_name):
        del os.environ[_name]
_SESSION = tempfile.mkdtemp(prefix="publisher-test-session-")
atexit.register(shutil.rmtree, _SESSION, ignore_errors=True)
os.makedirs(os.path.join(_SESSION, "home"))
os.environ["HOME"] = os.path.join(_SESSION, "home")
os.environ["PUBLISHER_CACHE_DIR"] = os.path.join(_SESSION, "cache")
if _LIVE:
    for _name in LIVE_NAMES:
        for _spelling in (_name, _name.lower()):
            if _spelling in _SAVED:
                os.environ[_spelling] = _SAVED[_spelling]

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
    """Refuse a run whose mark expression the module code above read differently from pytest
    (e.g. `pytest.main(["-m", "live"])` in-process): its environment would be the wrong one."""
    if selects_live(str(config.option.markexpr or "")) != _LIVE:
        raise pytest.UsageError(
            "tests/conftest.py: give the -m mark expression on the command line or in "
            "PYTEST_ADDOPTS (it decides, before plugins load, whether live variables are kept)"
        )
