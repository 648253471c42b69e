"""`publish release`: verify, render, plan and publish one or more manifests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from publisher import console
from publisher.errors import UsageError

if TYPE_CHECKING:
    from publisher.pipeline.run import VariantRun


def release(
    manifests: Annotated[
        list[Path], typer.Argument(help="Manifest TOML files.", metavar="MANIFEST...")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Render and plan; touch no remote.")
    ] = False,
    only: Annotated[
        list[str], typer.Option("--only", help="Publish to one target: ollama or hf.")
    ] = [],  # noqa: B006
    tag: Annotated[list[str], typer.Option("--tag", help="Only these tags (repeatable).")] = [],  # noqa: B006
    gguf_dir: Annotated[
        Path | None, typer.Option("--gguf-dir", help="Folder of the GGUF files.")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Publish without asking.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Direct registry push: re-put tags even if current.")
    ] = False,
    no_digest: Annotated[bool, typer.Option("--no-digest", help="Dry run: skip sha256.")] = False,
    skip_remote_verify: Annotated[
        bool, typer.Option("--skip-remote-verify", help="Do not read pushed tags back.")
    ] = False,
    keep_local: Annotated[
        bool, typer.Option("--keep-local", help="Keep models in the local Ollama store.")
    ] = False,
    present: Annotated[
        bool,
        typer.Option("--present", help="Only the tags whose GGUFs are here; report the others."),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="I/N",
            help="Tags at manifest position k with k mod N = I (0-based; a CI matrix or a "
            "Kubernetes Indexed Job's $JOB_COMPLETION_INDEX).",
        ),
    ] = None,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Delete HF files no manifest tag names (manifest-wide, whatever is selected).",
        ),
    ] = False,
    create_pr: Annotated[
        bool, typer.Option("--create-pr", help="Open an HF pull request.")
    ] = False,
    ollama_registry: Annotated[
        str | None,
        typer.Option("--ollama-registry", help="Push straight to this OCI registry (no daemon)."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where rendered files go.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No step lines or progress bars (for CI).")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Every tag and every planned operation.")
    ] = False,
) -> None:
    """Verify every GGUF, render Modelfiles and cards, plan, then publish to Ollama and HF."""
    from publisher.pipeline.release import normalize_only, run_releases
    from publisher.pipeline.run import ReleaseOptions
    from publisher.pipeline.selection import Shard

    console.state.quiet = console.state.quiet or quiet
    console.state.progress = not json_output  # a script reads this terminal: no bars on it
    if no_digest and not dry_run:
        raise UsageError("--no-digest is for --dry-run only: a release is verified by digest")
    options = ReleaseOptions(
        dry_run=dry_run,
        only=normalize_only(only),
        tags=tuple(tag),
        gguf_dir=gguf_dir,
        yes=yes,
        force=force,
        digest=not no_digest,
        skip_remote_verify=skip_remote_verify,
        keep_local=keep_local,
        prune=prune,
        create_pr=create_pr,
        ollama_registry=ollama_registry,
        present=present,
        shard=Shard.parse(shard) if shard is not None else None,
        out_dir=out,
        confirm=ask_to_publish if sys.stdin.isatty() else None,
    )
    runs = run_releases(manifests, options)
    if json_output:
        data = [run_json(run, dry_run=dry_run) for run in runs]
        console.print_json(data if len(data) > 1 else data[0])
        for run in runs:  # stdout is the JSON; the errors still reach a person on stderr
            print_errors(run)
    else:
        for run in runs:
            print_run(run, verbose=verbose, dry_run=dry_run)
    exit_with_runs(runs)


def print_run(run: VariantRun, *, verbose: bool = False, dry_run: bool = False) -> None:
    """The plan in one screen (every tag and operation with --verbose) and the outcome."""
    from publisher.pipeline import plan_view
    from publisher.pipeline.run import tag_json

    title = run.release.model.title if run.release else str(run.manifest)
    if verbose and run.reports:
        plan_view.print_tags_table(title, [tag_json(report) for report in run.reports])
    if verbose and run.plan:
        plan_view.print_plan_tables(run.release, run.plan)
    if run.plan and not run.plan_shown:
        print_plan(run, dry_run=dry_run)
    print_errors(run)
    if run.results and not run.error:
        outcome = "published" if run.ok else "FAILED"
        console.out.print(f"{title}: {outcome}, {run.bytes_uploaded:,} bytes uploaded")
    for line in completeness_lines(run, dry_run=dry_run):
        console.out.print(line, soft_wrap=True)
    page = run.page_json()
    if page is not None and not run.error:
        console.out.print(page["apply"], soft_wrap=True)


def completeness_lines(run: VariantRun, *, dry_run: bool) -> list[str]:
    """What this run left out and whether the release as a whole is published yet."""
    if run.release is None or run.error:
        return []
    lines = []
    selection = run.selection
    if selection is not None and selection.partial and (selection.shard or selection.present):
        left = ", ".join(f"{tag} ({why})" for tag, why in selection.left_out.items())
        lines.append(f"Not in this run: {left}.")
    if run.prune_note:
        lines.append(run.prune_note)
    total = len(run.release.tags)
    if dry_run or run.complete is None:
        return lines
    if run.complete:
        lines.append(f"The release is complete: all {total} tags are published.")
    else:
        missing = run.missing_tags
        lines.append(
            f"The release is not yet complete: {len(missing)} of {total} tags are not published "
            f"yet ({', '.join(missing)}); `publish status` exits 1 until they are."
        )
    return lines


def print_plan(run: VariantRun, *, dry_run: bool) -> None:
    """States, the operations that would send or change something, one closing sentence."""
    from publisher.pipeline import plan_view

    title = run.release.model.title if run.release else str(run.manifest)
    plan_view.print_plan(title, run.release, _statuses(run), run.plan, dry_run=dry_run)


def run_json(run: VariantRun, *, dry_run: bool) -> dict[str, Any]:
    """The run's JSON (every tag and operation) with the one-screen summary beside it."""
    from publisher.pipeline import plan_view

    data = run.to_json()
    if run.plan:
        data["summary"] = plan_view.summary(run.release, _statuses(run), run.plan, dry_run=dry_run)
    return data


def _statuses(run: VariantRun) -> dict[str, str]:
    return {report.tag: report.status for report in run.reports}


def print_errors(run: VariantRun) -> None:
    """What stopped the run and each target's failures, one line each, on stderr."""
    for target, result in run.results.items():
        for what, why in result.failures.items():
            console.error(f"{target} {what}: {why}")
    if run.error:
        console.error(run.error)


def ask_to_publish(run: VariantRun, question: str) -> bool:
    """Show the plan, then ask; end of input or Ctrl-C at the prompt is a no."""
    import click

    print_plan(run, dry_run=False)
    run.plan_shown = True
    try:
        return typer.confirm(question, default=False)
    except click.exceptions.Abort:
        return False


def exit_with_runs(runs: list[VariantRun]) -> None:
    """The first failing run's exit code: 2 bad manifest, 3 unreachable target, 1 failed step."""
    codes = [run.exit_code for run in runs if run.exit_code]
    if codes:
        raise typer.Exit(codes[0])
