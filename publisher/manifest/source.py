"""One manifest file read: its text (to locate lines) and its parsed TOML, checked for what the
validators cannot take (NUL bytes, nesting deeper than any manifest needs).

Its own module so that `locate`, `cross_checks` and `resolve` can name it without importing the
loader that calls them.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from publisher.errors import ManifestError
from publisher.files import NotARegularFile, read_bytes
from publisher.manifest.locate import located

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
