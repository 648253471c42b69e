"""The result of one release check, shared by the checks in `checks` and `quant_check`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    """One named check: passed or not, with the expected and the found value in words.

    `measured` holds what a check measured as plain data for --json (the quant check's type
    counts and deviating layers); None for checks whose words say it all.
    """

    name: str
    ok: bool
    expected: str
    found: str
    detail: str = ""
    measured: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        text = f"{self.name}: expected {self.expected}, found {self.found}"
        return f"{text} ({self.detail})" if self.detail else text

    def to_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        data = {
            "name": self.name,
            "ok": self.ok,
            "expected": self.expected,
            "found": self.found,
            "detail": self.detail,
        }
        if self.measured is not None:
            data["measured"] = dict(self.measured)
        return data
