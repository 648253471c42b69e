"""One conversation with the Hub: the client, the token, retries, errors, and reading the repo.

Every other module of the Hub target talks to the Hub through these methods, so the token is
redacted, HTTP 429 is waited out and a failure becomes one clear line in exactly one place. The
client is huggingface_hub's `HfApi`, built with our endpoint and token passed explicitly (the
library reads `HF_ENDPOINT` at import, which `resolve_endpoint` has checked by then).
"""

from __future__ import annotations

import functools
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher import console
from publisher.errors import TargetUnavailable, UsageError
from publisher.remote_text import server_text
from publisher.urls import check_hub_endpoint, import_hub

TARGET = "huggingface"
DEFAULT_ENDPOINT = "https://huggingface.co"
CARD = "README.md"
PATHS_PER_REQUEST = 100
MAX_RETRIES = 5
MAX_RETRY_WAIT = 900.0  # longer Retry-After (the hourly commit quota) fails with a clear line

ApiFactory = Callable[..., Any]  # (endpoint=…, token=…, library_name=…) -> HfApi-like


@dataclass
class Remote:
    """What the Hub holds: whether the repo exists, every path, and details of the wanted paths."""

    exists: bool
    paths: set[str] = field(default_factory=set)
    info: dict[str, Any] = field(default_factory=dict)  # path -> huggingface_hub RepoFile
    revision: str | None = None  # the commit these were read at (None: main, unpinned)


def resolve_endpoint(configured: str | None) -> str:
    """`HF_ENDPOINT` beats the manifest's `huggingface.endpoint`, else huggingface.co."""
    environment = os.environ.get("HF_ENDPOINT")
    chosen = environment or configured or DEFAULT_ENDPOINT
    check_hub_endpoint(chosen, "HF_ENDPOINT" if environment else "huggingface.endpoint")
    return chosen.rstrip("/")


def default_api(**kwargs: Any) -> Any:
    return import_hub().HfApi(**kwargs)


def default_token() -> str | None:
    return import_hub().get_token()


class HubSession:
    """The client and the token of one repo on one Hub, and every call made through them."""

    def __init__(
        self,
        endpoint: str,
        repo_id: str,
        *,
        api_factory: ApiFactory = default_api,
        token_provider: Callable[[], str | None] = default_token,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.repo_id = repo_id
        self._api_factory = api_factory
        self._token_provider = token_provider
        self.sleep = sleep
        self._api: Any = None
        self._token: str | None = None

    @property
    def token(self) -> str | None:
        """The token in use (None before the first call or without one); never printed."""
        return self._token

    def redact(self, text: str) -> str:
        """Never let the token through, whatever a library put in a message."""
        return text.replace(self._token, "***") if self._token else text

    def client(self, *, require_token: bool) -> Any:
        """HfApi with our endpoint and token passed explicitly (HF_ENDPOINT is read at import)."""
        if self._api is not None and (self._token or not require_token):
            return self._api
        token = self._token_provider()
        if not token and require_token:
            raise TargetUnavailable(
                f"huggingface: no token for {self.endpoint}: set HF_TOKEN or run `hf auth login` "
                "(a token is never accepted on the command line)"
            )
        self._token = token or None
        self._api = self._api_factory(
            endpoint=self.endpoint, token=self._token or False, library_name="publisher"
        )
        return self._api

    # -----------------------------------------------------------------------------------------
    # Errors and retries

    def retrying(self, what: str, call: Callable[[], Any]) -> Any:
        """Run `call`; on HTTP 429 wait Retry-After (else back off) and retry, a bounded number."""
        backoff = 2.0
        for attempt in range(MAX_RETRIES + 1):
            try:
                return call()
            except remote_errors() as exc:
                if http_status(exc) != 429 or attempt == MAX_RETRIES:
                    raise
                wait = retry_after(exc)
                wait = backoff if wait is None else wait
                if wait > MAX_RETRY_WAIT:
                    raise
                console.warn(
                    f"huggingface: rate limited during {what}; retrying in {wait:g} s "
                    f"({attempt + 1}/{MAX_RETRIES})"
                )
                self.sleep(wait)
                backoff = min(backoff * 2, 60.0)
        raise AssertionError("unreachable")

    def explain(self, exc: BaseException, what: str) -> str:
        """One clear line for an HTTP failure: what we did, the status, what to do about it."""
        status = http_status(exc)
        head = f"huggingface: {what} ({self.endpoint}): "
        if status == 401:
            line = "HTTP 401, the Hub refused the token (expired or revoked?); set HF_TOKEN or run "
            line += "`hf auth login` with a write token"
        elif status == 403:
            line = f"HTTP 403, the token may not write to {self.repo_id}"
        elif status == 404 or is_repo_not_found(exc):
            line = f"HTTP {status or 404}, {self.repo_id} not found or not visible to this token"
        elif status == 429:
            after = retry_after(exc)
            line = "HTTP 429, rate limited by the Hub" + (
                f" (Retry-After {after:g} s)" if after is not None else ""
            )
        elif status is not None:
            line = f"HTTP {status}, {server_message(exc)}"
        else:
            line = f"cannot reach the Hub: {type(exc).__name__}: {first_line(str(exc))}"
        return self.redact(head + line)

    def remote(self, api: Any, wanted: Iterable[str], revision: str | None = None) -> Remote:
        """The repo's inventory (list_repo_tree) and LFS/blob details of wanted paths."""
        try:
            tree = self.retrying(
                "listing the repo",
                lambda: list(api.list_repo_tree(self.repo_id, recursive=True, revision=revision)),
            )
        except remote_errors() as exc:
            if is_repo_not_found(exc) and self._token:
                return Remote(exists=False)
            raise TargetUnavailable(self.explain(exc, f"reading {self.repo_id}")) from None
        paths = {entry.path for entry in tree if hasattr(entry, "blob_id")}
        present = [p for p in dict.fromkeys(wanted) if p in paths]
        info = self.paths_info(api, present, revision)
        return Remote(exists=True, paths=paths, info=info, revision=revision)

    def paths_info(self, api: Any, paths: list[str], revision: str | None) -> dict[str, Any]:
        info: dict[str, Any] = {}
        for start in range(0, len(paths), PATHS_PER_REQUEST):
            chunk = paths[start : start + PATHS_PER_REQUEST]
            try:
                entries = self.retrying(
                    "reading file details",
                    lambda chunk=chunk: api.get_paths_info(
                        self.repo_id, chunk, expand=True, revision=revision
                    ),
                )
            except remote_errors() as exc:
                raise TargetUnavailable(self.explain(exc, f"reading {self.repo_id}")) from None
            info.update({e.path: e for e in entries if hasattr(e, "blob_id")})
        return info

    def head(self, api: Any) -> str | None:
        """The commit sha of `main` now (`repo_info().sha`): the revision R a seal reads at and
        passes back as `parent_commit`. None when the repo does not exist yet."""
        try:
            info = self.retrying("reading the repo", lambda: api.repo_info(self.repo_id))
        except remote_errors() as exc:
            if is_repo_not_found(exc):
                return None
            raise TargetUnavailable(self.explain(exc, f"reading {self.repo_id}")) from None
        return getattr(info, "sha", None)

    def read_bytes(self, api: Any, path: str, revision: str | None = None) -> bytes:
        """One file of the repo at `revision` (downloaded to a throw-away cache, read, deleted)."""
        with tempfile.TemporaryDirectory(prefix="publisher-hf-") as scratch:
            try:
                local = self.retrying(
                    f"reading {path}",
                    lambda: api.hf_hub_download(
                        self.repo_id, path, cache_dir=scratch, revision=revision
                    ),
                )
            except remote_errors() as exc:
                raise TargetUnavailable(self.explain(exc, f"reading {path}")) from None
            return Path(local).read_bytes()

    def hub_card(self, api: Any, revision: str | None = None) -> str:
        """The Hub's current README.md text, as UTF-8 (merged as text, else the hand-written
        part would be lost)."""
        data = self.read_bytes(api, CARD, revision)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(
                f"{self.endpoint}/{self.repo_id}/{CARD}: the Hub's card is not UTF-8 text "
                f"(byte {exc.start}: {exc.reason}); save it as UTF-8 on the Hub, then publish again"
            ) from None


@functools.cache
def remote_errors() -> tuple[type[BaseException], ...]:
    """What a Hub call raises for the Hub's or the network's reasons (not for our bugs)."""
    from huggingface_hub.errors import HFValidationError, HTTPError

    return (HTTPError, OSError, HFValidationError)


def http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def is_repo_not_found(exc: BaseException) -> bool:
    from huggingface_hub.errors import RepositoryNotFoundError

    return isinstance(exc, RepositoryNotFoundError)


def retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def first_line(text: str) -> str:
    """The first line of a library's or the Hub's text that says something, made safe to print
    and store (remote_text.server_text: no escape codes, no credential, bounded)."""
    for line in text.splitlines():
        if safe := server_text(line):
            return safe
    return ""


def server_message(exc: BaseException) -> str:
    """The Hub's own words for a failed request, as one safe line (issue 21 item 6)."""
    message = getattr(exc, "server_message", None)
    return first_line(str(message or "")) or first_line(str(exc)) or type(exc).__name__
