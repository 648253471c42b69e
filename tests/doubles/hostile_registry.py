"""A hostile OCI registry on loopback: it speaks just enough of the distribution protocol to be
asked (the 401 Bearer challenge, a token service, HEAD/GET of a manifest) and then answers as an
attacker or a broken proxy would — echoing the request's credentials, escape codes, a newline
that forges an `error:` line, an endless body, a body trickling a byte every few seconds.

Unlike the strict doubles, this one is a fault injector (like `fault_proxy.py`): its answers are
chosen to be what a well-behaved registry never sends. The well-behaved part follows the real
protocol as the client under test reads it: the challenge format is distribution's
(`WWW-Authenticate: Bearer realm="…",service="…",scope="…"`, docs/spec/auth/token.md), the token
reply is `{"token": …}` (same document), and a registry may omit `Docker-Content-Digest` on HEAD
(the client then GETs the manifest, publisher/ollama/registry.py `manifest_digest`).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "tok-Sup3rS3cretRegistryToken-0123456789abcdef"  # what the token service issues
ESCAPES = "\x1b[2J\x1b[31mRED\x1b]0;owned\x07\x9b1m"
FORGED = "\nerror: forged line from the server\r\nwarning: and another"
ENDLESS_CAP = 512 * 1024 * 1024  # the stand-in stops an endless body here, client or not
TRICKLE_EVERY = 2.0  # seconds between the bytes of a trickling body

# where the hostility goes: the token service's refusal or the registry's manifest answer
MODES = (
    "echo",
    "escapes",
    "forged",
    "endless",
    "trickle",
    "endless-ok",
    "trickle-ok",
    "silent-ok",
    "redirect-endless",
)


@dataclass
class Hostility:
    """What to answer, and where: `at` is "token" (the token service refuses a signed request)
    or "manifest" (GET manifest, after a token was issued)."""

    mode: str
    at: str = "manifest"
    seen_authorization: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _auth(self) -> str:
        return self.headers.get("Authorization", "")

    def do_HEAD(self) -> None:
        if not self._auth().startswith("Bearer "):
            self._challenge()
            return
        self.send_response(200)  # no Docker-Content-Digest: the client GETs the manifest
        self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.v2+json")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        h = self.server.hostility
        auth = self._auth()
        if auth:
            h.seen_authorization.append(auth)
        if self.path.startswith("/token"):
            if not auth:  # anonymous: refused, so the client signs with the user's key
                self._plain(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
            elif h.at == "token":
                self._hostile(403 if not h.mode.endswith("-ok") else 200)
            else:
                self._plain(200, json.dumps({"token": TOKEN}).encode())
            return
        if not auth.startswith("Bearer "):
            self._challenge()
            return
        if "/tags/list" in self.path:
            self._plain(404, b"")
            return
        if h.mode == "redirect-endless":  # to itself, each time with a body that never ends
            self._endless(302, location=self.path)
            return
        self._hostile(200 if h.mode.endswith("-ok") else 403)

    def _challenge(self) -> None:
        host = f"127.0.0.1:{self.server.server_address[1]}"
        self.send_response(401)
        self.send_header(
            "WWW-Authenticate",
            f'Bearer realm="http://{host}/token",service="{host}",scope="repository:me/fam:pull"',
        )
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _plain(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _hostile(self, status: int) -> None:
        mode = self.server.hostility.mode.removesuffix("-ok")
        echo = f"Authorization: {self._auth()}"
        if mode in ("echo", "escapes", "forged"):
            text = {
                "echo": f"denied; you sent {echo} (and {self._auth().split(' ')[-1]}, "
                f"signed {self._auth().rpartition(':')[2]})",
                "escapes": f"denied {ESCAPES} {echo}",
                "forged": f"denied{FORGED} {echo}",
            }[mode]
            body = json.dumps({"errors": [{"code": "DENIED", "message": text}]})
            if mode != "echo":  # raw too: not every server escapes its JSON
                body = f"{text} {body}"
            self._plain(status, body.encode())
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")  # no length: the body runs until we stop
        self.end_headers()
        self.close_connection = True
        try:
            if mode == "endless":
                self._stream_endless(echo)
            elif mode == "silent":  # headers, then not a byte: only a read timeout ends it
                self.server.stopping.wait(120)
            else:  # trickle: a byte every TRICKLE_EVERY seconds, for as long as it is read
                for byte in (echo + " " * 1000).encode():
                    if self.server.stopping.wait(TRICKLE_EVERY):
                        break
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _endless(self, status: int, location: str) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._stream_endless(f"Authorization: {self._auth()}")

    def _stream_endless(self, echo: str) -> None:
        piece = (echo + " " + "A" * 65536).encode()
        sent = 0
        while sent < ENDLESS_CAP and not self.server.stopping.is_set():
            self.wfile.write(piece)
            sent += len(piece)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hostility: Hostility
    stopping: threading.Event


@contextmanager
def hostile_registry(hostility: Hostility) -> Iterator[str]:
    """Serve `hostility` on a free loopback port; yield `http://127.0.0.1:PORT`."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.hostility = hostility
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        time.sleep(0)  # let the handler threads see `stopping`
