"""`publish seal`: only the release-wide work, computed from what the remotes hold.

load → render → preflight → plan (the seal of each target) → confirm → apply → done. No GGUF is
read or needed: the Hub seal renders the card from the repo at one revision and commits it with
`parent_commit`, the registry's `latest` is its source tag's manifest once that tag is there. It
is what every `publish release` ends with, and the fan-in job of a CI matrix.
"""

from __future__ import annotations

import functools
from pathlib import Path

from publisher.errors import PublisherError
from publisher.ledger import Ledger, ledger_path
from publisher.lock import destination_locks, release_lock
from publisher.pipeline.release import build_payload, confirm, load_step, make_targets
from publisher.pipeline.run import ReleaseOptions, VariantRun, timed_step
from publisher.render import render_release
from publisher.statefile import cache_dir
from publisher.targets.base import ApplyResult


def run_seal(manifest: Path, options: ReleaseOptions) -> VariantRun:
    """Seal one manifest's release on every target it declares; user errors end in a message."""
    run = VariantRun(manifest=manifest)
    try:
        _seal(run, options)
    except PublisherError as exc:
        run.error = str(exc)
        run.error_exit_code = exc.exit_code
    return run


def _seal(run: VariantRun, options: ReleaseOptions) -> None:
    release, _ = load_step(run, options)
    targets = make_targets(release, release.tags, options)
    with timed_step(run, "render") as step:
        payload = build_payload(release, [], render_release(release))
        step.detail = "card, side files and results are rendered from the remotes at apply"
    ledger_file = ledger_path(release.source, release.model.variant)
    with (
        release_lock(ledger_file.with_name(f".{release.model.variant}.publish.lock")),
        destination_locks([t.destination for t in targets], cache_dir() / "locks"),
    ):
        with timed_step(run, "preflight") as step:
            for target in targets:
                target.preflight()
            step.detail = ", ".join(t.name for t in targets)
        with timed_step(run, "plan") as step:
            for target in targets:
                run.plan[target.name] = target.plan_seal(payload, online=True)
                run.described[target.name] = target.describe(run.plan[target.name])
            changes = sum(
                1 for ops in run.plan.values() for op in ops if not op.action.startswith("skip")
            )
            step.detail = f"{changes} change(s) planned"
        confirm(run, options)
        ledger = Ledger(ledger_file, release.model.variant)
        with timed_step(run, "seal") as step:
            for target in targets:
                record = functools.partial(ledger.record, target.name)
                result = run.results[target.name] = ApplyResult()
                target.apply_seal(payload, run.plan[target.name], record, result)
            step.detail = f"{run.bytes_uploaded:,} bytes sent"
            if not run.ok:
                step.status = "failed"
