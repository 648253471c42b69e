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

CLEARED_PREFIXES = ("PUBLISHER_", "HF_", "HUGGINGFACE_", "OLLAMA_", "XDG_", "GO", "CGO_")
CLEARED_NAMES = frozenset(
    {
        "NO_COLOR",
        "FORCE_COLOR",
        "PY_COLORS",
        "COLORTERM",
        "COLUMNS",
        "LINES",
        "TERMINAL_WIDTH",
        "JUPYTER_COLUMNS",
        "JUPYTER_LINES",
        "TTY_COMPATIBLE",
        "TTY_INTERACTIVE",
        "TYPER_USE_RICH",
        "_TYPER_STANDARD_TRACEBACK",
        "_TYPER_FORCE_DISABLE_TERMINAL",
        "GITHUB_ACTIONS",  # typer/rich switch their console behaviour on it
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    }
)
KEPT = frozenset({"XDG_RUNTIME_DIR"})  # the session's runtime dir, owned by the system
# What the opt-in live tests read (tests/test_live_*.py, tests/test_registry_live.py).
LIVE_NAMES = frozenset(
    {
        "OLLAMA_HOST",
        "HF_TOKEN",
        "HF_ENDPOINT",
        "HF_HOME",  # a stored `hf auth login` token lives there (or under XDG_CACHE_HOME)
        "HF_TOKEN_PATH",
        "XDG_CACHE_HOME",
        "PUBLISHER_SMOKE_MODEL",
        "PUBLISHER_SMOKE_MANIFEST",
        "PUBLISHER_HF_TEST_REPO",
        "PUBLISHER_OLLAMA_TEST_MODEL",
        "PUBLISHER_OLLAMA_RENDER_MODEL",
        "HOME",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    }
)


def read_by_the_tool(name: str) -> bool:
    """Whether `name` is one of the variables the session clears (either case for proxies)."""
    upper = name.upper() if name.lower().endswith("_proxy") else name
    if upper in KEPT:
        return False
    return upper in CLEARED_NAMES or name.startswith(CLEARED_PREFIXES)


def selects_live(markexpr: str) -> bool:
    """`-m live`, `-m "live and …"`: a run meant for the live tests, not the default one."""
    return "live" in markexpr and "not live" not in markexpr


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
