"""How much a remote may make the tool read, and how long it may keep it waiting (issue 21 item 7).

Every reply from a registry, a token service or the Hub's registry route is read streamed and
bounded: a success body (a manifest, a tag list, a token) up to `MAX_JSON_BODY` — more is
refused; an error body up to `MAX_ERROR_BODY` — the rest is never read, only a line of it is
shown. Time is bounded twice: each client's read timeout ends a silence, and a body must keep
up a minimum rate once a grace period is over (curl's `--speed-limit`/`--speed-time` idea), so a
server trickling a byte every few seconds cannot hold a run for ever while a slow but working
link still gets through. Blob uploads and downloads of GGUFs have their own paths.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

MAX_ERROR_BODY = 64 * 1024  # bytes of an error reply read (a line of it is shown)
MAX_JSON_BODY = 4 * 1024 * 1024  # distribution's own manifest limit (registry/handlers: 4 MiB)
GRACE = 15.0  # seconds a body may take before the minimum rate applies
MIN_RATE = 16 * 1024  # bytes per second a body must average after the grace
DROPPED_HEADERS = ("content-encoding", "content-length", "transfer-encoding")
MAX_REDIRECTS = 20  # httpx's own default; past it the last redirect is the answer


class BodyLimit(Exception):
    """A reply's body was larger than allowed or arrived too slowly; the message says which."""


def read_body(
    response: httpx.Response,
    limit: int,
    *,
    grace: float | None = None,
    min_rate: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """The whole body of a streamed `response`, at most `limit` bytes; BodyLimit when more comes
    or when it falls behind `grace + received / min_rate` seconds."""
    grace = GRACE if grace is None else grace
    min_rate = MIN_RATE if min_rate is None else min_rate
    start = clock()
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > limit:
            raise BodyLimit(f"the reply is larger than {limit} bytes")
        elapsed = clock() - start
        if elapsed > grace + len(data) / min_rate:
            raise BodyLimit(
                f"the reply arrived too slowly ({len(data)} bytes in {elapsed:.0f} s; "
                f"at least {min_rate} bytes/s expected after {grace:.0f} s)"
            )
    return bytes(data)


def read_prefix(
    response: httpx.Response,
    limit: int = MAX_ERROR_BODY,
    *,
    grace: float | None = None,
    min_rate: int | None = None,
) -> bytes:
    """The first `limit` bytes of an error body, or what arrived before it grew too slow or a
    transport error cut it: what is shown of an error never fails for want of the rest."""
    data = bytearray()
    grace = GRACE if grace is None else grace
    min_rate = MIN_RATE if min_rate is None else min_rate
    start = time.monotonic()
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= limit:
                break
            if time.monotonic() - start > grace + len(data) / min_rate:
                break
    except httpx.HTTPError:
        pass
    return bytes(data[:limit])


def buffered(response: httpx.Response, content: bytes) -> httpx.Response:
    """A closed, fully-read copy of `response` holding `content` (already decoded)."""
    headers = [
        (k, v) for k, v in response.headers.multi_items() if k.lower() not in DROPPED_HEADERS
    ]
    return httpx.Response(
        response.status_code, headers=headers, content=content, request=response.request
    )


def fetch(
    client: httpx.Client,
    request: httpx.Request,
    *,
    follow_redirects: bool = False,
    limit: int = MAX_JSON_BODY,
    grace: float | None = None,
) -> httpx.Response:
    """Send `request` and read its reply bounded: a success body whole up to `limit` (BodyLimit
    past it or when too slow), an error body's first `MAX_ERROR_BODY` bytes, a HEAD's none.
    Redirects are followed here, not by httpx, which reads each redirect's body whole; httpx
    still builds the next request (and drops Authorization when the origin changes)."""
    response = client.send(request, stream=True, follow_redirects=False)
    hops = 0
    while follow_redirects and response.next_request is not None and hops < MAX_REDIRECTS:
        read_prefix(response, grace=grace)  # what a redirect carries is never needed
        response.close()
        response = client.send(response.next_request, stream=True, follow_redirects=False)
        hops += 1
    try:
        if request.method == "HEAD":
            content = b""
        elif response.is_success:
            content = read_body(response, limit, grace=grace)
        else:
            content = read_prefix(response, grace=grace)
    finally:
        response.close()
    return buffered(response, content)
