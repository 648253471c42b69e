"""The release ledger: what was published, step by step, so a re-run resumes and `status` can tell.

One JSON file per variant, rewritten atomically (temp file + fsync + rename, mode 0600) after every
finished step, so a kill at any moment leaves either the old or the new ledger, never half of one.
It holds digests, sizes, remote ids and times — never a credential. It is validated on read (a
pydantic schema, like the manifest): a ledger that is not UTF-8, not JSON or has a field of the
wrong type is a one-line usage error naming the file and the field, and is never rewritten.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from publisher import __version__
from publisher.errors import UsageError
from publisher.field_errors import describe, dotted
from publisher.files import read_bytes
from publisher.statefile import write_private
from publisher.urls import redact_data

SCHEMA = 1


def ledger_path(manifest: Path, variant: str) -> Path:
    """`<manifest dir>/<variant>.lock.json`: beside the manifest, like a lock file of a package."""
    return manifest.resolve().parent / f"{variant}.lock.json"


class _Facts(BaseModel):
    """Typed where the tool reads a field back (status, resume); other facts pass through."""

    model_config = ConfigDict(extra="allow", strict=True)

    at: str
    tool: str | None = None
    repo: str | None = None
    endpoint: str | None = None  # the Hub a `file:` entry is on (HF_ENDPOINT / manifest)
    registry: str | None = None
    manifest_digest: str | None = None  # the tag's manifest in the registry, either Ollama path
    manifest: str | None = None  # its old name on the daemon path (renamed on read)
    model: str | None = None
    sha256: str | None = None
    blob_id: str | None = None
    size: int | None = None
    bytes_uploaded: int | None = None
    removed: bool | None = None  # a file a prune deleted from the remote


class _File(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    path: str
    size: int
    sha256: str | None = None


class _Tag(BaseModel):
    """A tag's record as `pipeline.run.tag_json` writes it (a verified tag's shapes:
    `publisher.gguf.checks.TagReport`)."""

    model_config = ConfigDict(extra="allow", strict=True)

    at: str
    files: list[_File] = []
    size: int | None = None
    sha256: str | None = None


class _LedgerDocument(BaseModel):
    """The whole file: `targets.<target>.<step>` facts and `tags.<tag>` local facts."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)

    schema_: Literal[1] = Field(alias="schema")
    variant: str
    updated: str | None = None
    targets: dict[str, dict[str, _Facts]] = {}
    tags: dict[str, _Tag] = {}


def _rename_old_fields(data: dict[str, Any]) -> None:
    """Fields an older ledger named otherwise take today's name (the file is rewritten with it
    at the next save): the daemon path recorded the registry's manifest digest as `manifest`."""
    for steps in data["targets"].values():
        for facts in steps.values():
            if "manifest" in facts:
                old = facts.pop("manifest")
                facts.setdefault("manifest_digest", old)


class Ledger:
    """Finished steps keyed by `target` then `step` (e.g. `ollama` / `push:Q4_K_M`)."""

    def __init__(self, path: Path, variant: str) -> None:
        self.path = path
        self.variant = variant
        self.data: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        """The ledger, validated; anything else is a usage error naming the file and field (the
        file is left as it is: it is the user's record, and only they may move it aside)."""
        if not self.path.exists():
            return {"schema": SCHEMA, "variant": self.variant, "targets": {}, "tags": {}}
        try:
            raw = read_bytes(self.path, "ledger")
        except OSError as exc:
            raise self._bad(f"cannot read it: {exc.strerror or exc}") from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise self._bad(f"not UTF-8 text (byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise self._bad(f"not JSON (line {exc.lineno} column {exc.colno}: {exc.msg})") from None
        if not isinstance(data, dict):
            raise self._bad(f"expected a JSON object, found {type(data).__name__}")
        try:
            _LedgerDocument.model_validate(data)
        except ValidationError as exc:
            raise self._invalid(exc) from None
        if data["variant"] != self.variant:
            raise self._bad(f"variant: the ledger is for {data['variant']!r}, not {self.variant!r}")
        data.setdefault("targets", {})
        data.setdefault("tags", {})
        _rename_old_fields(data)
        return data

    def _invalid(self, exc: ValidationError) -> UsageError:
        error = exc.errors()[0]
        loc = [str(part) for part in error["loc"]]
        if error["type"] == "extra_forbidden":
            what = f"unknown key {loc[-1]!r}"
        elif loc == ["schema"] and error["type"] != "missing":
            what = f"expected a ledger of schema {SCHEMA}, found {error.get('input')!r}"
        else:
            what = describe(error, loc)
        return self._bad(f"{dotted(loc)}: {what}")

    def _bad(self, what: str) -> UsageError:
        return UsageError(
            f"{self.path}: ledger: {what}; fix it or move it aside to start afresh "
            "(it was left as it is)"
        )

    def step(self, target: str, key: str) -> dict[str, Any] | None:
        """What was recorded for a finished step, or None."""
        return self.data["targets"].get(target, {}).get(key)

    def record(self, target: str, key: str, facts: dict[str, Any]) -> None:
        """Persist one finished step now (atomically)."""
        entry = {**facts, "at": _now(), "tool": f"publisher {__version__}"}
        self.data["targets"].setdefault(target, {})[key] = entry
        self.save()

    def record_tag(self, tag: str, facts: dict[str, Any]) -> None:
        """The local facts of a tag (file, size, sha256 per shard) as published."""
        self.data["tags"][tag] = {**facts, "at": _now()}
        self.save()

    def save(self) -> None:
        """Write the whole ledger atomically and privately (publisher.statefile)."""
        self.data["updated"] = _now()
        write_private(
            self.path, json.dumps(redact_data(self.data), indent=2, sort_keys=True) + "\n"
        )


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
