"""`publish status`: what is published where, per tag and target, against manifest and ledger."""

from __future__ import annotations

from collections import Counter
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from publisher import console
from publisher.errors import EXIT_FAILED

if TYPE_CHECKING:
    from publisher.ledger import Ledger
    from publisher.manifest import Release
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
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Every tag on every target, with details.")
    ] = False,
) -> None:
    """Compare each target and each ledger entry with the manifest: up to date, missing, drifted.

    Exits 1 unless everything is up to date; `--verbose` shows every row with its detail.
    """
    from publisher.digest import DigestCache
    from publisher.ledger import Ledger, ledger_path
    from publisher.pipeline.release import make_targets, normalize_only, prepare
    from publisher.pipeline.run import ReleaseOptions, VariantRun

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
        # every ledger section against its remote: a stale entry is as wrong as a stale tag
        rows.extend(target.ledger_status(ledger.data["targets"].get(target.name, {})))
    rebuilt = rebuild_ledger(payload, ledger, rows)
    rows.extend(ledger_rows(payload, ledger, rebuilt))
    result = {
        "variant": release.model.variant,
        "ledger": str(ledger.path),
        "targets": [_row(row) for row in rows],
    }
    if json_output:
        console.print_json(result)
    elif verbose:
        print_rows(release.model.title, rows)
    else:
        print_summary(release, manifest, rows, ledger.path)
    if any(row.state != "up-to-date" for row in rows):
        raise typer.Exit(EXIT_FAILED)


def rebuild_ledger(payload: ReleasePayload, ledger: Ledger, rows: list[TagStatus]) -> set[str]:
    """The ledger is this machine's record: when it is absent, the tags whose GGUFs are here and
    which every target already holds with these very bytes (the rows compared the sha256) are
    recorded from the remotes. Written only when no run holds the variant's lock; returns the
    tags rebuilt (in memory at least)."""
    from publisher.errors import UsageError
    from publisher.lock import release_lock

    if ledger.path.exists():
        return set()
    up = {(row.target, row.tag) for row in rows if row.state == "up-to-date"}
    rebuilt = set()
    for tp in payload.tags:
        if tp.files and all((target, tp.tag.tag) in up for target in tp.tag.targets):
            facts = {
                "tag": tp.tag.tag,
                "files": [
                    {"path": str(f.path), "size": f.size, "sha256": f.sha256} for f in tp.files
                ],
                "size": sum(f.size for f in tp.files),
                "sha256": tp.files[0].sha256 if len(tp.files) == 1 else None,
                "outcome": "rebuilt from the remotes",
            }
            ledger.data["tags"][tp.tag.tag] = {**facts, "at": "rebuilt"}
            rebuilt.add(tp.tag.tag)
    if rebuilt:
        variant = payload.release.model.variant
        try:
            with release_lock(ledger.path.with_name(f".{variant}.publish.lock")):
                if not ledger.path.exists():
                    for tag in rebuilt:
                        ledger.record_tag(tag, ledger.data["tags"][tag])
        except UsageError:
            pass  # a release of this variant is running: it writes the ledger itself
    return rebuilt


def ledger_rows(
    payload: ReleasePayload, ledger: Ledger, rebuilt: AbstractSet[str] = frozenset()
) -> list[TagStatus]:
    """Each local tag's files against what this machine's ledger says was published from them
    (a tag whose GGUF is not here has nothing of this machine's to compare: the remotes' rows
    say where it stands)."""
    from publisher.targets.base import TagStatus

    rows = []
    for tp in payload.tags:
        recorded = ledger.data["tags"].get(tp.tag.tag)
        now = [f.sha256 for f in tp.files]
        if not now:
            if recorded is not None:
                detail = f"recorded {recorded['at']}; GGUF no longer here: not compared"
                rows.append(TagStatus("ledger", tp.tag.tag, "up-to-date", detail))
            continue
        if recorded is None:
            rows.append(TagStatus("ledger", tp.tag.tag, "missing", "never recorded as published"))
            continue
        was = [f.get("sha256") for f in recorded.get("files", [])]
        if tp.tag.tag in rebuilt and was == now:
            rows.append(TagStatus("ledger", tp.tag.tag, "up-to-date", "rebuilt from the remotes"))
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


def print_rows(title: str, rows: list[TagStatus]) -> None:
    """--verbose: one row per tag and target, with the detail."""
    from rich.table import Table

    table = Table("target", "tag", "state", "detail", title=f"{title} — status")
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        colour = _COLOURS.get(row.state, "white")
        table.add_row(row.target, row.tag, Text(row.state, style=colour), row.detail)
    console.out.print(table)


def print_summary(release: Release, manifest: Path, rows: list[TagStatus], ledger: Path) -> None:
    """One screen: a line per target with its state counts, the tags that are not up to date
    (tags in the same state everywhere share a row), one closing sentence."""
    from rich.table import Table

    targets = list(dict.fromkeys(row.target for row in rows))
    console.out.print(f"{release.model.title} — status", soft_wrap=True)
    for target in targets:
        counts = Counter(row.state for row in rows if row.target == target)
        where = _where(release, target, ledger)
        states = " · ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        console.out.print(f"{where}: {states}", soft_wrap=True)
    groups = _groups(rows, targets)
    if groups:
        table = Table(title="not up to date:", title_justify="left")
        table.add_column("tags", overflow="fold")
        for target in targets:
            table.add_column(target, no_wrap=True)
        for states, tags in groups.items():
            cells = [Text(s, style=_COLOURS.get(s, "white")) for s in states]
            table.add_row(", ".join(tags), *cells)
        console.out.print(table)
    console.out.print(_sentence(rows, manifest, release), soft_wrap=True)


def _where(release: Release, target: str, ledger: Path) -> str:
    from publisher.pipeline import plan_view

    if target == "ledger":
        return f"ledger {ledger.name}"
    return plan_view.destination(release, target)


def _groups(rows: list[TagStatus], targets: list[str]) -> dict[tuple[str, ...], list[str]]:
    """Tags that are not up to date everywhere, grouped by their state on each target."""
    by_tag: dict[str, dict[str, str]] = {}
    for row in rows:
        by_tag.setdefault(row.tag, {})[row.target] = row.state
    groups: dict[tuple[str, ...], list[str]] = {}
    for tag, states in by_tag.items():
        key = tuple(states.get(target, "—") for target in targets)
        if any(state not in ("up-to-date", "—") for state in key):
            groups.setdefault(key, []).append(tag)
    return groups


def _sentence(rows: list[TagStatus], manifest: Path, release: Release | None = None) -> str:
    """One sentence: tags behind on a target, other entries (the release-wide files the seal
    writes, extras) not as they should be, and ledger entries (rows `ledger/<target>`, one per
    recorded step, not per tag) that no longer match their remote."""
    names = None if release is None else {t.tag for t in release.tags} | {"latest"}
    remote = [row for row in rows if not row.target.startswith("ledger/")]
    tag_rows = [row for row in remote if names is None or row.tag in names]
    others = sorted({r.tag for r in remote if r not in tag_rows and r.state != "up-to-date"})
    stale = [row for row in rows if row.target.startswith("ledger/") and row.state != "up-to-date"]
    behind = sorted({row.tag for row in tag_rows if row.state != "up-to-date"})
    tags = {row.tag for row in tag_rows}
    if not behind and not stale and not others:
        return f"All {len(tags)} tags are up to date on every target, and the ledger agrees."
    parts = []
    if behind:
        parts.append(f"{len(behind)} of {len(tags)} tags are not up to date somewhere")
    if others:
        parts.append(f"{len(others)} other entries (release-wide files, extras) are not up to date")
    if stale:
        parts.append(f"{len(stale)} ledger entries do not match their remote")
    return (
        "; ".join(parts) + f"; `publish release {manifest}` would bring them in line "
        "(its --dry-run says how)."
    )


def _row(row: TagStatus) -> dict[str, Any]:
    return {"target": row.target, "tag": row.tag, "state": row.state, "detail": row.detail}
