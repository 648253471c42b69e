"""Progress bars for long work (hashing, uploads): bytes/s and ETA on a terminal, else silent."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from publisher import console

# A progress callback: called with the byte count of each piece done (a step, not a running total).
Advance = Callable[[int], None]


def _enabled() -> bool:
    """Bars only on a terminal, never under --quiet, never while --json output is produced."""
    return not console.state.quiet and console.state.progress and console.err.is_terminal


def _bars() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console.err,
        transient=True,
    )


@contextmanager
def byte_progress(description: str, total: int | None) -> Iterator[Advance]:
    """Yield `advance(n_bytes)`; draws a bar on stderr when it is a terminal and not --quiet."""
    if not _enabled():
        yield lambda _n: None
        return
    with _bars() as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


class Transfers:
    """Byte progress of several files sent at once: a total bar, and one bar (bytes, rate) per
    file while it is being sent. Counts even when nothing is drawn (`sent`), thread-safe: the
    uploading library reports from its worker threads."""

    def __init__(self, bar: Progress | None, description: str, total: int) -> None:
        self._bar = bar
        self._lock = threading.Lock()
        self._sizes: dict[str, int] = {}
        self.sent: dict[str, int] = {}  # name -> bytes reported so far
        self.reports = 0  # how many byte reports arrived (not once per commit: per chunk)
        self._tasks: dict[str, TaskID] = {}
        self._total = bar.add_task(description, total=total) if bar is not None else None

    def expect(self, name: str, size: int) -> None:
        """A file about to be sent, with its size."""
        with self._lock:
            self._sizes[name] = size
            self.sent.setdefault(name, 0)

    def update(self, name: str, done: int) -> None:
        """`done` bytes of `name` are sent in all (both reporters give how far, not steps)."""
        with self._lock:
            self._moved(name, done)

    def finish(self, names: list[str]) -> None:
        """These files landed: their bars close, the total takes what was not reported."""
        with self._lock:
            for name in names:
                self._moved(name, max(self._sizes.get(name, 0), self.sent.get(name, 0)))
                task = self._tasks.pop(name, None)
                if task is not None and self._bar is not None:
                    self._bar.remove_task(task)

    def _moved(self, name: str, done: int) -> None:
        step = done - self.sent.get(name, 0)
        if step <= 0:
            return
        self.sent[name] = done
        self.reports += 1
        if self._bar is None:
            return
        task = self._tasks.get(name)
        if task is None:
            task = self._bar.add_task(f"  {name}", total=self._sizes.get(name))
            self._tasks[name] = task
        self._bar.update(task, completed=done)
        assert self._total is not None
        self._bar.advance(self._total, step)


@contextmanager
def transfer_progress(description: str, total: int) -> Iterator[Transfers]:
    """A `Transfers` board; drawn on stderr only when it is a terminal (not --quiet, --json)."""
    if not _enabled():
        yield Transfers(None, description, total)
        return
    with _bars() as bar:
        yield Transfers(bar, description, total)
