"""One blob's upload as `ollama push` runs it (ollama/ollama server/upload.go), over a
RegistryClient's connection and token.

A part is resent to the same URL — after a new token on 401, to the same presigned storage URL
(never with our Authorization) when storage failed — up to `part_tries` times with 1 s·2^try
sleeps (upload.go `Run`, maxRetries); only then is the registry asked where the session stands,
and a new session opened, at most `max_restarts` times per blob, so no fault loops for ever.
Parts go in order: each next-part URL comes in the previous part's answer, the saved session
stays a prefix a killed run resumes (redirected parts with their md5s, for the commit's etag),
and memory stays bounded by 1 MiB `pread` pieces (docs/design-notes.md, note 17). The commit has
a long but bounded read timeout; a blob the registry holds after a failed commit counts as landed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from publisher.errors import CheckFailed, PublisherError, TargetUnavailable
from publisher.files import open_regular
from publisher.remote_text import server_text
from publisher.statefile import merge_json, read_json

READ_PIECE = 1024 * 1024
MIN_PART, MAX_PART, NUM_PARTS = 100 * 1000**2, 1000 * 1000**2, 16  # server/upload.go constants
MAX_PART_TRIES = 6  # tries per part and per storage PUT: maxRetries (server/download.go)
MAX_SLEEP = 32.0  # the longest of upload.go's 1 s · 2^try sleeps within 6 tries
MAX_RESTARTS = 3  # status queries / new sessions per blob after a part used up its tries

Progress = Callable[[int, int], None]  # (bytes of this blob confirmed or in flight, blob size)


class RegistryChannel(Protocol):
    """What an upload needs of a registry client (publisher.ollama.registry.RegistryClient):
    its repository, token handling, retry policy and session store, all public."""

    base_url: str
    host: str
    repository: str
    chunk_size: int | None
    part_tries: int
    max_restarts: int
    etag: bool  # ollama.com wants S3-style part etags in the commit
    bytes_sent: int
    commit_timeout: httpx.Timeout
    sessions: UploadSessions

    def url(self, path: str) -> str:
        """`<base>/v2/<repository>/<path>`."""
        ...

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        retry: bool = True,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """Send with auth, retrying what the registry's retry policy retries."""
        ...

    def send_once(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        content: Iterator[bytes],
        authorized: bool = True,
    ) -> httpx.Response:
        """One request, no retry, no 401 handling."""
        ...

    def authenticate(self, resp: httpx.Response) -> None:
        """Fetch a new token for a 401's challenge."""
        ...

    def failure(self, resp: httpx.Response, what: str) -> PublisherError:
        """The error for a refused request, naming the registry and what was asked."""
        ...

    def sleep_before_retry(self, attempt: int) -> None:
        """The back-off before try `attempt + 1`."""
        ...


def ollama_part_size(total: int) -> int:
    """Ollama's part size for a blob: total/16 clamped to [100 MB, 1000 MB] (server/upload.go)."""
    return min(max(total // NUM_PARTS, MIN_PART), MAX_PART)


def upload_location(resp: httpx.Response) -> str:
    """Where the session goes on: Docker-Upload-Location before Location (as upload.go),
    resolved against the URL of the request it answers (relative or absolute)."""
    loc = resp.headers.get("docker-upload-location") or resp.headers.get("location")
    if not loc:
        raise CheckFailed(f"registry answered {resp.status_code} without an upload Location")
    return urljoin(str(resp.request.url), loc)


def _has_location(resp: httpx.Response) -> bool:
    return bool(resp.headers.get("docker-upload-location") or resp.headers.get("location"))


def ok(resp: httpx.Response) -> bool:
    """Any 2xx: where Ollama takes every status below 400, we take every success."""
    return 200 <= resp.status_code < 300


class UploadSessions:
    """Upload sessions (registry Location + parts done) kept across runs so a push resumes.

    The file is shared by every run of the tool: each change is merged into what is on disk
    under the file's lock (publisher.statefile), so concurrent runs never drop each other's
    sessions, and it is written 0600 like every state file (it holds upload URLs).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._data: dict[str, dict] = (
            _sessions(read_json(self.path, "upload sessions")) if self.path else {}
        )

    def get(self, key: str) -> dict | None:
        """The saved session for key, if any."""
        return self._data.get(key)

    def put(self, key: str, value: dict | None) -> None:
        """Save (or with None, forget) the session for key, merged with other runs' sessions."""

        def change(data: dict[str, dict]) -> dict[str, dict]:
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
            return data

        with self._lock:
            if self.path is None:
                change(self._data)
            else:
                merged = merge_json(
                    self.path,
                    lambda disk: change(_sessions(disk)),
                    indent=1,
                    what="upload sessions",
                )
                self._data = merged


def _sessions(data: object) -> dict[str, dict]:
    """The sessions in a session file's JSON; anything else counts as none."""
    if not isinstance(data, dict):
        return {}
    return {str(k): v for k, v in data.items() if isinstance(v, dict)}


@dataclass
class _Upload:
    """Where an upload session stands."""

    location: str  # where the next part goes (or the commit, once every part is sent)
    offset: int
    parts: list[list]  # [offset, size, md5hex|None] of parts the registry acknowledged
    redirected: bool = False  # parts went to presigned storage (ollama.com), not the registry


class BlobUpload:
    """One blob, from the saved or a new session to the commit."""

    def __init__(
        self, client: RegistryChannel, digest: str, reader: BlobSource, progress: Progress | None
    ) -> None:
        self.client, self.digest, self.reader = client, digest, reader
        self.key = f"{client.base_url}/{client.repository}@{digest}"
        self.tally = _Tally(client, reader.size, progress)

    def run(self) -> int:
        """Send every part the registry lacks and commit; return the bytes handed to the wire."""
        up = self._saved() or self._start()
        restarts = 0
        while True:
            try:
                self._send_parts(up)
                break
            except _PartExhausted as exc:
                if restarts >= self.client.max_restarts:
                    where = f"{self.client.host}/{self.client.repository}"
                    raise TargetUnavailable(
                        f"registry {where}: upload of {self.digest} failed at offset "
                        f"{up.offset} of {self.reader.size} after {restarts} restart(s): {exc}; "
                        "run again to resume"
                    ) from exc
                restarts += 1
                up = self._status(up) or self._start()
        self._commit(up)
        self.client.sessions.put(self.key, None)
        return self.tally.sent

    def _start(self) -> _Upload:
        resp = self.client.request(
            "POST", self.client.url("blobs/uploads/"), headers={"Content-Length": "0"}
        )
        if not ok(resp):
            raise self.client.failure(resp, "start blob upload")
        return _Upload(upload_location(resp), 0, [])

    def _saved(self) -> _Upload | None:
        """The session a previous run left: redirected parts wait in storage until the commit
        (the registry would report 0 bytes), so such a session goes on where we left it; a
        plain registry session is asked for the bytes it holds."""
        saved = self.client.sessions.get(self.key)
        if not saved:
            return None
        up = _Upload(
            saved["location"],
            int(saved["offset"]),
            saved.get("parts", []),
            bool(saved.get("redirected")),
        )
        return up if up.redirected else self._status(up)

    def _status(self, up: _Upload) -> _Upload | None:
        """Ask the registry where a session stands (GET upload status); None if it is gone."""
        try:
            resp = self.client.request("GET", up.location)
        except TargetUnavailable:
            return None
        if not ok(resp):  # session unknown/invalidated (e.g. a cut PATCH): start again
            self.client.sessions.put(self.key, None)
            return None
        location = upload_location(resp) if _has_location(resp) else up.location
        if up.redirected:  # its parts sit in storage: the registry's offset says nothing of them
            return _Upload(location, up.offset, up.parts, True)
        offset = _range_end(resp.headers.get("range"))
        parts = [p for p in up.parts if p[0] + p[1] <= offset]
        if sum(p[1] for p in parts) != offset:  # parts we did not see land: one part covers them
            parts = [[0, offset, None]] if offset else []
        return _Upload(location, offset, parts)

    def _send_parts(self, up: _Upload) -> None:
        """Send the parts from the session's offset on, in order, advancing `up` (so a failure
        leaves it where the session stands) and saving the session after each part."""
        size = self.reader.size
        part = self.client.chunk_size or ollama_part_size(size)
        while up.offset < size:
            vars(up).update(vars(self._part(up, min(part, size - up.offset))))
            self.client.sessions.put(
                self.key,
                {
                    "location": up.location,
                    "offset": up.offset,
                    "parts": up.parts,
                    "redirected": up.redirected,
                },
            )

    def _part(self, up: _Upload, n: int) -> _Upload:
        """One part, tried up to part_tries times to the same URL (upload.go `Run`)."""
        last = ""
        for attempt in range(self.client.part_tries):
            try:
                return self._patch(up, n)
            except _PartFailed as exc:
                last = str(exc)
                if exc.session_lost:
                    break
                if not exc.resend_now and attempt + 1 < self.client.part_tries:
                    self.client.sleep_before_retry(attempt)
        raise _PartExhausted(f"part at offset {up.offset} ({n} bytes): {last}")

    def _patch(self, up: _Upload, n: int) -> _Upload:
        """PATCH one part (upload.go `uploadPart`); a 307 sends it on to presigned storage."""
        start = up.offset
        md5 = hashlib.md5(usedforsecurity=False) if self.client.etag else None
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(n),
            "Content-Range": f"{start}-{start + n - 1}",
            "X-Redirect-Uploads": "1",
        }
        try:
            resp = self.client.send_once(
                "PATCH",
                up.location,
                headers=headers,
                content=self.reader.iter(start, n, self.tally.counter(start), md5),
            )
        except httpx.TransportError as exc:
            raise _PartFailed(server_text(repr(exc))) from exc
        if resp.status_code == 307:  # ollama.com: PUT this part to presigned storage
            target = urljoin(str(resp.request.url), resp.headers.get("location", ""))
            md5hex = self._put_to_storage(target, start, n)
            parts = [*up.parts, [start, n, md5hex]]
            return _Upload(upload_location(resp), start + n, parts, True)
        if resp.status_code == 401:  # token expired mid-upload: new token, same part, same URL
            self.client.authenticate(resp)
            raise _PartFailed("HTTP 401: token expired, fetched a new one", resend_now=True)
        if resp.status_code in (404, 416):  # the session is gone or holds other bytes
            raise _PartFailed(f"PATCH: HTTP {resp.status_code}", session_lost=True)
        if not ok(resp):
            raise _PartFailed(f"PATCH: HTTP {resp.status_code} {server_text(resp.text)}")
        offset = _range_end(resp.headers.get("range"), default=start + n)
        if offset != start + n:
            raise _PartFailed(
                f"registry holds {offset} bytes, expected {start + n}", session_lost=True
            )
        location = upload_location(resp) if _has_location(resp) else up.location
        parts = [*up.parts, [start, n, md5.hexdigest() if md5 else None]]
        return _Upload(location, offset, parts, up.redirected)

    def _put_to_storage(self, target: str, start: int, n: int) -> str:
        """PUT a redirected part to its presigned URL, never with our Authorization header,
        retried on that same URL with exponential sleep; return the part's md5 (for the etag)."""
        last = ""
        for attempt in range(self.client.part_tries):
            md5 = hashlib.md5(usedforsecurity=False)
            try:
                resp = self.client.send_once(
                    "PUT",
                    target,
                    headers={"Content-Type": "application/octet-stream", "Content-Length": str(n)},
                    content=self.reader.iter(start, n, self.tally.counter(start), md5),
                    authorized=False,
                )
                if ok(resp):
                    return md5.hexdigest()
                last = f"HTTP {resp.status_code} {server_text(resp.text)}"
            except httpx.TransportError as exc:
                last = server_text(repr(exc))
            if attempt + 1 < self.client.part_tries:
                self.client.sleep_before_retry(attempt)
        raise _PartFailed(
            f"storage PUT failed {self.client.part_tries} times: {last}", session_lost=True
        )

    def _commit(self, up: _Upload) -> None:
        """`PUT ?digest=&etag=` with a long read timeout (the registry may hash many GB first); if
        it still fails, a blob the registry holds all the same counts as landed."""
        digest = self.digest
        params = {"digest": digest}
        if self.client.etag or up.redirected:
            params["etag"] = _multipart_etag(up.parts, self.reader)
        sep = "&" if urlsplit(up.location).query else "?"
        try:
            resp = self.client.request(
                "PUT",
                f"{up.location}{sep}{urlencode(params)}",
                headers={"Content-Type": "application/octet-stream", "Content-Length": "0"},
                content=b"",
                timeout=self.client.commit_timeout,
            )
            if ok(resp):
                return
            problem: PublisherError = self.client.failure(resp, f"complete upload of {digest}")
            definitive = 400 <= resp.status_code < 500
        except TargetUnavailable as exc:
            problem, definitive = exc, False
        with contextlib.suppress(PublisherError):  # the HEAD failing too: report the commit
            if self.client.has_blob(digest):
                return
        if definitive:  # the registry refused these parts: the next run starts afresh
            self.client.sessions.put(self.key, None)
        raise problem


class _PartFailed(Exception):
    """One try of one part failed; `resend_now` after a fresh token, `session_lost` when
    resending to the same URL cannot help (the session is gone or storage kept refusing)."""

    def __init__(self, message: str, *, resend_now: bool = False, session_lost: bool = False):
        super().__init__(message)
        self.resend_now = resend_now
        self.session_lost = session_lost


class _PartExhausted(Exception):
    """A part used up its tries: time to ask the registry where the session stands."""


class _Tally:
    """Bytes of one blob handed to the transport (resends included), added to the client's
    `bytes_sent` as they go (so a failed push still reports them), and its progress report."""

    def __init__(self, client: RegistryChannel, total: int, progress: Progress | None) -> None:
        self.client, self.total, self.progress, self.sent = client, total, progress, 0

    def counter(self, start: int) -> Callable[[int], None]:
        """A per-request counter: adds to `sent` and reports start + bytes of this request."""
        done = [start]

        def add(n: int) -> None:
            self.sent += n
            self.client.bytes_sent += n
            done[0] += n
            if self.progress:
                self.progress(done[0], self.total)

        return add


def _regular_fd(path: str | Path) -> int:
    """A descriptor of `path`, a regular file only (publisher.files): a FIFO swapped in after
    verify must not block the upload."""
    with open_regular(path, "GGUF") as handle:
        return os.dup(handle.fileno())


class BlobSource:
    """A file (read with pread, 1 MiB at a time) or bytes, served as part iterators."""

    def __init__(self, source: str | Path | bytes, size: int) -> None:
        self.size = size
        self.data = source if isinstance(source, bytes) else None
        self.fd = _regular_fd(source) if self.data is None else -1
        actual = len(self.data) if self.data is not None else os.fstat(self.fd).st_size
        if actual != size:
            self.close()
            raise CheckFailed(f"{source!r:.200}: size {actual} bytes, expected {size}")

    def iter(
        self, start: int, n: int, count: Callable[[int], None] | None = None, md5: object = None
    ) -> Iterator[bytes]:
        """The bytes [start, start+n) in 1 MiB pieces, counted and hashed as they are sent."""
        pos, end = start, start + n
        while pos < end:
            k = min(READ_PIECE, end - pos)
            piece = self.data[pos : pos + k] if self.data is not None else os.pread(self.fd, k, pos)
            if not piece:
                raise CheckFailed(f"source ended at byte {pos}, expected {end}")
            if md5 is not None:
                md5.update(piece)  # type: ignore[attr-defined]
            if count is not None:
                count(len(piece))
            pos += len(piece)
            yield piece

    def md5(self, start: int, n: int) -> str:
        h = hashlib.md5(usedforsecurity=False)
        for piece in self.iter(start, n):
            h.update(piece)
        return h.hexdigest()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _range_end(header: str | None, default: int = 0) -> int:
    """Bytes held per a `Range: 0-<last>` header (distribution reports 0-0 for 0 bytes)."""
    if not header:
        return default
    m = re.match(r"^(?:bytes=)?(\d+)-(\d+)$", header.strip())
    if not m:
        return default
    last = int(m[2])
    return 0 if last == 0 and default == 0 else last + 1


def _multipart_etag(parts: list[list], reader: BlobSource) -> str:
    """md5 of the parts' md5s + "-<count>", as server/upload.go `Run` sends in `etag`."""
    h = hashlib.md5(usedforsecurity=False)
    for offset, size, md5hex in parts:
        h.update(bytes.fromhex(md5hex or reader.md5(offset, size)))
    return f"{h.hexdigest()}-{len(parts)}"
