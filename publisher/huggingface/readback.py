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
endpoint is asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from publisher import console
from publisher.errors import TargetUnavailable
from publisher.gguf.checks import SHARD_RE
from publisher.huggingface.plan import HubPlan, git_blob_sha1_file
from publisher.huggingface.session import HubSession
from publisher.targets.base import ApplyResult, Operation, Record

MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json"
MODEL_LAYER = "application/vnd.ollama.image.model"
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
    try:
        response = client.get(url, headers=headers, follow_redirects=True)
    except httpx.HTTPError as exc:
        return Resolution(tag, problem=f"cannot reach {url}: {type(exc).__name__}")
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
) -> ReadBack:
    """Check that each `tag -> sha256` reaches those bytes. A tag leading to other bytes or to
    none (the Hub's 400) is a failure; no answer (unreachable, 401/403/404: a mirror without
    the route, a private repo closed to the token) a warning. With `sleep`, the tags still
    failing are asked again, twice, `SETTLE` seconds apart (one wait per round, not per tag):
    the route may lag behind a fresh commit."""
    own = client is None
    http = client or httpx.Client(timeout=TIMEOUT)
    try:
        found = {tag: resolve(endpoint, repo, tag, token=token, client=http) for tag in expected}
        for _ in range(2 if sleep is not None else 0):
            lagging = [
                tag
                for tag, got in found.items()
                if got.sha256 != expected[tag] and (got.sha256 or got.refused)
            ]
            if not lagging:
                break
            sleep(SETTLE)  # type: ignore[misc]
            for tag in lagging:
                found[tag] = resolve(endpoint, repo, tag, token=token, client=http)
        return _verdict(repo, expected, found)
    finally:
        if own:
            http.close()


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
    return Resolution(tag, sha256=digest.removeprefix("sha256:"), size=size, status=status)


def _message(response: httpx.Response) -> str:
    """The Hub's error text (JSON `error`, else the first line of the body), kept short."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        text = body["error"]
    else:
        text = (response.text.strip().splitlines() or [""])[0]
    return text[:200]


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
    ) -> None:
        """Ask the Hub for each uploaded GGUF's sha256 and compare with the local one."""
        checks = [
            op for op in mine if op.action == "verify" and (op.tag or "*") not in result.failures
        ]
        if not checks:
            return
        api = self.session.client(require_token=True)
        try:
            info = self.session.paths_info(api, [op.subject for op in checks], revision)
        except TargetUnavailable as exc:
            for op in checks:
                result.failures.setdefault(op.tag or "*", f"read back: {exc}")
            return
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
        if self.check_hf_co and revision is None:  # hf.co serves main, not a pull request
            landed = [op for op in checks if (op.tag or op.subject) in verified]
            self._read_back_hf_co([op for op in landed if op.details.get("kind") == "gguf"], result)
        for key, paths in verified.items():
            if key not in result.failures:
                record(
                    f"verify:{key}",
                    {"repo": self.repo_id, "files": paths, "revision": revision or "main"},
                )

    def _read_back_hf_co(self, ops: list[Operation], result: ApplyResult) -> None:
        """What `ollama run hf.co/<repo>:<tag>` pulls must be the bytes just verified: the Hub's
        registry route is asked (`read_back` below); a wrong or missing answer fails the
        tag, a route that does not answer is a warning."""
        owners = {tag: op.tag or "*" for op in ops for tag in self._hf_co_tags(op)}
        expected = {tag: sha for op in ops for tag, sha in self._hf_co_tags(op).items()}
        session = self.session
        verdict = read_back(
            session.endpoint, self.repo_id, expected, token=session.token, sleep=session.sleep
        )
        for tag, line in verdict.failures.items():  # the server's words: the token never
            owner, text = owners[tag], self.session.redact(f"huggingface: hf.co read back: {line}")
            before = result.failures.get(owner)
            result.failures[owner] = f"{before}; {text}" if before else text
        for line in verdict.warnings:
            console.warn(self.session.redact(f"huggingface: hf.co read back: {line}"))

    def _hf_co_tags(self, op: Operation) -> dict[str, str]:
        """The tags that must reach `op`'s file: its full file name (hub-docs ollama.md) and its
        quant label where no other file of the release shares it (publisher/huggingface/labels.py).
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
