"""Wording a pydantic validation error for a person: the dotted field, what was expected and what
was found. Shared by the two strict schemas a user edits or may find damaged: manifest and ledger.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any


def dotted(loc: list[str]) -> str:
    """`['tags', '3', 'vram']` → `tags[3].vram`; a key with a newline or an escape code is shown
    quoted and escaped, so the error stays one line and cannot drive the terminal."""
    out = ""
    for part in (p if p.isprintable() else repr(p) for p in loc):
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def describe(error: dict[str, Any], loc: list[str], known: Sequence[str] = ()) -> str:
    """Say what was expected and what was found; a misspelt key gets the nearest of `known`."""
    kind = error["type"]
    found = error.get("input")
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}" + did_you_mean(loc[-1], known)
    if kind == "missing":
        return "required key is missing"
    expected = error["msg"]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        expected = "expected " + kind.removesuffix("_type").removesuffix("_parsing").replace(
            "_", " "
        )
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{expected}, found {found!r} ({type(found).__name__})"


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for the closest candidate, or nothing when none is close."""
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
