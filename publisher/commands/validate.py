"""`publish validate`: load manifests and say what they declare, or exactly what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from publisher import console
from publisher.manifest import Release, load


def summary(release: Release) -> dict[str, object]:
    """The facts a person checks first, as plain data (for --json and the table)."""
    return {
        "manifest": str(release.source),
        "family": release.model.family,
        "variant": release.model.variant,
        "experts": release.model.experts,
        "ollama_model": release.ollama.model if release.ollama else None,
        "latest": release.ollama.latest if release.ollama else None,
        "huggingface_repo": release.huggingface.repo if release.huggingface else None,
        "tags": [tag.tag for tag in release.tags],
        "gguf_dir": str(release.gguf_dir),
    }


def validate(
    manifests: Annotated[
        list[Path], typer.Argument(help="Manifest TOML files.", metavar="MANIFEST...")
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check manifests and print a short summary of each release."""
    summaries = [summary(load(path)) for path in manifests]
    if json_output:
        console.print_json(summaries)
        return
    table = Table("variant", "ollama model", "latest", "hf repo", "tags", title="valid manifests")
    for item in summaries:
        table.add_row(
            str(item["variant"]),
            str(item["ollama_model"] or "—"),
            str(item["latest"] or "—"),
            str(item["huggingface_repo"] or "—"),
            str(len(item["tags"])),  # type: ignore[arg-type]
        )
    console.out.print(table)
