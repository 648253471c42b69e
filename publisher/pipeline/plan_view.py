"""A release plan as a person reads it: one screen by default, every row with --verbose.

The default view leads with one line per tag state, lists only the operations that would send
or change something (one row per tag, one column per target), and closes with one sentence:
how many bytes go where. The model name sits in the titles and sentences, the tag in the rows,
and no column is cut with an ellipsis at 80 columns. `--json` keeps every operation.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rich.table import Table

from publisher import console
from publisher.manifest import Release
from publisher.render.numbers import format_size
from publisher.targets.base import Operation

# Operations that send bytes or change a remote (or the local store); the rest only look.
CHANGING = (
    "upload-blob",
    "create-tag",
    "push-tag",
    "move-latest",
    "upload-file",
    "delete-file",
    "update-card",
    "delete-local",
)
SENDING = ("upload-blob", "upload-file", "update-card")
_WORDS = {
    "upload-blob": ("blob", "blobs"),
    "create-tag": ("tag", "tags"),
    "push-tag": ("push", "pushes"),
    "move-latest": ("latest", "latest"),
    "upload-file": ("file", "files"),
    "delete-file": ("deletion", "deletions"),
    "update-card": ("card", "cards"),
    "delete-local": ("local clean-up", "local clean-ups"),
}
STATES = ("ready", "published", "missing", "failed")


def tag_states(statuses: dict[str, str], plan: dict[str, list[Operation]]) -> dict[str, str]:
    """Each tag's state: missing / failed (verify said so), published (no operation of any
    target would change anything for it), or ready (something would be sent or changed)."""
    changing = {op.tag for ops in plan.values() for op in ops if op.action in CHANGING}
    states = {}
    for tag, status in statuses.items():
        if status in ("missing", "failed"):
            states[tag] = status
        else:
            states[tag] = "ready" if tag in changing or not plan else "published"
    return states


def states_line(states: dict[str, str], gguf_dir: Path | None) -> str:
    """`23 tags: 0 ready · 0 published · 23 missing — nothing will be sent until …`."""
    counts = Counter(states.values())
    shown = [s for s in STATES if s != "failed" or counts[s]]
    line = f"{len(states)} tags: " + " · ".join(f"{counts[s]} {s}" for s in shown)
    missing = counts["missing"]
    where = f"{_display_dir(gguf_dir)}/" if gguf_dir else "the GGUF folder"
    if missing and missing == len(states):
        line += f" — nothing will be sent until their GGUFs are in {where}"
    elif missing:
        line += f" — the missing ones are left out until their GGUFs are in {where}"
    return line


def _display_dir(path: Path) -> str:
    """The folder relative to the current directory when it is below it, else absolute."""
    try:
        return path.relative_to(Path.cwd()).as_posix() or "."
    except ValueError:
        return str(path)


def blocked(op: Operation, states: dict[str, str], latest: str | None) -> bool:
    """An operation planned so a person sees it that cannot run: its tag's GGUF is missing, or
    the target said why not (a split GGUF a direct push cannot match, an unhashed file)."""
    tag = latest if op.tag == "latest" else op.tag
    if op.details.get("missing") or op.details.get("blocked"):
        return True
    return states.get(tag or "") in ("missing", "failed")


def refusals(
    plan: dict[str, list[Operation]], states: dict[str, str], latest: str | None
) -> list[str]:
    """`tag → target: why` for blocked operations of tags that are present (the missing ones
    are already counted in the states line)."""
    lines = []
    for target, ops in plan.items():
        for op in ops:
            tag = latest if op.tag == "latest" else op.tag
            if blocked(op, states, latest) and states.get(tag or "") not in ("missing", "failed"):
                lines.append(f"{op.tag or '(files)'} → {target}: {op.reason}")
    return lines


def changes(
    plan: dict[str, list[Operation]], states: dict[str, str], latest: str | None
) -> dict[str, list[Operation]]:
    """Per target, only the operations that would send or change something."""
    return {
        target: [op for op in ops if op.action in CHANGING and not blocked(op, states, latest)]
        for target, ops in plan.items()
    }


def _cell(ops: list[Operation], *, by_name: bool) -> str:
    if not ops:
        return "—"
    if by_name:  # release-wide files: their names say more than a count
        return ", ".join(op.subject for op in ops)
    counts = Counter(op.action for op in ops)
    parts = []
    for action in CHANGING:
        n = counts[action]
        if n:
            one, many = _WORDS[action]
            parts.append(f"{n} {one if n == 1 else many}")
    return " + ".join(parts)


def changes_table(title: str, changed: dict[str, list[Operation]], tags: list[str]) -> Table | None:
    """One row per tag that something would change, in ladder order (`latest`, then the
    release-wide files, last)."""
    present = {op.tag for ops in changed.values() for op in ops}
    order: list[str | None] = [t for t in [*tags, "latest", None] if t in present]
    if not order:
        return None
    table = Table(title=title, title_justify="left")
    table.add_column("tag", no_wrap=True)
    table.add_column("bytes", justify="right", no_wrap=True)
    for target in changed:
        table.add_column(target, overflow="fold")
    for tag in order:
        ops = {target: [op for op in o if op.tag == tag] for target, o in changed.items()}
        size = sum(op.size for o in ops.values() for op in o if op.action in SENDING)
        cells = [_cell(o, by_name=tag is None) for o in ops.values()]
        table.add_row(tag or "(files)", format_size(size) if size else "", *cells)
    return table


def destination(release: Release | None, target: str) -> str:
    """Where a target publishes, in words: the model or repo, and how."""
    if release is None:
        return target
    if target == "ollama" and release.ollama:
        how = f"via {release.ollama.registry}" if release.ollama.registry else "via Ollama"
        return f"Ollama {release.ollama.model} ({how})"
    if target == "huggingface" and release.huggingface:
        return f"Hugging Face {release.huggingface.repo}"
    return target


def closing_sentence(
    release: Release | None,
    changed: dict[str, list[Operation]],
    states: dict[str, str],
    *,
    dry_run: bool,
) -> str:
    """One sentence: how many bytes a release sends, to which destinations."""
    parts = []
    for target, ops in changed.items():
        sent = sum(op.size for op in ops if op.action in SENDING)
        if ops:
            parts.append(
                f"{format_size(sent)} ({sent:,} bytes, {len(ops)} operations) "
                f"to {destination(release, target)}"
            )
    idle = [destination(release, t) for t, ops in changed.items() if not ops]
    verb = "A release would send" if dry_run else "This release sends"
    sentence = f"{verb} " + (" and ".join(parts) or "nothing")
    if idle and parts:
        sentence += "; nothing to " + " or ".join(idle)
    missing = sum(1 for s in states.values() if s == "missing")
    if missing:
        sentence += f"; {missing} tag(s) wait for their GGUFs"
    if dry_run:
        sentence += " (remotes not checked: a real run sends only what they lack)"
    return sentence + "."


def _view(
    release: Release | None, statuses: dict[str, str], plan: dict[str, list[Operation]]
) -> tuple[str | None, dict[str, str], dict[str, list[Operation]]]:
    """What both views of a plan start from: `latest`'s tag, each tag's state, the changes."""
    latest = release.ollama.latest if release and release.ollama else None
    states = tag_states(statuses, plan)
    return latest, states, changes(plan, states, latest)


def summary(
    release: Release | None,
    statuses: dict[str, str],
    plan: dict[str, list[Operation]],
    *,
    dry_run: bool,
) -> dict[str, Any]:
    """The one-screen view as data: states, counts and the closing sentence (for --json)."""
    latest, states, changed = _view(release, statuses, plan)
    return {
        "states": {s: sorted(t for t, v in states.items() if v == s) for s in STATES},
        "line": states_line(states, release.gguf_dir if release else None),
        "changes": {target: len(ops) for target, ops in changed.items()},
        "cannot": refusals(plan, states, latest),
        "sentence": closing_sentence(release, changed, states, dry_run=dry_run),
    }


def print_plan(
    title: str,
    release: Release | None,
    statuses: dict[str, str],
    plan: dict[str, list[Operation]],
    *,
    dry_run: bool,
) -> None:
    """The one-screen plan: states line, the changing operations, the closing sentence."""
    latest, states, changed = _view(release, statuses, plan)
    console.out.print(f"{title} — {'dry run' if dry_run else 'plan'}", soft_wrap=True)
    console.out.print(states_line(states, release.gguf_dir if release else None), soft_wrap=True)
    heading = "would send or change:" if dry_run else "will send or change:"
    table = changes_table(heading, changed, list(statuses))
    if table is not None:
        console.out.print(table)
    for line in refusals(plan, states, latest):
        console.out.print(f"cannot: {line}", soft_wrap=True)
    console.out.print(closing_sentence(release, changed, states, dry_run=dry_run), soft_wrap=True)


def print_tags_table(title: str, rows: list[dict[str, Any]]) -> None:
    """--verbose: every tag with its file, size, digest and verify status."""
    table = Table("tag", "file", "size", "sha256", "status", title=f"{title} — tags")
    for column in table.columns:
        column.overflow = "fold"
    for item in rows:
        table.add_row(
            item["tag"],
            Path(item["file"]).name,
            f"{item['size']:,}" if item["size"] is not None else "—",
            (item["sha256"] or "—")[:16],
            item["status"],
        )
    console.out.print(table)


def print_plan_tables(release: Release | None, plan: dict[str, list[Operation]]) -> None:
    """--verbose: every operation of every target, the destination in the title."""
    for target, ops in plan.items():
        title = f"plan — {destination(release, target)}"
        table = Table("action", "tag", "subject", "bytes", "reason", title=title)
        for column in table.columns:
            column.overflow = "fold"
        for op in ops:
            subject = "" if op.subject.endswith(f":{op.tag}") else op.subject
            size = f"{op.size:,}" if op.size else ""
            table.add_row(op.action, op.tag or "", subject, size, op.reason)
        console.out.print(table)
