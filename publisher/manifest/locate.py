"""Pinning a manifest error to the TOML line that declared it, child file before its bases.

tomllib gives no positions for values, so the line is found again in each file's text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pydantic import ValidationError

from publisher.errors import ManifestError
from publisher.field_errors import describe, dotted
from publisher.manifest.schema import known_keys


class Text(Protocol):
    """What locating needs of a manifest file (`publisher.manifest.source.Source` is one): its
    path and its text. A protocol, so the file reader can report through this module."""

    @property
    def path(self) -> Path: ...

    @property
    def text(self) -> str: ...


def manifest_error(exc: ValidationError, chain: Sequence[Text]) -> ManifestError:
    """The first validation error, located in the file and line that declared it."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    loc = [p for p in loc if p not in {"int", "float", "bool", "list[str]", "str"}]
    return located(describe(error, loc, known_keys(loc[:-1])), loc, chain)


def located(message: str, loc: list[str], chain: Sequence[Text]) -> ManifestError:
    """An error at `loc`, pinned to the nearest line that declares it, child file first."""
    field = dotted(loc) or None
    for depth in range(len(loc), 0, -1):
        for source in reversed(chain):
            line = locate(source.text, loc[:depth])
            if line is not None:
                return ManifestError(message, file=str(source.path), line=line, field=field)
    return ManifestError(message, file=str(chain[-1].path), field=field)


# A TOML key: bare, "basic" or 'literal', dotted with optional spaces around the dots.
_KEY = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER_RE = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED})\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(rf"^\s*({_DOTTED})\s*=")


def locate(text: str, loc: list[str]) -> int | None:
    """Best-effort TOML line of a location (`tags`, `3`, `vram`) in one file's text: the header
    of the table it names (`[model]`, the fourth `[[tags]]`, `[recipes."CD-*"]`) or its key."""
    target = dotted(loc)
    table = ""
    counts: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(raw)
        if header:
            name = _in_arrays(_key_path(header.group(2)), counts)
            if header.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                table = f"{name}[{counts[name]}]"
            else:
                table = name
            if table == target:
                return number
            continue
        key = _KEY_RE.match(raw)
        if key and ".".join(filter(None, (table, _key_path(key.group(1))))) == target:
            return number
    return None


def _key_path(written: str) -> str:
    """A key as written (`recipes . "CD-*"`) as `dotted` spells it (`recipes.CD-*`)."""
    return ".".join(part[1:-1] if part[0] in "\"'" else part for part in re.findall(_KEY, written))


def _in_arrays(name: str, counts: dict[str, int]) -> str:
    """A sub-table of an array's last element: `tags.parameters` → `tags[2].parameters`."""
    parts = name.split(".")
    for end in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in counts:
            return f"{prefix}[{counts[prefix]}]." + ".".join(parts[end:])
    return name
