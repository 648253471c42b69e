"""Direct push through a stand-in of ollama.com's upload path
(tests/doubles/ollama_com_standin.py) in
front of the real docker-registry: expiring tokens, 307 parts to storage that refuses an
Authorization header, the etag-checked commit (slow, or its reply lost), relative Locations."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from doubles.ollama_com_standin import OllamaComStandIn
from doubles.registry_server import registry_available, start_registry
from doubles.reserialising import Reserialising
from support.image_inputs import image_inputs

from publisher.errors import CheckFailed, TargetUnavailable
from publisher.ollama import auth as ollama_auth
from publisher.ollama import image as oi
from publisher.ollama.auth import OllamaKeyAuth
from publisher.ollama.registry import (
    RegistryClient,
    check_pushed,
    push_image,
)
from publisher.ollama.upload import UploadSessions
from publisher.targets.base import apply_all, plan_all

pytestmark = pytest.mark.skipif(not registry_available(), reason="docker-registry not installed")

PART = 1 << 20


@dataclass
class Site:
    standin: OllamaComStandIn
    registry_data: Path
    key_path: Path

    def client(self, repo: str, **kw: object) -> RegistryClient:
        kw.setdefault("chunk_size", PART)
        kw.setdefault("backoff", 0.01)
        return RegistryClient(
            self.standin.url,
            repo,
            auth=OllamaKeyAuth(self.key_path),
            insecure=True,
            **kw,  # type: ignore[arg-type]
        )

    def landed(self, repo: str, digest: str) -> bytes:
        """The blob as the docker-registry behind the stand-in holds it."""
        url = f"http://{self.standin.upstream}/v2/{repo}/blobs/{digest}"
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.read()

    def held(self) -> int:
        return self.standin.bytes_held(self.registry_data)


def _key(home: Path) -> tuple[Path, str]:
    key = Ed25519PrivateKey.generate()
    path = home / ".ollama" / "id_ed25519"
    path.parent.mkdir(parents=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    return path, ollama_auth.public_key_b64(key)


@pytest.fixture
def site(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Site]:
    options = getattr(request, "param", {})
    key_path, public = _key(tmp_path / "home")
    with start_registry(tmp_path / "registry") as upstream:
        standin = OllamaComStandIn(upstream, tmp_path / "staging", public, **options)
        with standin.serve():
            yield Site(standin, tmp_path / "registry" / "data", key_path)


def _blob(tmp_path: Path, size: int) -> tuple[Path, str]:
    path = tmp_path / "model.gguf"
    path.write_bytes(os.urandom(size))
    return path, "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _image(path: Path) -> oi.OllamaImage:
    """`support.image_inputs` with `path` as the model layer and a `requires`."""
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    inputs = image_inputs(path.parent)
    return oi.build_image(
        replace(inputs, gguf_path=path, gguf_sha256=sha, gguf_size=len(data), requires="0.30.0")
    )


@pytest.mark.parametrize(
    "site", [{"token_uses": 2, "commit_delay": 1.5, "commit_status": 204}], indirect=True
)
@pytest.mark.slow
def test_push_lands_through_expiring_tokens_and_redirected_parts(
    site: Site, tmp_path: Path
) -> None:
    path, _ = _blob(tmp_path, 10 * PART + 12345)
    image = _image(path)
    with site.client("mannix/t-expiring", timeout=1.0) as client:  # commit takes 1.5 s
        result = push_image(client, image, ["Q4_K_M"])
        assert client.manifest_digest("Q4_K_M") == image.manifest_digest
        assert client.get_blob(image.config.digest) == image.config_bytes
    counts = site.standin.counts
    assert counts["401"] >= 5 and counts["token"] >= 5  # tokens ran out mid-upload, often
    assert counts["storage_put"] == 11 + len(image.layers)  # model: 11 parts; 1 per small blob
    assert site.standin.storage_bytes_received == sum(x.size for x in [image.config, *image.layers])
    assert result.bytes_uploaded >= path.stat().st_size
    upstream = site.standin.upstream
    with RegistryClient(f"http://{upstream}", "mannix/t-expiring", insecure=True) as plain:
        assert plain.has_blob(image.layers[0].digest)
    total = sum(x.size for x in [image.config, *image.layers])
    assert site.held() <= 1.2 * total


@pytest.mark.parametrize("site", [{"storage_failures": 3}], indirect=True)
@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_refused_storage_puts_are_retried_on_the_same_url(site: Site, tmp_path: Path) -> None:
    path, digest = _blob(tmp_path, 4 * PART)
    with site.client("mannix/t-storage") as client:
        client.upload_blob(path, digest, path.stat().st_size)
        assert client.has_blob(digest)
    assert site.standin.counts["patch"] == 4  # the registry was never asked again
    assert site.standin.counts["storage_put"] == 4 + 3


@pytest.mark.parametrize("site", [{"drop_commit_reply": True}], indirect=True)
@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_lost_commit_reply_with_the_blob_landed_is_success(site: Site, tmp_path: Path) -> None:
    path, digest = _blob(tmp_path, 2 * PART)
    with site.client("mannix/t-lost", retries=0) as client:
        client.upload_blob(path, digest, path.stat().st_size)  # no error: HEAD says it landed
        assert client.has_blob(digest)
    assert site.standin.counts["commit"] == 1  # not committed twice


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_part_that_never_lands_gives_up_with_bounded_bytes(site: Site, tmp_path: Path) -> None:
    site.standin.storage_failures = 10**6  # storage refuses everything, forever
    path, digest = _blob(tmp_path, 3 * PART)
    client = site.client("mannix/t-never", part_tries=2, max_restarts=1)
    with client, pytest.raises(TargetUnavailable, match="run again to resume"):
        client.upload_blob(path, digest, path.stat().st_size)
    # one part, 2 storage tries, 2 rounds (first try + 1 restart): nothing loops forever
    assert site.standin.counts["storage_put"] == 4
    assert site.standin.storage_bytes_received == 4 * PART
    assert client.bytes_sent >= 2 * (1 + 2) * PART  # a failed push still reports what it sent


_KILLED_UPLOAD = textwrap.dedent(
    """
    import sys
    from publisher.ollama.auth import OllamaKeyAuth
    from publisher.ollama.registry import RegistryClient
    from publisher.ollama.upload import UploadSessions
    url, repo, key, path, digest, size, state = sys.argv[1:]
    client = RegistryClient(url, repo, auth=OllamaKeyAuth(key), insecure=True,
                            chunk_size=1 << 20, sessions=UploadSessions(state))
    client.upload_blob(path, digest, int(size))
    """
)


@pytest.mark.slow
def test_kill_9_mid_upload_resumes_to_the_same_end_state(site: Site, tmp_path: Path) -> None:
    path, digest = _blob(tmp_path, 24 * PART)
    size = path.stat().st_size
    state = tmp_path / "uploads.json"
    repo = "mannix/t-killed"
    args = [site.standin.url, repo, str(site.key_path), str(path), digest, str(size), str(state)]
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_UPLOAD, *args])
    deadline = time.monotonic() + 60
    while site.standin.parts_stored < 6 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the upload finished before the kill"
    saved = json.loads(state.read_text())
    done = next(iter(saved.values()))
    assert done["redirected"] and 5 * PART <= done["offset"] < size  # kill may beat the save

    stored_before = site.standin.counts["storage_put"]
    with site.client(repo, sessions=UploadSessions(state)) as client:
        sent = client.upload_blob(path, digest, size)
        assert client.has_blob(digest)
    # resumed, not restarted: only the parts after the saved offset went to storage again
    assert site.standin.counts["storage_put"] - stored_before == (size - done["offset"]) // PART
    assert sent < 2 * size
    assert site.landed(repo, digest) == path.read_bytes()
    assert json.loads(state.read_text()) == {}
    assert site.held() <= 1.2 * size


@pytest.mark.slow
def test_a_release_through_the_standin_lands_the_exact_gguf(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.release_fixtures import fam_gguf, fam_manifest
    from typer.testing import CliRunner

    from publisher.cli import app

    gguf = fam_gguf(tmp_path / "gguf", "Q4_K_M")
    manifest = tmp_path / "fam.toml"
    manifest.write_text(
        fam_manifest(
            f'[ollama]\nmodel = "mannix/fam"\nlatest = "Q4_K_M"\ntemplate = "gemma4-tools.gotmpl"\n'
            f'parser = "gemma4"\nregistry = "{site.standin.url}"\nrequires = "0.30.0"\n\n'
            '[[tags]]\ntag = "Q4_K_M"\ntargets = ["ollama"]\n',
            gguf_dir=tmp_path / "gguf",
        )
    )
    monkeypatch.setenv("HOME", str(site.key_path.parent.parent))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["release", str(manifest), "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert site.standin.counts["401"] >= 2  # tokens expired during the release
    digest = "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()
    with site.client("mannix/fam") as client:
        got = client.get_manifest("Q4_K_M")
        assert got is not None and client.manifest_digest("latest") == got[1]
        model = next(x for x in got[0]["layers"] if x["mediaType"] == oi.MEDIA_MODEL)
        assert model["digest"] == digest
        assert site.landed("mannix/fam", digest) == gguf.read_bytes()
        config = json.loads(client.get_blob(got[0]["config"]["digest"]))
        assert config["requires"] == "0.30.0" and config["file_type"] == "Q4_K_M"
    assert site.held() <= 1.2 * sum(x["size"] for x in [got[0]["config"], *got[0]["layers"]])


@pytest.mark.parametrize("tamper", [False, True])
def test_a_reserialised_manifest_is_compared_by_content(
    docker_registry: str,
    tmp_path: Path,
    tamper: bool,
) -> None:
    path, _ = _blob(tmp_path, 3000)
    image = _image(path)
    repo = f"mannix/reserialised-{int(tamper)}"
    with RegistryClient(docker_registry, repo, insecure=True, transport=Reserialising(tamper)) as c:
        if not tamper:
            assert push_image(c, image, ["Q4_K_M"]).manifest_digest == image.manifest_digest
            assert check_pushed(c, "Q4_K_M", image) != image.manifest_digest
            return
        with pytest.raises(CheckFailed, match=r"params: registry has sha256:000000000000…"):
            push_image(c, image, ["Q4_K_M"])


@pytest.mark.parametrize("site", [{"early_redirect": True, "token_uses": 100}], indirect=True)
@pytest.mark.slow
def test_a_307_sent_before_the_body_is_read_stops_the_part_early(
    site: Site, tmp_path: Path
) -> None:
    """ollama.com may answer a PATCH on its headers and drop the unread body (Ollama's Go client
    then stops sending); the part must still go to storage once, whole."""
    part = 32 * PART
    path, digest = _blob(tmp_path, 3 * part)
    with site.client("mannix/t-early", chunk_size=part) as client:
        sent = client.upload_blob(path, digest, 3 * part)
        assert client.has_blob(digest)
    assert site.standin.counts["storage_put"] == 3
    assert site.standin.storage_bytes_received == 3 * part
    assert site.landed("mannix/t-early", digest) == path.read_bytes()
    assert sent < 1.5 * 3 * part  # the PATCH bodies were cut short, not sent whole


def test_any_2xx_and_relative_locations_resolved_against_the_request() -> None:
    """PATCH answered 204, commit 200, Locations relative to the request's own URL (no leading
    slash), Docker-Upload-Location preferred over a Location that leads nowhere."""
    data = os.urandom(3000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    seen: list[str] = []
    held = bytearray()

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}?{request.url.query.decode()}")
        path = request.url.path
        if request.method == "HEAD":
            return httpx.Response(200 if path.endswith(digest) and held == data else 404)
        if "decoy" in path:
            return httpx.Response(404)
        if request.method == "POST":
            return httpx.Response(
                202, headers={"Docker-Upload-Location": "s1?n=0", "Location": "/decoy"}
            )
        if request.method == "PATCH":
            held.extend(request.read())
            n = len(held)
            headers = {"Range": f"0-{n - 1}", "Docker-Upload-Location": f"s1?n={n}"}
            return httpx.Response(204, headers={**headers, "Location": "decoy"})
        if request.method == "PUT" and request.url.params.get("digest") == digest:
            return httpx.Response(200)
        return httpx.Response(400)

    client = RegistryClient(
        "http://127.0.0.1:9",
        "ns/m",
        insecure=True,
        chunk_size=1000,
        transport=httpx.MockTransport(registry),
    )
    with client:
        assert client.upload_blob(data, digest, len(data)) == len(data)
    assert seen[2:] == [
        "PATCH /v2/ns/m/blobs/uploads/s1?n=0",
        "PATCH /v2/ns/m/blobs/uploads/s1?n=1000",
        "PATCH /v2/ns/m/blobs/uploads/s1?n=2000",
        f"PUT /v2/ns/m/blobs/uploads/s1?n=3000&digest={digest.replace(':', '%3A')}",
    ]


@pytest.mark.slow
def test_direct_push_target_plans_and_reports_same_content_as_published(
    docker_registry: str,
    tmp_path: Path,
) -> None:
    from doubles.ollama_standin import make_payload

    from publisher.ollama.push import OllamaRegistryTarget

    payload = make_payload(
        tmp_path, model="ns/reser", renderer=None, template="{{ .Prompt }}", requires="0.30.0"
    )
    t = OllamaRegistryTarget(payload.release, docker_registry)
    t.client.close()
    t.client = RegistryClient(
        docker_registry, t.repository, insecure=True, transport=Reserialising()
    )
    with t.client:
        result = apply_all(t, payload, plan_all(t, payload, online=True), lambda *_: None)
        assert result.failures == {}
        plan = plan_all(t, payload, online=True)
        assert {op.action for op in plan} == {"skip-tag"}
        assert all("same content, re-serialised" in op.reason for op in plan)
        statuses = t.status(payload)
        assert {s.state for s in statuses} == {"up-to-date"}
        assert all("same content re-serialised" in s.detail for s in statuses)
