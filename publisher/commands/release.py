"""`publish release`: verify, render, plan and publish one or more manifests."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from publisher import console
from publisher.errors import UsageError
from publisher.release import ReleaseOptions, VariantRun, run_releases

_ONLY_ALIASES = {"hf": "huggingface", "huggingface": "huggingface", "ollama": "ollama"}


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
        bool, typer.Option("--force", help="Re-create tags even if up to date.")
    ] = False,
    no_digest: Annotated[bool, typer.Option("--no-digest", help="Dry run: skip sha256.")] = False,
    skip_remote_verify: Annotated[
        bool, typer.Option("--skip-remote-verify", help="Do not read pushed tags back.")
    ] = False,
    keep_local: Annotated[
        bool, typer.Option("--keep-local", help="Keep models in the local Ollama store.")
    ] = False,
    prune: Annotated[bool, typer.Option("--prune", help="Delete HF files no tag lists.")] = False,
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
) -> None:
    """Verify every GGUF, render Modelfiles and cards, plan, then publish to Ollama and HF."""
    console.state.quiet = console.state.quiet or quiet
    if no_digest and not dry_run:
        raise UsageError("--no-digest is for --dry-run only: a release is verified by digest")
    options = ReleaseOptions(
        dry_run=dry_run,
        only=tuple(_ONLY_ALIASES.get(name, name) for name in only),
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
        out_dir=out,
        confirm=_ask if sys.stdin.isatty() else None,
    )
    runs = run_releases(manifests, options)
    if json_output:
        console.print_json([run.to_json() for run in runs] if len(runs) > 1 else runs[0].to_json())
    else:
        for run in runs:
            print_run(run)
    _exit(runs)


def print_run(run: VariantRun) -> None:
    """The plan (and outcome) as tables a person reads."""
    title = run.release.model.title if run.release else str(run.manifest)
    if run.reports:
        tags = Table("tag", "file", "size", "sha256", "status", title=f"{title} — tags")
        for item in run.to_json()["tags"]:
            tags.add_row(
                item["tag"],
                Path(item["file"]).name,
                f"{item['size']:,}" if item["size"] is not None else "—",
                (item["sha256"] or "—")[:16],
                item["status"],
            )
        console.out.print(tags)
    for target, ops in run.plan.items():
        table = Table("action", "tag", "subject", "bytes", "reason", title=f"plan — {target}")
        for op in ops:
            table.add_row(
                op.action, op.tag or "", op.subject, f"{op.size:,}" if op.size else "", op.reason
            )
        console.out.print(table)
    for target, result in run.results.items():
        for what, why in result.failures.items():
            console.error(f"{target} {what}: {why}")
    if run.error:
        console.error(run.error)
    elif run.results:
        console.out.print(
            f"{title}: {'published' if run.ok else 'FAILED'}, {run.bytes_uploaded:,} bytes uploaded"
        )


def _ask(question: str) -> bool:
    return typer.confirm(question, default=False)


def _exit(runs: list[VariantRun]) -> None:
    """The first failing run's exit code: 2 bad manifest, 3 unreachable target, 1 failed step."""
    codes = [run.exit_code for run in runs if run.exit_code]
    if codes:
        raise typer.Exit(codes[0])
