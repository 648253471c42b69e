"""How the planned files reach the Hub: batches of atomic commits, progress, the ledger records.

Large files go first (extras, quant tiers, full precision), each GGUF with its sidecar; side
files and the card go together last; a batch stays under the Hub's advice on files per commit
and under a byte budget, so a failed commit costs little to redo. huggingface_hub is handed the
sha256 we already hold (only while the digest cache vouches for it), and every landed commit is
recorded in the ledger with the facts of its files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from publisher import console
from publisher.digest import DigestCache
from publisher.huggingface.plan import (
    HubPlan,
    git_blob_sha1,
    git_blob_sha1_file,
    sha256_bytes,
)
from publisher.huggingface.progress import library_progress
from publisher.huggingface.session import (
    TARGET,
    HubSession,
    first_line,
    http_status,
    is_repo_not_found,
    remote_errors,
)
from publisher.progress import transfer_progress
from publisher.targets.base import ApplyResult, Operation, Record

MAX_OPS_PER_COMMIT = 100  # the Hub's advice: keep commits well under a few hundred files
MAX_BYTES_PER_COMMIT = 50 * 1024**3  # a failed commit costs at most this much to redo
# the Hub stores a file of 10 MB or more in LFS, whatever its content: a smaller extra file (a
# text file) may be a plain git blob, which the Hub reports by its blob id only
REGULAR_BLOB_LIMIT = 10 * 1024 * 1024


class HubCommitter:
    """Apply's commits: batching, one create_commit per batch, recording what landed."""

    def __init__(
        self,
        session: HubSession,
        *,
        digests: Callable[[], DigestCache],
        create_pr: bool = False,
        max_ops: int = MAX_OPS_PER_COMMIT,
        max_bytes: int = MAX_BYTES_PER_COMMIT,
    ) -> None:
        self.session = session
        self.repo_id = session.repo_id
        self.create_pr = create_pr
        self._digests = digests  # the cache verify filled (it vouches for a sha256 handed over)
        self.max_ops = max(1, min(max_ops, MAX_OPS_PER_COMMIT))
        self._max_bytes = max_bytes
        self.stopped: str | None = None  # a credential failure: nothing more is attempted

    def batches(self, uploads: list[Operation]) -> list[list[Operation]]:
        """Large files first (extras, tiers, full precision), each GGUF with its sidecar; the
        side files and the card together in a last commit; ≤ max ops and max bytes per commit."""
        ordered = sorted(uploads, key=lambda op: tuple(op.details.get("order", (9, 0))))
        late = [op for op in ordered if op.details.get("kind") in ("side", "card")]
        early = [op for op in ordered if op not in late]
        groups: list[list[Operation]] = []
        for op in early:  # one group per tag (its shards and sidecars) or per extra file
            if groups and op.tag is not None and groups[-1][0].tag == op.tag:
                groups[-1].append(op)
            else:
                groups.append([op])
        batches: list[list[Operation]] = []
        for group in groups:
            for piece in chunks(group, self.max_ops):
                if batches and _fits(batches[-1], piece, self.max_ops, self._max_bytes):
                    batches[-1].extend(piece)
                else:
                    batches.append(list(piece))
        return batches + chunks(late, self.max_ops)

    def commit_all(
        self,
        api: Any,
        batches: list[list[Operation]],
        plan: HubPlan,
        result: ApplyResult,
        record: Record,
        revision: str | None,
    ) -> str | None:
        """Run each batch as one commit; a credential failure stops the rest, others go on.
        Returns the PR revision the commits went to (None: main)."""
        total = sum(op.size for batch in batches for op in batch)
        result.facts.setdefault(TARGET, {"repo": self.repo_id, "commits": [], "files": {}})
        with transfer_progress(f"huggingface: {self.repo_id}", total) as board:
            for number, batch in enumerate(batches, start=1):
                message, description = commit_message(batch)
                sent = [op.subject for op in batch if op.size]
                for op in batch:
                    if op.size:
                        board.expect(op.subject, op.size)
                try:
                    with library_progress(board, self._local_names(batch, plan)):
                        info = self.commit(api, batch, plan, message, description, revision)
                except (LocalChange, Refused) as exc:
                    _fail(result, batch, f"huggingface: {exc}")
                    continue
                except remote_errors() as exc:
                    line = self.session.explain(exc, f"commit {number}/{len(batches)} ({message})")
                    _fail(result, batch, line)
                    if http_status(exc) in (401, 403, 404) or is_repo_not_found(exc):
                        self.stopped = line
                        for rest in batches[number:]:
                            _fail(result, rest, f"huggingface: not attempted after: {line}")
                        break
                    continue
                if self.create_pr and revision is None:
                    revision = getattr(info, "pr_revision", None)
                self.recorded(batch, plan, info, message, result, record)
                board.finish(sent)  # small files went inline with the commit: count them now
        return revision

    def _local_names(self, batch: list[Operation], plan: HubPlan) -> dict[str, str]:
        """Local file -> name in the repo, for the files of `batch` sent from disk."""
        return {
            str(plan.locals[op.subject]): op.subject
            for op in batch
            if op.subject in plan.locals and op.action != "delete-file"
        }

    def commit(
        self,
        api: Any,
        batch: list[Operation],
        plan: HubPlan,
        message: str,
        description: str,
        revision: str | None,
        *,
        parent_commit: str | None = None,
    ) -> Any:
        """One atomic create_commit; operations are rebuilt on each retry (the API mutates them).
        With `parent_commit` the Hub refuses it (HTTP 412) if the branch moved since."""
        self._check_unchanged(batch, plan)

        def call() -> Any:
            operations = self._operations(batch, plan)
            try:
                return api.create_commit(
                    self.repo_id,
                    operations,
                    commit_message=message,
                    commit_description=description,
                    repo_type="model",
                    revision=revision,
                    create_pr=bool(self.create_pr and revision is None) or None,
                    parent_commit=parent_commit,
                )
            except RuntimeError as exc:  # a failed LFS upload, wrapped: its HTTP error decides
                if isinstance(exc.__cause__, remote_errors()):
                    raise exc.__cause__ from None
                raise
            except ValueError as exc:  # README.md metadata the Hub refused, a bad LFS answer
                first = first_line(str(exc)) or type(exc).__name__
                raise Refused(f"the Hub refused {message}: {first}") from None

        return self.session.retrying(f"commit ({message})", call)

    def _operations(self, batch: list[Operation], plan: HubPlan) -> list[Any]:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        ops: list[Any] = []
        for op in batch:
            if op.action == "delete-file":
                ops.append(CommitOperationDelete(path_in_repo=op.subject))
            elif op.subject in plan.contents and op.details.get("kind") not in ("gguf", "extra"):
                ops.append(
                    CommitOperationAdd(
                        path_in_repo=op.subject, path_or_fileobj=plan.contents[op.subject]
                    )
                )
            else:
                local = self._local(op, plan)
                add = CommitOperationAdd(path_in_repo=op.subject, path_or_fileobj=str(local))
                self._hand_over_sha256(add, op, local)
                ops.append(add)
        return ops

    def _hand_over_sha256(self, add: Any, op: Operation, local: Path) -> None:
        """Give huggingface_hub the sha256 we already have, so no byte of the file is hashed twice.

        Since huggingface_hub 1.20 `CommitOperationAdd(path)` reads only the first 512 bytes (the
        sample preupload needs) and hashes the whole file lazily, the first time
        `upload_info.sha256` is read (LFS batch, commit payload) — unless it was set before: that
        public setter is the supported hand-over, and the Xet path then passes the known sha256 to
        hf_xet instead of asking it to compute one. We hand it over only while the digest cache
        vouches for it (same size, mtime and inode as when hashed): a stale id would be committed
        as the file's LFS sha256 without anyone hashing the bytes. Not vouched for, the library
        hashes it itself and the read-back still compares with ours.
        """
        info = add.upload_info
        if op.sha256 is None or getattr(info, "is_hashed", True):
            return  # nothing known, or a huggingface_hub that already hashed it while building
        vouched = self._digests().lookup(local)
        if vouched is None:
            console.info(f"huggingface: {local.name}: not in the digest cache; hashing it again")
            return
        if vouched != op.sha256:
            raise LocalChange(f"{local} changed since the plan (sha256 {vouched[:12]}…)")
        info.sha256 = bytes.fromhex(op.sha256)

    def _local(self, op: Operation, plan: HubPlan) -> Path:
        local = plan.locals.get(op.subject)
        if local is None:
            raise LocalChange(f"{op.subject}: no local file in the payload")
        return local

    def _check_unchanged(self, batch: list[Operation], plan: HubPlan) -> None:
        """A file whose size changed since the plan is not sent (its sha256 would be stale)."""
        for op in batch:
            if op.details.get("kind") in ("gguf", "extra") and op.action != "delete-file":
                path = self._local(op, plan)
                try:
                    size = path.stat().st_size
                except OSError:
                    raise LocalChange(f"{path} disappeared since the plan") from None
                if size != op.details.get("file_size", op.size):
                    raise LocalChange(f"{path} changed since the plan (size {size})")

    def recorded(
        self,
        batch: list[Operation],
        plan: HubPlan,
        info: Any,
        message: str,
        result: ApplyResult,
        record: Record,
    ) -> None:
        """Record a landed commit and each file it holds (ledger and the run's facts)."""
        facts = result.facts.setdefault(TARGET, {"repo": self.repo_id, "commits": [], "files": {}})
        commits: list[dict[str, Any]] = facts["commits"]
        oid = str(getattr(info, "oid", "") or "")
        entry = {
            "repo": self.repo_id,
            "commit": oid,
            "url": str(getattr(info, "commit_url", "") or ""),
            "pr_url": getattr(info, "pr_url", None),
            "message": message,
            "files": {op.subject: sent(op, plan)[0] for op in batch if op.action != "delete-file"},
            "deleted": [op.subject for op in batch if op.action == "delete-file"],
        }
        record(f"commit:{oid or message}", entry)
        commits.append(entry)
        for op in batch:
            if op.action == "delete-file":
                record(f"file:{op.subject}", {**self._where(), "removed": True, "commit": oid})
                continue
            facts = self.file_facts(op, plan)
            record(f"file:{op.subject}", {**facts, "commit": oid})
            result.facts[TARGET]["files"][op.subject] = facts["sha256"]
            result.bytes_uploaded += op.size
        console.info(f"huggingface: committed {message} ({oid[:12]})")

    def file_facts(self, op: Operation, plan: HubPlan) -> dict[str, Any]:
        """What the ledger keeps for a file the Hub holds: sha256 and size, and for files it may
        store as plain git blobs (not LFS) — generated ones, small extra files — the git blob id
        it reports for them, which is what `ledger_status` compares such a file by."""
        sha256, size = sent(op, plan)
        facts: dict[str, Any] = {**self._where(), "sha256": sha256, "size": size}
        content = plan.contents.get(op.subject)
        kind = op.details.get("kind")
        if content is not None and kind not in ("gguf", "extra"):
            facts["blob_id"] = git_blob_sha1(content)
        elif kind == "extra" and size < REGULAR_BLOB_LIMIT and op.subject in plan.locals:
            facts["blob_id"] = git_blob_sha1_file(plan.locals[op.subject])
        return facts

    def _where(self) -> dict[str, str]:
        """Which Hub and repo a ledger entry is about: the same repo name on another endpoint
        (a mirror, a test Hub) is another remote, so `ledger_status` must not compare them."""
        return {"repo": self.repo_id, "endpoint": self.session.endpoint}


def sent(op: Operation, plan: HubPlan) -> tuple[str | None, int]:
    """sha256 and size of what was committed (a card re-merged at apply time may differ)."""
    content = plan.contents.get(op.subject)
    if content is not None and op.details.get("kind") not in ("gguf", "extra"):
        return sha256_bytes(content), len(content)
    return op.sha256, int(op.details.get("file_size", op.size))


class LocalChange(Exception):
    """A local file no longer matches the plan."""


class Refused(Exception):
    """The Hub refused a commit for a reason it explained (not an HTTP status we retry on)."""


def chunks(ops: list[Operation], size: int) -> list[list[Operation]]:
    return [ops[i : i + size] for i in range(0, len(ops), size)]


def _fits(batch: list[Operation], piece: list[Operation], max_ops: int, max_bytes: int) -> bool:
    if len(batch) + len(piece) > max_ops:
        return False
    return sum(op.size for op in batch) + sum(op.size for op in piece) <= max_bytes


def _fail(result: ApplyResult, batch: list[Operation], line: str) -> None:
    for op in batch:
        result.failures.setdefault(op.tag or "*", line)


def commit_message(batch: list[Operation]) -> tuple[str, str]:
    """A title saying what changed ("publisher: add Q4_K_M, Q6_K; update README.md") and a
    description listing every file."""
    verbs: dict[str, list[str]] = {"add": [], "update": [], "remove": []}
    tags_in_batch = {op.tag for op in batch if op.details.get("kind") == "gguf"}
    for op in batch:
        kind = op.details.get("kind")
        if op.action == "delete-file":
            verb, label = "remove", op.subject
        else:
            verb = "add" if op.details.get("remote") == "absent" else "update"
            if kind in ("sidecar", "record") and op.tag in tags_in_batch:
                continue  # folded into its GGUF's tag
            label = op.tag if kind == "gguf" and op.tag else op.subject
        if label not in verbs[verb]:
            verbs[verb].append(label)
    parts = [f"{verb} {_names(labels)}" for verb, labels in verbs.items() if labels]
    title = "publisher: " + "; ".join(parts)
    lines = [
        f"- {op.action} {op.subject}" + (f" (sha256 {op.sha256})" if op.sha256 else "")
        for op in batch
    ]
    return title, "\n".join(lines)


def _names(labels: list[str], limit: int = 6) -> str:
    if len(labels) <= limit:
        return ", ".join(labels)
    return ", ".join(labels[:limit]) + f" and {len(labels) - limit} more"
