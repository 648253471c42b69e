"""Every file the tool reads is opened here: without blocking, and only if it is a regular file.

A FIFO where a manifest belongs blocks `open()` forever; `/dev/zero` where a GGUF belongs streams
without end. So each file is opened with O_NONBLOCK (which never waits for a FIFO's writer), its
open descriptor is fstat'ed (no race with a rename between check and read), and anything but a
regular file — or a symlink to one — is refused with exit 2, naming the file and what it is.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from publisher.errors import UsageError

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


# POSIX flags; Windows has neither (and no FIFOs that block an open), so 0 leaves them out —
# the tool imports and reads files wherever Python runs, as its `filelock` locks do.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class NotARegularFile(UsageError):
    """A path the tool must read names a FIFO, a device, a socket or a directory."""

    def __init__(self, path: str | os.PathLike[str], kind: str, what: str) -> None:
        self.path = Path(path)
        self.kind = kind
        super().__init__(f"{path}: {what} is {kind}, not a regular file; refusing to read it")


class NulInPath(UsageError):
    """A path with a NUL byte: no file system can hold it, so it is bad input, not a bug."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        super().__init__(f"{what}: the path {os.fspath(path)!r} contains a NUL byte")


def kind_of(mode: int) -> str:
    """What a stat mode describes, in words (`a FIFO (named pipe)`, `a regular file`)."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


def open_regular(path: str | os.PathLike[str], what: str = "file") -> BinaryIO:
    """Open `path` for binary reading if it is a regular file (symlinks followed), else refuse.

    OSError (missing file, permission) propagates for the caller to word; a NUL byte in the path
    and a special file raise UsageError subclasses naming `what`.
    """
    if "\0" in os.fspath(path):
        raise NulInPath(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | _CLOEXEC)
    except OSError:
        check_regular(path, what)  # a socket cannot be opened (ENXIO): still say what it is
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(path, kind_of(mode), what)
        if _NONBLOCK:
            os.set_blocking(fd, True)  # a regular file: reads may block as usual
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | os.PathLike[str], what: str = "file") -> bytes:
    """The whole content of a regular file (see `open_regular`)."""
    with open_regular(path, what) as handle:
        return handle.read()


def read_text(path: str | os.PathLike[str], what: str = "file") -> str:
    """A regular file decoded as UTF-8; a file that is not UTF-8 is a usage error naming it."""
    data = read_bytes(path, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path}: {what} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None


def _mode(path: str | os.PathLike[str]) -> int | None:
    """The stat mode of `path` (symlinks followed), or None when the OS cannot look it up — a
    missing file, or a name longer than the file system allows, as a licence text taken for a
    path."""
    try:
        return os.stat(path).st_mode
    except (OSError, ValueError):
        return None


def is_regular(path: str | os.PathLike[str]) -> bool:
    """True when `path` is a regular file or a symlink to one (a stat, never an open)."""
    mode = _mode(path)
    return mode is not None and stat.S_ISREG(mode)


def exists(path: str | os.PathLike[str]) -> bool:
    """True when `path` names something (symlinks followed); False also when the OS cannot look
    it up at all (see `_mode`)."""
    return _mode(path) is not None


def check_regular(path: str | os.PathLike[str], what: str = "file") -> None:
    """Refuse `path` if it exists and is not a regular file (a stat, never an open)."""
    if "\0" in os.fspath(path):
        raise NulInPath(path, what)
    mode = _mode(path)
    if mode is not None and not stat.S_ISREG(mode):
        raise NotARegularFile(path, kind_of(mode), what)


class SymlinkLoop(UsageError):
    """A path whose symbolic links point round in a circle: no file is there to read or write."""

    def __init__(self, path: str | os.PathLike[str], what: str) -> None:
        self.path = Path(path)
        super().__init__(
            f"{os.fspath(path)}: {what} is a symbolic link loop (a link that leads back to itself)"
        )


def real_path(path: str | os.PathLike[str], what: str = "path") -> Path:
    """`path` absolute with every symlink resolved, as far as it exists; a loop raises
    SymlinkLoop naming `what` (`Path.resolve()` raises a bare RuntimeError, a traceback)."""
    try:
        return Path(os.path.realpath(path, strict=True))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SymlinkLoop(path, what) from None
        return Path(os.path.realpath(path))  # a missing tail: resolved as far as it goes
