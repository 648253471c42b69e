"""The Hub side of the seal: the repo's release-wide files, rendered from what the repo holds.

Per-tag work commits a tag's GGUF(s), sidecar(s) and its facts record `.publisher/tags/<TAG>.json`
together, from whichever machine verified them. The seal then reads the repo at ONE revision R
(`repo_info().sha`; the tree, the LFS sha256s, the card and the facts records at R), renders the
card (a row per file the repo holds, with the Hub's size and sha256 and the verify facts of a
record the Hub's own sha256 vouches for; tiers still to come listed unlinked), the side files,
`.eval_results` (rows whose `measured_on` tag is published at R) and, with `--prune`, deletions
of files no manifest tag names — and commits it all once with `create_commit(parent_commit=R)`.
If another commit landed in between, the Hub answers 412: the seal reads again at the new head,
renders again (the owner's hand-written card sections as they are now) and retries, a bounded
number of times with jittered backoff. Nothing changed: no commit.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher import console
from publisher.huggingface.commits import HubCommitter, LocalChange, Refused
from publisher.huggingface.plan import (
    SIDE_FILES,
    HubPlan,
    complete,
    git_blob_sha1,
    sha256_bytes,
    tag_paths,
)
from publisher.huggingface.records import RECORD_SCHEMA, RECORDS_DIR, record_path
from publisher.huggingface.session import CARD, TARGET, HubSession, Remote, http_status
from publisher.manifest import Release
from publisher.render.facts import FileFacts, TagFacts
from publisher.render.hub_labels import quant_label
from publisher.targets.base import SEAL_FAILURE, ApplyResult, Operation, Record

MAX_SEAL_TRIES = 6  # one read-render-commit, and five more after a 412
PARALLEL_READS = 8  # card and facts records read side by side (each a HEAD + GET round trip)
OWNED_ELSEWHERE = frozenset({".gitattributes"})  # the Hub's own files: never pruned


@dataclass
class SealRead:
    """The repo as the seal read it, all at one revision."""

    revision: str | None  # R: the head commit read (None: the repo has no commit yet)
    remote: Remote
    card: str | None = None
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # trusted, by tag
    published: dict[str, list[str]] = field(default_factory=dict)  # tag -> its paths at R


@dataclass
class SealPlan:
    """The seal's operations at R and what they send."""

    read: SealRead
    ops: list[Operation]
    hub_plan: HubPlan


class HubSeal:
    """Reads the repo at R, renders its release-wide files, commits them with parent_commit=R."""

    def __init__(
        self,
        session: HubSession,
        committer: HubCommitter,
        release: Release,
        *,
        prune: bool = False,
        extra_files: list[Path] | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.session = session
        self.committer = committer
        self.release = release
        self.prune = prune
        self.extra_names = {p.name for p in extra_files or []}
        self._jitter = jitter
        self._last: tuple[dict[str, str] | None, SealPlan] | None = None  # the last plan made

    # -----------------------------------------------------------------------------------------
    # Read

    def read(self, api: Any) -> SealRead:
        """The head R, then everything else at R: tree, LFS details, card, facts records."""
        revision = self.session.head(api)
        if revision is None:
            return SealRead(None, Remote(exists=False))
        tree = self.session.remote(api, [], revision)
        remote = Remote(
            exists=True,
            paths=tree.paths,
            info=self.session.paths_info(api, sorted(tree.paths), revision),
            revision=revision,
        )
        read = SealRead(revision, remote)
        for tag in self._hub_tags():
            paths = tag_paths(tag.file, remote.paths)
            if complete(paths) and all(_lfs(remote, p) for p in paths):
                read.published[tag.tag] = paths
        wanted = [t for t in read.published if record_path(t) in remote.paths]
        # the card and the records are independent reads at R: made side by side, each one
        # round trips (HEAD + GET) rather than all of them one after another
        with ThreadPoolExecutor(max_workers=PARALLEL_READS) as pool:
            card = (
                pool.submit(self.session.hub_card, api, revision) if CARD in remote.paths else None
            )
            raw = pool.map(lambda t: self.session.read_bytes(api, record_path(t), revision), wanted)
            records = dict(zip(wanted, raw, strict=True))
            read.card = card.result() if card is not None else None
        for tag, data in records.items():
            trusted = self._trusted(read, tag, data)
            if trusted is not None:
                read.records[tag] = trusted
        return read

    def _trusted(self, read: SealRead, tag: str, raw: bytes) -> dict[str, Any] | None:
        """A record is believed only when each file it names is at R with that very sha256 and
        size (the Hub's LFS facts): a stale record never describes other bytes."""
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.get("schema") != RECORD_SCHEMA:
            return None
        files = data.get("files")
        if not isinstance(files, list) or not files:
            return None
        named = set()
        for entry in files:
            lfs = _lfs(read.remote, str(entry.get("path"))) if isinstance(entry, dict) else None
            if lfs is None or lfs.sha256 != entry.get("sha256") or lfs.size != entry.get("size"):
                return None
            named.add(entry["path"])
        return data if named == set(read.published[tag]) else None

    def _hub_tags(self) -> list[Any]:
        return [t for t in self.release.tags if TARGET in t.targets]

    # -----------------------------------------------------------------------------------------
    # Render

    def facts(self, read: SealRead) -> dict[str, TagFacts]:
        """Per published tag: the Hub's size and sha256 of each file, quant from its record
        (else the Hub's own label of the file name)."""
        facts: dict[str, TagFacts] = {}
        for tag, paths in read.published.items():
            infos = [_lfs(read.remote, p) for p in paths]
            record = read.records.get(tag, {})
            quant = record.get("quant") or quant_label(paths[0])
            facts[tag] = TagFacts(
                status="ok",
                size=sum(i.size for i in infos if i is not None),
                quant=quant,
                files=tuple(FileFacts(p, i.sha256) for p, i in zip(paths, infos, strict=True) if i),
            )
        return facts

    def wanted(self, read: SealRead, side_files: dict[str, str] | None = None) -> dict[str, bytes]:
        """The release-wide files as they must be at R: card (merged over R's), side files,
        benchmark results of published tags."""
        from publisher.render.cards import render_card
        from publisher.render.eval_results import eval_results
        from publisher.render.markers import merge_sections
        from publisher.render.sidefiles import hf_side_files

        published = set(read.published)
        card = render_card(self.release, self.facts(read), published)
        if read.card is not None:
            source = f"{self.session.endpoint}/{self.session.repo_id}/{CARD}"
            card = merge_sections(read.card, card, source=source)
        side = hf_side_files(self.release) if side_files is None else side_files
        files = {name: text for name, text in side.items() if name in SIDE_FILES}
        files.update(eval_results(self.release, published))
        files[CARD] = card
        return {path: text.encode("utf-8") for path, text in files.items()}

    def named(self, read: SealRead, wanted: dict[str, bytes]) -> set[str]:
        """Every path a manifest tag (or the release) names, whether selected or published:
        what --prune never deletes."""
        names = set(wanted) | {CARD, *SIDE_FILES} | self.extra_names | OWNED_ELSEWHERE
        for tag in self._hub_tags():
            paths = tag_paths(tag.file, read.remote.paths) or [tag.file]
            names.update(paths)
            names.update(f"{p}.sha256" for p in paths)
            names.add(record_path(tag.tag))
        return names

    def plan(self, api: Any, side_files: dict[str, str] | None = None) -> SealPlan:
        """Read at R and compare: what the one seal commit would change. `side_files`: the
        rendered template/params/system (else rendered from the manifest here)."""
        read = self.read(api)
        wanted = self.wanted(read, side_files)
        made = self._made(read, wanted)
        self._last = (side_files, made)
        return made

    def _made(self, read: SealRead, wanted: dict[str, bytes]) -> SealPlan:
        """Each wanted file against the Hub's at R (card last), then what no tag names."""
        ops: list[Operation] = []
        for path, data in sorted(wanted.items(), key=lambda kv: kv[0] == CARD):
            ops.append(self._compare(read.remote, path, data))
        named = self.named(read, wanted)
        for path in sorted(read.remote.paths - named):
            if _ours(path):
                ops.append(self._extra(path))
        return SealPlan(read, ops, HubPlan("seal", ops, contents=wanted, remote=read.remote))

    def _still_current(self, api: Any, side_files: dict[str, str] | None) -> SealPlan | None:
        """The plan made before (`publish seal` plans, shows, then applies) while the repo's
        head is still the revision it read: one `repo_info` instead of reading it all again."""
        if self._last is None or self._last[0] != side_files:
            return None
        plan = self._last[1]
        if plan.read.revision is None or self.session.head(api) != plan.read.revision:
            return None
        return SealPlan(plan.read, list(plan.ops), plan.hub_plan)

    def _compare(self, remote: Remote, path: str, data: bytes) -> Operation:
        kind = "card" if path == CARD else "side"
        action = "update-card" if path == CARD else "upload-file"
        details: dict[str, Any] = {"kind": kind, "file_size": len(data)}
        info = remote.info.get(path)
        sha = sha256_bytes(data)
        if info is not None:
            same = (
                info.lfs.sha256 == sha
                if info.lfs is not None
                else info.blob_id == git_blob_sha1(data)
            )
            if same:
                details["remote"] = "same"
                return Operation(
                    TARGET,
                    "skip-file",
                    path,
                    "same bytes on the Hub",
                    size=0,
                    sha256=sha,
                    details=details,
                    kind="seal",
                )
            details["remote"] = "different"
            reason = "differs from the Hub"
        else:
            details["remote"] = "absent"
            reason = "not on the Hub" if remote.exists else "not on the Hub (the repo is new)"
        return Operation(
            TARGET, action, path, reason, size=len(data), sha256=sha, details=details, kind="seal"
        )

    def _extra(self, path: str) -> Operation:
        details = {"kind": "obsolete", "remote": "extra"}
        if self.prune:
            why = "no manifest tag names it (--prune)"
            return Operation(TARGET, "delete-file", path, why, details=details, kind="seal")
        why = "no manifest tag names it: kept (--prune deletes it)"
        return Operation(TARGET, "skip-file", path, why, details=details, kind="seal")

    # -----------------------------------------------------------------------------------------
    # Commit

    def apply(
        self,
        api: Any,
        result: ApplyResult,
        record: Record,
        side_files: dict[str, str] | None = None,
    ) -> SealPlan | None:
        """Read, render, commit once with parent_commit=R; on 412 again from the new head.
        A run with a failure so far prunes nothing (a retry may still need the files)."""
        for attempt in range(MAX_SEAL_TRIES):
            plan = self._still_current(api, side_files) if attempt == 0 else None
            plan = plan or self.plan(api, side_files)
            if result.failures and any(op.action == "delete-file" for op in plan.ops):
                console.warn(
                    f"huggingface: --prune skipped: files no manifest tag names stay on "
                    f"{self.session.repo_id} until every upload has landed"
                )
                plan.ops = [op for op in plan.ops if op.action != "delete-file"]
            changes = [
                op for op in plan.ops if op.action in ("upload-file", "update-card", "delete-file")
            ]
            for op in plan.ops:
                if op.action == "skip-file" and op.details.get("remote") == "same":
                    facts = self.committer.file_facts(op, plan.hub_plan)
                    record(f"file:{op.subject}", {**facts, "outcome": "already there"})
            if not changes:
                return plan
            message = _message(changes)
            try:
                info = self.committer.commit(
                    api,
                    changes,
                    plan.hub_plan,
                    message,
                    _description(changes),
                    None,
                    parent_commit=plan.read.revision,
                )
            except (LocalChange, Refused) as exc:
                result.failures[SEAL_FAILURE] = f"huggingface: {exc}"
                return plan
            except Exception as exc:
                if http_status(exc) != 412 or attempt == MAX_SEAL_TRIES - 1:
                    raise
                wait = (0.5 + self._jitter()) * min(2.0**attempt, 30.0)
                console.warn(
                    f"huggingface: {self.session.repo_id} moved since revision "
                    f"{str(plan.read.revision)[:12]} (HTTP 412); reading it again in {wait:.1f} s "
                    f"({attempt + 1}/{MAX_SEAL_TRIES - 1})"
                )
                self.session.sleep(wait)
                continue
            self.committer.recorded(changes, plan.hub_plan, info, message, result, record)
            return plan
        return None


def _lfs(remote: Remote, path: str) -> Any:
    info = remote.info.get(path)
    return info.lfs if info is not None else None


def _ours(path: str) -> bool:
    """Files publisher puts in a repo: the seal may prune them; anything else is the owner's."""
    name = path.rsplit("/", 1)[-1]
    if path.startswith(f"{RECORDS_DIR}/"):
        return path.endswith(".json") and path.count("/") == 2
    if path.startswith(".eval_results/"):
        return path.endswith(".yaml") and path.count("/") == 1
    return "/" not in path and (name.endswith((".gguf", ".gguf.sha256")) or name in SIDE_FILES)


def _message(changes: list[Operation]) -> str:
    added = [op.subject for op in changes if op.action != "delete-file"]
    removed = [op.subject for op in changes if op.action == "delete-file"]
    parts = []
    if added:
        parts.append("update " + ", ".join(added[:6]) + (" …" if len(added) > 6 else ""))
    if removed:
        parts.append("remove " + ", ".join(removed[:6]) + (" …" if len(removed) > 6 else ""))
    return "publisher seal: " + "; ".join(parts)


def _description(changes: list[Operation]) -> str:
    return "\n".join(f"- {op.action} {op.subject}" for op in changes)
