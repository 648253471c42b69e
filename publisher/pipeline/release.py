"""`publish release` as a pipeline of small named steps (GoReleaser style).

load → verify → check-template → render → preflight → plan → confirm → apply → record.
Nothing is sent before every check of every selected tag has passed; the plan is a list of typed
operations built first and executed second; every finished step lands in the ledger.
"""

from __future__ import annotations

import functools
from pathlib import Path

from publisher.chat.gorender import GoUnavailable
from publisher.digest import DigestCache, bytes_hashed_total
from publisher.errors import EXIT_FAILED, EXIT_INTERRUPTED, CheckFailed, PublisherError, UsageError
from publisher.gguf.checks import TagReport, verify_release
from publisher.ledger import Ledger, ledger_path
from publisher.lock import destination_locks, release_lock
from publisher.manifest import Release, Tag, load
from publisher.pipeline.plan_view import SENDING
from publisher.pipeline.run import (
    ReleaseOptions,
    StepResult,
    VariantRun,
    first_path,
    local_files,
    tag_json,
    timed_step,
    write_run_log,
)
from publisher.pipeline.selection import Selection, select
from publisher.pipeline.targets import TARGETS
from publisher.render import RenderedRelease, render_release, write_rendered
from publisher.render.modelfile import template_text
from publisher.render.rendered import OLLAMA_DIR, PAGE_NAME
from publisher.statefile import cache_dir
from publisher.targets.base import (
    SEAL_FAILURE,
    ApplyResult,
    Operation,
    ReleasePayload,
    TagPayload,
    Target,
    plan_all,
)


def run_releases(manifests: list[Path], options: ReleaseOptions) -> list[VariantRun]:
    """Release each manifest in turn; one digest cache is shared by all of them."""
    cache = DigestCache()
    return [run_release(path, options, cache) for path in manifests]


def run_release(manifest: Path, options: ReleaseOptions, cache: DigestCache) -> VariantRun:
    """The whole pipeline for one manifest; user errors end the run with a message, not a crash.

    Whatever ends the run — a user error, Ctrl-C, a crash — its log says it failed and why;
    a run killed outright leaves the log written when it started, which says it did not finish.
    """
    run = VariantRun(manifest=manifest)
    hashed_before = bytes_hashed_total()
    try:
        _pipeline(run, options, cache)
    except PublisherError as exc:
        run.error = str(exc)
        run.error_exit_code = exc.exit_code
    except KeyboardInterrupt:
        run.error = "interrupted (Ctrl-C / SIGINT) before the run finished"
        run.error_exit_code = EXIT_INTERRUPTED
        raise
    except BaseException as exc:
        run.error = f"stopped by {type(exc).__name__}: {exc}"
        run.error_exit_code = EXIT_FAILED
        raise
    finally:
        run.bytes_hashed = bytes_hashed_total() - hashed_before  # every target's hashing too
        write_run_log(run, options, finished=True)
    return run


def _pipeline(run: VariantRun, options: ReleaseOptions, cache: DigestCache) -> None:
    release, selected = load_step(run, options)
    write_run_log(run, options, finished=False)
    # targets first: a bad --ollama-registry, OLLAMA_HOST or HF_ENDPOINT is a usage error before
    # any GGUF is hashed (constructing a target touches no remote)
    if not selected:
        _nothing_selected(run, release, options)
        return
    targets = make_targets(release, selected, options)
    if options.dry_run:
        payload = local_steps(run, release, selected, options, cache)
        _plan(run, targets, payload, online=False)
        run.steps.append(StepResult("apply", "skipped", "dry run: no remote was touched"))
        return
    ledger_file = ledger_path(release.source, release.model.variant)
    # One run per variant from here on: a second run fails at once instead of hashing every
    # GGUF first, and the ledger is read only while we hold the lock (never a stale copy).
    # One run per destination too: a copy of this manifest in another folder has another
    # variant lock, but the same remote model and repo.
    with (
        release_lock(ledger_file.with_name(f".{release.model.variant}.publish.lock")),
        destination_locks([t.destination for t in targets], cache_dir() / "locks"),
    ):
        _publish(run, release, selected, targets, ledger_file, options, cache)


def _publish(
    run: VariantRun,
    release: Release,
    selected: list[Tag],
    targets: list[Target],
    ledger_file: Path,
    options: ReleaseOptions,
    cache: DigestCache,
) -> None:
    """Verify, plan, confirm, apply and record, holding the run's locks."""
    ledger = Ledger(ledger_file, release.model.variant)
    payload = local_steps(run, release, selected, options, cache)
    with timed_step(run, "preflight") as step:
        for target in targets:
            target.preflight()
        step.detail = ", ".join(t.name for t in targets)
    _plan(run, targets, payload, online=True)
    confirm(run, options)
    with timed_step(run, "apply") as step:
        for target in targets:
            record = functools.partial(ledger.record, target.name)
            result = run.results[target.name] = ApplyResult()  # counts even if interrupted
            ops = run.plan[target.name]
            target.apply_tags(payload, [op for op in ops if op.kind == "tag"], record, result)
        for target in targets:  # the seal, once every target's per-tag work is done
            record = functools.partial(ledger.record, target.name)
            seal = [op for op in run.plan[target.name] if op.kind == "seal"]
            target.apply_seal(payload, seal, record, run.results[target.name])
        step.detail = f"{run.bytes_uploaded:,} bytes uploaded"
        if any(not result.ok for result in run.results.values()):
            step.status = "failed"
    with timed_step(run, "record") as step:
        published = _published_tags(run, release, {t.name for t in targets})
        for report in run.reports:
            if report.tag in published:
                ledger.record_tag(report.tag, tag_json(report))
        step.detail = f"{len(published)} of {len(run.reports)} tags recorded in {ledger.path}"
    _complete(run, release, options, published)


def _plan(run: VariantRun, targets: list[Target], payload: ReleasePayload, *, online: bool) -> None:
    with timed_step(run, "plan") as step:
        for target in targets:
            run.plan[target.name] = plan_all(target, payload, online=online)
            run.described[target.name] = target.describe(run.plan[target.name])
        step.detail = _plan_summary(run.plan)


def _published_tags(run: VariantRun, release: Release, ran: set[str]) -> set[str]:
    """Tags published to every target they go to, in this run: a tag a target did not run for
    (--only), a failure naming the tag, or a failure pinned on no tag at all withholds it."""
    tags = {report.tag for report in run.reports}
    for result in run.results.values():
        if any(key not in tags and key not in ("latest", SEAL_FAILURE) for key in result.failures):
            return set()
    return {
        tag
        for tag in tags
        if set(release.tag(tag).targets) <= ran
        and not any(tag in result.failures for result in run.results.values())
    }


def prepare(
    run: VariantRun,
    options: ReleaseOptions,
    cache: DigestCache,
    *,
    write: bool = True,
    check_template: bool = True,
) -> ReleasePayload:
    """The local half of a release: load, verify, check the template, render — no remote."""
    release, selected = load_step(run, options)
    return local_steps(
        run, release, selected, options, cache, write=write, check_template=check_template
    )


def load_step(run: VariantRun, options: ReleaseOptions) -> tuple[Release, list[Tag]]:
    """Load the manifest and select the tags named on the command line."""
    with timed_step(run, "load") as step:
        release = with_registry(load(run.manifest, gguf_dir=options.gguf_dir), options)
        run.release = release
        _check_only(options.only)
        run.selection = select(release, options.tags, shard=options.shard, present=options.present)
        step.detail = _selection_summary(run.selection, len(release.tags))
        if options.prune and run.selection.partial:
            run.prune_note = (
                f"--prune is manifest-wide: it deletes only files that none of the manifest's "
                f"{len(release.tags)} tags names, whichever {len(run.selection.tags)} this run "
                "publishes."
            )
        return release, run.selection.tags


def with_registry(release: Release, options: ReleaseOptions) -> Release:
    """The release as this run publishes it: `--ollama-registry` replaces `[ollama] registry`,
    so every line that names the registry names the one actually used."""
    if not options.ollama_registry or release.ollama is None:
        return release
    ollama = release.ollama.model_copy(update={"registry": options.ollama_registry})
    return release.model_copy(update={"ollama": ollama})


def _selection_summary(selection: Selection, total: int) -> str:
    how = [f"shard {selection.shard}"] if selection.shard else []
    how += ["--present"] if selection.present else []
    text = f"{len(selection.tags)} of {total} tags selected"
    return text + (f" ({', '.join(how)})" if how else "")


def _nothing_selected(run: VariantRun, release: Release, options: ReleaseOptions) -> None:
    """A run whose selection holds no tag (a shard past the ladder's end, nothing here yet)
    publishes nothing and is not an error; a real run still says whether the release is done.
    No seal either: with no tag of its own the run takes no lock and asks nothing, and no
    remote is written (tests/test_pipeline_selection.py, a shard past the ladder's end); the
    fan-in `publish seal` seals."""
    with timed_step(run, "select") as step:
        step.status = "skipped"
        step.detail = "no tag of the manifest in this run: nothing to publish"
    if not options.dry_run:
        _complete(run, release, options, set())


def _complete(
    run: VariantRun, release: Release, options: ReleaseOptions, published: set[str]
) -> None:
    """Whether the release as a whole is published: the tags this run published, and the
    others as the remotes hold them (read-only; a remote that cannot be read leaves it unknown,
    never fails the run: this run's own work is done)."""
    from publisher.pipeline.completeness import unpublished_tags

    with timed_step(run, "complete") as step:
        try:
            run.missing_tags = unpublished_tags(release, options.target_options(), published)
        except Exception as exc:  # read-only and informational: this run's work is done
            step.status = "skipped"
            step.detail = f"not known: {(str(exc).splitlines() or [type(exc).__name__])[0]}"
            return
        run.complete = not run.missing_tags
        total = len(release.tags)
        if run.complete:
            step.detail = f"the release is complete: all {total} tags are published"
        else:
            step.detail = (
                f"the release is not yet complete: {len(run.missing_tags)} of {total} tags "
                f"not published yet ({', '.join(run.missing_tags)})"
            )


def local_steps(
    run: VariantRun,
    release: Release,
    selected: list[Tag],
    options: ReleaseOptions,
    cache: DigestCache,
    *,
    write: bool = True,
    check_template: bool = True,
) -> ReleasePayload:
    """Verify, check the template and render: everything that needs no remote."""
    with timed_step(run, "verify") as step:
        hashed_before = bytes_hashed_total()
        run.reports = verify_release(
            release, [t.tag for t in selected], digest=options.digest, cache=cache
        )
        hashed = bytes_hashed_total() - hashed_before
        step.detail = f"{_verify_summary(run.reports)}; {hashed:,} bytes hashed"
        failed = [r for r in run.reports if r.status == "failed"]
        missing = [r for r in run.reports if r.status == "missing"]
        if failed:
            raise CheckFailed(_failures_text(failed))
        if missing and not options.dry_run:
            raise CheckFailed(
                f"{len(missing)} GGUF file(s) missing: "
                + ", ".join(f"{r.tag} ({first_path(r)})" for r in missing)
                + "; --present publishes the tags whose GGUFs are here and reports the others"
            )
    if check_template:
        with timed_step(run, "check-template") as step:
            try:
                step.detail = _check_template(release)
            except GoUnavailable as exc:
                if not options.dry_run:
                    raise  # a release never skips a check it cannot run
                step.status, step.detail = "skipped", str(exc).splitlines()[0]
    with timed_step(run, "render") as step:
        rendered = render_release(release, run.reports)
        if write:
            out_dir = options.out_dir or Path("build") / release.model.variant
            written = write_rendered(rendered, out_dir)
            step.detail = f"{len(written)} files in {out_dir}"
            if rendered.ollama_page is not None:
                run.ollama_page = out_dir / OLLAMA_DIR / PAGE_NAME
    return build_payload(release, run.reports, rendered)


def build_payload(
    release: Release, reports: list[TagReport], rendered: RenderedRelease
) -> ReleasePayload:
    """Join what was measured (reports) and rendered (artifacts) into what targets publish."""
    by_tag = {report.tag: report for report in reports}
    ollama = release.ollama
    template = template_text(release)
    tags = []
    for tag_name, report in by_tag.items():
        tag = release.tag(tag_name)
        tags.append(
            TagPayload(
                tag=tag,
                files=local_files(report),
                parameters=release.parameters_for(tag),
                modelfile=rendered.modelfiles.get(tag.tag, ""),
                template=template,
                renderer=ollama.renderer if ollama else None,
                parser=ollama.parser if ollama else None,
                license=ollama.license if ollama else None,
                system=ollama.system if ollama else None,
                quant=report.quant,
                experts=report.experts,
            )
        )
    return ReleasePayload(
        release=release,
        tags=tags,
        hf_files=rendered.hf_files,
        ollama_page=rendered.ollama_page or "",
    )


def make_targets(release: Release, selected: list[Tag], options: ReleaseOptions) -> list[Target]:
    """The destinations this run publishes to: the manifest's tables that the selected tags go
    to, narrowed by --only. A target no selected tag goes to is never contacted."""
    declared = [
        name for name, entry in TARGETS.items() if getattr(release, entry.table) is not None
    ]
    for name in options.only:
        if name not in declared:
            raise UsageError(f"--only {name}: {release.source} has no [{name}] table")
    if not declared:
        raise UsageError(
            f"{release.source}: no [ollama] or [huggingface] table: nowhere to publish"
        )
    needed = {target for tag in selected for target in tag.targets}
    wanted = [n for n in declared if n in needed and (not options.only or n in options.only)]
    if not wanted:
        raise UsageError(
            f"none of the selected tags ({', '.join(t.tag for t in selected)}) goes to "
            f"{' or '.join(options.only)}"
        )
    return [TARGETS[name].factory(release, options.target_options()) for name in wanted]


# ---------------------------------------------------------------------------------------------
# helpers


_TARGET_ALIASES = {"hf": "huggingface", "huggingface": "huggingface", "ollama": "ollama"}


def normalize_only(names: list[str]) -> tuple[str, ...]:
    """`--only` values with their short spellings (`hf`) resolved."""
    return tuple(_TARGET_ALIASES.get(name, name) for name in names)


def _check_only(only: tuple[str, ...]) -> None:
    unknown = [name for name in only if name not in TARGETS]
    if unknown:
        raise UsageError(f"--only takes ollama or huggingface (hf), found {', '.join(unknown)}")


def _check_template(release: Release) -> str:
    """The release's chat template through Go's own text/template, as a pre-flight step."""
    if release.ollama is None:
        return "no Ollama target"
    from publisher.chat.preflight import check_release_template

    report = check_release_template(release, with_parity=False)
    if not report.ok:
        raise CheckFailed("the chat template failed its checks:\n" + "\n".join(report.messages))
    if not report.renders:  # a renderer release: Ollama's built-in renderer, nothing to render
        return "; ".join(report.notes) or "no TEMPLATE to check"
    return f"{len(report.renders)} conversations rendered by Go's text/template"


def confirm(run: VariantRun, options: ReleaseOptions) -> None:
    """Ask before sending bytes unless --yes; never hang waiting on a closed stdin."""
    if options.yes:
        return
    question = (
        f"Publish {run.release.model.variant if run.release else ''}? {_plan_summary(run.plan)}"
    )
    if options.confirm is None:
        raise UsageError("no terminal to confirm on: pass --yes to publish without a prompt")
    if not options.confirm(run, question):
        raise UsageError("not confirmed; nothing was sent")


def _verify_summary(reports: list[TagReport]) -> str:
    counts: dict[str, int] = {}
    for report in reports:
        counts[report.status] = counts.get(report.status, 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _failures_text(reports: list[TagReport]) -> str:
    lines = [f"{len(reports)} tag(s) failed verification; nothing was sent:"]
    for report in reports:
        lines.extend(f"  {report.tag}: {failure}" for failure in report.failures)
    return "\n".join(lines)


def _plan_summary(plan: dict[str, list[Operation]]) -> str:
    parts = []
    for name, ops in plan.items():
        sending = [op for op in ops if op.size and op.action in SENDING]
        parts.append(
            f"{name}: {len(ops)} operations, {sum(op.size for op in sending):,} bytes to send"
        )
    return "; ".join(parts) or "nothing to do"
