"""One place for terminal output: the rich consoles, JSON printing and the error presentation.

Everything printed passes `urls.redact`: no URL credentials ever reach a terminal or a log.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from publisher.urls import redact, redact_data

# markup=False: text from manifests, files and servers ("[ollama]", "[/x]") is data, never markup;
# deliberate styling goes through rich.text.Text or an explicit markup=True with escaped data.
out = Console(highlight=False, markup=False)
err = Console(stderr=True, highlight=False, markup=False)


class _State:
    """Global output switches set once by the CLI's callback."""

    debug: bool = False
    quiet: bool = False
    progress: bool = True  # False while a command prints --json: no bars on that terminal


state = _State()


def print_json(payload: Any) -> None:
    """Machine-readable output: plain JSON on stdout, nothing else on it."""
    sys.stdout.write(
        json.dumps(redact_data(payload), indent=2, ensure_ascii=False, default=str) + "\n"
    )
    sys.stdout.flush()


def info(message: str | Text) -> None:
    """A progress line for people; silent under --quiet and never on stdout (stdout is for data)."""
    if not state.quiet:
        err.print(redact(message) if isinstance(message, str) else message)


def error(message: str) -> None:
    """An error line for people, on stderr."""
    err.print(Text.assemble(("error:", "bold red"), " ", redact(message)), soft_wrap=True)


def warn(message: str) -> None:
    """A warning for people, on stderr, even under --quiet: warnings must not be missed."""
    err.print(Text.assemble(("warning:", "bold yellow"), " ", redact(message)), soft_wrap=True)
