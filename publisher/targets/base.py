"""The one small interface every destination implements (hatch-style publisher plugins).

A target never parses manifests or files: it receives a `ReleasePayload` (typed, measured,
rendered), answers a plan of typed `Operation`s (huggingface_hub commit-API style: built first,
executed second), and executes that plan, recording each finished step through `Record`.

Two kinds of work, so many runs on many machines converge (issue 20):

- **per-tag** (`plan_tags` / `apply_tags`, operations of kind `"tag"`): only what belongs to the
  selected tags — Ollama blobs and the tag's manifest; on the Hub the GGUF(s), sidecar(s) and
  the tag's facts record. Never the card, side files, `latest`, and never a prune.
- **the seal** (`plan_seal` / `apply_seal`, kind `"seal"`): everything release-wide, computed
  from what the remote holds (not from this run's files): the card, side files, benchmark
  results, `latest`, `--prune`. Idempotent: a second seal changes nothing.

`plan_all` / `apply_all` run both kinds in order (per-tag first). `describe(plan)` is the
target's own JSON view of its plan, `remote_tags()` says per manifest tag whether the remote
holds it (no local GGUF needed). `TargetOptions` is what the command line says to every
target; the table of targets is `publisher.pipeline.targets.TARGETS`.
Adding a destination means one new module with one class implementing `Target`, plus one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from publisher.manifest import ParameterValue, Release, Tag

Action = Literal[
    "upload-blob",  # send bytes the remote lacks
    "skip-blob",  # already there with the same digest
    "skip-tag",  # the tag is already published with the same manifest digest
    "create-tag",  # create/update a tag (Ollama model, registry manifest)
    "push-tag",  # push a created tag to its registry
    "move-latest",  # point `latest` at a new digest
    "delete-local",  # free what this run put in a local store
    "upload-file",  # add or replace a file in a repo (HF)
    "skip-file",  # file already there with the same content
    "delete-file",  # remove a file no manifest tag names (HF, --prune, in the seal)
    "update-card",  # the model card, always last
    "verify",  # read back and compare digests
]

Kind = Literal["tag", "seal"]
"""Per-tag work (only the tag's own things) or the release-wide seal."""

SEAL_FAILURE = "seal"
"""The `ApplyResult.failures` key of a failed seal: it withholds no tag's per-tag record."""


@dataclass(frozen=True)
class TargetOptions:
    """What the command line tells every target (typed: no `getattr` defaults anywhere)."""

    force: bool = False  # re-put a current tag; replace a Hub path holding different bytes
    prune: bool = False  # the seal deletes files of the repo no manifest tag names
    create_pr: bool = False  # Hub: commit to a pull request instead of main
    skip_remote_verify: bool = False  # do not read pushed things back from the remote
    keep_local: bool = False  # daemon: keep what this run created in the local store
    ollama_registry: str | None = None  # push straight to this OCI registry (no daemon)


@dataclass(frozen=True)
class LocalFile:
    """One file on disk as measured before publishing (a GGUF or one shard of a split set)."""

    path: Path
    size: int
    sha256: str | None  # None only in a dry run over files that were not hashed

    @property
    def digest(self) -> str | None:
        """The OCI/Ollama spelling `sha256:<hex>`."""
        return f"sha256:{self.sha256}" if self.sha256 else None


@dataclass(frozen=True)
class TagPayload:
    """Everything a target needs to publish one tag (a verified tag's shapes:
    `publisher.gguf.checks.TagReport`)."""

    tag: Tag
    files: list[LocalFile]  # empty when the GGUF is missing (dry run only)
    parameters: dict[str, ParameterValue]  # manifest parameters merged with the tag's override
    modelfile: str  # the rendered Modelfile (FROM points at files[0])
    template: str | None  # the Go chat template text, or None when a renderer is used
    renderer: str | None
    parser: str | None
    license: str | None
    system: str | None
    quant: str | None = None  # the quant type verify measured in the GGUF (e.g. "Q4_K_M")
    experts: int | None = None  # the expert count verify read from the GGUF header

    @property
    def present(self) -> bool:
        """The GGUF (every shard) exists locally."""
        return bool(self.files)


@dataclass(frozen=True)
class ReleasePayload:
    """The whole release, ready to publish: the manifest, each tag, the rendered repo files."""

    release: Release
    tags: list[TagPayload]
    hf_files: dict[str, str] = field(default_factory=dict)  # README.md, template, params, system
    ollama_page: str = ""

    def payload(self, tag_name: str) -> TagPayload:
        """The payload of one tag."""
        return next(p for p in self.tags if p.tag.tag == tag_name)


@dataclass(frozen=True)
class Operation:
    """One step of a plan, with the reason a person reads in the plan table."""

    target: str
    action: Action
    subject: str  # a digest, a path in a repo, a model:tag
    reason: str
    tag: str | None = None
    size: int = 0  # bytes this step sends (0 for metadata-only steps)
    sha256: str | None = None
    details: dict[str, Any] = field(default_factory=dict)  # "blocked": planned, cannot run
    kind: Kind = "tag"  # per-tag work or the seal

    def to_json(self) -> dict[str, Any]:
        """Plain data for --json."""
        return asdict(self)


Record = Callable[[str, dict[str, Any]], None]
"""`record(step_key, data)`: persist a finished step in the ledger (no secrets in `data`)."""


@dataclass
class ApplyResult:
    """What an apply did: bytes sent, per-tag failures (the run goes on), remote facts to record."""

    bytes_uploaded: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # tag (or "*") -> one clear line
    facts: dict[str, Any] = field(default_factory=dict)  # e.g. manifest digests per tag

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class TagStatus:
    """Where one tag stands on a target, for `publish status`."""

    target: str
    tag: str
    state: Literal["up-to-date", "missing", "drifted", "extra", "unknown"]
    detail: str = ""


@dataclass(frozen=True)
class RemoteTag:
    """Whether a manifest tag is published on a target, read from the remote alone."""

    tag: str
    published: bool
    detail: str = ""
    digests: tuple[str, ...] = ()  # sha256 hex of the remote files / the manifest digest


class Target(Protocol):
    """A destination. `plan_*` may read the remote (never write); `apply_*` execute a plan."""

    name: str
    destination: str  # the remote it writes, e.g. "ollama 127.0.0.1:5000/ns/model": a run lock

    def preflight(self) -> None:
        """Raise TargetUnavailable (exit 3) unless the target is reachable and we may write."""
        ...

    def plan_tags(self, payload: ReleasePayload, *, online: bool) -> list[Operation]:
        """Per-tag operations (kind "tag") that bring the selected tags' own things to the
        remote; offline: assume nothing."""
        ...

    def apply_tags(
        self,
        payload: ReleasePayload,
        plan: list[Operation],
        record: Record,
        result: ApplyResult | None = None,
    ) -> ApplyResult:
        """Execute per-tag operations in a safe order, calling `record` after each finished step;
        fill and return `result` (given: the caller sees the bytes sent even if interrupted)."""
        ...

    def plan_seal(self, payload: ReleasePayload, *, online: bool) -> list[Operation]:
        """Release-wide operations (kind "seal") computed from what the remote holds."""
        ...

    def apply_seal(
        self,
        payload: ReleasePayload,
        plan: list[Operation],
        record: Record,
        result: ApplyResult | None = None,
    ) -> ApplyResult:
        """Execute the seal (re-reading the remote as it needs: it may have moved since)."""
        ...

    def describe(self, plan: list[Operation]) -> dict[str, Any]:
        """This target's part of the `--json` summary, from its plan."""
        ...

    def remote_tags(self) -> list[RemoteTag]:
        """Per manifest tag of this target, whether the remote holds it (no local file read)."""
        ...

    def status(self, payload: ReleasePayload) -> list[TagStatus]:
        """Compare the remote with the payload, tag by tag."""
        ...

    def ledger_status(self, steps: dict[str, dict[str, Any]]) -> list[TagStatus]:
        """Compare what the ledger's section for this target says the remote holds (`steps`,
        keyed like `push:Q4_K_M`) with what it holds now: the ledger must never be stale."""
        ...


def plan_all(target: Target, payload: ReleasePayload, *, online: bool) -> list[Operation]:
    """Both kinds of a target's plan: per-tag operations, then the seal's."""
    return [*target.plan_tags(payload, online=online), *target.plan_seal(payload, online=online)]


def apply_all(
    target: Target,
    payload: ReleasePayload,
    plan: list[Operation],
    record: Record,
    result: ApplyResult | None = None,
) -> ApplyResult:
    """Per-tag work first, then the seal (which reads the remote the per-tag work left)."""
    result = ApplyResult() if result is None else result
    target.apply_tags(payload, [op for op in plan if op.kind == "tag"], record, result)
    target.apply_seal(payload, [op for op in plan if op.kind == "seal"], record, result)
    return result


def ledger_row(target: str, subject: str, recorded: object, remote: str | None) -> TagStatus:
    """One thing the ledger says a remote holds (`recorded`, a digest) against what it holds."""
    where = f"ledger/{target}"
    if not isinstance(recorded, str):
        return TagStatus(where, subject, "unknown", "the ledger entry holds no digest")
    if remote is None:
        return TagStatus(where, subject, "missing", f"ledger says {recorded[:19]}, remote has none")
    if remote == recorded:
        return TagStatus(where, subject, "up-to-date", f"ledger and remote: {recorded[:19]}")
    return TagStatus(
        where, subject, "drifted", f"ledger says {recorded[:19]}, remote {remote[:19]}"
    )
