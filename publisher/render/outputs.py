"""Writing the build folder: only into what the tool owns, never through what it does not.

Three rules (issue 21, items 1 and 2):
- each output is written to a temp file in its own folder and renamed over the old one, so a
  kill mid-render leaves the previous file whole (never a 0-byte card whose hand-written section
  the next render would lose);
- an output path that is a symlink, FIFO, device or folder is refused (exit 2, naming it): a
  rename never writes through a link, and refusing says why rather than replacing a link a
  person made on purpose;
- a file of an earlier render that this one no longer produces is removed only when the record
  of the last render (`.publisher-outputs.json` in the out folder) lists it and its bytes are
  still the ones the tool wrote: a stranger's file, or one a person edited since, is left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path

from publisher.errors import UsageError
from publisher.files import kind_of, read_bytes

RECORD_NAME = ".publisher-outputs.json"
_RECORD_VERSION = 1
# every path a render writes, relative to the out folder: nothing else may ever be removed
_OWNED = re.compile(
    r"ollama/[^/]+\.Modelfile|ollama/page\.md|huggingface/(README\.md|template|params|system)"
    r"|huggingface/\.eval_results/[^/]+\.yaml"
)
_FILE_MODE = 0o666  # rendered files are ordinary files: the umask decides, as for `open()`


def check_output_path(path: Path, what: str = "output file") -> None:
    """Refuse an output path that exists as anything but a regular file (a symlink included)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise UsageError(
            f"{path}: {what} is a symbolic link; refusing to write through it or replace it "
            "(remove the link or choose another --out)"
        )
    if not stat.S_ISREG(mode):
        raise UsageError(
            f"{path}: {what} is {kind_of(mode)}, not a regular file; refusing to write it "
            "(remove it or choose another --out)"
        )


def check_output_dir(path: Path) -> None:
    """A folder the tool writes into below --out must be a real folder, not a link to one."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else kind_of(mode)
        raise UsageError(
            f"{path}: the output folder is {kind}, not a folder; refusing to write into it "
            "(remove it or choose another --out)"
        )


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, empty temp file beside `path`, created with mode 0666 so the umask decides its
    permissions as for any file `open()` creates (mkstemp would make it 0600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temp, flags, _FILE_MODE), temp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: no free temp file name beside {path.name}")


def write_output(path: Path, text: str) -> Path:
    """Replace `path` with `text` atomically (temp file + rename in the same folder)."""
    check_output_dir(path.parent)
    check_output_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = _create_temp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_record(out_dir: Path) -> dict[str, str]:
    """What the last render wrote here: relative path -> sha256 of the bytes it wrote. Entries
    that are not a path a render writes are dropped, so a forged record removes nothing else."""
    path = out_dir / RECORD_NAME
    check_output_path(path, "render record")
    try:
        data = json.loads(read_bytes(path, "render record").decode("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # unreadable: remove nothing, write a fresh one
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {
        name: digest
        for name, digest in files.items()
        if isinstance(name, str) and isinstance(digest, str) and _OWNED.fullmatch(name)
    }


def write_record(out_dir: Path, written: Iterable[Path], texts: dict[Path, str]) -> None:
    """Record what this render wrote, with the sha256 of each file's bytes."""
    files = {
        path.relative_to(out_dir).as_posix(): _digest(texts[path].encode("utf-8"))
        for path in written
    }
    body = json.dumps({"version": _RECORD_VERSION, "files": files}, indent=1, sort_keys=True)
    write_output(out_dir / RECORD_NAME, body + "\n")


def remove_stale(out_dir: Path, record: dict[str, str], produced: set[str]) -> list[Path]:
    """Remove what the last render wrote and this one does not, if still as the tool left it."""
    removed = []
    for name, digest in sorted(record.items()):
        if name in produced:
            continue
        path = out_dir / name
        if not _in_real_folders(out_dir, name):
            continue  # `ollama/` may now be a link: the recorded file is not behind it
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                continue  # a link or FIFO now stands there: not what the tool wrote
            if _digest(read_bytes(path, "earlier output")) != digest:
                continue  # edited since: a person's work now
        except (OSError, UsageError):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        removed.append(path)
    return removed


def _in_real_folders(out_dir: Path, name: str) -> bool:
    """Every folder between --out and the recorded file is a real folder (check_output_dir):
    through a linked folder, a path the tool once wrote may name someone else's file."""
    folder = out_dir
    for part in Path(name).parts[:-1]:
        folder = folder / part
        try:
            check_output_dir(folder)
        except UsageError:
            return False
    return True
