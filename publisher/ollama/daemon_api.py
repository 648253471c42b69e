"""The local Ollama daemon's HTTP API, as the daemon target calls it.

Kept apart from the plan and the apply steps because this is where the wire lives: the `ollama`
client where it covers the call (push, copy, delete), plain HTTP on the same httpx client where
it falls short (version, HEAD/POST blobs, create with renderer/parser, show with
renderer/parser/system), NDJSON status streams read to their last line, and every failure made
one `StepFailed` line the report can show.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import ollama

from publisher.files import open_regular
from publisher.progress import byte_progress
from publisher.remote_text import server_text
from publisher.targets.base import LocalFile

UPLOAD_CHUNK = 1024 * 1024
# the longest silence a daemon stream may keep: create and push report progress as they go, but
# hashing or copying a large GGUF can be quiet for minutes — not for ever
DAEMON_READ_TIMEOUT = 1800.0


class StepFailed(Exception):
    """One step of one tag failed; the message is the one clear line the report shows."""


class DaemonAPI:
    """One daemon (`OLLAMA_HOST`): the ollama client and its httpx client, reused for plain HTTP."""

    def __init__(self, host: str, timeout: float) -> None:
        self.host = host
        self.timeout = timeout
        self.client = ollama.Client(
            host=host, timeout=httpx.Timeout(timeout, read=DAEMON_READ_TIMEOUT, connect=10.0)
        )
        self.http: httpx.Client = self.client._client
        # every byte handed to the wire, failed uploads too: a step that uploads and then
        # fails (create after a re-upload, latest) still reports what it sent
        self.bytes_sent = 0

    def close(self) -> None:
        """Close the daemon connection."""
        self.client.close()

    def version(self) -> str:
        """The daemon's version string; httpx.HTTPError or ValueError when it does not answer."""
        resp = self.http.get("/api/version", timeout=10.0)
        resp.raise_for_status()
        return str(resp.json().get("version", ""))

    # blobs ---------------------------------------------------------------------------------

    def has_blob(self, digest: str) -> bool:
        """True when the daemon's store holds the blob (HEAD /api/blobs)."""
        try:
            resp = self.http.head(f"/api/blobs/{digest}")
        except httpx.HTTPError as exc:
            raise StepFailed(f"HEAD /api/blobs/{digest}: {type(exc).__name__}: {exc}") from None
        return resp.status_code == 200

    def upload(self, f: LocalFile, label: str) -> int:
        """Stream one regular file to POST /api/blobs; return the bytes sent."""
        sent = 0

        with byte_progress(f"ollama {label}: {f.path.name}", f.size) as advance:

            def chunks() -> Iterator[bytes]:
                nonlocal sent
                with open_regular(f.path, "GGUF") as handle:
                    while piece := handle.read(UPLOAD_CHUNK):
                        sent += len(piece)
                        self.bytes_sent += len(piece)
                        advance(len(piece))
                        yield piece

            try:
                resp = self.http.post(
                    f"/api/blobs/{f.digest}",
                    content=chunks(),
                    headers={
                        "Content-Length": str(f.size),
                        "Content-Type": "application/octet-stream",
                    },
                )
            except (httpx.HTTPError, OSError) as exc:
                raise StepFailed(
                    f"upload of {f.path.name} failed after {sent} of {f.size} bytes: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
        if resp.status_code not in (200, 201):
            raise StepFailed(f"upload of {f.path.name}: HTTP {resp.status_code} {error_of(resp)}")
        return sent

    # models --------------------------------------------------------------------------------

    def show(self, ref: str) -> dict[str, Any]:
        """POST /api/show of `ref` as a JSON object (renderer, parser and system included)."""
        try:
            resp = self.http.post("/api/show", json={"model": ref}, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise StepFailed(f"read back: {type(exc).__name__}: {exc}") from None
        if resp.status_code != 200:
            raise StepFailed(f"read back: HTTP {resp.status_code} {error_of(resp)}")
        try:
            show = resp.json()
        except ValueError:
            raise StepFailed(
                f"read back: /api/show answered non-JSON: {server_text(resp.text, 200)!r}"
            ) from None
        if not isinstance(show, dict):
            raise StepFailed(f"read back: /api/show answered {type(show).__name__}, not an object")
        return show

    def push(self, ref: str, *, insecure: bool) -> dict[str, int]:
        """`ollama push` with progress; success only when the stream ends in `success`.
        Returns the pushed layers (digest → size)."""
        last: str | None = None
        layers: dict[str, int] = {}
        done: dict[str, int] = {}
        with byte_progress(f"ollama push {ref}", None) as advance:
            try:
                for part in self.client.push(ref, insecure=insecure, stream=True):
                    last = part.status
                    if part.digest and part.total:
                        layers[part.digest] = part.total
                        delta = (part.completed or 0) - done.get(part.digest, 0)
                        done[part.digest] = part.completed or 0
                        advance(max(delta, 0))
            except ollama.ResponseError as exc:
                raise StepFailed(f"push: the daemon reported: {server_text(exc.error)}") from None
            except (httpx.HTTPError, ConnectionError, ValueError) as exc:
                raise StepFailed(
                    f"push: the stream broke off after {last!r}: {type(exc).__name__}: {exc}"
                ) from None
        if last != "success":
            raise StepFailed(f"push: stream ended with {last!r}, not 'success'")
        return layers

    def copy(self, source: str, destination: str) -> None:
        """POST /api/copy."""
        try:
            self.client.copy(source, destination)
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError) as exc:
            raise StepFailed(f"copy {source} → {destination}: {exc_line(exc)}") from None

    def delete(self, ref: str) -> None:
        """DELETE /api/delete."""
        try:
            self.client.delete(ref)
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError) as exc:
            raise StepFailed(f"delete {ref}: {exc_line(exc)}") from None

    def local_models(self) -> dict[str, str]:
        """Local model name → manifest digest (GET /api/tags); names as the daemon spells them."""
        try:
            resp = self.http.get("/api/tags", timeout=self.timeout)
            resp.raise_for_status()
            models = resp.json().get("models") or []
        except (httpx.HTTPError, ValueError):
            return {}
        return {
            str(m.get("name") or m.get("model")).lower(): str(m.get("digest", "")) for m in models
        }

    def stream(self, what: str, path: str, body: dict[str, Any]) -> str | None:
        """POST and read NDJSON status lines; an `{"error"}` line or HTTP error → StepFailed."""
        last: str | None = None
        try:
            with self.http.stream("POST", path, json=body) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise StepFailed(f"{what}: HTTP {resp.status_code} {error_of(resp)}")
                for line in resp.iter_lines():
                    if not line.strip():
                        continue
                    part = json.loads(line)
                    if not isinstance(part, dict):
                        raise ValueError(f"not a JSON object: {server_text(line, 200)!r}")
                    if part.get("error"):
                        reported = server_text(str(part["error"]))
                        raise StepFailed(f"{what}: the daemon reported: {reported}")
                    last = part.get("status", last)
        except httpx.HTTPError as exc:
            raise StepFailed(f"{what}: stream broke off after {last!r}: {exc_line(exc)}") from None
        except ValueError as exc:
            raise StepFailed(f"{what}: unreadable reply line: {exc}") from None
        return last


def error_of(resp: httpx.Response) -> str:
    """The daemon's `{"error"}` text of a failed reply, else its body, as one safe line."""
    try:
        return server_text(str(resp.json().get("error") or resp.text))
    except (ValueError, AttributeError):
        return server_text(resp.text)


def exc_line(exc: BaseException) -> str:
    """One line for an ollama or transport error."""
    if isinstance(exc, ollama.ResponseError):
        return server_text(str(exc.error))
    return f"{type(exc).__name__}: {server_text(str(exc))}"
