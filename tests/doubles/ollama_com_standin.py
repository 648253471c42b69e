"""A stand-in for ollama.com's upload path, in front of the real docker-registry.

Written from what Ollama's own client expects (ollama/ollama server/upload.go, images.go,
auth.go), strict where the real service is strict:

- every /v2/ request needs `Authorization: Bearer <token>`; a token is good for `token_uses`
  requests, then the request is answered 401 with a Bearer challenge whose realm is /token;
- /token accepts only Ollama's ed25519-signed request (auth.go) from the allowed key;
- `POST …/blobs/uploads/` opens a session answered with *relative* Locations
  (Docker-Upload-Location is the one to follow; Location points at a decoy that 404s);
- `PATCH` needs `X-Redirect-Uploads: 1` and `Content-Range: a-b`; it is answered 307 with
  Location = a presigned storage URL (another port) and Docker-Upload-Location = the next part,
  after reading the body, or (`early_redirect`) at once, closing the connection unread;
- the storage endpoint refuses any Authorization header (as S3 does with a presigned URL),
  checks the signature, keeps the part (a re-sent part replaces the earlier copy);
- `PUT ?digest=&etag=` checks etag = md5(concat(part md5s))-N in offset order, assembles the
  parts, checks the digest, sleeps `commit_delay` (ollama.com hashes big blobs), stores the blob
  in the docker-registry behind and answers `commit_status`;
- everything else (HEAD/GET blobs, manifests) is passed to the docker-registry.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import re
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from publisher.ollama import auth as ollama_auth

_SECRET = secrets.token_bytes(16)
_UPLOAD = re.compile(r"^/v2/(?P<repo>.+)/blobs/uploads/(?P<sid>[0-9a-f]*)$")


def _sign(path: str) -> str:
    return hmac.new(_SECRET, path.encode(), hashlib.sha256).hexdigest()[:32]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    app: OllamaComStandIn

    def log_message(self, *args: object) -> None:
        pass

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def pieces(self) -> Iterator[bytes]:
        """The request body in 1 MiB pieces (parts can be 100 MB: never held whole)."""
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            piece = self.rfile.read(min(left, 1 << 20))
            if not piece:
                return
            left -= len(piece)
            yield piece


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client killed mid-request (the kill -9 test) is expected, not an error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class OllamaComStandIn:
    """The registry front (`url`), its token service and its presigned storage (`storage_url`)."""

    def __init__(
        self,
        upstream: str,
        staging: Path,
        allowed_key: str,
        *,
        token_uses: int = 3,
        commit_delay: float = 0.0,
        commit_status: int = 201,
        storage_failures: int = 0,
        drop_commit_reply: bool = False,
        early_redirect: bool = False,
    ) -> None:
        self.upstream = urlsplit(upstream).netloc
        self.staging = staging
        staging.mkdir(parents=True, exist_ok=True)
        self.allowed_key = allowed_key
        self.token_uses = token_uses  # requests one token is good for
        self.commit_delay = commit_delay  # seconds the commit "hashes" before answering
        self.commit_status = commit_status  # 201, or 204 as some registries answer
        self.storage_failures = storage_failures  # storage PUTs to refuse with 503 first
        self.drop_commit_reply = drop_commit_reply  # land the blob, then lose the answer
        self.early_redirect = early_redirect  # 307 before reading the PATCH body
        self.tokens: dict[str, int] = {}
        self.nonces: set[str] = set()
        self.sessions: dict[str, int] = {}  # session id -> parts redirected so far
        self.counts = {"401": 0, "token": 0, "patch": 0, "storage_put": 0, "commit": 0}
        self.storage_bytes_received = 0
        self.parts_stored = 0
        self.lock = threading.Lock()
        self.front = _Server(("127.0.0.1", 0), self._front_handler())
        self.storage = _Server(("127.0.0.1", 0), self._storage_handler())
        self.url = f"http://127.0.0.1:{self.front.server_address[1]}"
        self.storage_url = f"http://127.0.0.1:{self.storage.server_address[1]}"

    @contextmanager
    def serve(self) -> Iterator[OllamaComStandIn]:
        """Run both servers in threads for the duration of the block."""
        threads = [
            threading.Thread(target=s.serve_forever, daemon=True)
            for s in (self.front, self.storage)
        ]
        for t in threads:
            t.start()
        try:
            yield self
        finally:
            for s in (self.front, self.storage):
                s.shutdown()
                s.server_close()

    # ---- front door ----------------------------------------------------------------------------

    def _front_handler(self) -> type[_Handler]:
        app = self

        class Front(_Handler):
            def do_GET(self) -> None:
                if self.path.startswith("/token"):
                    app.issue(self)
                elif app.authorised(self):
                    app.route(self)

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        return Front

    def issue(self, h: _Handler) -> None:
        """The signed token request of server/auth.go; one token = `token_uses` requests."""
        url = f"http://{h.headers['Host']}{h.path}"
        query = parse_qs(urlsplit(url).query)
        auth = h.headers.get("Authorization", "")
        ok = (
            auth.split(":")[0] == self.allowed_key
            and ollama_auth.verify(auth, ollama_auth.signed_payload("GET", url))
            and abs(int(query.get("ts", ["0"])[0]) - time.time()) < 60
            and query.get("nonce", [""])[0] not in self.nonces
        )
        if not ok:
            h.reply(401, b'{"error":"unauthorized"}')
            return
        token = secrets.token_hex(8)
        with self.lock:
            self.nonces.add(query["nonce"][0])
            self.tokens[token] = self.token_uses
            self.counts["token"] += 1
        h.reply(200, json.dumps({"token": token}).encode(), {"Content-Type": "application/json"})

    def authorised(self, h: _Handler) -> bool:
        """Spend one use of the request's token, or answer 401 with a challenge (body drained)."""
        bearer = h.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.lock:
            left = self.tokens.get(bearer, 0)
            if left > 0:
                self.tokens[bearer] = left - 1
                return True
            self.counts["401"] += 1
        for _ in h.pieces():
            pass
        repo = h.path.split("/v2/", 1)[-1].split("/blobs/")[0].split("/manifests/")[0]
        challenge = (
            f'Bearer realm="{self.url}/token",service="ollama.com",'
            f'scope="repository:{repo}:pull,push"'
        )
        h.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge})
        return False

    def route(self, h: _Handler) -> None:
        path = urlsplit(h.path).path
        match = _UPLOAD.match(path)
        if match is None:
            self.proxy(h)
        elif h.command == "POST" and not match["sid"]:
            self.start(h, match["repo"])
        elif match["sid"] not in self.sessions or "decoy" in h.path:
            h.body()
            h.reply(404, b'{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}')
        elif h.command == "PATCH":
            self.patch(h, match["repo"], match["sid"])
        elif h.command == "GET":  # parts wait in storage: the registry itself holds nothing
            h.reply(204, headers={"Range": "0-0", "Docker-Upload-Location": path})
        elif h.command == "PUT":
            self.commit(h, match["repo"], match["sid"])
        else:
            h.reply(405)

    def start(self, h: _Handler, repo: str) -> None:
        h.body()
        sid = secrets.token_hex(8)
        with self.lock:
            self.sessions[sid] = 0
        where = f"/v2/{repo}/blobs/uploads/{sid}"
        h.reply(202, headers={"Docker-Upload-Location": where, "Location": f"{where}?decoy=1"})

    def patch(self, h: _Handler, repo: str, sid: str) -> None:
        size = int(h.headers.get("Content-Length") or 0)
        m = re.match(r"^(\d+)-(\d+)$", h.headers.get("Content-Range", ""))
        if self.early_redirect:  # answer on the headers; the unread body ends the connection
            h.close_connection = True
        else:
            for _ in h.pieces():  # drained, as a proxy in front of storage would
                pass
        if h.headers.get("X-Redirect-Uploads") != "1" or not m or int(m[2]) - int(m[1]) + 1 != size:
            h.reply(400, b'{"errors":[{"code":"BLOB_UPLOAD_INVALID"}]}')
            return
        with self.lock:
            self.counts["patch"] += 1
            self.sessions[sid] += 1
            number = self.sessions[sid]
        part = f"/{sid}/{m[1]}"
        storage = f"{self.storage_url}{part}?X-Sig={_sign(part)}"
        nxt = f"/v2/{repo}/blobs/uploads/{sid}?part={number}"
        extra = {"Connection": "close"} if self.early_redirect else {}
        h.reply(307, headers={"Location": storage, "Docker-Upload-Location": nxt, **extra})

    def commit(self, h: _Handler, repo: str, sid: str) -> None:
        h.body()
        query = parse_qs(urlsplit(h.path).query)
        digest, etag = query.get("digest", [""])[0], query.get("etag", [""])[0]
        with self.lock:
            self.counts["commit"] += 1
        folder = self.staging / sid
        parts = sorted((int(p.name), p) for p in folder.iterdir()) if folder.is_dir() else []
        md5s, offset, whole = hashlib.md5(), 0, hashlib.sha256()
        for start, path in parts:
            if start != offset:
                h.reply(400, f'{{"error":"part gap at {offset}"}}'.encode())
                return
            md5 = hashlib.md5()
            with path.open("rb") as f:
                while piece := f.read(1 << 20):
                    md5.update(piece)
                    whole.update(piece)
                    offset += len(piece)
            md5s.update(md5.digest())
        if etag != f"{md5s.hexdigest()}-{len(parts)}":
            h.reply(400, b'{"errors":[{"code":"ETAG_INVALID"}]}')
            return
        if digest != "sha256:" + whole.hexdigest():
            h.reply(400, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
            return
        time.sleep(self.commit_delay)
        self._store_upstream(repo, digest, [p for _, p in parts])
        shutil.rmtree(folder, ignore_errors=True)
        with self.lock:
            self.sessions.pop(sid, None)
        if self.drop_commit_reply:  # landed, but the answer is lost on the way
            h.close_connection = True
            return
        h.reply(self.commit_status, headers={"Location": f"/v2/{repo}/blobs/{digest}"})

    def _store_upstream(self, repo: str, digest: str, parts: list[Path]) -> None:
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        conn.request("POST", f"/v2/{repo}/blobs/uploads/", headers={"Content-Length": "0"})
        resp = conn.getresponse()
        resp.read()
        loc = urlsplit(resp.getheader("Location") or "")
        size = sum(p.stat().st_size for p in parts)

        def chunks() -> Iterator[bytes]:
            for p in parts:
                with p.open("rb") as f:
                    while piece := f.read(1 << 20):
                        yield piece

        sep = "&" if loc.query else "?"
        conn.request(
            "PUT",
            f"{loc.path}?{loc.query}{sep}digest={digest}".replace("?&", "?"),
            body=chunks(),
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"},
        )
        resp = conn.getresponse()
        resp.read()
        conn.close()
        if resp.status != 201:
            raise RuntimeError(f"upstream refused the blob: {resp.status}")

    def proxy(self, h: _Handler) -> None:
        body = h.body()
        headers = {k: v for k, v in h.headers.items() if k.lower() != "authorization"}
        conn = http.client.HTTPConnection(self.upstream, timeout=60)
        conn.request(h.command, h.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        skip = ("content-length", "connection", "transfer-encoding")
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in skip:
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    # ---- presigned storage ---------------------------------------------------------------------

    def _storage_handler(self) -> type[_Handler]:
        app = self

        class Storage(_Handler):
            def do_PUT(self) -> None:
                app.store_part(self)

        return Storage

    def store_part(self, h: _Handler) -> None:
        """A presigned PUT: no Authorization header allowed, signature checked, part kept."""
        url = urlsplit(h.path)
        sid, _, offset = url.path.strip("/").partition("/")
        tmp = self.staging / f".{secrets.token_hex(4)}"
        md5 = hashlib.md5()
        with tmp.open("wb") as out:
            for piece in h.pieces():
                md5.update(piece)
                out.write(piece)
        with self.lock:
            self.counts["storage_put"] += 1
            self.storage_bytes_received += tmp.stat().st_size
            fail = self.storage_failures > 0
            self.storage_failures -= 1 if fail else 0
        if (
            "Authorization" in h.headers
            or fail
            or parse_qs(url.query).get("X-Sig") != [_sign(url.path)]
        ):
            tmp.unlink()
        if "Authorization" in h.headers:
            h.reply(400, b"<Error><Code>InvalidArgument</Code>Only one auth mechanism</Error>")
            return
        if parse_qs(url.query).get("X-Sig") != [_sign(url.path)]:
            h.reply(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
            return
        if fail:
            h.reply(503, b"<Error><Code>SlowDown</Code></Error>")
            return
        (self.staging / sid).mkdir(parents=True, exist_ok=True)
        tmp.replace(self.staging / sid / offset)  # a re-sent part replaces the earlier copy
        with self.lock:
            self.parts_stored += 1
        h.reply(200, headers={"ETag": f'"{md5.hexdigest()}"'})

    def bytes_held(self, registry_storage: Path) -> int:
        """Bytes on disk now: staged parts plus everything the docker-registry stores."""
        return sum(
            p.stat().st_size
            for root in (self.staging, registry_storage)
            for p in root.rglob("*")
            if p.is_file()
        )
