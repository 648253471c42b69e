"""`publish status`: what is published where, per tag and target, against manifest and ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from publisher import console
from publisher.digest import DigestCache
from publisher.errors import EXIT_FAILED
from publisher.ledger import Ledger, ledger_path
from publisher.release import ReleaseOptions, VariantRun, make_targets, normalize_only, prepare
from publisher.targets.base import ReleasePayload, TagStatus

_COLOURS = {"up-to-date": "green", "missing": "yellow", "drifted": "red", "extra": "magenta"}


def status(
    manifest: Annotated[Path, typer.Argument(help="Manifest TOML file.")],
    only: Annotated[list[str], typer.Option("--only", help="One target: ollama or hf.")] = [],  # noqa: B006
    gguf_dir: Annotated[
        Path | None, typer.Option("--gguf-dir", help="Folder of the GGUFs.")
    ] = None,
    ollama_registry: Annotated[
        str | None,
        typer.Option("--ollama-registry", help="Read the tags from this OCI registry."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Compare each target with the manifest and the ledger: up to date, missing, drifted, extra."""
    options = ReleaseOptions(
        dry_run=True,  # missing GGUFs are reported, not fatal
        only=normalize_only(only),
        gguf_dir=gguf_dir,
        ollama_registry=ollama_registry,
    )
    run = VariantRun(manifest=manifest)
    quiet, console.state.quiet = console.state.quiet, True  # status prints a table, not steps
    try:
        payload = prepare(run, options, DigestCache(), write=False, check_template=False)
    finally:
        console.state.quiet = quiet
    release = payload.release
    # the ledger first: a bad one is a usage error before any remote is contacted
    ledger = Ledger(ledger_path(release.source, release.model.variant), release.model.variant)
    rows: list[TagStatus] = []
    for target in make_targets(release, release.tags, options):
        rows.extend(target.status(payload))
    rows.extend(ledger_rows(payload, ledger))
    result = {
        "variant": release.model.variant,
        "ledger": str(ledger.path),
        "targets": [_row(row) for row in rows],
    }
    if json_output:
        console.print_json(result)
    else:
        table = Table("target", "tag", "state", "detail", title=f"{release.model.title} — status")
        for row in rows:
            colour = _COLOURS.get(row.state, "white")
            table.add_row(row.target, row.tag, Text(row.state, style=colour), row.detail)
        console.out.print(table)
    if any(row.state != "up-to-date" for row in rows):
        raise typer.Exit(EXIT_FAILED)


def ledger_rows(payload: ReleasePayload, ledger: Ledger) -> list[TagStatus]:
    """Each tag's local files against what the ledger says was published from them."""
    rows = []
    for tp in payload.tags:
        recorded = ledger.data["tags"].get(tp.tag.tag)
        if recorded is None:
            rows.append(TagStatus("ledger", tp.tag.tag, "missing", "never recorded as published"))
            continue
        was = [f.get("sha256") for f in recorded.get("files", [])]
        now = [f.sha256 for f in tp.files]
        if not now:
            rows.append(TagStatus("ledger", tp.tag.tag, "unknown", "GGUF not present locally"))
        elif was == now:
            rows.append(
                TagStatus("ledger", tp.tag.tag, "up-to-date", f"published {recorded['at']}")
            )
        else:
            rows.append(
                TagStatus(
                    "ledger", tp.tag.tag, "drifted", "the local GGUF is not the one published"
                )
            )
    return rows


def _row(row: TagStatus) -> dict[str, Any]:
    return {"target": row.target, "tag": row.tag, "state": row.state, "detail": row.detail}
