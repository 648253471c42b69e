"""The Hugging Face Hub target: a GGUF repo kept equal to the manifest, one atomic commit per batch.

What it owns in the repo: every GGUF (each shard) under its file name with a `<file>.sha256`
sidecar, the side files `template` / `params` / `system` that `ollama run hf.co/…` reads, optional
extra files (an `imatrix.dat`), and the generated sections of `README.md` (hand-written sections
of the Hub's card survive an update). A file whose bytes the Hub already holds is never sent
again. The token comes from `HF_TOKEN` or huggingface_hub's token store and goes nowhere but
the HTTP client; preflight asks `whoami` before any upload. This module is the `Target` itself
— construction, apply's order, status; each step lives in its own module (`session`, `access`,
`plan`, `commits`, `readback`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from publisher import console
from publisher.digest import DigestCache
from publisher.errors import TargetUnavailable, UsageError
from publisher.huggingface.access import HubAccess
from publisher.huggingface.commits import (
    MAX_BYTES_PER_COMMIT,
    MAX_OPS_PER_COMMIT,
    HubCommitter,
)
from publisher.huggingface.plan import (
    SIDE_FILES,
    HubPlanner,
    Want,
    complete,
    plan_files,
    tag_paths,
)
from publisher.huggingface.readback import HubReadBack
from publisher.huggingface.seal import HubSeal
from publisher.huggingface.session import (
    CARD,
    TARGET,
    ApiFactory,
    HubSession,
    Remote,
    default_api,
    default_token,
    remote_errors,
    resolve_endpoint,
)
from publisher.manifest import Release
from publisher.render.hub_labels import hub_tags
from publisher.targets.base import (
    SEAL_FAILURE,
    ApplyResult,
    Kind,
    Operation,
    Record,
    ReleasePayload,
    RemoteTag,
    TagStatus,
    TargetOptions,
    ledger_row,
)


class HuggingFaceTarget:
    """Publish a release's GGUFs, sidecars, side files and card to one Hub repo.

    Explicit parts, each in its own module: the `session` (client, token, retries, reading),
    `access` (the preflight), `planner` (what the repo must hold → a `HubPlan`), `committer`
    (atomic commits) and `reader` (the read-back). A plan carries what apply needs."""

    name = TARGET

    def __init__(
        self,
        release: Release,
        *,
        prune: bool = False,
        create_pr: bool = False,
        force: bool = False,
        extra_files: Sequence[Path] = (),
        api_factory: ApiFactory = default_api,
        token_provider: Callable[[], str | None] = default_token,
        sleep: Callable[[float], None] = time.sleep,
        max_ops_per_commit: int = MAX_OPS_PER_COMMIT,
        max_bytes_per_commit: int = MAX_BYTES_PER_COMMIT,
        digests: DigestCache | None = None,
        check_hf_co: bool = False,
    ) -> None:
        if release.huggingface is None:
            raise UsageError(f"{release.source}: the manifest has no [huggingface] table")
        self.release = release
        self.config = release.huggingface
        self.repo_id = release.huggingface.repo
        self.endpoint = resolve_endpoint(release.huggingface.endpoint)
        self.destination = f"huggingface {urlsplit(self.endpoint).netloc}/{self.repo_id}"
        self.prune = prune
        self.create_pr = create_pr
        self.force = force
        # `[huggingface].extra_files` (e.g. imatrix.dat): relative paths are taken from the GGUF
        # folder, where llama-imatrix writes them beside the GGUFs
        declared = extra_files or release.huggingface.extra_files
        self.session = HubSession(
            self.endpoint,
            self.repo_id,
            api_factory=api_factory,
            token_provider=token_provider,
            sleep=sleep,
        )
        self.access = HubAccess(self.session)
        self.planner = HubPlanner(
            self.session,
            extra_files=[release.gguf_dir / Path(p) for p in declared],
            force=force,
            digests=digests,
        )
        self.committer = HubCommitter(
            self.session,
            digests=self.planner.digest_cache,
            create_pr=create_pr,
            max_ops=max_ops_per_commit,
            max_bytes=max_bytes_per_commit,
        )
        # file name → the Hub's quant label, where that label reaches this file alone
        unique = {h.file: h.label for h in hub_tags(release) if h.label_resolves}
        self.reader = HubReadBack(self.session, check_hf_co=check_hf_co, unique_labels=unique)
        self._repo_ready = False  # create_repo answered (exist_ok) in this run
        # GGUFs verified by per-tag work whose hf.co route is asked after the seal (which
        # writes the side files the route serves as the tag's side layers)
        self._hf_co_pending: list[Operation] = []
        self.sealer = HubSeal(
            self.session,
            self.committer,
            release,
            prune=prune,
            extra_files=self.planner.extra_files,
        )

    @property
    def check_hf_co(self) -> bool:
        """Whether apply reads back what `ollama run hf.co/…` reaches (a release does)."""
        return self.reader.check_hf_co

    @classmethod
    def from_options(cls, release: Release, options: TargetOptions) -> HuggingFaceTarget:
        """The factory of the table of targets: a release reads back what hf.co serves."""
        return cls(
            release,
            prune=options.prune,
            create_pr=options.create_pr,
            force=options.force,
            check_hf_co=not options.skip_remote_verify,
        )

    def preflight(self) -> None:
        """Exit 3 unless the token works and may write to the repo (huggingface/access.py)."""
        self.access.preflight()

    # -----------------------------------------------------------------------------------------
    # Plan

    def plan_tags(self, payload: ReleasePayload, *, online: bool) -> list[Operation]:
        """The selected tags' GGUFs and sidecars (and extra files) the Hub lacks."""
        return self.planner.plan(payload, "tag", online=online).ops

    def plan_seal(self, payload: ReleasePayload, *, online: bool) -> list[Operation]:
        """The release-wide files as the repo holds them now (huggingface/seal.py): card, side
        files, benchmark results, prune. Apply reads again: the per-tag work moves the repo."""
        if not online:
            return self.planner.plan(payload, "seal", online=False).ops
        api = self.session.client(require_token=False)
        return self.sealer.plan(api, _side_files(payload)).ops

    def describe(self, plan: list[Operation]) -> dict[str, Any]:
        """The repo and its files as the plan leaves them, for `--json`."""
        return {"repo": self.repo_id, "files": plan_files(plan)}

    # -----------------------------------------------------------------------------------------
    # Apply

    def apply_tags(
        self,
        payload: ReleasePayload,
        plan: list[Operation],
        record: Record,
        result: ApplyResult | None = None,
    ) -> ApplyResult:
        """Commit the tags' files in batches, then read back the GGUFs' sha256."""
        return self._apply(payload, "tag", plan, record, result)

    def apply_seal(
        self,
        payload: ReleasePayload,
        plan: list[Operation],
        record: Record,
        result: ApplyResult | None = None,
    ) -> ApplyResult:
        """Read the repo at its head R, render, commit once with parent_commit=R (412: again).
        `plan` is what was shown; the seal is computed anew from the repo as it is now."""
        result = ApplyResult() if result is None else result
        if self.create_pr:  # the seal reads and writes main; the PR's files are not there yet
            console.warn(
                f"huggingface: --create-pr: the seal of {self.repo_id} (card, side files) waits "
                "until the pull request is merged; run `publish seal` then"
            )
            return result
        if self.committer.stopped:
            line = f"huggingface: seal not attempted after: {self.committer.stopped}"
            result.failures.setdefault(SEAL_FAILURE, line)
            return result
        api = self.session.client(require_token=True)
        if console.state.quiet:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        if not self._ensure_repo(api, result):
            return result
        try:
            self.sealer.apply(api, result, record, _side_files(payload))
        except TargetUnavailable as exc:
            result.failures[SEAL_FAILURE] = f"huggingface: seal: {exc}"
        except remote_errors() as exc:
            result.failures[SEAL_FAILURE] = self.session.explain(exc, f"seal of {self.repo_id}")
        pending, self._hf_co_pending = self._hf_co_pending, []
        if pending:
            side = {name: text.encode("utf-8") for name, text in _side_files(payload).items()}
            self.reader.read_back_hf_co(pending, result, side)
        return result

    def _apply(
        self,
        payload: ReleasePayload,
        kind: Kind,
        plan: list[Operation],
        record: Record,
        result: ApplyResult | None = None,
    ) -> ApplyResult:
        """Create the repo, commit each tag's files (GGUFs, sidecars, facts record) in batches,
        read back the GGUFs. A tag whose GGUF path holds other bytes on the Hub is refused."""
        result = ApplyResult() if result is None else result  # filled as it goes
        mine = [op for op in plan if op.target == TARGET]
        if self.committer.stopped and mine:
            line = f"huggingface: not attempted after: {self.committer.stopped}"
            result.failures.setdefault("*", line)
            return result
        hub_plan = self.planner.materials(payload, kind)
        hub_plan.ops = mine
        for op in mine:
            if op.details.get("refused"):
                result.failures[op.tag or "*"] = f"huggingface: {op.subject}: {op.reason}"
        refused = {op.tag for op in mine if op.details.get("refused")}
        for op in mine:  # what the plan found already there is recorded as the Hub holds it
            if op.action == "skip-file" and op.details.get("remote") == "same":
                facts = self.committer.file_facts(op, hub_plan)
                record(f"file:{op.subject}", {**facts, "outcome": "already there"})
        uploads = [
            op
            for op in mine
            if op.action in ("upload-file", "update-card") and op.tag not in refused
        ]
        for op in uploads:
            if op.details.get("missing"):
                result.failures[op.tag or "*"] = f"huggingface: {op.subject} is missing locally"
        uploads = [op for op in uploads if not op.details.get("missing")]
        checks = [op for op in mine if op.tag not in refused]
        if not uploads:
            self._hf_co_pending += self.reader.read_back(checks, hub_plan, None, result, record)
            return result
        api = self.session.client(require_token=True)
        if console.state.quiet:
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
        if not self._ensure_repo(api, result):
            return result
        batches = self.committer.batches(uploads)
        revision = self.committer.commit_all(api, batches, hub_plan, result, record, None)
        self._hf_co_pending += self.reader.read_back(checks, hub_plan, revision, result, record)
        return result

    def _ensure_repo(self, api: Any, result: ApplyResult) -> bool:
        """Create the repo if it is not there (once per target: per-tag work and seal share it)."""
        if self._repo_ready:
            return True
        try:
            self.session.retrying(
                "create_repo",
                lambda: api.create_repo(
                    self.repo_id, private=self.config.private, exist_ok=True, repo_type="model"
                ),
            )
        except remote_errors() as exc:
            result.failures["*"] = self.session.explain(exc, f"creating {self.repo_id}")
            return False
        self._repo_ready = True
        return True

    # -----------------------------------------------------------------------------------------
    # Status

    def status(self, payload: ReleasePayload) -> list[TagStatus]:
        """Per tag: up-to-date / missing / drifted on the Hub; GGUFs the manifest lacks: extra;
        then each release-wide file the seal would change (none when the seal is done)."""
        api = self.session.client(require_token=False)
        wants = self.planner.wants(payload)
        remote = self.session.remote(api, [w.path_in_repo for w in wants if w.kind == "gguf"])
        states: list[TagStatus] = []
        for tag_payload in payload.tags:
            if TARGET not in tag_payload.tag.targets:
                continue
            tag_wants = [w for w in wants if w.tag == tag_payload.tag.tag and w.kind == "gguf"]
            here = bool(tag_payload.files)
            states.append(self._tag_status(tag_payload.tag.tag, tag_wants, remote, here=here))
        wanted = {w.path_in_repo for w in wants}
        for path in sorted(remote.paths - wanted):
            if path.endswith(".gguf"):
                states.append(TagStatus(TARGET, path, "extra", "on the Hub, not in the manifest"))
        return states + self._seal_status(api, payload)

    def _seal_status(self, api: Any, payload: ReleasePayload) -> list[TagStatus]:
        """The release-wide files (card, side files, results) against what the seal would write
        from the repo as it is now: a lost or stale card (a run killed before its seal, a
        `--create-pr` run, a seal given up after 412s) is a row that is not up to date."""
        rows = []
        for op in self.sealer.plan(api, _side_files(payload)).ops:
            if op.action in ("upload-file", "update-card"):
                state = "missing" if op.details.get("remote") == "absent" else "drifted"
                detail = f"{op.reason}: `publish seal` writes it"
                rows.append(TagStatus(TARGET, op.subject, state, detail))
        return rows

    def remote_tags(self) -> list[RemoteTag]:
        """Per manifest tag sent to the Hub: does `main` hold its GGUF (every shard)? Read from
        the Hub alone (the tree and LFS sha256s), so any machine can ask, GGUFs or not."""
        api = self.session.client(require_token=False)
        tree = self.session.remote(api, [])
        tags = [t for t in self.release.tags if TARGET in t.targets]
        paths = {t.tag: tag_paths(t.file, tree.paths) for t in tags}
        info = self.session.paths_info(api, sorted({p for ps in paths.values() for p in ps}), None)
        rows = []
        for tag in tags:
            found = paths[tag.tag]
            digests = tuple(info[p].lfs.sha256 for p in found if p in info and info[p].lfs)
            if complete(found) and len(digests) == len(found):
                rows.append(RemoteTag(tag.tag, True, ", ".join(found), digests))
            elif found:
                rows.append(RemoteTag(tag.tag, False, f"incomplete on the Hub: {', '.join(found)}"))
            else:
                rows.append(RemoteTag(tag.tag, False, f"{tag.file} is not on the Hub"))
        return rows

    def ledger_status(self, steps: dict[str, dict[str, Any]]) -> list[TagStatus]:
        """Each `file:PATH` the ledger holds for this repo against the Hub's file now: LFS
        files by sha256, plain files by git blob id; a deleted file must be absent."""
        files = {
            key.partition(":")[2]: entry
            for key, entry in steps.items()
            if key.startswith("file:")
            and entry.get("repo") == self.repo_id
            and entry.get("endpoint", self.endpoint) == self.endpoint  # none: an older ledger
        }
        if not files:
            return []
        remote = self.session.remote(self.session.client(require_token=False), list(files))
        rows = []
        for path, entry in sorted(files.items()):
            info = remote.info.get(path)
            if entry.get("removed"):
                state = "up-to-date" if info is None else "drifted"
                rows.append(TagStatus(f"ledger/{TARGET}", path, state, "deleted by a prune"))
            elif info is not None and release_wide(path) and info.blob_id != entry.get("blob_id"):
                # any machine's seal rewrites the card and side files: a later one is no drift
                detail = "release-wide: rewritten by a later seal (publish seal checks it)"
                rows.append(TagStatus(f"ledger/{TARGET}", path, "up-to-date", detail))
            elif info is not None and info.lfs is None:
                rows.append(ledger_row(TARGET, path, entry.get("blob_id"), info.blob_id))
            else:
                remote_sha = info.lfs.sha256 if info is not None else None
                rows.append(ledger_row(TARGET, path, entry.get("sha256"), remote_sha))
        return rows

    def _tag_status(
        self, tag: str, wants: list[Want], remote: Remote, *, here: bool = True
    ) -> TagStatus:
        present = [w for w in wants if w.path_in_repo in remote.info]
        if not present:
            return TagStatus(TARGET, tag, "missing", f"{wants[0].path_in_repo} is not on the Hub")
        if len(present) < len(wants):
            absent = ", ".join(w.path_in_repo for w in wants if w not in present)
            return TagStatus(TARGET, tag, "drifted", f"missing on the Hub: {absent}")
        unknown = [w for w in wants if w.sha256 is None]
        if not here:
            # another machine's tag: the Hub holds its file(s), which is what published means
            detail = f"{len(wants)} file(s) on the Hub (GGUF not here: not compared)"
            return TagStatus(TARGET, tag, "up-to-date", detail)
        if unknown:
            return TagStatus(TARGET, tag, "unknown", "no local sha256 to compare with the Hub")
        info = remote.info
        differ = [
            w.path_in_repo for w in wants if not self.planner.same(w, info[w.path_in_repo])[0]
        ]
        if differ:
            return TagStatus(TARGET, tag, "drifted", f"sha256 differs: {', '.join(differ)}")
        return TagStatus(TARGET, tag, "up-to-date", f"{len(wants)} file(s), sha256 equal")


def _side_files(payload: ReleasePayload) -> dict[str, str]:
    """The rendered template/params/system of the payload (rendered from the manifest)."""
    return {name: text for name, text in payload.hf_files.items() if name in SIDE_FILES}


def release_wide(path: str) -> bool:
    """A file the seal writes from the whole release (card, side files, benchmark results),
    not a tag's: whichever machine sealed last wrote the version the Hub holds."""
    return path == CARD or path in SIDE_FILES or path.startswith(".eval_results/")
