"""The daemon target's apply steps: blob upload, create, read-back, push, latest, delete.

Kept apart from the plan (`daemon.py`, what should happen and why) and the wire
(`daemon_api.py`): this module runs a plan tag by tag — a failed tag skips its remaining steps,
the run goes on — tracks what this run created (only that is ever deleted) and how much of the
daemon's store it holds, and says what the ledger records for each finished step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from publisher import console
from publisher.errors import CheckFailed, PublisherError
from publisher.ollama.daemon_api import DaemonAPI, StepFailed
from publisher.ollama.show import compare_show
from publisher.targets.base import ApplyResult, Operation, Record, ReleasePayload, TagPayload

if TYPE_CHECKING:
    from publisher.ollama.daemon import OllamaTarget


@dataclass
class TagState:
    """How one tag (or `latest`) stands during a run."""

    failed: bool = False
    created: bool = False
    pushed: bool = False
    remote_digest: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)


class DaemonSteps:
    """Runs a daemon plan; `created` and `preexisting` keep deletes to what this run made."""

    def __init__(self, target: OllamaTarget, api: DaemonAPI) -> None:
        self.target = target
        self.api = api
        self.created: set[str] = set()
        self.preexisting: set[str] | None = None

    def apply(
        self,
        payload: ReleasePayload,
        plan: list[Operation],
        record: Record,
        result: ApplyResult | None = None,
        *,
        continuing: bool = False,
    ) -> ApplyResult:
        """Execute the plan in order; a failed tag skips its remaining steps, the run goes on.
        `continuing`: the seal after this run's per-tag work (what existed before is known)."""
        target = self.target
        latest = target.config.latest
        result = ApplyResult() if result is None else result  # filled as it goes
        states: dict[str, TagState] = {}
        if not continuing or self.preexisting is None:
            self.preexisting = set(self.api.local_models())
        held: dict[str, int] = {}
        peak = 0
        handlers: dict[str, Callable[[Operation, TagState, ReleasePayload], None]] = {
            "upload-blob": self._do_blob,
            "create-tag": self._do_create,
            "verify": self._do_verify,
            "push-tag": self._do_push,
            "move-latest": self._do_latest,
            "delete-local": self._do_delete,
        }
        for op in plan:
            tag = op.tag or "*"
            state = states.setdefault(tag, TagState())
            handler = handlers.get(op.action)
            if handler is None or (state.failed and op.action != "delete-local"):
                continue
            if op.action == "move-latest":
                source = states.get(op.details.get("source", ""), TagState())
                if source.failed:
                    state.failed = True
                    result.failures[tag] = f"not moved: its source {op.details['source']} failed"
                    continue
                state.facts["source_digest"] = source.remote_digest
            sent_before = self.api.bytes_sent
            try:
                handler(op, state, payload)
            except StepFailed as exc:
                state.failed = True
                result.failures[tag] = str(exc)
                console.error(f"ollama {target.ref(tag)}: {exc}")
                continue
            except PublisherError as exc:
                state.failed = True
                result.failures[tag] = f"{op.action}: {exc}"
                console.error(f"ollama {target.ref(tag)}: {op.action}: {exc}")
                continue
            finally:  # what went over the wire counts, whatever the step's outcome
                result.bytes_uploaded += self.api.bytes_sent - sent_before
            if op.action in ("create-tag", "move-latest") and state.created:
                held[tag] = _payload_bytes(payload, op.details.get("source") or tag)
                peak = max(peak, _distinct_bytes(held, payload, latest))
            elif op.action == "delete-local":
                held.pop(tag, None)
            record(step_key(op), record_facts(op, state))
        result.facts = {
            "tags": {t: s.facts for t, s in states.items() if s.facts},
            "local_store_peak_bytes": peak,
            "local_store_bytes_left": _distinct_bytes(held, payload, latest),
            "remote_verify": "skipped" if target.skip_remote_verify else "on",
        }
        if target.skip_remote_verify:
            console.warn("ollama: remote verification was SKIPPED (--skip-remote-verify)")
        return result

    # blobs ---------------------------------------------------------------------------------

    def _ensure_blobs(self, tp: TagPayload, label: str) -> None:
        for f in tp.files:
            if f.digest is None:
                raise StepFailed(f"{f.path}: no sha256 (not hashed): cannot publish")
            if not self.api.has_blob(f.digest):
                self.api.upload(f, label)

    def _do_blob(self, op: Operation, state: TagState, payload: ReleasePayload) -> None:
        tp = payload.payload(op.details.get("source") or _tag_of(op, self.target.config.latest))
        f = next(x for x in tp.files if x.digest == op.subject)
        if self.api.has_blob(op.subject):
            state.facts.setdefault("blobs", {})[op.subject] = "present"
            return
        sent = self.api.upload(f, op.tag or "")
        state.facts.setdefault("blobs", {})[op.subject] = f"uploaded {sent} bytes"

    # create + read back --------------------------------------------------------------------

    def create_local(self, tp: TagPayload, ref: str) -> None:
        """Create `ref` in the local daemon from the tag's GGUF (for `publish smoke --create`)."""
        try:
            self.create(tp, ref, TagState())
        except StepFailed as exc:
            raise CheckFailed(f"create {ref}: {exc}") from None

    def create_request(self, tp: TagPayload, ref: str) -> dict[str, Any]:
        """The /api/create body: exactly the manifest's template, renderer, parser, parameters,
        license, system and requires, with the GGUF(s) by digest."""
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
        requires = self.target.config.requires
        if requires:
            body["requires"] = requires
        return body

    def create(self, tp: TagPayload, ref: str, state: TagState) -> None:
        """Upload what the daemon lacks (counted in the API's `bytes_sent`) and create `ref`."""
        self._ensure_blobs(tp, ref)  # the plan said so, but ask again: cheap and safe
        if self.preexisting is not None and ref.lower() in self.preexisting:
            console.warn(f"ollama: {ref} existed before this run: it is replaced and kept")
        last = self.api.stream("create", "/api/create", self.create_request(tp, ref))
        if last != "success":
            raise StepFailed(f"create: stream ended with {last!r}, not 'success'")
        self.created.add(ref)
        state.created = True
        state.facts["local_digest"] = self.api.local_models().get(ref.lower())

    def _do_create(self, op: Operation, state: TagState, payload: ReleasePayload) -> None:
        tp = payload.payload(op.tag or "")
        if not tp.present:
            raise StepFailed("create: the GGUF is missing")
        self.create(tp, self.target.ref(tp.tag.tag), state)

    def read_back(self, tp: TagPayload, ref: str) -> None:
        """/api/show of `ref` compared exactly with the payload (Ollama's create adds `stop
        <turn|>` and a gemma4 renderer by itself: server/create.go, design note 2)."""
        release = self.target.release
        problems = compare_show(
            self.api.show(ref),
            tp,
            architecture=release.model.architecture,
            experts=release.model.experts,
            requires=self.target.config.requires,
        )
        if problems:
            raise StepFailed("read back differs: " + "; ".join(problems))

    def _do_verify(self, op: Operation, state: TagState, payload: ReleasePayload) -> None:
        stage = op.details.get("stage")
        if stage == "local":
            self.read_back(payload.payload(op.tag or ""), op.subject)
            state.facts["read_back"] = "equal"
        elif stage == "remote":
            self._verify_remote(payload.payload(op.tag or ""), op.tag or "", state)

    def _verify_remote(self, tp: TagPayload, tag: str, state: TagState) -> None:
        check = self.target.remote().check(tp, tag)
        if check.state != "up-to-date":
            raise StepFailed(f"registry check after push: {check.state}: {check.detail}")
        state.remote_digest = check.manifest_digest
        state.facts["remote_manifest"] = check.manifest_digest

    # push ----------------------------------------------------------------------------------

    def _push(self, ref: str, state: TagState) -> None:
        state.facts["pushed_layers"] = self.api.push(ref, insecure=self.target.insecure)
        state.pushed = True

    def _do_push(self, op: Operation, state: TagState, payload: ReleasePayload) -> None:
        self._push(op.subject, state)

    # latest --------------------------------------------------------------------------------

    def _do_latest(self, op: Operation, state: TagState, payload: ReleasePayload) -> None:
        target = self.target
        source = op.details["source"]
        tp = payload.payload(source)
        ref, src_ref = target.ref("latest"), target.ref(source)
        if op.details.get("mode") == "copy" and src_ref in self.created:
            self.api.copy(src_ref, ref)
            self.created.add(ref)
            state.created = True
        else:
            self.create(tp, ref, state)
        self.read_back(tp, ref)
        self._push(ref, state)
        if not target.skip_remote_verify:
            self._verify_remote(tp, "latest", state)
            want = state.facts.pop("source_digest", None) or target.remote().manifest_digest(source)
            if state.remote_digest != want:
                raise StepFailed(f"latest is {state.remote_digest}, {source} is {want}")
        state.facts.pop("source_digest", None)
        state.facts["source"] = source

    # delete --------------------------------------------------------------------------------

    def _do_delete(self, op: Operation, state: TagState, payload: ReleasePayload) -> None:
        ref = op.subject
        if ref not in self.created:
            return  # never touch what this run did not create
        if self.preexisting is not None and ref.lower() in self.preexisting:
            state.facts["kept"] = "existed before this run"
            return
        self.api.delete(ref)
        self.created.discard(ref)
        state.facts["deleted_local"] = True


# ---------------------------------------------------------------------------------------------
# helpers


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


def step_key(op: Operation) -> str:
    """The ledger key of a finished step (`verify-remote:TAG`, `latest:latest`, …)."""
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


def record_facts(op: Operation, state: TagState) -> dict[str, Any]:
    """What the ledger keeps for a finished step (never a credential)."""
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
