"""Progress bars for long work (hashing, uploads): bytes/s and ETA on a terminal, else silent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from publisher import console

Advance = Callable[[int], None]


def _enabled() -> bool:
    return not console.state.quiet and console.err.is_terminal


@contextmanager
def byte_progress(description: str, total: int | None) -> Iterator[Advance]:
    """Yield `advance(n_bytes)`; draws a bar on stderr when it is a terminal and not --quiet."""
    if not _enabled():
        yield lambda _n: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console.err,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
