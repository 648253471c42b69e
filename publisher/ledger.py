"""The release ledger: what was published, step by step, so a re-run resumes and `status` can tell.

One JSON file per variant, rewritten atomically (temp file + fsync + rename) after every finished
step, so a kill at any moment leaves either the old or the new ledger, never half of one. It holds
digests, sizes, remote ids and times — never a credential.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher import __version__
from publisher.errors import UsageError
from publisher.files import read_text
from publisher.urls import redact_data

SCHEMA = 1


def ledger_path(manifest: Path, variant: str) -> Path:
    """`<manifest dir>/<variant>.lock.json`: beside the manifest, like a lock file of a package."""
    return manifest.resolve().parent / f"{variant}.lock.json"


class Ledger:
    """Finished steps keyed by `target` then `step` (e.g. `ollama` / `push:Q4_K_M`)."""

    def __init__(self, path: Path, variant: str) -> None:
        self.path = path
        self.variant = variant
        self.data: dict[str, Any] = self._read()

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"schema": SCHEMA, "variant": self.variant, "targets": {}, "tags": {}}
        try:
            data = json.loads(read_text(self.path, "ledger"))
        except (OSError, UsageError, json.JSONDecodeError) as exc:
            raise UsageError(
                f"{self.path}: the ledger is unreadable ({exc}); move it aside to start afresh"
            ) from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise UsageError(f"{self.path}: expected a ledger of schema {SCHEMA}")
        data.setdefault("targets", {})
        data.setdefault("tags", {})
        return data

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
        """Write the whole ledger atomically: temp file in the same folder, fsync, rename."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data["updated"] = _now()
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(redact_data(self.data), handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
