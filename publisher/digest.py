"""sha256 of large files with a persistent cache, so an unchanged file is never hashed twice.

The cache maps a file's real path to (size, mtime_ns, inode, sha256); an entry counts only when
all three stat fields still match. It is one JSON file, written atomically and privately (0600),
merged under a file lock with what other processes wrote meanwhile (publisher.statefile), so
concurrent runs never lose each other's entries nor corrupt the file.
`DigestCache.bytes_hashed` counts the bytes actually read and hashed, so callers can prove that
a re-run hashed nothing; `bytes_hashed_total()` counts them for the whole process (whichever
cache, or none), which a run reports as `bytes_hashed`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.errors import CheckFailed, UsageError
from publisher.files import open_regular
from publisher.statefile import CACHE_DIR_ENV, cache_dir, merge_json, read_json

if TYPE_CHECKING:  # rich is imported only when a bar is drawn
    from publisher.progress import Advance

CHUNK = 8 * 1024 * 1024  # large reads; hashlib releases the GIL while hashing them
CACHE_FILE = "digests.json"
_FORMAT = 1

_total_lock = threading.Lock()
_total_hashed = 0  # every byte sha256_file read and hashed in this process


def bytes_hashed_total() -> int:
    """Bytes hashed by `sha256_file` in this process so far: a run reports the difference."""
    with _total_lock:
        return _total_hashed


def _count_hashed(n: int) -> None:
    global _total_hashed
    with _total_lock:
        _total_hashed += n


def default_cache_path() -> Path:
    """`digests.json` in the tool's cache folder (statefile.cache_dir)."""
    return cache_dir() / CACHE_FILE


def _stat_key(path: Path) -> tuple[str, dict[str, int]]:
    real = os.path.realpath(path)
    st = os.stat(real)
    return real, {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


class DigestCache:
    """A persistent map from (realpath, size, mtime_ns, inode) to sha256, shared by all targets."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.bytes_hashed = 0  # bytes read and hashed by this object (0 on a no-op re-run)
        self.hits = 0
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = self._read()
        self._dirty: dict[str, dict[str, Any]] = {}

    def _read(self) -> dict[str, dict[str, Any]]:
        return _entries(read_json(self.path, "digest cache"))  # absent or unreadable: start empty

    def lookup(self, path: str | Path) -> str | None:
        """The cached sha256 of `path` if its size, mtime and inode are unchanged, else None."""
        real, stat = _stat_key(Path(path))
        with self._lock:
            entry = self._entries.get(real)
        if isinstance(entry, dict) and all(entry.get(k) == v for k, v in stat.items()):
            digest = entry.get("sha256")
            if isinstance(digest, str):
                return digest
        return None

    def _store(self, real: str, stat: dict[str, int], digest: str) -> None:
        entry = {**stat, "sha256": digest}
        with self._lock:
            self._entries[real] = entry
            self._dirty[real] = entry

    def add_hit(self) -> None:
        """Count one digest served from the cache (thread-safe)."""
        with self._lock:
            self.hits += 1

    def add_bytes(self, n: int) -> None:
        """Count `n` freshly hashed bytes (thread-safe)."""
        with self._lock:
            self.bytes_hashed += n

    def save(self) -> None:
        """Merge our new entries into the file on disk under its lock and replace it atomically:
        concurrent runs never lose each other's entries."""
        with self._lock:
            if not self._dirty:
                return
            dirty = dict(self._dirty)

        def merge(on_disk: Any) -> dict[str, Any]:
            return {"format": _FORMAT, "entries": {**_entries(on_disk), **dirty}}

        try:
            merged = merge_json(self.path, merge, what="digest cache")
        except OSError as exc:
            raise UsageError(self._unwritable(exc)) from None
        with self._lock:
            self._entries.update(merged["entries"])
            for key in dirty:
                self._dirty.pop(key, None)

    def _unwritable(self, exc: OSError) -> str:
        """Why the cache cannot be saved, and how to point it somewhere writable."""
        folder = self.path.parent
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), folder)
        if blocker.is_dir():
            why = f"{exc.filename or self.path}: {exc.strerror or exc}"
        else:
            why = f"{blocker} is a file, not a folder"
        source = f" (from ${CACHE_DIR_ENV})" if os.environ.get(CACHE_DIR_ENV) else ""
        return (
            f"cannot write the digest cache {self.path}{source}: {why}; "
            f"set {CACHE_DIR_ENV} to a writable folder"
        )


def _entries(data: Any) -> dict[str, dict[str, Any]]:
    """The entries of a cache file's JSON; anything else (old format, garbage) counts as empty."""
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _hash_stream(path: Path, progress: Advance | None) -> tuple[str, int]:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    total = 0
    with open_regular(path) as handle:
        while n := handle.readinto(buffer):
            digest.update(view[:n])
            total += n
            if progress is not None:
                progress(n)
    return digest.hexdigest(), total


def sha256_file(
    path: str | Path, cache: DigestCache | None = None, progress: Advance | None = None
) -> str:
    """The hex sha256 of `path`, from `cache` when the file is unchanged, else streamed and cached.

    `progress(n)` is called with each chunk's byte count while hashing. The cache is not saved
    here; call `cache.save()` (or use `sha256_files`, which does).
    """
    path = Path(path)
    try:
        if cache is not None and (hit := cache.lookup(path)) is not None:
            cache.add_hit()
            return hit
        real, before = _stat_key(path)
        digest, n = _hash_stream(path, progress)
        _, after = _stat_key(path)
    except OSError as exc:
        raise CheckFailed(f"{path}: cannot hash: {exc.strerror or exc}") from None
    _count_hashed(n)
    if cache is not None:
        cache.add_bytes(n)
        if before == after:  # a file changed while being read is hashed again next time
            cache._store(real, after, digest)
    return digest


def sha256_files(
    paths: Iterable[str | Path],
    cache: DigestCache | None = None,
    *,
    progress: bool = True,
    workers: int | None = None,
) -> dict[Path, str]:
    """sha256 of many files, hashed in parallel threads, cached, with a bytes/s bar on a terminal.

    The bar (publisher.progress) shows only on a terminal and never under --quiet or
    `progress=False`. The cache is saved at the end.
    """
    unique = list(dict.fromkeys(Path(p) for p in paths))
    results: dict[Path, str] = {}
    todo: list[Path] = []
    for path in unique:
        hit = cache.lookup(path) if cache is not None and path.exists() else None
        if hit is not None:
            assert cache is not None
            cache.add_hit()
            results[path] = hit
        else:
            todo.append(path)
    if todo:
        total = sum(path.stat().st_size for path in todo if path.exists())
        with _bar(total, progress) as advance:
            count = workers or min(len(todo), os.cpu_count() or 1)
            with ThreadPoolExecutor(max_workers=max(1, count)) as pool:
                hashed = pool.map(lambda p: sha256_file(p, cache, advance), todo)
                results.update(zip(todo, hashed, strict=True))
    if cache is not None:
        cache.save()
    return {path: results[path] for path in unique}


def _bar(total: int, show: bool) -> contextlib.AbstractContextManager[Advance | None]:
    """The shared bytes/s progress bar, or nothing."""
    if not show:
        return contextlib.nullcontext(None)
    from publisher.progress import byte_progress

    return byte_progress("sha256", total)
