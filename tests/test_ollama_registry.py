"""The registry client against a real docker-registry on loopback: push, read back, resume."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.image_inputs import image_inputs

from publisher.errors import TargetUnavailable, UsageError
from publisher.ollama import image as oi
from publisher.ollama.registry import (
    RegistryClient,
    client_for_model,
    is_ollama_host,
    parse_ollama_name,
    push_image,
    push_warning,
)
from publisher.ollama.upload import UploadSessions

CHUNK = 256 * 1024


def _client(url: str, repo: str, **kw: object) -> RegistryClient:
    return RegistryClient(url, repo, insecure=True, chunk_size=CHUNK, backoff=0.01, **kw)


def _get(url: str, accept: str | None = None) -> tuple[bytes, dict[str, str]]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read(), dict(resp.headers)


def _random_blob(tmp_path: Path, size: int) -> tuple[Path, str]:
    data = os.urandom(size)
    path = tmp_path / f"blob-{size}"
    path.write_bytes(data)
    return path, "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_push_read_back_http_and_skopeo(docker_registry: str, tmp_path: Path) -> None:
    image = oi.build_image(image_inputs(tmp_path))
    with _client(docker_registry, "mannix/gemma4-98e") as client:
        seen: list[tuple[str, int, int]] = []
        result = push_image(
            client, image, ["Q4_K_M", "latest"], lambda d, a, b: seen.append((d, a, b))
        )
        total = image.config.size + sum(x.size for x in image.layers)
        assert result.bytes_uploaded == total
        assert seen[-1][1] == seen[-1][2]
        assert client.manifest_digest("Q4_K_M") == image.manifest_digest
        assert client.manifest_digest("latest") == client.manifest_digest("Q4_K_M")
        assert client.manifest_digest("Q8_0") is None and client.get_manifest("Q8_0") is None
        # a second run sends nothing
        assert push_image(client, image, ["Q4_K_M", "latest"]).bytes_uploaded == 0

    base = f"{docker_registry}/v2/mannix/gemma4-98e"
    body, headers = _get(f"{base}/manifests/latest", oi.MEDIA_MANIFEST)
    assert body == image.manifest_bytes
    assert headers["Docker-Content-Digest"] == image.manifest_digest
    params = image.layer(oi.MEDIA_PARAMS)
    assert params is not None
    params_blob, _ = _get(f"{base}/blobs/{params.digest}")
    assert json.loads(params_blob) == {
        "num_ctx": 8192,
        "stop": ["<turn|>", "<|tool_response>"],
        "temperature": 0.6,
    }
    model_blob, _ = _get(f"{base}/blobs/{image.layers[0].digest}")
    assert model_blob == image.layers[0].source.read_bytes()  # type: ignore[union-attr]

    if shutil.which("skopeo") is None:
        pytest.skip("skopeo not installed")
    # plain `skopeo inspect` refuses Ollama's layer media types ("unsupported docker v2s2 media
    # type"), so read the raw manifest by tag and by digest and check what it names
    repo = f"docker://{docker_registry.removeprefix('http://')}/mannix/gemma4-98e"
    for ref in (f"{repo}:latest", f"{repo}@{image.manifest_digest}"):
        raw = subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", ref],
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
        assert raw == image.manifest_bytes
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == image.manifest_digest
        layers = [x["digest"] for x in json.loads(raw)["layers"]]
        assert layers == [x.digest for x in image.layers]


def test_client_reads_what_registry_holds(docker_registry: str, tmp_path: Path) -> None:
    image = oi.build_image(image_inputs(tmp_path, "Q8_0"))
    with _client(docker_registry, "mannix/readback") as client:
        push_image(client, image, ["Q8_0"])
        manifest, digest = client.get_manifest("Q8_0")  # type: ignore[misc]
        assert digest == image.manifest_digest
        assert oi.manifest_differences(manifest, image) == []
        assert client.get_blob(image.config.digest) == image.config_bytes
        assert client.has_blob(image.layers[0].digest)
        assert not client.has_blob("sha256:" + "1" * 64)


class _FaultTransport(httpx.BaseTransport):
    """Wraps the real transport; fails chosen PATCHes before or half way through the body."""

    def __init__(self, fail_patches: set[int], mode: str = "before") -> None:
        self.inner = httpx.HTTPTransport()
        self.fail_patches, self.mode, self.patches = fail_patches, mode, 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "PATCH":
            self.patches += 1
            if self.patches in self.fail_patches:
                if self.mode == "before":
                    raise httpx.ConnectError("injected: connection refused")
                request.stream = _HalfThenDrop(request.stream)  # type: ignore[assignment]
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class _HalfThenDrop(httpx.SyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream) -> None:
        self.inner = inner

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for piece in self.inner:
            yield piece[: len(piece) // 2]
            sent += len(piece) // 2
            raise httpx.WriteError(f"injected: connection dropped after {sent} bytes")


def test_transient_failure_resumes_from_registry_offset(
    docker_registry: str, tmp_path: Path
) -> None:
    path, digest = _random_blob(tmp_path, 10 * CHUNK + 123)
    size = path.stat().st_size
    transport = _FaultTransport({4, 7})
    with _client(docker_registry, "t/resume-soft", transport=transport) as client:
        sent = client.upload_blob(path, digest, size)
        assert sent == size  # the two refused PATCHes sent nothing; nothing was sent twice
        assert transport.patches == 11 + 2
        assert client.has_blob(digest)


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_killed_upload_resumes_in_a_new_run(docker_registry: str, tmp_path: Path) -> None:
    path, digest = _random_blob(tmp_path, 8 * CHUNK)
    size = path.stat().st_size
    state = tmp_path / "uploads.json"
    with _client(
        docker_registry,
        "t/resume-hard",
        transport=_FaultTransport(set(range(5, 99))),
        retries=1,
        sessions=UploadSessions(state),
    ) as first:
        with pytest.raises(TargetUnavailable, match="run again to resume"):
            first.upload_blob(path, digest, size)
        assert not first.has_blob(digest)
    assert json.loads(state.read_text())  # the session survived the failed run
    with _client(docker_registry, "t/resume-hard", sessions=UploadSessions(state)) as second:
        sent = second.upload_blob(path, digest, size)
        assert sent == size - 4 * CHUNK  # only what the registry did not already hold
        assert second.has_blob(digest)
    assert json.loads(state.read_text()) == {}
    blob, _ = _get(f"{docker_registry}/v2/t/resume-hard/blobs/{digest}")
    assert blob == path.read_bytes()


def test_connection_dropped_mid_part_still_completes(docker_registry: str, tmp_path: Path) -> None:
    # docker-registry 2.8 invalidates an upload whose last PATCH was cut short (its _state
    # offset no longer matches); the client must notice and start that blob again
    path, digest = _random_blob(tmp_path, 6 * CHUNK)
    size = path.stat().st_size
    with _client(docker_registry, "t/drop", transport=_FaultTransport({3}, "half")) as client:
        sent = client.upload_blob(path, digest, size)
        assert size < sent <= 2 * size
        assert client.has_blob(digest)
    blob, _ = _get(f"{docker_registry}/v2/t/drop/blobs/{digest}")
    assert hashlib.sha256(blob).hexdigest() == digest.removeprefix("sha256:")


def test_5xx_is_retried(docker_registry: str, tmp_path: Path) -> None:
    class Flaky(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner, self.calls = httpx.HTTPTransport(), 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            self.calls += 1
            if self.calls <= 2:
                return httpx.Response(503, text="busy")
            return self.inner.handle_request(request)

    with _client(docker_registry, "t/flaky", transport=Flaky()) as client:
        assert client.manifest_digest("nope") is None


def test_cross_repo_mount_uploads_nothing(docker_registry: str, tmp_path: Path) -> None:
    path, digest = _random_blob(tmp_path, 3 * CHUNK)
    size = path.stat().st_size
    with _client(docker_registry, "t/source") as a:
        assert a.upload_blob(path, digest, size) == size
    with _client(docker_registry, "t/target") as b:
        assert b.upload_blob(path, digest, size, mount_from="t/source") == 0
        assert b.has_blob(digest)
        _other, other_digest = _random_blob(tmp_path, 1000)
        assert not b.mount_blob(other_digest, "t/source")


def test_bytes_source_and_size_check(docker_registry: str) -> None:
    data = b'{"a":1}\n'
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with _client(docker_registry, "t/bytes") as client:
        assert client.upload_blob(data, digest, len(data)) == len(data)
        assert client.get_blob(digest) == data
        with pytest.raises(Exception, match="expected 3"):
            client.upload_blob(b"xy", "sha256:" + "2" * 64, 3)


def test_parse_ollama_name() -> None:
    n = parse_ollama_name("mannix/gemma4-98e:Q4_K_M")
    assert (n.host, n.namespace, n.model, n.tag) == (
        "registry.ollama.ai",
        "mannix",
        "gemma4-98e",
        "Q4_K_M",
    )
    assert n.repository == "mannix/gemma4-98e" and n.base_url == "https://registry.ollama.ai"
    assert parse_ollama_name("llama3").repository == "library/llama3"
    assert parse_ollama_name("llama3").tag == "latest"
    local = parse_ollama_name("127.0.0.1:5000/ns/m:t", default_host="x")
    assert (local.host, local.repository, local.tag) == ("127.0.0.1:5000", "ns/m", "t")
    assert parse_ollama_name("http://h:1/ns/m").scheme == "http"
    for bad in ("", "ns.x/m", "-m", "ns/m:", "a/b/c/d"):
        with pytest.raises(UsageError):
            parse_ollama_name(bad)
    assert is_ollama_host("https://registry.ollama.ai") and not is_ollama_host("127.0.0.1:5000")


def test_plain_http_without_insecure_says_what_names_an_http_registry() -> None:
    """There is no --insecure flag: plain http is chosen by naming the registry with it."""
    with pytest.raises(UsageError) as raised:
        RegistryClient("http://127.0.0.1:1", "a/b")
    message = str(raised.value)
    assert "--insecure" not in message
    assert '`[ollama] registry = "http://HOST:PORT"`' in message and "--ollama-registry" in message


@pytest.mark.slow
def test_client_for_model_and_warning(docker_registry: str, tmp_path: Path) -> None:
    host = docker_registry.removeprefix("http://")
    image = oi.build_image(image_inputs(tmp_path, "IQ4_XS"))
    client, name = client_for_model(f"{host}/mannix/by-name:IQ4_XS", insecure=True)
    with client:
        push_image(client, image, [name.tag])
        assert client.manifest_digest(name.tag) == image.manifest_digest
    assert push_warning(client.base_url) is None
    warning = push_warning("https://registry.ollama.ai")
    assert warning is not None and "EXPERIMENTAL" in warning


def test_upload_and_auth_stand_alone_and_use_no_private_client_member() -> None:
    """Issue 23: the registry client is one class in one module. `upload` and `auth` import
    nothing of `registry` (no cycle), and no module reaches into another's private members."""
    code = (
        "import sys, publisher.ollama.upload, publisher.ollama.auth; "
        "print('publisher.ollama.registry' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    package = Path(oi.__file__).parent
    for name in ("upload.py", "auth.py", "push.py", "readback.py"):
        text = (package / name).read_text()
        assert re.search(r"client\._[a-z]", text) is None, name
