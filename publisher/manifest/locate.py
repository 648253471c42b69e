"""Pinning a manifest error to the TOML line that declared it, child file before its bases.

tomllib gives no positions for values, so the line is found again in each file's text.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import ValidationError

from publisher.errors import ManifestError
from publisher.field_errors import describe, dotted
from publisher.manifest.schema import known_keys

if TYPE_CHECKING:
    from publisher.manifest.loader import Source


def manifest_error(exc: ValidationError, chain: list[Source]) -> ManifestError:
    """The first validation error, located in the file and line that declared it."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    loc = [p for p in loc if p not in {"int", "float", "bool", "list[str]", "str"}]
    return located(describe(error, loc, known_keys(loc[:-1])), loc, chain)


def located(message: str, loc: list[str], chain: list[Source]) -> ManifestError:
    """An error at `loc`, pinned to the nearest line that declares it, child file first."""
    field = dotted(loc) or None
    for depth in range(len(loc), 0, -1):
        for source in reversed(chain):
            line = locate(source.text, loc[:depth])
            if line is not None:
                return ManifestError(message, file=str(source.path), line=line, field=field)
    return ManifestError(message, file=str(chain[-1].path), field=field)


_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+)\s*=")


def locate(text: str, loc: list[str]) -> int | None:
    """Best-effort TOML line of a dotted location (`tags`, `3`, `vram`) in one file's text."""
    table: str = ""
    counts: dict[str, int] = {}
    target_tables, key = _split_location(loc)
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(raw)
        if header:
            name = header.group(2).replace(" ", "")
            if header.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                table = f"{name}[{counts[name]}]"
            else:
                table = name
            if table in target_tables and key is None:
                return number
            continue
        match = _KEY_RE.match(raw)
        if match and key is not None:
            name = match.group(1).strip("\"'")
            full = f"{table}.{name}" if table else name
            if full in {f"{t}.{key}" if t else key for t in target_tables}:
                return number
    return None


def _split_location(loc: list[str]) -> tuple[set[str], str | None]:
    """Candidate table spellings and the key for a location; `[[tags]]` index `3` → `tags[3]`."""
    parts: list[str] = []
    for part in loc:
        if part.isdigit() and parts:
            parts[-1] = f"{parts[-1]}[{part}]"
        else:
            parts.append(part)
    if not parts:
        return {""}, None
    if len(parts) == 1:
        return ({parts[0]}, None) if "[" in parts[0] else ({""}, parts[0])
    tables = {".".join(parts[:-1])}
    # An inline sub-table (`parameters = {…}`) is written as a key of its parent table.
    key = parts[-1]
    return tables, key
