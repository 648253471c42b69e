"""Publishing to Ollama through the local daemon: upload blobs, create, read back, push, verify.

Each tag goes through: the GGUF's sha256 (from the payload, computed by the digest cache) →
`HEAD /api/blobs` and a streamed upload of what is missing → `POST /api/create` with exactly the
manifest's template/renderer/parser/parameters/license/system → read back with `/api/show` and
an exact comparison (Ollama adds `stop <turn|>` and a gemma4 renderer by itself — prior failures
6 and 7) → `POST /api/push`, successful only when the stream ends in `success` → the pushed
manifest read back from the registry and compared layer by layer → `DELETE /api/delete` of what
this run created (bounded disk, prior failure 5). `latest` moves right after its source tag.

The `ollama` client is used where it covers the call (push, copy, delete); plain HTTP on the same
httpx client where it falls short (version, HEAD/POST blobs, create with renderer/parser, show
with renderer/parser/system).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import ollama

from publisher import console
from publisher.architectures import FORCED_DEFAULTS
from publisher.errors import CheckFailed, PublisherError, TargetUnavailable, UsageError
from publisher.files import open_regular
from publisher.manifest import check_ollama_model_name
from publisher.ollama.readback import RemoteCheck, RemoteReader
from publisher.ollama.registry import DEFAULT_HOST as DEFAULT_REGISTRY_HOST
from publisher.ollama.registry import is_ollama_host
from publisher.ollama.show import (
    compare_show,
    parse_version,
)
from publisher.progress import byte_progress
from publisher.targets.base import (
    ApplyResult,
    LocalFile,
    Operation,
    Record,
    ReleasePayload,
    TagPayload,
    TagStatus,
    ledger_row,
)
from publisher.urls import daemon_host

if TYPE_CHECKING:
    from publisher.manifest import Release

DEFAULT_HOST = "http://127.0.0.1:11434"
UPLOAD_CHUNK = 1024 * 1024
# /api/create takes `renderer`/`parser` since v0.12.0 (api/types.go, "add qwen3-coder tool
# support"); gemma4 GGUFs are understood since v0.20.0 ("Add support for gemma4").
MIN_VERSION_RENDERER_PARSER = (0, 12, 0)
MIN_VERSION_REQUIRES = (0, 14, 0)  # /api/create `requires`, /api/show `requires` (api/types.go)
MIN_VERSION_ARCH = {"gemma4": (0, 20, 0)}
KEY_HINT = (
    "pushes are signed with the key of the user running `ollama serve` "
    "(~/.ollama/id_ed25519 of that user; /usr/share/ollama/.ollama/id_ed25519.pub for the Linux "
    "service), and that public key must be added at https://ollama.com/settings/keys"
)


class StepFailed(Exception):
    """One step of one tag failed; the message is the one clear line the report shows."""

    def __init__(self, message: str, *, sent: int = 0) -> None:
        super().__init__(message)
        self.sent = sent  # bytes the failed step had already sent: they count as uploaded


# ---------------------------------------------------------------------------------------------
# The target


@dataclass
class _TagState:
    failed: bool = False
    created: bool = False
    pushed: bool = False
    remote_digest: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


class OllamaTarget:
    """The Ollama destination: one local daemon (`OLLAMA_HOST`), one model, many tags."""

    name = "ollama"

    def __init__(
        self,
        release: Release,
        *,
        host: str | None = None,
        keep_local: bool = False,
        skip_remote_verify: bool = False,
        registry: str | None = None,
        insecure: bool | None = None,
        timeout: float = 30.0,
    ) -> None:
        if release.ollama is None:
            raise UsageError(f"{release.source}: the manifest has no [ollama] table")
        self.release = release
        self.config = release.ollama
        self.host = daemon_host(host, DEFAULT_HOST)
        self.keep_local = keep_local
        self.skip_remote_verify = skip_remote_verify
        self.registry_url, self.model = _registry_and_model(
            self.config.model, registry or self.config.registry, insecure
        )
        self.insecure = self.registry_url.startswith("http://")
        parts = self.model.split("/")[-2:]  # drop the host; Ollama's default namespace
        self.repository = "/".join(parts) if len(parts) == 2 else f"library/{parts[0]}"
        self.destination = f"ollama {urlsplit(self.registry_url).netloc}/{self.repository}"
        self.timeout = timeout
        # one httpx client per target: the one inside the ollama client, reused for plain HTTP
        self.client = ollama.Client(
            host=self.host, timeout=httpx.Timeout(timeout, read=None, connect=10.0)
        )
        self.http: httpx.Client = self.client._client
        self._remote: RemoteReader | None = None
        self._created: set[str] = set()
        self._preexisting: set[str] | None = None

    @classmethod
    def from_options(cls, release: Release, options: Any) -> OllamaTarget:
        """The factory `publish release` uses (`options` is a release.ReleaseOptions)."""
        return cls(
            release,
            keep_local=bool(getattr(options, "keep_local", False)),
            skip_remote_verify=bool(getattr(options, "skip_remote_verify", False)),
            registry=getattr(options, "ollama_registry", None),
        )

    def close(self) -> None:
        """Close the daemon and registry connections."""
        self.client.close()
        if self._remote is not None:
            self._remote.close()

    def ref(self, tag: str) -> str:
        """The full daemon name of a tag, e.g. `mannix/gemma4-98e:Q4_K_M`."""
        return f"{self.model}:{tag}"

    # ---- preflight --------------------------------------------------------------------------

    def preflight(self) -> None:
        """Raise TargetUnavailable (exit 3) unless daemon, version, name and registry are fit."""
        self._check_name()
        version = self._daemon_version()
        self._check_version(version)
        if self.skip_remote_verify:
            console.warn(
                f"ollama: --skip-remote-verify: pushed tags of {self.model} will NOT be read back "
                "from the registry, and tags already published cannot be skipped"
            )
        else:
            problem = self.remote().reachable()
            if problem:
                raise TargetUnavailable(
                    f"registry {self.registry_url} is not reachable ({problem}); it is read to "
                    "verify every push — use --skip-remote-verify for offline use"
                )
        console.info(f"ollama: daemon {self.host} (v{version}), model {self.model}; {KEY_HINT}")

    def _check_name(self) -> None:
        try:
            check_ollama_model_name(self.model)
        except ValueError as exc:
            raise TargetUnavailable(f"{self.release.source}: ollama.model: {exc}") from None
        parts = self.model.split("/")
        if is_ollama_host(self.registry_url) and len(parts) < 2:
            raise TargetUnavailable(
                f"{self.release.source}: ollama.model = {self.config.model!r} has no namespace; "
                "ollama.com only accepts pushes to <your-namespace>/<model>"
            )

    def _daemon_version(self) -> str:
        try:
            resp = self.http.get("/api/version", timeout=10.0)
            resp.raise_for_status()
            return str(resp.json().get("version", ""))
        except (httpx.HTTPError, ValueError) as exc:
            raise TargetUnavailable(
                f"Ollama daemon not reachable at {self.host} ({type(exc).__name__}: {exc}); start "
                f"it with `ollama serve` or set OLLAMA_HOST=http://host:port. Note: {KEY_HINT}"
            ) from None

    def _check_version(self, version: str) -> None:
        parsed = parse_version(version)
        needed: list[tuple[tuple[int, int, int], str]] = []
        if self.config.renderer or self.config.parser:
            needed.append((MIN_VERSION_RENDERER_PARSER, "RENDERER/PARSER in /api/create"))
        if self.config.requires:
            needed.append((MIN_VERSION_REQUIRES, "REQUIRES in /api/create"))
        arch = self.release.model.architecture
        if arch in MIN_VERSION_ARCH:
            needed.append((MIN_VERSION_ARCH[arch], f"{arch} GGUFs"))
        if parsed is None or parsed == (0, 0, 0):
            console.warn(f"ollama: daemon at {self.host} reports version {version!r}; not checked")
            return
        for minimum, why in needed:
            if parsed < minimum:
                raise TargetUnavailable(
                    f"Ollama at {self.host} is v{version}; this release needs "
                    f"v{'.'.join(map(str, minimum))} or newer for {why} — upgrade Ollama"
                )

    def remote(self) -> RemoteReader:
        """The registry reader for this model (created on first use)."""
        if self._remote is None:
            self._remote = RemoteReader(
                self.registry_url, self.repository, insecure=self.insecure, release=self.release
            )
        return self._remote

    # ---- plan -------------------------------------------------------------------------------

    def _tags(self, payload: ReleasePayload) -> list[TagPayload]:
        return [p for p in payload.tags if "ollama" in p.tag.targets]

    def plan(self, payload: ReleasePayload, *, online: bool) -> list[Operation]:
        """Operations per tag in apply order; online it asks the daemon and the registry."""
        self.check_daemon_can_honour(payload)
        return self._plan(payload, online=online)

    def check_daemon_can_honour(self, payload: ReleasePayload) -> None:
        """Refuse a release the daemon would silently change: it forces its own renderer, parser
        and `stop <turn|>` on architectures in FORCED_DEFAULTS when renderer or parser is empty
        (server/create.go), and a renderer makes Ollama ignore the TEMPLATE (server/prompt.go)."""
        arch = self.release.model.architecture
        if arch not in FORCED_DEFAULTS or not self._tags(payload):
            return
        if self.config.renderer and self.config.parser:
            return
        what = "the TEMPLATE would be ignored" if self.config.template else "the published model"
        raise UsageError(
            f"{self.release.source}: [ollama] declares renderer={self.config.renderer!r}, "
            f"parser={self.config.parser!r}: `ollama create` fills both in with {arch!r} for "
            f"{arch} GGUFs (and adds `stop <turn|>` when no stop is given), so {what} would not "
            "be what the manifest says. Set [ollama] registry to push directly, or declare "
            f'renderer = "{arch}" and parser = "{arch}"'
        )

    def _plan(self, payload: ReleasePayload, *, online: bool) -> list[Operation]:
        ops: list[Operation] = []
        remote = online and not self.skip_remote_verify
        latest = self.config.latest
        tags = self._tags(payload)
        for tp in tags:
            check = self._remote_check(tp) if remote and tp.present else None
            published = check is not None and check.state == "up-to-date"
            if published:
                assert check is not None
                ops.append(
                    self._op(
                        "verify",
                        tp.tag.tag,
                        f"already published: {check.detail}",
                        details={"manifest_digest": check.manifest_digest},
                    )
                )
            else:
                why = f"registry: {check.detail}" if check else "not checked"
                ops += self._publish_ops(tp, online=online, why=why)
            latest_ops = (
                self._latest_ops(tp, check, online=online, remote=remote)
                if (tp.tag.tag == latest and tp.present)
                else []
            )
            ops += latest_ops
            if not self.keep_local:
                if any(op.action == "move-latest" for op in latest_ops):
                    ops.append(self._op("delete-local", "latest", "free the daemon's store"))
                if not published and tp.present:
                    ops.append(
                        self._op(
                            "delete-local",
                            tp.tag.tag,
                            "free the daemon's store (--keep-local keeps it)",
                        )
                    )
        if latest and latest not in {t.tag.tag for t in tags}:
            console.warn(f"ollama: latest = {latest!r} is not among this run's Ollama tags")
        return ops

    def _op(self, action: Any, tag: str, reason: str, **kw: Any) -> Operation:
        return Operation(self.name, action, kw.pop("subject", self.ref(tag)), reason, tag, **kw)

    def _remote_check(self, tp: TagPayload, tag: str | None = None) -> RemoteCheck:
        try:
            return self.remote().check(tp, tag)
        except PublisherError as exc:
            return RemoteCheck("unknown", f"could not read: {exc}")

    def _blob_ops(self, tp: TagPayload, tag: str, *, online: bool) -> list[Operation]:
        ops = []
        for f in tp.files:
            if online and f.digest and self._has_blob(f.digest):
                ops.append(
                    self._op(
                        "skip-blob",
                        tag,
                        "the daemon already has it",
                        subject=f.digest,
                        sha256=f.sha256,
                        details={"path": str(f.path)},
                    )
                )
            else:
                ops.append(
                    self._op(
                        "upload-blob",
                        tag,
                        f"{f.path.name} → daemon",
                        subject=f.digest or str(f.path),
                        size=f.size,
                        sha256=f.sha256,
                        details={"path": str(f.path)},
                    )
                )
        return ops

    def _publish_ops(self, tp: TagPayload, *, online: bool, why: str) -> list[Operation]:
        tag = tp.tag.tag
        if not tp.present:
            why = "GGUF missing: cannot publish (dry run only)"
            return [self._op("create-tag", tag, why, details={"blocked": True})]
        ops = self._blob_ops(tp, tag, online=online)
        ops.append(self._op("create-tag", tag, f"create from {tp.files[0].path.name} ({why})"))
        ops.append(
            self._op(
                "verify", tag, "read back /api/show and compare exactly", details={"stage": "local"}
            )
        )
        ops.append(
            self._op(
                "push-tag", tag, f"push to {self.registry_url}", size=sum(f.size for f in tp.files)
            )
        )
        if not self.skip_remote_verify:
            ops.append(
                self._op(
                    "verify",
                    tag,
                    "read the pushed manifest back from the registry",
                    details={"stage": "remote"},
                )
            )
        return ops

    def _latest_ops(
        self, tp: TagPayload, check: RemoteCheck | None, *, online: bool, remote: bool
    ) -> list[Operation]:
        source = tp.tag.tag
        details = {"source": source, "mode": "copy"}
        if check is not None and check.state == "up-to-date":
            if remote and self.remote().manifest_digest("latest") == check.manifest_digest:
                reason = f"latest already points at {source}"
                details = {**details, "manifest_digest": check.manifest_digest}
                return [self._op("verify", "latest", reason, details=details)]
            details["mode"] = "create"  # the source is not re-created: build latest from files
            ops = self._blob_ops(tp, "latest", online=online)
            return [*ops, self._op("move-latest", "latest", f"latest → {source}", details=details)]
        return [
            self._op("move-latest", "latest", f"latest → {source} after its push", details=details)
        ]

    # ---- apply ------------------------------------------------------------------------------

    def apply(
        self,
        payload: ReleasePayload,
        plan: list[Operation],
        record: Record,
        result: ApplyResult | None = None,
    ) -> ApplyResult:
        """Execute the plan in order; a failed tag skips its remaining steps, the run goes on."""
        result = ApplyResult() if result is None else result  # filled as it goes
        states: dict[str, _TagState] = {}
        self._preexisting = self._local_models()
        held: dict[str, int] = {}
        peak = 0
        handlers: dict[str, Callable[[Operation, _TagState, ReleasePayload], int]] = {
            "upload-blob": self._do_blob,
            "create-tag": self._do_create,
            "verify": self._do_verify,
            "push-tag": self._do_push,
            "move-latest": self._do_latest,
            "delete-local": self._do_delete,
        }
        for op in plan:
            tag = op.tag or "*"
            state = states.setdefault(tag, _TagState())
            handler = handlers.get(op.action)
            if handler is None or (state.failed and op.action != "delete-local"):
                continue
            if op.action == "move-latest":
                source = states.get(op.details.get("source", ""), _TagState())
                if source.failed:
                    state.failed = True
                    result.failures[tag] = f"not moved: its source {op.details['source']} failed"
                    continue
                state.facts["source_digest"] = source.remote_digest
            try:
                result.bytes_uploaded += handler(op, state, payload)
            except StepFailed as exc:
                state.failed = True
                result.bytes_uploaded += exc.sent
                result.failures[tag] = str(exc)
                console.error(f"ollama {self.ref(tag)}: {exc}")
                continue
            except PublisherError as exc:
                state.failed = True
                result.failures[tag] = f"{op.action}: {exc}"
                console.error(f"ollama {self.ref(tag)}: {op.action}: {exc}")
                continue
            if op.action in ("create-tag", "move-latest") and state.created:
                held[tag] = _payload_bytes(payload, op.details.get("source") or tag)
                peak = max(peak, _distinct_bytes(held, payload, self.config.latest))
            elif op.action == "delete-local":
                held.pop(tag, None)
            record(_step_key(op), _record_facts(op, state))
        result.facts = {
            "tags": {t: s.facts for t, s in states.items() if s.facts},
            "local_store_peak_bytes": peak,
            "local_store_bytes_left": _distinct_bytes(held, payload, self.config.latest),
            "remote_verify": "skipped" if self.skip_remote_verify else "on",
        }
        if self.skip_remote_verify:
            console.warn("ollama: remote verification was SKIPPED (--skip-remote-verify)")
        return result

    # blobs ---------------------------------------------------------------------------------

    def _has_blob(self, digest: str) -> bool:
        try:
            resp = self.http.head(f"/api/blobs/{digest}")
        except httpx.HTTPError as exc:
            raise StepFailed(f"HEAD /api/blobs/{digest}: {type(exc).__name__}: {exc}") from None
        return resp.status_code == 200

    def _ensure_blobs(self, tp: TagPayload, label: str) -> int:
        sent = 0
        for f in tp.files:
            if f.digest is None:
                raise StepFailed(f"{f.path}: no sha256 (not hashed): cannot publish")
            if not self._has_blob(f.digest):
                sent += self._upload(f, label)
        return sent

    def _upload(self, f: LocalFile, label: str) -> int:
        sent = 0

        with byte_progress(f"ollama {label}: {f.path.name}", f.size) as advance:

            def chunks() -> Iterator[bytes]:
                nonlocal sent
                with open_regular(f.path, "GGUF") as handle:
                    while piece := handle.read(UPLOAD_CHUNK):
                        sent += len(piece)
                        advance(len(piece))
                        yield piece

            try:
                resp = self.http.post(
                    f"/api/blobs/{f.digest}",
                    content=chunks(),
                    headers={
                        "Content-Length": str(f.size),
                        "Content-Type": "application/octet-stream",
                    },
                )
            except (httpx.HTTPError, OSError) as exc:
                raise StepFailed(
                    f"upload of {f.path.name} failed after {sent} of {f.size} bytes: "
                    f"{type(exc).__name__}: {exc}",
                    sent=sent,
                ) from None
        if resp.status_code not in (200, 201):
            raise StepFailed(
                f"upload of {f.path.name}: HTTP {resp.status_code} {_error_of(resp)}", sent=sent
            )
        return sent

    def _do_blob(self, op: Operation, state: _TagState, payload: ReleasePayload) -> int:
        tp = payload.payload(op.details.get("source") or _tag_of(op, self.config.latest))
        f = next(x for x in tp.files if x.digest == op.subject)
        if self._has_blob(op.subject):
            state.facts.setdefault("blobs", {})[op.subject] = "present"
            return 0
        sent = self._upload(f, op.tag or "")
        state.facts.setdefault("blobs", {})[op.subject] = f"uploaded {sent} bytes"
        return sent

    # create + read back --------------------------------------------------------------------

    def create_local(self, tp: TagPayload, ref: str) -> None:
        """Create `ref` in the local daemon from the tag's GGUF (for `publish smoke --create`)."""
        try:
            self._create(tp, ref, _TagState())
        except StepFailed as exc:
            raise CheckFailed(f"create {ref}: {exc}") from None

    def _create_request(self, tp: TagPayload, ref: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": ref,
            "files": {f.path.name: f.digest for f in tp.files},
            "parameters": dict(tp.parameters),
            "stream": True,
        }
        for key in ("template", "renderer", "parser", "license", "system"):
            value = getattr(tp, key)
            if value:
                body[key] = value
        if self.config.requires:
            body["requires"] = self.config.requires
        return body

    def _create(self, tp: TagPayload, ref: str, state: _TagState) -> int:
        sent = self._ensure_blobs(tp, ref)  # the plan said so, but ask again: cheap and safe
        if self._preexisting is not None and ref.lower() in self._preexisting:
            console.warn(f"ollama: {ref} existed before this run: it is replaced and kept")
        last = self._stream("create", "/api/create", self._create_request(tp, ref))
        if last != "success":
            raise StepFailed(f"create: stream ended with {last!r}, not 'success'")
        self._created.add(ref)
        state.created = True
        state.facts["local_digest"] = self._local_models().get(ref.lower())
        return sent

    def _do_create(self, op: Operation, state: _TagState, payload: ReleasePayload) -> int:
        tp = payload.payload(op.tag or "")
        if not tp.present:
            raise StepFailed("create: the GGUF is missing")
        return self._create(tp, self.ref(tp.tag.tag), state)

    def _read_back(self, tp: TagPayload, ref: str) -> None:
        try:
            resp = self.http.post("/api/show", json={"model": ref}, timeout=self.timeout)
        except httpx.HTTPError as exc:
            raise StepFailed(f"read back: {type(exc).__name__}: {exc}") from None
        if resp.status_code != 200:
            raise StepFailed(f"read back: HTTP {resp.status_code} {_error_of(resp)}")
        try:
            show = resp.json()
        except ValueError:
            raise StepFailed(
                f"read back: /api/show answered non-JSON: {resp.text[:200]!r}"
            ) from None
        if not isinstance(show, dict):
            raise StepFailed(f"read back: /api/show answered {type(show).__name__}, not an object")
        problems = compare_show(
            show,
            tp,
            architecture=self.release.model.architecture,
            experts=self.release.model.experts,
            requires=self.config.requires,
        )
        if problems:
            raise StepFailed("read back differs: " + "; ".join(problems))

    def _do_verify(self, op: Operation, state: _TagState, payload: ReleasePayload) -> int:
        stage = op.details.get("stage")
        if stage == "local":
            self._read_back(payload.payload(op.tag or ""), op.subject)
            state.facts["read_back"] = "equal"
        elif stage == "remote":
            self._verify_remote(payload.payload(op.tag or ""), op.tag or "", state)
        return 0

    def _verify_remote(self, tp: TagPayload, tag: str, state: _TagState) -> None:
        check = self.remote().check(tp, tag)
        if check.state != "up-to-date":
            raise StepFailed(f"registry check after push: {check.state}: {check.detail}")
        state.remote_digest = check.manifest_digest
        state.facts["remote_manifest"] = check.manifest_digest

    # push ----------------------------------------------------------------------------------

    def _push(self, ref: str, state: _TagState) -> None:
        last: str | None = None
        layers: dict[str, int] = {}
        done: dict[str, int] = {}
        with byte_progress(f"ollama push {ref}", None) as advance:
            try:
                for part in self.client.push(ref, insecure=self.insecure, stream=True):
                    last = part.status
                    if part.digest and part.total:
                        layers[part.digest] = part.total
                        delta = (part.completed or 0) - done.get(part.digest, 0)
                        done[part.digest] = part.completed or 0
                        advance(max(delta, 0))
            except ollama.ResponseError as exc:
                raise StepFailed(f"push: the daemon reported: {exc.error}") from None
            except (httpx.HTTPError, ConnectionError, ValueError) as exc:
                raise StepFailed(
                    f"push: the stream broke off after {last!r}: {type(exc).__name__}: {exc}"
                ) from None
        if last != "success":
            raise StepFailed(f"push: stream ended with {last!r}, not 'success'")
        state.pushed = True
        state.facts["pushed_layers"] = layers

    def _do_push(self, op: Operation, state: _TagState, payload: ReleasePayload) -> int:
        self._push(op.subject, state)
        return 0

    # latest --------------------------------------------------------------------------------

    def _do_latest(self, op: Operation, state: _TagState, payload: ReleasePayload) -> int:
        source = op.details["source"]
        tp = payload.payload(source)
        ref, src_ref = self.ref("latest"), self.ref(source)
        sent = 0
        if op.details.get("mode") == "copy" and src_ref in self._created:
            try:
                self.client.copy(src_ref, ref)
            except (ollama.ResponseError, httpx.HTTPError, ConnectionError) as exc:
                raise StepFailed(f"copy {src_ref} → {ref}: {_exc_line(exc)}") from None
            self._created.add(ref)
            state.created = True
        else:
            sent = self._create(tp, ref, state)
        self._read_back(tp, ref)
        self._push(ref, state)
        if not self.skip_remote_verify:
            self._verify_remote(tp, "latest", state)
            want = state.facts.pop("source_digest", None) or self.remote().manifest_digest(source)
            if state.remote_digest != want:
                raise StepFailed(f"latest is {state.remote_digest}, {source} is {want}")
        state.facts.pop("source_digest", None)
        state.facts["source"] = source
        return sent

    # delete --------------------------------------------------------------------------------

    def _do_delete(self, op: Operation, state: _TagState, payload: ReleasePayload) -> int:
        ref = op.subject
        if ref not in self._created:
            return 0  # never touch what this run did not create
        if self._preexisting is not None and ref.lower() in self._preexisting:
            state.facts["kept"] = "existed before this run"
            return 0
        try:
            self.client.delete(ref)
        except (ollama.ResponseError, httpx.HTTPError, ConnectionError) as exc:
            raise StepFailed(f"delete {ref}: {_exc_line(exc)}") from None
        self._created.discard(ref)
        state.facts["deleted_local"] = True
        return 0

    # daemon plumbing -----------------------------------------------------------------------

    def _local_models(self) -> dict[str, str]:
        """Local model name → manifest digest (GET /api/tags); names as the daemon spells them."""
        try:
            resp = self.http.get("/api/tags", timeout=self.timeout)
            resp.raise_for_status()
            models = resp.json().get("models") or []
        except (httpx.HTTPError, ValueError):
            return {}
        return {
            str(m.get("name") or m.get("model")).lower(): str(m.get("digest", "")) for m in models
        }

    def _stream(self, what: str, path: str, body: dict[str, Any]) -> str | None:
        """POST and read NDJSON status lines; an `{"error"}` line or HTTP error → StepFailed."""
        last: str | None = None
        try:
            with self.http.stream("POST", path, json=body) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise StepFailed(f"{what}: HTTP {resp.status_code} {_error_of(resp)}")
                for line in resp.iter_lines():
                    if not line.strip():
                        continue
                    part = json.loads(line)
                    if not isinstance(part, dict):
                        raise ValueError(f"not a JSON object: {line[:200]!r}")
                    if part.get("error"):
                        raise StepFailed(f"{what}: the daemon reported: {part['error']}")
                    last = part.get("status", last)
        except httpx.HTTPError as exc:
            raise StepFailed(f"{what}: stream broke off after {last!r}: {_exc_line(exc)}") from None
        except ValueError as exc:
            raise StepFailed(f"{what}: unreadable reply line: {exc}") from None
        return last

    # ---- status -----------------------------------------------------------------------------

    def status(self, payload: ReleasePayload) -> list[TagStatus]:
        """Each tag (and latest) as the registry has it; `unknown` when it cannot be read."""
        out: list[TagStatus] = []
        for tp in self._tags(payload):
            out.append(self._status_one(tp, tp.tag.tag))
            if tp.tag.tag == self.config.latest:
                out.append(self._status_one(tp, "latest"))
        return out

    def _status_one(self, tp: TagPayload, tag: str) -> TagStatus:
        if self.skip_remote_verify:
            return TagStatus(self.name, tag, "unknown", "remote reading is off")
        if not tp.present:
            return TagStatus(self.name, tag, "unknown", "GGUF missing locally: nothing to compare")
        check = self._remote_check(tp, tag)
        state = check.state if check.state in ("up-to-date", "missing", "drifted") else "unknown"
        return TagStatus(self.name, tag, state, check.detail)  # type: ignore[arg-type]

    def ledger_status(self, steps: dict[str, dict[str, Any]]) -> list[TagStatus]:
        """Each tag's registry digest as the ledger last recorded it (`verify-remote:TAG`,
        `latest:latest`) against the registry now; entries for another model are not ours."""
        rows = []
        for key, entry in sorted(steps.items()):
            step, _, tag = key.partition(":")
            if step not in ("verify-remote", "latest") or entry.get("model") != self.ref(tag):
                continue
            remote = self.remote().manifest_digest(tag)
            rows.append(ledger_row(self.name, tag, entry.get("manifest"), remote))
        return rows


# ---------------------------------------------------------------------------------------------
# helpers


def _registry_and_model(model: str, registry: str | None, insecure: bool | None) -> tuple[str, str]:
    """(registry base URL, daemon model name): an explicit registry becomes the name's host."""
    parts = model.split("/")
    if registry:
        scheme = "http" if insecure else "https"
        url = registry if "://" in registry else f"{scheme}://{registry}"
        host = urlsplit(url).netloc
        if len(parts) == 3 and parts[0] != host:
            raise UsageError(f"ollama.model {model!r} names host {parts[0]!r}, registry {url!r}")
        name = model if len(parts) == 3 else f"{host}/{model}"
        return url.rstrip("/"), name
    if len(parts) == 3:
        return f"{'http' if insecure else 'https'}://{parts[0]}", model
    return f"https://{DEFAULT_REGISTRY_HOST}", model


def _tag_of(op: Operation, latest: str | None) -> str:
    return latest if op.tag == "latest" and latest else op.tag or ""


def _payload_bytes(payload: ReleasePayload, tag: str) -> int:
    try:
        return sum(f.size for f in payload.payload(tag).files)
    except StopIteration:
        return 0


def _distinct_bytes(held: dict[str, int], payload: ReleasePayload, latest: str | None) -> int:
    """Bytes of distinct GGUF blobs held (latest shares its source's blob)."""
    tags = {latest if t == "latest" and latest else t for t in held}
    return sum(_payload_bytes(payload, t) for t in tags)


def _error_of(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("error") or resp.text).strip()[:300]
    except ValueError:
        return resp.text.strip()[:300]


def _exc_line(exc: BaseException) -> str:
    if isinstance(exc, ollama.ResponseError):
        return str(exc.error)
    return f"{type(exc).__name__}: {exc}"


def _step_key(op: Operation) -> str:
    step = {
        "upload-blob": "blob",
        "create-tag": "create",
        "push-tag": "push",
        "move-latest": "latest",
        "delete-local": "delete",
    }.get(op.action, op.action)
    if op.action == "verify":  # without a stage: already published, recorded as its check
        step = f"verify-{op.details.get('stage') or 'remote'}"
        if op.tag == "latest" and not op.details.get("stage"):
            step = "latest"
    suffix = f":{op.sha256}" if op.action == "upload-blob" else ""
    return f"{step}:{op.tag}{suffix}"


def _record_facts(op: Operation, state: _TagState) -> dict[str, Any]:
    facts: dict[str, Any] = {"model": op.subject if ":" in op.subject else None}
    if op.action == "upload-blob":
        facts = {"digest": op.subject, "size": op.size}
    elif op.action == "create-tag":
        facts["local_manifest"] = state.facts.get("local_digest")
    elif op.action == "push-tag":
        facts["layers"] = sorted(state.facts.get("pushed_layers", {}))
    elif op.action == "move-latest":
        facts.update(source=op.details.get("source"), manifest=state.remote_digest)
    elif op.action == "verify":  # a skip records the digest the plan found in the registry
        manifest = state.remote_digest or op.details.get("manifest_digest")
        facts.update(stage=op.details.get("stage"), manifest=manifest, reason=op.reason)
        if op.tag == "latest" and not op.details.get("stage"):
            facts["source"] = op.details.get("source")
    return facts
