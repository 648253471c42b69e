"""Reading back what was sent: the Hub's LFS sha256 of each file, and what hf.co serves.

After the commits, each uploaded GGUF's sha256 is asked of the Hub (`get_paths_info`) and
compared with the local one. Then what `ollama run hf.co/<repo>:<tag>` gets: the Ollama-registry
manifest the Hub serves. Ollama pulls an hf.co model like any registry model (ollama/ollama
`server/images.go`, `pullModelManifest`): `GET https://hf.co/v2/<repo>/manifests/<tag>` with the
Docker v2 manifest Accept header. The Hub answers with a manifest whose
`application/vnd.ollama.image.model` layer is the GGUF the tag resolves to, named by its sha256
(the file's LFS sha256), beside layers for the repo's `template` / `system` / `params` files. A
tag is a quant label the Hub reads from the file names, or a full file name (hub-docs
`docs/hub/ollama.md`); huggingface.co and hf.co serve the same routes, so the configured Hub
endpoint is asked. The side layers are checked too: hub-docs ollama.md ("Custom Chat Template and
Parameters") makes the repo's `template` file the Go TEMPLATE, `system` the system prompt and
`params` (JSON) the parameters of every hf.co pull, so each layer must be that file — template
and system byte for byte, params as the same JSON object (how the Hub serialises it is not
documented).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from publisher import console
from publisher.errors import TargetUnavailable
from publisher.gguf.checks import SHARD_RE
from publisher.http_limits import BodyLimit, fetch
from publisher.huggingface.plan import HubPlan, git_blob_sha1_file
from publisher.huggingface.session import HubSession
from publisher.remote_text import remember_sent, server_text
from publisher.targets.base import ApplyResult, Operation, Record

MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"
MODEL_LAYER = "application/vnd.ollama.image.model"
SIDE_LAYERS = {  # repo file -> the layer Ollama reads it as (server/images.go GetModel)
    "template": "application/vnd.ollama.image.template",
    "system": "application/vnd.ollama.image.system",
    "params": "application/vnd.ollama.image.params",
}
SIDE_BLOB_LIMIT = 1 << 20  # a template or params blob is kilobytes; never read a GGUF by mistake
TIMEOUT = 30.0
SETTLE = 3.0  # seconds between asks while the route catches up with a commit


@dataclass(frozen=True)
class Resolution:
    """Where one tag leads: the model layer's sha256 (hex) and size, or why there is none."""

    tag: str
    sha256: str | None = None
    size: int | None = None
    problem: str | None = None
    status: int | None = None  # the HTTP status (None: no answer)
    side: Mapping[str, str] = field(default_factory=dict)  # repo file -> its layer's digest

    @property
    def refused(self) -> bool:
        """The Hub answered that no file carries this tag (HTTP 400), as Ollama would see."""
        return self.status == 400


def resolve(
    endpoint: str, repo: str, tag: str, *, token: str | None = None, client: httpx.Client
) -> Resolution:
    """Ask the Hub's registry route which GGUF `tag` reaches (one GET, nothing downloaded)."""
    url = f"{endpoint.rstrip('/')}/v2/{repo}/manifests/{quote(tag, safe='')}"
    headers = {"Accept": MANIFEST_ACCEPT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
        remember_sent(token)
    try:  # read bounded (publisher.http_limits): a manifest is small, an error one line
        request = client.build_request("GET", url, headers=headers)
        response = fetch(client, request, follow_redirects=True)
    except httpx.HTTPError as exc:
        return Resolution(tag, problem=f"cannot reach {url}: {type(exc).__name__}")
    except BodyLimit as exc:
        return Resolution(tag, problem=f"{url}: {exc}")
    status = response.status_code
    if status != 200:
        return Resolution(tag, problem=f"HTTP {status}: {_message(response)}", status=status)
    try:
        manifest = response.json()
    except ValueError:
        return Resolution(tag, problem="the answer is not JSON", status=status)
    return _model_layer(tag, manifest, status)


@dataclass
class ReadBack:
    """The verdict on a set of tags: failures (tag -> one line) and warnings (could not ask)."""

    failures: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.warnings


def read_back(
    endpoint: str,
    repo: str,
    expected: Mapping[str, str],
    *,
    token: str | None = None,
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] | None = None,
    side_files: Mapping[str, bytes] | None = None,
) -> ReadBack:
    """Check that each `tag -> sha256` reaches those bytes, and — `side_files`, the repo's
    `template` / `system` / `params` — that the tag's side layers are those files. A tag leading
    to other bytes, to none (the Hub's 400) or to other side layers is a failure; no answer
    (unreachable, 401/403/404: a mirror without the route, a private repo closed to the token) a
    warning. With `sleep`, the tags still failing are asked again, twice, `SETTLE` seconds apart
    (one wait per round, not per tag): the route may lag behind a fresh commit."""
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT)
    sides = SideCheck(endpoint, repo, side_files or {}, token=token, client=http)
    try:
        found = {tag: resolve(endpoint, repo, tag, token=token, client=http) for tag in expected}
        for _ in range(2 if sleep is not None else 0):
            lagging = [
                tag
                for tag, got in found.items()
                if (got.sha256 != expected[tag] and (got.sha256 or got.refused))
                or (got.sha256 == expected[tag] and sides.problems(got))
            ]
            if not lagging:
                break
            sleep(SETTLE)  # type: ignore[misc]
            for tag in lagging:
                found[tag] = resolve(endpoint, repo, tag, token=token, client=http)
        verdict = _verdict(repo, expected, found)
        for tag, got in found.items():
            problems = sides.problems(got) if got.sha256 == expected[tag] else []
            if problems:
                verdict.failures[tag] = f"hf.co/{repo}:{tag} " + "; ".join(problems)
        return verdict
    finally:
        if own:
            http.close()


class SideCheck:
    """The side layers of a resolved tag against the repo's files; each differing blob is read
    once (a params layer may be the same JSON serialised otherwise)."""

    def __init__(
        self,
        endpoint: str,
        repo: str,
        files: Mapping[str, bytes],
        *,
        token: str | None,
        client: httpx.Client,
    ) -> None:
        self.url = f"{endpoint.rstrip('/')}/v2/{repo}/blobs/"
        self.files = {name: data for name, data in files.items() if name in SIDE_LAYERS}
        self.token = token
        self.client = client
        self.blobs: dict[str, bytes | str] = {}  # digest -> bytes, or why they could not be read

    def problems(self, got: Resolution) -> list[str]:
        """One phrase per side file the tag does not carry as the repo has it."""
        out = []
        for name, data in self.files.items():
            digest = got.side.get(name)
            want = "sha256:" + hashlib.sha256(data).hexdigest()
            if digest is None:
                out.append(f"serves no {name} layer, though the repo has a `{name}` file")
            elif digest != want and not self._same_params(name, digest, data):
                out.append(
                    f"serves a {name} layer {digest} that is not the repo's `{name}` file "
                    f"({want}): Ollama users would get other {name} than the release's"
                )
        return out

    def _same_params(self, name: str, digest: str, data: bytes) -> bool:
        if name != "params":
            return False
        served = self._blob(digest)
        if not isinstance(served, bytes):
            return False
        try:
            return bool(json.loads(served) == json.loads(data))
        except ValueError:
            return False

    def _blob(self, digest: str) -> bytes | str:
        """The blob's bytes, or why not: read through http_limits.fetch like every other reply
        (bounded size, a minimum rate, redirects followed without reading their bodies)."""
        if digest not in self.blobs:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            request = self.client.build_request("GET", self.url + digest, headers=headers)
            try:
                response = fetch(self.client, request, follow_redirects=True, limit=SIDE_BLOB_LIMIT)
            except BodyLimit as exc:
                self.blobs[digest] = str(exc)
            except httpx.HTTPError as exc:
                self.blobs[digest] = type(exc).__name__
            else:
                ok = response.status_code == 200
                self.blobs[digest] = response.content if ok else f"HTTP {response.status_code}"
        return self.blobs[digest]


def _verdict(repo: str, expected: Mapping[str, str], found: Mapping[str, Resolution]) -> ReadBack:
    verdict = ReadBack()
    for tag, sha256 in expected.items():
        got, where = found[tag], f"hf.co/{repo}:{tag}"
        if got.sha256 == sha256:
            continue
        if got.sha256 is not None:
            verdict.failures[tag] = f"{where} reaches sha256 {got.sha256}, expected {sha256}"
        elif got.refused:
            verdict.failures[tag] = f"{where} does not resolve ({got.problem})"
        else:
            verdict.warnings.append(f"{where} could not be checked: {got.problem}")
    return verdict


def _model_layer(tag: str, manifest: Any, status: int) -> Resolution:
    layers = manifest.get("layers") if isinstance(manifest, dict) else None
    models = [
        layer
        for layer in layers or []
        if isinstance(layer, dict) and layer.get("mediaType") == MODEL_LAYER
    ]
    if len(models) != 1:
        problem = f"{len(models)} model layers in the manifest, expected 1"
        return Resolution(tag, problem=problem, status=status)
    digest = str(models[0].get("digest", ""))
    if not digest.startswith("sha256:"):
        return Resolution(tag, problem=f"model layer {digest!r} is not a sha256", status=status)
    size = models[0].get("size")
    kinds = {media: name for name, media in SIDE_LAYERS.items()}
    side = {
        kinds[layer["mediaType"]]: str(layer.get("digest", ""))
        for layer in layers or []
        if isinstance(layer, dict) and layer.get("mediaType") in kinds
    }
    sha256 = digest.removeprefix("sha256:")
    return Resolution(tag, sha256=sha256, size=size, status=status, side=side)


def _message(response: httpx.Response) -> str:
    """The Hub's error text (JSON `error`, else the body) as one safe line (remote_text)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        text = body["error"]
    else:
        text = response.text
    return server_text(text, limit=200)


class HubReadBack:
    """The read-back after apply's commits, asked through the target's session."""

    def __init__(
        self, session: HubSession, *, check_hf_co: bool, unique_labels: dict[str, str]
    ) -> None:
        self.session = session
        self.repo_id = session.repo_id
        self.check_hf_co = check_hf_co  # read back what `ollama run hf.co/…` pulls
        self._unique_labels = unique_labels  # file name -> the quant label reaching it alone

    def read_back(
        self,
        mine: list[Operation],
        plan: HubPlan,
        revision: str | None,
        result: ApplyResult,
        record: Record,
    ) -> list[Operation]:
        """Ask the Hub for each uploaded GGUF's sha256 and compare with the local one. Returns
        the verified GGUFs that `ollama run hf.co/…` must reach (`read_back_hf_co`, after the
        seal; none for a pull request: hf.co serves main)."""
        checks = [
            op for op in mine if op.action == "verify" and (op.tag or "*") not in result.failures
        ]
        if not checks:
            return []
        api = self.session.client(require_token=True)
        try:
            info = self.session.paths_info(api, [op.subject for op in checks], revision)
        except TargetUnavailable as exc:
            for op in checks:
                result.failures.setdefault(op.tag or "*", f"read back: {exc}")
            return []
        verified: dict[str, list[str]] = {}
        for op in checks:
            entry = info.get(op.subject)
            if entry is None:
                line = f"huggingface: read back: {op.subject} is not on the Hub after the commit"
            elif not self._read_back_equal(op, entry, plan):
                remote = entry.lfs.sha256 if entry.lfs is not None else f"blob {entry.blob_id}"
                line = (
                    f"huggingface: read back: the Hub holds {remote} for {op.subject}, "
                    f"expected sha256 {op.sha256}"
                )
            else:
                verified.setdefault(op.tag or op.subject, []).append(op.subject)
                continue
            result.failures[op.tag or "*"] = line
        for key, paths in verified.items():
            if key not in result.failures:
                record(
                    f"verify:{key}",
                    {"repo": self.repo_id, "files": paths, "revision": revision or "main"},
                )
        if not self.check_hf_co or revision is not None:  # hf.co serves main, not a PR
            return []
        landed = [op for op in checks if (op.tag or op.subject) in verified]
        return [op for op in landed if op.details.get("kind") == "gguf"]

    def read_back_hf_co(
        self, ops: list[Operation], result: ApplyResult, side_files: dict[str, bytes]
    ) -> None:
        """What `ollama run hf.co/<repo>:<tag>` pulls must be the bytes just verified, with the
        repo's side files as its side layers: the Hub's registry route is asked (`read_back`
        below); a wrong or missing answer fails the tag, a route that does not answer is a
        warning. Asked after the seal, which writes the side files."""
        owners = {tag: op.tag or "*" for op in ops for tag in self._hf_co_tags(op)}
        expected = {tag: sha for op in ops for tag, sha in self._hf_co_tags(op).items()}
        session = self.session
        verdict = read_back(
            session.endpoint,
            self.repo_id,
            expected,
            token=session.token,
            sleep=session.sleep,
            side_files=side_files,
        )
        for tag, line in verdict.failures.items():  # the server's words: the token never
            owner, text = owners[tag], self.session.redact(f"huggingface: hf.co read back: {line}")
            before = result.failures.get(owner)
            result.failures[owner] = f"{before}; {text}" if before else text
        for line in verdict.warnings:
            console.warn(self.session.redact(f"huggingface: hf.co read back: {line}"))

    def _hf_co_tags(self, op: Operation) -> dict[str, str]:
        """The tags that must reach `op`'s file: its full file name (hub-docs ollama.md) and its
        quant label where no other file of the release shares it (publisher/render/hub_labels.py).
        Shards are not checked: how hf.co serves a split GGUF is not documented."""
        if SHARD_RE.fullmatch(op.subject) or not op.sha256:
            return {}
        tags = {op.subject: op.sha256}
        label = self._unique_labels.get(op.subject)
        if label is not None:
            tags[label] = op.sha256
        return tags

    @staticmethod
    def _read_back_equal(op: Operation, entry: Any, plan: HubPlan) -> bool:
        if entry.lfs is not None:
            return bool(op.sha256) and entry.lfs.sha256 == op.sha256
        local = plan.locals.get(op.subject)  # a tiny file the Hub keeps as a regular blob
        return local is not None and git_blob_sha1_file(local) == entry.blob_id
