"""OCI distribution registry client: read pushed manifests back; push Ollama images with no daemon.

Client choice (issue 10 item 0): oras-py 0.2 was evaluated first. It streams a chunked upload
from a file, but its auth backends are a fixed name→class table (no hook for Ollama's signed
token request), its retry re-sends the same PATCH without asking the registry for its offset,
it has no progress callback, no cross-repo mount, no HEAD-for-digest and builds OCI manifests
with its own annotations. So this module is our own, on httpx (one Client per RegistryClient).

Protocol as Ollama speaks it (ollama/ollama server/upload.go `uploadBlob`, `blobUpload.Prepare`,
`Run`, `uploadPart`; server/images.go `PushModel`, `makeRequestWithRetry`,
`parseRegistryChallenge`):
HEAD blob → POST uploads/ (optionally `?mount=&from=`) → PATCH parts with `Content-Range:
start-end` and `X-Redirect-Uploads: 1`, following `Docker-Upload-Location`/`Location` (a 307
means "PUT this part to the redirect URL", ollama.com's presigned storage) → PUT `?digest=&etag=`
→ PUT manifests/<tag>. Part size follows Ollama: size/16 clamped to [100 MB, 1000 MB].

The upload of one blob, with Ollama's own retry semantics, is `publisher/ollama/upload.py`.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from publisher.errors import CheckFailed, PublisherError, TargetUnavailable, UsageError
from publisher.http_limits import BodyLimit, buffered, fetch, read_body, read_prefix
from publisher.manifest.names import OLLAMA_MODEL_OR_TAG_PATTERN, OLLAMA_NAMESPACE_PATTERN
from publisher.ollama.auth import AnonymousAuth, OllamaKeyAuth, TokenAuth, parse_challenge
from publisher.ollama.upload import (
    MAX_PART_TRIES,
    MAX_RESTARTS,
    MAX_SLEEP,
    BlobSource,
    BlobUpload,
    Progress,
    UploadSessions,
    ok,
    upload_location,
)
from publisher.remote_text import remember_sent, server_text

if TYPE_CHECKING:
    from publisher.ollama.image import OllamaImage

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST_V1 = "application/vnd.oci.image.manifest.v1+json"
MANIFEST_ACCEPT = f"{DOCKER_MANIFEST_V2}, {OCI_MANIFEST_V1}"
OLLAMA_HOSTS = ("registry.ollama.ai", "ollama.com")
MAX_SMALL_BLOB = 32 * 1024 * 1024
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
COMMIT_READ_TIMEOUT = 1800.0  # seconds of silence allowed while the registry hashes a blob

EXPERIMENTAL_OLLAMA_PUSH_WARNING = (
    "direct push to ollama.com is EXPERIMENTAL: it speaks the registry protocol of `ollama push` "
    "(signed token, chunked upload) but has not yet passed a live test; verify the tags "
    "afterwards or push through the Ollama daemon"
)


_PART_RE = OLLAMA_MODEL_OR_TAG_PATTERN
_NAME_RE = re.compile(  # as ParseNameBare: one '/' splits namespace/model, a second one the host
    r"^(?:(?P<scheme>https?)://)?"
    r"(?:(?:(?P<host>[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349})/)?"
    rf"(?P<ns>{OLLAMA_NAMESPACE_PATTERN})/)?"
    rf"(?P<model>{_PART_RE})(?::(?P<tag>{_PART_RE}))?$"
)


@dataclass(frozen=True)
class OllamaName:
    """A parsed `[host/][namespace/]model[:tag]` (types/model/name.go ParseName)."""

    host: str
    namespace: str
    model: str
    tag: str
    scheme: str = "https"

    @property
    def repository(self) -> str:
        """`namespace/model`, the registry repository (Name.DisplayNamespaceModel)."""
        return f"{self.namespace}/{self.model}"

    @property
    def base_url(self) -> str:
        """`scheme://host` of the registry (Name.BaseURL)."""
        return f"{self.scheme}://{self.host}"


def parse_ollama_name(name: str, default_host: str = DEFAULT_HOST) -> OllamaName:
    """Split an Ollama model name, filling Ollama's defaults; UsageError names the bad part."""
    match = _NAME_RE.fullmatch(name.strip())
    if not match:
        raise UsageError(
            f"model name {name!r}: expected [host/][namespace/]model[:tag] where each part starts "
            "with a letter, digit or '_' and holds only letters, digits, '_', '-', '.' "
            "(no '.' in the namespace), at most 80 characters"
        )
    return OllamaName(
        host=match["host"] or default_host,
        namespace=match["ns"] or DEFAULT_NAMESPACE,
        model=match["model"],
        tag=match["tag"] or DEFAULT_TAG,
        scheme=match["scheme"] or "https",
    )


def repository_of(model: str) -> str:
    """`namespace/model` of the registry repository of `[host/][namespace/]model`; a bare model
    lives in Ollama's default namespace (`library`)."""
    parts = model.split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else f"{DEFAULT_NAMESPACE}/{model}"


def is_ollama_host(base_url: str) -> bool:
    """True for ollama.com's registry, where direct push is still experimental."""
    host = (urlsplit(base_url if "//" in base_url else f"//{base_url}").hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in OLLAMA_HOSTS)


class RegistryClient:
    """One registry repository over one httpx.Client: manifests, blobs, resumable uploads."""

    def __init__(
        self,
        base_url: str,
        repository: str,
        *,
        auth: TokenAuth | None = None,
        insecure: bool = False,
        chunk_size: int | None = None,
        retries: int = 4,
        backoff: float = 1.0,
        timeout: float = 60.0,
        part_tries: int = MAX_PART_TRIES,
        max_restarts: int = MAX_RESTARTS,
        sessions: UploadSessions | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if "://" not in base_url:
            base_url = ("http://" if insecure else "https://") + base_url
        parts = urlsplit(base_url)
        if parts.scheme == "http" and not insecure:
            raise UsageError(
                f"registry {base_url}: plain http is used only when the registry is named with "
                'it: `[ollama] registry = "http://HOST:PORT"` or `--ollama-registry http://…`'
            )
        self.base_url = urlunsplit((parts.scheme, parts.netloc, "", "", "")).rstrip("/")
        self.host = parts.netloc
        self.repository = repository
        self.auth: TokenAuth = auth or AnonymousAuth()
        self.chunk_size = chunk_size
        self.retries = retries
        self.backoff = backoff
        self.part_tries = max(1, part_tries)
        self.max_restarts = max(0, max_restarts)
        # the commit's reply waits for the registry to hash the whole blob: a long silence, but
        # a bounded one (a multi-GB blob hashes in minutes)
        self.commit_timeout = httpx.Timeout(timeout, connect=15.0, read=COMMIT_READ_TIMEOUT)
        self.sessions = sessions or UploadSessions()
        # blob bytes handed to the transport by this client, failed attempts included: what
        # went over the wire, so a push that fails half-way still reports what it sent
        self.bytes_sent = 0
        self.etag = is_ollama_host(self.base_url)  # ollama.com wants S3-style part etags
        self._token: str | None = None
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=15.0),
            follow_redirects=False,
            headers={"User-Agent": "publisher-registry/0.1"},
        )

    # ---- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        return f"{self.base_url}/v2/{self.repository}/{path}"

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def sleep_before_retry(self, attempt: int) -> None:
        """Ollama's back-off: 1 s · 2^try (upload.go), in units of `backoff` seconds."""
        time.sleep(min(self.backoff * 2**attempt, MAX_SLEEP))

    def authenticate(self, resp: httpx.Response) -> None:
        challenge = parse_challenge(resp.headers.get("www-authenticate", ""))
        if challenge is None:
            raise TargetUnavailable(
                f"registry {self.host}: HTTP 401 without a Bearer challenge for "
                f"{resp.request.method} {resp.request.url.path}"
            )
        try:
            self._token = self.auth.token(self._http, challenge, self.host)
            remember_sent(self._token)  # a server echoing it back is redacted by value
        except httpx.TransportError as exc:  # the token service is down: name it, no traceback
            raise TargetUnavailable(
                f"registry {self.host}: token request to {challenge.realm} failed: {exc!r}"
            ) from exc

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | Callable[[], Iterator[bytes]] | None = None,
        follow: bool = False,
        retry: bool = True,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        """Send with auth, retrying 5xx/429/dropped connections with backoff (if retry)."""
        auth_tries = 0
        attempt = 0
        while True:
            body = content() if callable(content) else content
            request = self._http.build_request(
                method,
                url,
                headers=self._headers(headers),
                content=body,
                **({"timeout": timeout} if timeout else {}),
            )
            try:
                resp = self._fetch(request, follow)
            except httpx.TransportError as exc:
                if not retry or attempt >= self.retries:
                    raise TargetUnavailable(
                        f"registry {self.host}: {method} {httpx.URL(url).path} failed: "
                        f"{server_text(repr(exc))}"
                    ) from exc
                self.sleep_before_retry(attempt)
                attempt += 1
                continue
            if resp.status_code == 401 and auth_tries < 2:
                auth_tries += 1
                self.authenticate(resp)
                continue
            if resp.status_code in RETRY_STATUS and retry and attempt < self.retries:
                self.sleep_before_retry(attempt)
                attempt += 1
                continue
            return resp

    def send_once(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        content: Iterator[bytes],
        authorized: bool = True,
    ) -> httpx.Response:
        """One request, no retry and no 401 handling (the upload decides both, as upload.go
        does); `authorized=False` for presigned storage, which must never see our token."""
        request = self._http.build_request(
            method, url, headers=self._headers(headers) if authorized else headers, content=content
        )
        return self._fetch(request, follow=False)

    def _fetch(self, request: httpx.Request, follow: bool) -> httpx.Response:
        """One exchange, its reply read bounded (publisher.http_limits): too large or too slow a
        success body is the registry's failure, never a MemoryError or a hang."""
        try:
            return fetch(self._http, request, follow_redirects=follow)
        except BodyLimit as exc:
            raise TargetUnavailable(
                f"registry {self.host}: {request.method} {request.url.path}: {exc}"
            ) from None

    def failure(self, resp: httpx.Response, what: str) -> PublisherError:
        text = server_text(resp.text)
        cls = TargetUnavailable if resp.status_code in (401, 403) else CheckFailed
        where = f"registry {self.host}/{self.repository}"
        return cls(f"{where}: {what}: HTTP {resp.status_code} {text}")

    # ---- reading ---------------------------------------------------------------------------

    def manifest_digest(self, tag: str) -> str | None:
        """Digest of the manifest a tag points to (HEAD), or None if the tag does not exist."""
        resp = self.request(
            "HEAD", self.url(f"manifests/{tag}"), headers={"Accept": MANIFEST_ACCEPT}, follow=True
        )
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self.failure(resp, f"HEAD manifest {tag}")
        digest = resp.headers.get("docker-content-digest")
        if digest:
            return digest
        got = self.get_manifest(tag)  # some registries omit the header on HEAD
        return got[1] if got else None

    def list_tags(self) -> list[str] | None:
        """The repository's tags (`GET …/tags/list`), or None where the registry does not list
        them (ollama.com answers 404, so callers must then ask tag by tag)."""
        resp = self.request("GET", self.url("tags/list"), follow=True)
        if resp.status_code in (404, 405):
            return None
        if resp.status_code != 200:
            raise self.failure(resp, "GET tags/list")
        try:
            tags = resp.json().get("tags") or []
        except ValueError:
            return None
        return [str(tag) for tag in tags]

    def get_manifest(self, tag: str) -> tuple[dict, str] | None:
        """The manifest JSON and its digest (sha256 of the bytes served), or None if absent."""
        resp = self.request(
            "GET", self.url(f"manifests/{tag}"), headers={"Accept": MANIFEST_ACCEPT}, follow=True
        )
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self.failure(resp, f"GET manifest {tag}")
        try:
            manifest = resp.json()
        except ValueError as exc:
            raise CheckFailed(
                f"registry {self.host}/{self.repository}: manifest {tag} is not JSON"
            ) from exc
        return manifest, "sha256:" + hashlib.sha256(resp.content).hexdigest()

    def manifest_bytes(self, tag: str) -> tuple[bytes, str] | None:
        """The manifest of a tag exactly as the registry serves it, and the media type it names
        (None if absent): `latest` is PUT with these bytes, so its digest is the source's."""
        resp = self.request(
            "GET", self.url(f"manifests/{tag}"), headers={"Accept": MANIFEST_ACCEPT}, follow=True
        )
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self.failure(resp, f"GET manifest {tag}")
        media_type = resp.headers.get("content-type", DOCKER_MANIFEST_V2).split(";")[0].strip()
        return resp.content, media_type

    def get_blob(self, digest: str, *, max_size: int = MAX_SMALL_BLOB, _auth: bool = True) -> bytes:
        """A small blob (config, params, template…), verified against its digest."""
        with self._http.stream(
            "GET", self.url(f"blobs/{digest}"), headers=self._headers(), follow_redirects=True
        ) as resp:
            if resp.status_code == 401 and _auth:
                self.authenticate(resp)
                return self.get_blob(digest, max_size=max_size, _auth=False)
            if resp.status_code != 200:
                raise self.failure(buffered(resp, read_prefix(resp)), f"GET blob {digest}")
            try:
                data = read_body(resp, max_size)
            except BodyLimit as exc:
                raise CheckFailed(
                    f"registry {self.host}/{self.repository}: blob {digest}: {exc}; "
                    "get_blob is for small blobs only"
                ) from None
        if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
            raise CheckFailed(f"registry {self.host}/{self.repository}: blob {digest} corrupt")
        return bytes(data)

    def has_blob(self, digest: str) -> bool:
        """True if the repository has the blob (HEAD …/blobs/<digest>)."""
        resp = self.request("HEAD", self.url(f"blobs/{digest}"), follow=True)
        if resp.status_code == 404:
            return False
        if resp.status_code == 200:
            return True
        raise self.failure(resp, f"HEAD blob {digest}")

    # ---- writing ---------------------------------------------------------------------------

    def mount_blob(self, digest: str, from_repository: str) -> bool:
        """Cross-repository mount: True if the registry linked the blob without an upload."""
        query = urlencode({"mount": digest, "from": from_repository})
        resp = self.request("POST", self.url(f"blobs/uploads/?{query}"))
        if resp.status_code == 201:
            return True
        if ok(resp):  # not mountable: an upload session was opened; drop it
            with contextlib.suppress(httpx.HTTPError, PublisherError):
                loc = upload_location(resp)
                self.request("DELETE", loc, retry=False)
            return False
        raise self.failure(resp, f"mount {digest} from {from_repository}")

    def put_manifest(
        self, tag: str, manifest_bytes: bytes, media_type: str = DOCKER_MANIFEST_V2
    ) -> str:
        """PUT the exact manifest bytes under tag; return the digest the registry reports (ours
        when it reports none). A different digest is not yet a failure: a registry may store the
        manifest re-serialised — `check_pushed` compares the content."""
        resp = self.request(
            "PUT",
            self.url(f"manifests/{tag}"),
            headers={"Content-Type": media_type},
            content=manifest_bytes,
        )
        if not ok(resp):
            raise self.failure(resp, f"PUT manifest {tag}")
        digest = "sha256:" + hashlib.sha256(manifest_bytes).hexdigest()
        return resp.headers.get("docker-content-digest") or digest

    def upload_blob(
        self,
        source: str | Path | bytes,
        digest: str,
        size: int,
        progress: Progress | None = None,
        *,
        mount_from: str | None = None,
    ) -> int:
        """Upload a blob the registry lacks, part by part as `ollama push` does (upload.py);
        return the bytes sent."""
        if self.has_blob(digest) or (mount_from and self.mount_blob(digest, mount_from)):
            if progress:
                progress(size, size)
            return 0
        reader = BlobSource(source, size)
        try:
            return BlobUpload(self, digest, reader, progress).run()
        finally:
            reader.close()


@dataclass(frozen=True)
class PushResult:
    """What a push did: bytes sent over the wire and the manifest digest every tag now has."""

    bytes_uploaded: int
    manifest_digest: str
    tags: tuple[str, ...] = ()


def push_image(
    client: RegistryClient,
    image: OllamaImage,
    tags: list[str],
    progress: Callable[[str, int, int], None] | None = None,
) -> PushResult:
    """Upload the blobs the registry lacks, then PUT the manifest under each tag, in order."""
    sent = 0
    for layer in [image.config, *image.layers]:

        def report(done: int, total: int, digest: str = layer.digest) -> None:
            if progress:
                progress(digest, done, total)

        sent += client.upload_blob(layer.source, layer.digest, layer.size, report)
    for tag in tags:
        client.put_manifest(tag, image.manifest_bytes)
        check_pushed(client, tag, image)
    return PushResult(sent, image.manifest_digest, tuple(tags))


def check_pushed(client: RegistryClient, tag: str, image: OllamaImage) -> str:
    """Read `tag` back and return the registry's manifest digest. Ours: done. Another one (the
    registry re-serialised the JSON): the content must still be ours — config, layers, their
    media types, digests and sizes — else CheckFailed says precisely what differs."""
    from publisher.ollama.image import manifest_differences

    remote = client.manifest_digest(tag)  # ask the service, never the PUT's answer
    if remote == image.manifest_digest:
        return remote
    got = client.get_manifest(tag)
    if got is None:
        raise CheckFailed(f"{tag}: the registry has no manifest for it after the push")
    manifest, served = got
    problems = manifest_differences(manifest, image)
    if manifest.get("schemaVersion") != 2:
        problems.append(f"schemaVersion is {manifest.get('schemaVersion')!r}, expected 2")
    if problems:
        raise CheckFailed(
            f"{tag}: registry holds {remote or served}, expected {image.manifest_digest}: "
            + "; ".join(problems)
        )
    return remote or served


def alias_state(client: RegistryClient, alias: str, source: str) -> tuple[str, str]:
    """(state, detail) of `alias` (`latest`) against its source tag, read from the registry
    alone (no GGUF needed): up to date only when it is the source's manifest — the same digest,
    or the same config and layers where the registry re-serialises the JSON."""
    from publisher.ollama.image import index_layers

    got = client.get_manifest(alias)
    if got is None:
        return "missing", "no manifest in the registry"
    want = client.get_manifest(source)
    if want is None:
        return "drifted", f"{got[1]}, but its source {source} is not in the registry"
    if got[1] == want[1]:
        return "up-to-date", f"{got[1]} = {source} (GGUF not here: compared in the registry)"

    def content(manifest: dict) -> tuple[object, ...]:
        return index_layers([manifest.get("config")]), index_layers(manifest.get("layers"))

    if content(got[0]) == content(want[0]):
        return "up-to-date", f"{got[1]} (the content of {source}, re-serialised)"
    return "drifted", f"registry {alias} {got[1][:19]}, {source} {want[1][:19]}"


def push_warning(base_url: str) -> str | None:
    """The warning the CLI prints before a direct push, or None where direct push is proven."""
    return EXPERIMENTAL_OLLAMA_PUSH_WARNING if is_ollama_host(base_url) else None


def client_for_model(
    name: str,
    *,
    default_host: str = DEFAULT_HOST,
    insecure: bool = False,
    key_path: str | Path | None = None,
    **kwargs: object,
) -> tuple[RegistryClient, OllamaName]:
    """A client for an Ollama model name: ollama.com (or any registry when key_path is given)
    gets the signed-key token flow, so ~/.ollama/id_ed25519 must exist even for public reads;
    other registries get anonymous tokens."""
    parsed = parse_ollama_name(name, default_host=default_host)
    scheme = "http" if insecure and parsed.scheme == "https" else parsed.scheme
    auth: TokenAuth = (
        OllamaKeyAuth(key_path) if is_ollama_host(parsed.host) or key_path else AnonymousAuth()
    )
    client = RegistryClient(
        f"{scheme}://{parsed.host}",
        parsed.repository,
        auth=auth,
        insecure=insecure,
        **kwargs,  # type: ignore[arg-type]
    )
    return client, parsed
