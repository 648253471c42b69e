"""The error types every command maps to an exit code; user errors never show a traceback."""

from __future__ import annotations

EXIT_FAILED = 1  # a check or a publish step failed
EXIT_USAGE = 2  # bad usage or bad manifest
EXIT_UNREACHABLE = 3  # a target is unreachable or refused credentials
EXIT_INTERRUPTED = 130  # the shell's code for a run stopped by SIGINT (Ctrl-C)


class PublisherError(Exception):
    """Base of every error meant for the user: the message is the whole story."""

    exit_code = EXIT_FAILED


class UsageError(PublisherError):
    """Bad command-line usage or bad input named by the user (a missing file, a wrong flag)."""

    exit_code = EXIT_USAGE


class ManifestError(UsageError):
    """A manifest that cannot be loaded: names the file, the TOML line and the dotted field."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.detail = message
        where = file or ""
        if line is not None:
            where += f":{line}" + (f":{column}" if column is not None else "")
        prefix = f"{where}: " if where else ""
        if field:
            prefix += f"{field}: "
        super().__init__(prefix + message)


class CheckFailed(PublisherError):
    """A verification or publish step failed; the report says which."""

    exit_code = EXIT_FAILED


class TargetUnavailable(PublisherError):
    """A destination cannot be reached or refused our credentials."""

    exit_code = EXIT_UNREACHABLE
