"""Byte progress of huggingface_hub uploads, reported to a `publisher.progress.Transfers` board.

`HfApi.create_commit` takes no progress callback; huggingface_hub draws its own tqdm bars. It
knows the bytes in two places, each looked up by name when an upload starts, and those are
the seams we hook for the length of one commit:

- LFS: `huggingface_hub.utils.tqdm_stream_file(path)` opens each file it PUTs (single or
  multi-part); ours opens it the same way and reports every chunk `read` returns;
- Xet: `huggingface_hub.utils._xet_progress_reporting.XetUploadProgressReporter` receives
  hf_xet's per-file reports (`item_name`, `bytes_completed`); ours forwards them (huggingface_hub
  creates it only while its own bars are enabled, which is why --quiet turns them off instead);
- the `tqdm` class of `huggingface_hub.utils.tqdm` (what `huggingface_hub.utils.tqdm` returns),
  for the LFS path's count-of-files bar: a silent one while ours draw.

A seam missing in some huggingface_hub version is left alone: the board's total then moves when
each commit lands, as before. Nothing here changes what is sent.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, BinaryIO

from publisher.progress import Transfers


@contextmanager
def library_progress(board: Transfers, names: dict[str, str]) -> Iterator[None]:
    """While open, huggingface_hub's upload progress goes to `board`; `names` maps each local
    file (any spelling of its path) to its name in the repo."""
    import huggingface_hub.utils as hf_utils

    known = {os.path.realpath(local): name for local, name in names.items()}

    def name_of(path: str | Path) -> str:
        real = os.path.realpath(path)
        return known.get(real) or Path(path).name

    with ExitStack() as stack:
        stack.enter_context(_swap(hf_utils, "tqdm_stream_file", _streamer(board, name_of)))
        bars = importlib.import_module("huggingface_hub.utils.tqdm")  # `utils.tqdm` reads it
        stack.enter_context(_swap(bars, "tqdm", _silent_tqdm(bars)))
        try:
            reporting = importlib.import_module("huggingface_hub.utils._xet_progress_reporting")
        except ImportError:
            reporting = None
        if reporting is not None:
            reporter = _xet_reporter(board, name_of)
            stack.enter_context(_swap(reporting, "XetUploadProgressReporter", reporter))
        yield


@contextmanager
def _swap(module: Any, attribute: str, replacement: Any) -> Iterator[None]:
    """Replace `module.attribute` for the block, if the library has it at all."""
    if replacement is None or not hasattr(module, attribute):
        yield
        return
    original = getattr(module, attribute)
    setattr(module, attribute, replacement)
    try:
        yield
    finally:
        setattr(module, attribute, original)


def _streamer(board: Transfers, name_of: Any) -> Any:
    """`tqdm_stream_file`'s contract (open binary, yield the file) reporting to the board.

    What is reported is how far into the file the reads have come, not how much was read: the
    library seeks back and reads a part again when it retries a PUT, and those bytes are not
    new (counted as read, a retried upload would fill its bar past 100 %)."""

    @contextmanager
    def stream(path: str | Path) -> Iterator[BinaryIO]:
        name = name_of(path)
        with open(path, "rb") as handle:
            read = handle.read

            def reporting_read(size: int | None = -1) -> bytes:
                data = read(size)
                board.update(name, handle.tell())
                return data

            handle.read = reporting_read  # type: ignore[method-assign]
            yield handle

    return stream


def _silent_tqdm(bars: Any) -> Any:
    base = getattr(bars, "tqdm", None)
    if base is None:
        return None

    class Silent(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def _xet_reporter(board: Transfers, name_of: Any) -> type:
    class Reporter:
        """Takes hf_xet's reports in place of huggingface_hub's tqdm bars."""

        def __init__(self, *_args: Any, **_kwargs: Any) -> None:
            return

        def update_progress(self, _group: Any, items: dict[Any, Any] | None = None) -> None:
            for item in (items or {}).values():
                name = getattr(item, "item_name", None)
                done = getattr(item, "bytes_completed", None)
                if name and isinstance(done, int):
                    board.update(name_of(name), done)

        def reset_for_next_commit(self) -> None:
            return

        def close(self) -> None:
            return

    return Reporter
