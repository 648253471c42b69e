"""`publish seal`: bring everything release-wide in line with what the remotes hold."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from publisher import console


def seal(
    manifest: Annotated[Path, typer.Argument(help="Manifest TOML file.")],
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete Hub files no manifest tag names.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Seal without asking.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    ollama_registry: Annotated[
        str | None,
        typer.Option("--ollama-registry", help="Move `latest` in this OCI registry (no daemon)."),
    ] = None,
) -> None:
    """The card, side files, results, `latest` and --prune, from what the remotes hold (no GGUF
    needed): what every `release` ends with, and the last job of a CI matrix."""
    from publisher.commands.release import (
        ask_to_publish,
        exit_with_runs,
        print_errors,
        print_run,
        run_json,
    )
    from publisher.pipeline.run import ReleaseOptions
    from publisher.pipeline.seal import run_seal

    console.state.progress = not json_output
    options = ReleaseOptions(
        yes=yes,
        prune=prune,
        ollama_registry=ollama_registry,
        confirm=ask_to_publish if sys.stdin.isatty() else None,
    )
    run = run_seal(manifest, options)
    if json_output:
        console.print_json(run_json(run, dry_run=False))
        print_errors(run)
    else:
        print_run(run)
    exit_with_runs([run])
