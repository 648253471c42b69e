"""Bearer challenge → Ollama-signed token request → authorised push, via a local token server."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from publisher.errors import TargetUnavailable
from publisher.ollama import auth as ollama_auth
from publisher.ollama import image as oi
from publisher.ollama.auth import OllamaKeyAuth
from publisher.ollama.registry import RegistryClient, push_image


class AuthFront:
    """A registry front door on 127.0.0.1: /token checks Ollama's ed25519 signature, /v2/
    demands the Bearer token it issued and proxies to the real docker-registry behind it."""

    def __init__(self, upstream: str, allowed_key: str) -> None:
        self.upstream = urlsplit(upstream).netloc
        self.allowed_key = allowed_key
        self.tokens: set[str] = set()
        self.nonces: set[str] = set()
        self.token_requests: list[str] = []
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/token"):
                    front.issue(self)
                else:
                    front.proxy(self)

            do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def issue(self, h: BaseHTTPRequestHandler) -> None:
        url = f"http://{h.headers['Host']}{h.path}"
        self.token_requests.append(url)
        query = parse_qs(urlsplit(url).query)
        auth = h.headers.get("Authorization", "")
        ok = (
            auth.split(":")[0] == self.allowed_key
            and ollama_auth.verify(auth, ollama_auth.signed_payload("GET", url))
            and abs(int(query["ts"][0]) - time.time()) < 60
            and query["nonce"][0] not in self.nonces
            and query["service"] == ["test-registry"]
        )
        if not ok:
            self._reply(h, 401, b'{"error":"bad signature"}')
            return
        self.nonces.add(query["nonce"][0])
        token = secrets.token_hex(8)
        self.tokens.add(token)
        self._reply(h, 200, json.dumps({"token": token}).encode())

    def proxy(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else None
        bearer = h.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.tokens:
            repo = h.path.split("/v2/", 1)[-1].rsplit("/blobs/", 1)[0].rsplit("/manifests/", 1)[0]
            challenge = (
                f'Bearer realm="{self.url}/token",service="test-registry",'
                f'scope="repository:{repo}:pull,push"'
            )
            self._reply(
                h, 401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge}
            )
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() != "authorization"}
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        conn.request(h.command, h.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        h.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)
        conn.close()

    @staticmethod
    def _reply(
        h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)


def _write_key(path: Path) -> str:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    return ollama_auth.public_key_b64(key)


@pytest.fixture
def front(docker_registry: str, tmp_path: Path) -> Iterator[tuple[AuthFront, Path]]:
    key_path = tmp_path / "id_ed25519"
    server = AuthFront(docker_registry, _write_key(key_path))
    server.thread.start()
    try:
        yield server, key_path
    finally:
        server.server.shutdown()
        server.server.server_close()


def _image(tmp_path: Path) -> oi.OllamaImage:
    data = b"GGUF" + os.urandom(300_000)
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(data)
    return oi.build_image(
        oi.ImageInputs(
            gguf,
            hashlib.sha256(data).hexdigest(),
            len(data),
            "gemma4",
            "20.8B",
            "Q4_K_M",
            params={"temperature": 0.6},
            renderer="gemma4",
            parser="gemma4",
        )
    )


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_signed_token_flow_pushes_and_reads(front: tuple[AuthFront, Path], tmp_path: Path) -> None:
    server, key_path = front
    image = _image(tmp_path)
    with RegistryClient(
        server.url,
        "mannix/private",
        insecure=True,
        chunk_size=100_000,
        auth=OllamaKeyAuth(key_path),
    ) as client:
        assert push_image(client, image, ["Q4_K_M"]).bytes_uploaded > 300_000
        assert client.manifest_digest("Q4_K_M") == image.manifest_digest
        assert client.get_blob(image.config.digest) == image.config_bytes
    assert server.token_requests  # the registry challenged us and we answered with a signature
    assert all("nonce=" in u and "ts=" in u for u in server.token_requests)
    # without a token the front door refuses: the data really is behind auth
    anon = httpx.get(f"{server.url}/v2/mannix/private/manifests/Q4_K_M")
    assert anon.status_code == 401 and "realm=" in anon.headers["www-authenticate"]


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_unknown_key_is_refused_with_a_hint(front: tuple[AuthFront, Path], tmp_path: Path) -> None:
    server, _ = front
    other = tmp_path / "other_key"
    _write_key(other)
    with (
        RegistryClient(
            server.url, "mannix/private", insecure=True, auth=OllamaKeyAuth(other)
        ) as client,
        pytest.raises(TargetUnavailable, match="settings/keys"),
    ):
        client.manifest_digest("Q4_K_M")


def test_realm_on_another_host_is_refused(tmp_path: Path) -> None:
    key_path = tmp_path / "k"
    _write_key(key_path)
    challenge = ollama_auth.Challenge("https://evil.example/token", "s", "x")
    with httpx.Client() as http, pytest.raises(TargetUnavailable, match="another host"):
        OllamaKeyAuth(key_path).token(http, challenge, "registry.ollama.ai")


def test_unreachable_token_service_is_target_unavailable() -> None:
    """A 401 whose realm does not answer ends in TargetUnavailable, not an httpx traceback."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            raise httpx.ConnectError("connection refused", request=request)
        challenge = 'Bearer realm="http://127.0.0.1:9/token",service="s",scope="x"'
        return httpx.Response(401, headers={"WWW-Authenticate": challenge})

    transport = httpx.MockTransport(handler)
    with (
        RegistryClient("http://127.0.0.1:9", "ns/m", insecure=True, transport=transport) as client,
        pytest.raises(
            TargetUnavailable, match=re.escape("token request to http://127.0.0.1:9/token")
        ),
    ):
        client.manifest_digest("latest")
