"""Measured facts per tag (size, quant, digests) taken from verify reports, or unknown.

Rendering must work with no GGUF present, so reports are optional and read duck-typed (the
`TagReport` of `publisher.gguf.checks` or anything with the same attributes): a missing report
or a "missing" status means every measured value shows as unknown, never as a made-up one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FileFacts:
    """One file of a tag (a GGUF or one shard) and its sha256 when it was hashed."""

    name: str
    sha256: str | None = None


@dataclass(frozen=True)
class TagFacts:
    """What verify measured for one tag; None where nothing was measured (a verified tag's
    shapes: `publisher.gguf.checks.TagReport`)."""

    status: str = "unknown"  # "ok", "failed", "missing" or "unknown" (no report)
    size: int | None = None
    quant: str | None = None
    files: tuple[FileFacts, ...] = field(default_factory=tuple)

    @property
    def present(self) -> bool:
        """The files were found on disk when verify ran."""
        return self.status in {"ok", "failed"}


UNKNOWN_FACTS = TagFacts()


def _tag_name(report: Any) -> str | None:
    tag = getattr(report, "tag", None)
    if tag is None:
        return None
    return tag if isinstance(tag, str) else getattr(tag, "tag", None)


def _status(report: Any) -> str:
    status = getattr(report, "status", None)
    if isinstance(status, str):
        return status
    return "missing" if getattr(report, "missing", False) else "ok"


def _files(report: Any) -> tuple[FileFacts, ...]:
    """File names with their digests, from `files` (paths) and `sha256` ({name: hex} or hex)."""
    digests = getattr(report, "sha256", None)
    names = [Path(str(path)).name for path in getattr(report, "files", None) or []]
    if isinstance(digests, str):
        return tuple(FileFacts(name, digests) for name in names[:1]) or (FileFacts("", digests),)
    digest_map: dict[str, str] = {
        Path(str(key)).name: str(value) for key, value in (digests or {}).items()
    }
    names += [name for name in digest_map if name not in names]
    return tuple(FileFacts(name, digest_map.get(name)) for name in names)


def tag_facts(report: Any) -> TagFacts:
    """The facts one report gives; a missing file gives none."""
    status = _status(report)
    if status == "missing":
        return TagFacts(status="missing")
    size = getattr(report, "size", None)
    return TagFacts(
        status=status,
        size=size if isinstance(size, int) and size > 0 else None,
        quant=getattr(report, "quant", None) or None,
        files=_files(report),
    )


def facts_by_tag(reports: Iterable[Any] | None) -> dict[str, TagFacts]:
    """Facts keyed by tag name; tags without a report are simply absent (unknown)."""
    facts: dict[str, TagFacts] = {}
    for report in reports or []:
        name = _tag_name(report)
        if name is not None:
            facts[name] = tag_facts(report)
    return facts
