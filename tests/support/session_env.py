"""Which environment variables the test session clears or keeps (used by tests/conftest.py).

Kept out of conftest.py so a test can check the rule without importing conftest (no test file
imports another, and conftest is not a module to import)."""

from __future__ import annotations

import shlex

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
# What the opt-in live tests read (tests/test_live_*.py, tests/test_ollama_registry_live.py).
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


def markexpr_from(argv: list[str], addopts: str = "") -> str:
    """The `-m` expression pytest will use, read before pytest has parsed its options.

    conftest.py must clear the environment in its module code (its plugins import huggingface_hub,
    which freezes HF_* at import), before `config.option.markexpr` exists. pytest reads the ini's
    addopts, then PYTEST_ADDOPTS, then the command line, and the last `-m` wins; the ini's
    `-m 'not live'` is the default, so only the other two can select `live`. Forms: `-m EXPR`,
    `-mEXPR`, `-m=EXPR`; nothing after `--` is an option."""
    found = ""
    for args in (shlex.split(addopts), argv):
        index = 0
        while index < len(args):
            arg = args[index]
            if arg == "--":
                break
            if arg == "-m" and index + 1 < len(args):
                found = args[index + 1]
                index += 1
            elif arg.startswith("-m") and not arg.startswith("--") and len(arg) > 2:
                found = arg[3:] if arg[2] == "=" else arg[2:]
            index += 1
    return found
