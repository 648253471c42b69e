"""`publish validate`: load manifests and say what they declare, or exactly what is wrong —
and warn where the Hub will read a file's quant label differently from its tag."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from publisher import console

if TYPE_CHECKING:
    from publisher.manifest import Release


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
        "warnings": warnings(release),
    }


def warnings(release: Release) -> list[str]:
    """Tags whose file the Hub labels with no quant or with another file's: `ollama run
    hf.co/<repo>:<tag>` would not reach them by their label."""
    from publisher.huggingface.labels import hub_tag_warnings, hub_tags

    hf = release.huggingface
    if hf is None:
        return []
    return [
        f"{release.source.name}: {line}" for line in hub_tag_warnings(hub_tags(release), hf.repo)
    ]


def validate(
    manifests: Annotated[
        list[Path], typer.Argument(help="Manifest TOML files.", metavar="MANIFEST...")
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check manifests and print a short summary of each release."""
    from rich.table import Table

    from publisher.manifest import load

    summaries = [summary(load(path)) for path in manifests]
    if json_output:
        console.print_json(summaries)
        return
    for item in summaries:
        for line in item["warnings"]:  # type: ignore[attr-defined]
            console.warn(line)
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
