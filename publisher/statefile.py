"""The tool's state files (ledger, digest cache, upload sessions): one way to write them.

Every state file is replaced atomically (temp file in the same folder, fsync, rename), so a kill
at any moment leaves the old or the new file, never half of one, and is private (0600): it holds
paths, digests and upload URLs a user may not want to share. A file that several processes
update (the caches in the user's cache folder) is read, merged and written under a file lock, so
concurrent runs never lose each other's entries.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from publisher.files import read_bytes
from publisher.lock import exclusive

PRIVATE = 0o600
CACHE_DIR_ENV = "PUBLISHER_CACHE_DIR"


def cache_dir() -> Path:
    """The tool's cache folder: $PUBLISHER_CACHE_DIR, else $XDG_CACHE_HOME/publisher, else
    ~/.cache/publisher (digests, upload sessions, destination locks, the built renderer)."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "publisher"


def write_private(path: Path, text: str) -> None:
    """Replace `path` with `text` atomically, mode 0600 whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, PRIVATE)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def read_json(path: Path, what: str = "state file") -> Any:
    """The JSON in `path`, or None when it is absent or unreadable (a cache starts afresh); a
    FIFO or device there is a usage error naming it (publisher.files), never a hang."""
    try:
        return json.loads(read_bytes(path, what).decode("utf-8"))
    except (OSError, ValueError):
        return None


def merge_json(
    path: Path, merge: Callable[[Any], Any], *, indent: int | None = 0, what: str = "state file"
) -> Any:
    """Read `path`, let `merge` turn what other processes wrote into the new content, write it:
    all under an exclusive lock beside the file, so no concurrent update is lost. Returns it.
    An unwritable folder raises OSError (the caller names the setting that chose it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive(lock_path_for(path), wait=True):
        merged = merge(read_json(path, what))
        write_private(path, json.dumps(merged, indent=indent) + "\n")
    return merged


def lock_path_for(path: Path) -> Path:
    """The lock file that guards the state file `path` (a hidden sibling)."""
    return path.with_name(f".{path.name}.lock")
