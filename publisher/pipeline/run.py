"""The record of one `publish release` (or `publish seal`) run: its options, its steps as they
ran, the `--json` summary and the run log under build/<variant>/runs/.

The pipeline's steps (`publisher.pipeline.release`, `publisher.pipeline.seal`) fill it in; the
commands print it. Nothing here touches a remote.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.text import Text

from publisher import console
from publisher.errors import EXIT_FAILED, PublisherError
from publisher.gguf.checks import TagReport
from publisher.manifest import Release
from publisher.pipeline.selection import Selection, Shard
from publisher.render.page import how_to_apply
from publisher.statefile import write_private
from publisher.targets.base import ApplyResult, LocalFile, Operation, TargetOptions
from publisher.urls import redact_data


@dataclass(frozen=True)
class ReleaseOptions:
    """Everything the command line can say about one run."""

    dry_run: bool = False
    only: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    gguf_dir: Path | None = None
    yes: bool = False
    force: bool = False
    digest: bool = True
    skip_remote_verify: bool = False
    keep_local: bool = False
    prune: bool = False
    create_pr: bool = False
    ollama_registry: str | None = None
    present: bool = False  # only the tags whose GGUFs are here; the others are reported
    shard: Shard | None = None  # a deterministic share of the manifest's tags (--shard I/N)
    out_dir: Path | None = None
    confirm: Callable[[VariantRun, str], bool] | None = None  # shows the plan, asks the question

    def target_options(self) -> TargetOptions:
        """What of this run the targets are told."""
        return TargetOptions(
            force=self.force,
            prune=self.prune,
            create_pr=self.create_pr,
            skip_remote_verify=self.skip_remote_verify,
            keep_local=self.keep_local,
            ollama_registry=self.ollama_registry,
        )


@dataclass
class StepResult:
    """One named step of the pipeline as it ran."""

    name: str
    status: str = "ok"  # ok | failed | skipped
    detail: str = ""
    seconds: float = 0.0


@dataclass
class VariantRun:
    """The outcome of one manifest's release: steps, reports, plan and what apply did."""

    manifest: Path
    release: Release | None = None
    steps: list[StepResult] = field(default_factory=list)
    reports: list[TagReport] = field(default_factory=list)
    plan: dict[str, list[Operation]] = field(default_factory=dict)
    described: dict[str, dict[str, Any]] = field(default_factory=dict)  # each target's own view
    results: dict[str, ApplyResult] = field(default_factory=dict)
    error: str | None = None
    error_exit_code: int = 0
    bytes_hashed: int = 0  # bytes read to hash GGUFs in this run (0 when the cache knew them all)
    ollama_page: Path | None = None  # the rendered ollama.com page, for a person to paste
    plan_shown: bool = False  # the confirmation prompt already showed the plan
    log_path: Path | None = None  # this run's log under build/<variant>/runs/, once written
    selection: Selection | None = None  # the tags of this run and why the others are left out
    complete: bool | None = None  # every manifest tag published everywhere (None: not known)
    missing_tags: list[str] = field(default_factory=list)  # tags not yet published everywhere
    prune_note: str = ""  # what --prune deletes when the run publishes part of the manifest

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.ok for r in self.results.values())

    @property
    def exit_code(self) -> int:
        """0, or the exit code of what stopped the run (1 when a publish step failed)."""
        return self.error_exit_code or (0 if self.ok else EXIT_FAILED)

    @property
    def bytes_uploaded(self) -> int:
        return sum(r.bytes_uploaded for r in self.results.values())

    def to_json(self) -> dict[str, Any]:
        """The machine-readable summary (`--json`)."""
        plan = {name: [op.to_json() for op in ops] for name, ops in self.plan.items()}
        return {
            "manifest": str(self.manifest),
            "variant": self.release.model.variant if self.release else None,
            "ok": self.ok,
            "error": self.error,
            "steps": [vars(step) for step in self.steps],
            "tags": [tag_json(report) for report in self.reports],
            "ollama": self.described.get(
                "ollama", {"model": _ollama_model(self.release), "operations": []}
            ),
            "huggingface": self.described.get(
                "huggingface", {"repo": _hf_repo(self.release), "files": []}
            ),
            "plan": plan,
            "failures": {n: r.failures for n, r in self.results.items() if r.failures},
            "facts": {n: r.facts for n, r in self.results.items() if r.facts},
            "bytes_uploaded": self.bytes_uploaded,
            "bytes_hashed": self.bytes_hashed,
            "ollama_page": self.page_json(),
            "selection": self.selection.to_json() if self.selection else None,
            "complete": self.complete,
            "missing_tags": list(self.missing_tags),
            "prune_scope": "manifest" if self.prune_note else None,
        }

    def page_json(self) -> dict[str, str] | None:
        """Where the rendered ollama.com page is and what to do with it (a person pastes it)."""
        if self.ollama_page is None or self.release is None or self.release.ollama is None:
            return None
        model = self.release.ollama.model
        return {"path": str(self.ollama_page), "apply": how_to_apply(self.ollama_page, model)}


_UNFINISHED = "did not finish: the process was killed, or it is still running"


def write_run_log(run: VariantRun, options: ReleaseOptions, *, finished: bool) -> None:
    """`build/<variant>/runs/<time>-<pid>-release.json`: what this run did, for later reading (no
    secrets: the summary holds digests, sizes, remote ids and messages only). Written once when
    the run starts (ok: false, "did not finish") and replaced when it ends, so no log ever says
    a run succeeded that did not."""
    if run.release is None:
        return
    data = run.to_json()
    data["finished"] = finished
    if not finished:
        data.update(ok=False, error=_UNFINISHED)
    if run.log_path is None:
        folder = (options.out_dir or Path("build") / run.release.model.variant) / "runs"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        kind = "dry-run" if options.dry_run else "release"
        run.log_path = folder / f"{stamp}-{os.getpid()}-{kind}.json"
    try:
        write_private(run.log_path, json.dumps(redact_data(data), indent=2, default=str) + "\n")
    except OSError as exc:
        console.warn(f"could not write the run log in {run.log_path.parent}: {exc.strerror}")


@contextmanager
def timed_step(run: VariantRun, name: str) -> Iterator[StepResult]:
    """Time a named step, report it as it finishes, and mark it failed if it raises."""
    step = StepResult(name)
    run.steps.append(step)
    started = time.perf_counter()
    try:
        yield step
    except PublisherError as exc:
        step.status = "failed"
        step.detail = step.detail or str(exc).splitlines()[0]
        raise
    except BaseException:
        step.status = "failed"
        raise
    finally:
        step.seconds = round(time.perf_counter() - started, 3)
        _report_step(step)


def _report_step(step: StepResult) -> None:
    colour = {"ok": "green", "failed": "red", "skipped": "yellow"}[step.status]
    console.info(
        Text.assemble(
            ("  • ", colour),
            f"{step.name:<15} ",
            (step.status, colour),
            f"  {step.detail}  ",
            (f"({step.seconds:.2f} s)", "dim"),
        )
    )


def local_files(report: TagReport) -> list[LocalFile]:
    if report.missing:
        return []
    return [
        LocalFile(path=path, size=path.stat().st_size, sha256=report.sha256.get(path.name))
        for path in report.files
    ]


def first_path(report: TagReport) -> str:
    return str(report.files[0]) if report.files else report.tag


def tag_json(report: TagReport) -> dict[str, Any]:
    """One tag as the JSON summary, the tags table and the ledger show it (a verified tag's
    shapes: `publisher.gguf.checks.TagReport`)."""
    files = local_files(report)
    return {
        "tag": report.tag,
        "file": first_path(report),
        "files": [{"path": str(f.path), "size": f.size, "sha256": f.sha256} for f in files],
        "size": report.size if not report.missing else None,
        "sha256": files[0].sha256 if len(files) == 1 else None,
        "quant": report.quant,
        "experts": report.experts,
        "status": report.status,
    }


def _ollama_model(release: Release | None) -> str | None:
    return release.ollama.model if release and release.ollama else None


def _hf_repo(release: Release | None) -> str | None:
    return release.huggingface.repo if release and release.huggingface else None
