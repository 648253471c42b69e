"""Reading a manifest: its TOML and the bases it `extends`, merged with paths anchored to the
file that wrote them, then validated, cross-checked and resolved by `load`.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from publisher.errors import ManifestError
from publisher.files import NotARegularFile, NulInPath, exists, read_bytes, real_path
from publisher.manifest.confine import anchor_paths, extends_target
from publisher.manifest.cross_checks import cross_check
from publisher.manifest.locate import locate, located, manifest_error
from publisher.manifest.resolve import GGUF_DIR_ENV, resolve
from publisher.manifest.resolved import Release
from publisher.manifest.schema import ManifestDocument

_MAX_DEPTH = 32  # no manifest table or array nests deeper; 5,000 levels would overflow the stack


class Source:
    """One TOML file read: its text (to locate lines) and its parsed data."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.text = read_bytes(path, "manifest").decode("utf-8")
        except FileNotFoundError:
            raise ManifestError("manifest not found", file=str(path)) from None
        except NotARegularFile as exc:
            raise ManifestError(
                f"the manifest is {exc.kind}, not a regular file", file=str(path)
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"cannot read manifest: {exc}", file=str(path)) from None
        self.data = self._parse()
        self._check_values(self.data, [])

    def _parse(self) -> dict[str, Any]:
        try:
            return tomllib.loads(self.text)
        except RecursionError:
            raise ManifestError(
                f"tables or arrays nested too deeply (at most {_MAX_DEPTH} levels)",
                file=str(self.path),
            ) from None
        except tomllib.TOMLDecodeError as exc:
            # Before Python 3.14 tomllib gives the position only in the message: "(at line 3, …)"
            where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
            line = getattr(exc, "lineno", None) or (int(where.group(1)) if where else None)
            column = getattr(exc, "colno", None) or (int(where.group(2)) if where else None)
            message = getattr(exc, "msg", None) or re.sub(r"\s*\(at line.*\)$", "", str(exc))
            raise ManifestError(
                f"TOML syntax error: {message}", file=str(self.path), line=line, column=column
            ) from None

    def _check_values(self, value: Any, loc: list[str]) -> None:
        """No NUL byte in any key or string (no file system or registry takes one) and no
        nesting deeper than any manifest needs (the validators recurse)."""
        if len(loc) > _MAX_DEPTH:
            raise self._error(f"nested deeper than {_MAX_DEPTH} levels", loc)
        if isinstance(value, str) and "\0" in value:
            raise self._error(f"a NUL byte in the string {value!r:.80}", loc)
        for key, item in _children(value):
            if "\0" in str(key):
                raise self._error(f"a NUL byte in the key {key!r:.80}", loc)
            self._check_values(item, [*loc, str(key)])

    def _error(self, message: str, loc: list[str]) -> ManifestError:
        return located(message, loc, [self])


def _children(value: Any) -> list[tuple[Any, Any]]:
    """(key, value) of a TOML table or (index, item) of an array; nothing for a scalar."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        return list(enumerate(value))
    return []


def read_chain(path: Path) -> list[Source]:
    """The manifest and every base it extends, base first; cycles and missing bases are errors."""
    chain: list[Source] = []
    seen: list[Path] = []
    current: Path | None = real_path(path, "manifest")
    child: Source | None = None
    while current is not None:
        if current in seen:
            cycle = " -> ".join(str(p) for p in [*seen, current])
            raise ManifestError(f"circular extends: {cycle}", file=str(seen[-1]), field="extends")
        if child is not None and not exists(current):
            raise ManifestError(
                f"extends names {current}, which does not exist",
                file=str(child.path),
                line=locate(child.text, ["extends"]),
                field="extends",
            )
        source = Source(current)
        seen.append(current)
        chain.append(source)
        base = source.data.pop("extends", None)
        if base is not None and not (isinstance(base, str) and base):
            found = repr(base) if isinstance(base, str) else type(base).__name__
            raise ManifestError(
                f"expected the path of a base manifest, found {found}",
                file=str(current),
                line=locate(source.text, ["extends"]),
                field="extends",
            )
        current = extends_target(source, base) if base else None
        child = source
    return list(reversed(chain))


def _deep_merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; arrays and scalars of the child replace the base's."""
    merged = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_chain(chain: list[Source]) -> dict[str, Any]:
    """The chain's data merged base first, each file's relative paths anchored to it."""
    merged: dict[str, Any] = {}
    for source in chain:
        anchor_paths(source)
        merged = _deep_merge(merged, source.data)
    return merged


def read_merged(path: str | Path) -> dict[str, Any]:
    """A manifest and its bases merged but not validated (a base alone is not a release)."""
    return merge_chain(read_chain(Path(path)))


def load(path: str | Path, *, gguf_dir: str | Path | None = None) -> Release:
    """Load, merge and validate a manifest; `gguf_dir` (from --gguf-dir) beats the environment."""
    for value, what in (
        (path, "manifest"),
        (gguf_dir, "--gguf-dir"),
        (os.environ.get(GGUF_DIR_ENV), GGUF_DIR_ENV),
    ):
        if value is not None and "\0" in str(value):
            raise NulInPath(value, what)
    manifest_path = Path(path)
    chain = read_chain(manifest_path)
    merged = merge_chain(chain)
    try:
        document = ManifestDocument.model_validate(merged)
    except ValidationError as exc:
        raise manifest_error(exc, chain) from None
    cross_check(document, chain)
    return resolve(document, chain, gguf_dir)
