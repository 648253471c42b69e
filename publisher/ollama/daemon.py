"""Publishing to Ollama through the local daemon: the target and its plan.

Each tag goes through: the GGUF's sha256 (from the payload, computed by the digest cache) →
`HEAD /api/blobs` and a streamed upload of what is missing → `POST /api/create` with exactly the
manifest's template/renderer/parser/parameters/license/system → read back with `/api/show` and
an exact comparison (Ollama's create adds `stop <turn|>` and a gemma4 renderer by itself:
server/create.go, docs/design-notes.md note 2) → `POST /api/push`, successful only when the
stream ends in `success` → the pushed manifest read back from the registry and compared layer by
layer → `DELETE /api/delete` of what this run created (the daemon's store would otherwise keep a
copy of every GGUF pushed). `latest` moves right after its source tag.

This module decides what should happen (preflight, plan, status, the ledger's check); the steps
that do it are `daemon_steps`, the daemon's HTTP API is `daemon_api`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from publisher import console
from publisher.architectures import FORCED_DEFAULTS
from publisher.errors import PublisherError, TargetUnavailable, UsageError
from publisher.manifest import check_ollama_model_name
from publisher.ollama.daemon_api import DaemonAPI
from publisher.ollama.daemon_steps import DaemonSteps
from publisher.ollama.readback import RemoteCheck, RemoteReader
from publisher.ollama.registry import DEFAULT_HOST as DEFAULT_REGISTRY_HOST
from publisher.ollama.registry import alias_state, is_ollama_host, repository_of
from publisher.ollama.show import parse_version
from publisher.targets.base import (
    ApplyResult,
    Kind,
    Operation,
    Record,
    ReleasePayload,
    RemoteTag,
    TagPayload,
    TagStatus,
    TargetOptions,
    ledger_row,
)
from publisher.urls import daemon_host

if TYPE_CHECKING:
    from publisher.manifest import Release

DEFAULT_HOST = "http://127.0.0.1:11434"
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
        self.repository = repository_of(self.model)
        self.destination = f"ollama {urlsplit(self.registry_url).netloc}/{self.repository}"
        self.timeout = timeout
        self.api = DaemonAPI(self.host, timeout)
        self.steps = DaemonSteps(self, self.api)
        self._remote: RemoteReader | None = None
        # plan_tags' whole plan, which plan_seal right after it takes its share of (plan_all)
        self._planned: tuple[ReleasePayload, bool, list[Operation]] | None = None

    @classmethod
    def from_options(cls, release: Release, options: TargetOptions) -> OllamaTarget:
        """The factory of the table of targets (publisher/pipeline/targets.py)."""
        return cls(
            release,
            keep_local=options.keep_local,
            skip_remote_verify=options.skip_remote_verify,
            registry=options.ollama_registry,
        )

    def close(self) -> None:
        """Close the daemon and registry connections."""
        self.api.close()
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
            return self.api.version()
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

    def plan_tags(self, payload: ReleasePayload, *, online: bool) -> list[Operation]:
        """Operations per tag in apply order; online it asks the daemon and the registry."""
        self.check_daemon_can_honour(payload)
        ops = self._plan(payload, online=online)
        self._planned = (payload, online, ops)
        return [op for op in ops if op.kind == "tag"]

    def plan_seal(self, payload: ReleasePayload, *, online: bool) -> list[Operation]:
        """`latest`, moved only after its source tag is published (apply checks the source's
        push; a source that failed leaves `latest` where it was), then the daemon's store freed.
        The daemon builds `latest` from the source's GGUF, so a seal without it moves nothing."""
        self.check_daemon_can_honour(payload)
        planned, self._planned = self._planned, None
        if planned is not None and planned[0] is payload and planned[1] == online:
            ops = planned[2]  # plan_tags just read the daemon and the registry: not twice
        else:
            ops = self._plan(payload, online=online)
        return [op for op in ops if op.kind == "seal"]

    def describe(self, plan: list[Operation]) -> dict[str, Any]:
        """The model and every planned operation, for `--json`."""
        return {"model": self.config.model, "operations": [op.to_json() for op in plan]}

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
            ops += [replace(op, kind="seal") for op in latest_ops]
            # the source's store is freed after `latest` was made from it (a copy, not a resend)
            kind: Kind = "seal" if latest_ops else "tag"
            if not self.keep_local:
                if any(op.action == "move-latest" for op in latest_ops):
                    ops.append(
                        self._op("delete-local", "latest", "free the daemon's store", kind="seal")
                    )
                if not published and tp.present:
                    ops.append(
                        self._op(
                            "delete-local",
                            tp.tag.tag,
                            "free the daemon's store (--keep-local keeps it)",
                            kind=kind,
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
            if online and f.digest and self.api.has_blob(f.digest):
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

    def apply_tags(
        self,
        payload: ReleasePayload,
        plan: list[Operation],
        record: Record,
        result: ApplyResult | None = None,
    ) -> ApplyResult:
        """Execute the plan in order (daemon_steps); a failed tag skips its remaining steps."""
        return self.steps.apply(payload, plan, record, result)

    def apply_seal(
        self,
        payload: ReleasePayload,
        plan: list[Operation],
        record: Record,
        result: ApplyResult | None = None,
    ) -> ApplyResult:
        """Move `latest` (only once its source is published in the registry) and free the
        store; the steps keep what this run created, so `latest` is a copy of its source."""
        result = ApplyResult() if result is None else result
        source = self.config.latest
        moving = [op for op in plan if op.action == "move-latest"]
        if moving and source and source not in result.failures:
            published = self.skip_remote_verify or self.remote().manifest_digest(source)
            if not published:
                result.failures["latest"] = f"not moved: its source {source} is not published"
                plan = [op for op in plan if op.action == "delete-local"]
        elif moving:
            result.failures["latest"] = f"not moved: its source {source} failed"
            plan = [op for op in plan if op.action == "delete-local"]
        if not plan:
            return result
        before = dict(result.facts)
        self.steps.apply(payload, plan, record, result, continuing=True)
        if before:  # the per-tag facts stay; the seal's tags join them
            old, new = before.get("tags", {}), result.facts.get("tags", {})
            tags = {t: {**old.get(t, {}), **new.get(t, {})} for t in {*old, *new}}
            key = "local_store_peak_bytes"
            peak = max(before.get(key, 0), result.facts.get(key, 0))
            result.facts = {**before, **result.facts, "tags": tags, key: peak}
        return result

    def remote_tags(self) -> list[RemoteTag]:
        """Per manifest tag sent to Ollama: does the registry hold a manifest for it?"""
        rows = []
        for tag in self._manifest_tags():
            digest = self.remote().manifest_digest(tag)
            if digest is None:
                rows.append(RemoteTag(tag, False, "no manifest in the registry"))
            else:
                rows.append(RemoteTag(tag, True, digest, (digest,)))
        return rows

    def _manifest_tags(self) -> list[str]:
        return [t.tag for t in self.release.tags if "ollama" in t.targets]

    def create_local(self, tp: TagPayload, ref: str) -> None:
        """Create `ref` in the local daemon from the tag's GGUF (for `publish smoke --create`)."""
        self.steps.create_local(tp, ref)

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
        if not tp.present and tag != tp.tag.tag:  # `latest`: the source's manifest, or drifted
            state, detail = alias_state(self.remote().client, tag, tp.tag.tag)
            return TagStatus(self.name, tag, state, detail)  # type: ignore[arg-type]
        if not tp.present:  # another machine's tag: published when the registry holds it
            digest = self.remote().manifest_digest(tag)
            if digest is None:
                return TagStatus(self.name, tag, "missing", "no manifest in the registry")
            return TagStatus(
                self.name, tag, "up-to-date", f"{digest} (GGUF not here: not compared)"
            )
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
            rows.append(ledger_row(self.name, tag, entry.get("manifest_digest"), remote))
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
