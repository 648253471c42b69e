"""A fault-injecting HTTP proxy on 127.0.0.1, put in front of the real docker-registry.

It forwards every request unchanged (the Host header too, so the registry's upload Locations
point back at the proxy) until a rule matches: then it either answers with an error status, or
holds the request — signalling `rule.held` — until the test releases it, and then drops the
connection without forwarding. A test holds the right request, kills the client process at that
exact moment, and finds the registry as the client left it.

    with FaultProxy(docker_registry) as proxy:
        rule = proxy.hold("HEAD", r"/manifests/Q6_K$", after=("PUT", r"/manifests/Q6_K$"))
        ... start the client against proxy.url; rule.held.wait(); os.kill(pid, SIGKILL)
"""

from __future__ import annotations

import http.client
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


@dataclass
class Rule:
    """One request to interfere with: `method` and a regex on the path (query excluded)."""

    method: str
    path: str
    after: tuple[str, str] | None = None  # only once such a request has been forwarded
    since: int = 0  # … counted from this index of the proxy's `seen` (the rule's creation)
    status: int | None = None  # answer this status instead of forwarding; None: hold
    times: int = 1  # how many matching requests the rule takes
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str, seen: list[tuple[str, str]]) -> bool:
        if self.times <= 0 or method != self.method or not re.search(self.path, path):
            return False
        if self.after is None:
            return True
        want_method, want_path = self.after
        return any(m == want_method and re.search(want_path, p) for m, p in seen[self.since :])


class FaultProxy:
    """A threaded forwarding proxy with rules; use as a context manager."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rules: list[Rule] = []
        self.seen: list[tuple[str, str]] = []  # (method, path) forwarded, in order
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def hold(self, method: str, path: str, *, after: tuple[str, str] | None = None) -> Rule:
        """Hold the next matching request until `rule.release` is set, then drop it."""
        with self._lock:
            rule = Rule(method, path, after=after, since=len(self.seen))
            self.rules.append(rule)
        return rule

    def fail(self, method: str, path: str, status: int, *, times: int = 1) -> Rule:
        """Answer the next `times` matching requests with `status` instead of forwarding."""
        rule = Rule(method, path, status=status, times=times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for rule in self.rules:
            rule.release.set()
        self._server.shutdown()
        self._server.server_close()

    def _take(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, path, self.seen):
                    rule.times -= 1
                    return rule
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _any(self) -> None:
                path = urlsplit(self.path).path
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                rule = proxy._take(self.command, path)
                if rule is not None and rule.status is None:
                    rule.held.set()
                    rule.release.wait(timeout=120)
                    self.close_connection = True  # dropped: the registry never sees it
                    return
                if rule is not None:
                    self._answer(rule.status or 500, [], b"injected fault\n")
                    return
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    resp = upstream.getresponse()
                    data = resp.read()
                    with proxy._lock:
                        proxy.seen.append((self.command, path))
                    self._answer(resp.status, resp.getheaders(), data)
                finally:
                    upstream.close()

            def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                length = str(len(data))
                if self.command == "HEAD":  # no body: say the length a GET would have
                    length = dict((k.lower(), v) for k, v in headers).get("content-length", "0")
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        return Handler
