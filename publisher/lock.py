"""Run locks: two releases of the same variant, or to the same destination, never interleave.

Built on `filelock` (flock on Unix): the kernel drops a lock when its holder dies, so a run killed
with SIGKILL never leaves a stale lock. The holder writes its pid into the lock file, so a second
run names the process it waits for.

Two kinds of run lock are taken by `publish release`: one per manifest variant (beside the
ledger) and one per remote destination (an Ollama model on one registry, a Hub repo), kept in
the user's cache folder — two copies of one manifest in two folders share the destination lock
and can never publish the same tag at once.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from publisher.errors import UsageError

STATE_WAIT = 60.0  # seconds a state-file update waits for another process's (brief) update


@contextmanager
def exclusive(path: Path, *, wait: bool = False, holder_of: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `path`; with `wait`, wait up to STATE_WAIT seconds for it.

    Without `wait` a held lock fails at once: "another publish run holds <what> (pid N)", where
    <what> is `holder_of` or the lock's path.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(path), timeout=STATE_WAIT if wait else 0, mode=0o600)
        lock.acquire()
    except Timeout:
        holder = _holder(path)
        what = holder_of or str(path)
        raise UsageError(
            f"another publish run holds {what} (pid {holder}, lock {path}); wait for it to finish"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot take the lock: {exc.strerror or exc}; it must be a writable file "
            "(remove whatever is there)"
        ) from None
    try:
        _write_pid(path)
        yield
    finally:
        lock.release()


@contextmanager
def release_lock(path: Path) -> Iterator[None]:
    """The per-variant run lock beside the ledger: a second run of it fails at once."""
    with exclusive(path):
        yield


@contextmanager
def destination_locks(destinations: list[str], folder: Path) -> Iterator[None]:
    """One run lock per remote destination (e.g. `ollama registry.ollama.ai/mannix/gemma4-98e`),
    in `folder` (the user's cache), taken in a fixed order; any one held elsewhere fails at once."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the lock folder {folder}: {exc.strerror or exc}; "
            "set PUBLISHER_CACHE_DIR to a writable folder"
        ) from None
    with ExitStack() as stack:
        for destination in sorted(set(destinations)):
            stack.enter_context(
                exclusive(destination_lock_path(destination, folder), holder_of=destination)
            )
        yield


def destination_lock_path(destination: str, folder: Path) -> Path:
    """A readable, collision-free lock file name for one destination."""
    key = destination.lower()
    slug = re.sub(r"[^a-z0-9._-]+", "_", key).strip("_")[:80]
    return folder / f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.lock"


def _write_pid(path: Path) -> None:
    """Write our pid into the held lock file (a second descriptor: flock is not affected)."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    finally:
        os.close(fd)


def _holder(path: Path) -> str:
    """The pid the holder wrote, or "unknown" (it may not have written it yet)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(64).decode(errors="replace").strip() or "unknown"
    except OSError:
        return "unknown"
