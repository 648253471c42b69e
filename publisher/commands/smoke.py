"""`publish smoke`: chat through a tag on a local Ollama, case by case; exit 1 on a failure."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from publisher import console
from publisher.errors import CheckFailed, TargetUnavailable, UsageError
from publisher.remote_text import server_text
from publisher.urls import daemon_host, import_ollama

if TYPE_CHECKING:
    from publisher.manifest import Release, Tag

# Chats with a 20B model on a desktop can take minutes; connecting must not.
CHAT_TIMEOUT = 900.0


def smoke(
    manifest: Annotated[Path, typer.Argument(help="The release manifest (TOML).")],
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", help="Tags to test (default: the manifest's latest)."),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="The Ollama daemon (default: $OLLAMA_HOST, else http://127.0.0.1:11434)."
        ),
    ] = None,
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Create each tag from its local GGUF first (as "
            "<model>-smoke:<tag>) and delete it afterwards.",
        ),
    ] = False,
    repeat: Annotated[
        int, typer.Option("--repeat", "-n", help="Runs per case, each with its own seed.")
    ] = 1,
    cases: Annotated[
        list[Path] | None,
        typer.Option(
            "--cases", help="A directory of extra *.json cases (same name replaces a built-in)."
        ),
    ] = None,
    min_pass_rate: Annotated[
        float,
        typer.Option("--min-pass-rate", help="A case passes when this share of its runs pass."),
    ] = 1.0,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    gguf_dir: Annotated[
        Path | None, typer.Option("--gguf-dir", help="Where the GGUF files are (for --create).")
    ] = None,
) -> None:
    """Chat with the tag: plain, system, tool call, tool result, nested call, stop, /api/show."""
    from publisher.manifest import load
    from publisher.ollama.smoke.cases import load_cases
    from publisher.ollama.smoke.runner import DEFAULT_HOST, run_matrix

    if repeat < 1:
        raise UsageError(f"--repeat must be at least 1, found {repeat}")
    if not 0.0 < min_pass_rate <= 1.0:
        raise UsageError(f"--min-pass-rate must be in (0, 1], found {min_pass_rate}")
    release = load(manifest, gguf_dir=gguf_dir)
    selected = _tags(release, tag)
    matrix = load_cases(cases or [])
    host = daemon_host(host, DEFAULT_HOST)
    client = _client(host)
    reports = []
    for item in selected:
        with _model(release, item, host, create, client) as model:
            console.info(f"smoke {model} on {host}: {len(matrix)} case(s) × {repeat} run(s)")
            report = run_matrix(
                client, release, item, model, matrix, repeat=repeat, on_run=_progress
            )
            report.created = create
            reports.append(report)
    _print(reports, host, min_pass_rate, json_output)
    failed = [(r.tag, c.name) for r in reports for c in r.cases if not c.ok(min_pass_rate)]
    if failed:
        names = ", ".join(f"{t}/{name}" for t, name in failed)
        raise CheckFailed(f"{len(failed)} smoke case(s) failed: {names}")


def _tags(release: Release, names: list[str] | None) -> list[Tag]:
    """The tags to test: those named, else the manifest's latest; each must go to Ollama."""
    if release.ollama is None:
        raise UsageError(f"{release.source}: the manifest has no [ollama] table: nothing to smoke")
    if not names:
        if release.ollama.latest is None:
            raise UsageError(f"{release.source}: ollama.latest is not set: name tags with --tag")
        names = [release.ollama.latest]
    tags = release.select(names)
    off = [t.tag for t in tags if "ollama" not in t.targets]
    if off:
        raise UsageError(
            f"{release.source}: {', '.join(off)} not published to Ollama (targets of the tag)"
        )
    return tags


def _client(host: str) -> Any:
    """One ollama client for the host; unreachable daemons are exit 3, before any case runs."""
    import httpx

    ollama = import_ollama()
    client = ollama.Client(host=host, timeout=httpx.Timeout(CHAT_TIMEOUT, connect=10.0))
    try:
        client.list()
    except (ConnectionError, httpx.HTTPError) as exc:
        raise TargetUnavailable(
            f"Ollama is not reachable at {host} ({exc}); start `ollama "
            "serve` or pass --host / OLLAMA_HOST"
        ) from None
    except ollama.ResponseError as exc:
        raise TargetUnavailable(
            f"Ollama at {host} answered {exc.status_code}: {server_text(exc.error)}"
        ) from None
    return client


@contextlib.contextmanager
def _model(release: Release, tag: Tag, host: str, create: bool, client: Any) -> Iterator[str]:
    """The model name to chat with: a scratch copy with --create, else the published tag."""
    from publisher.ollama.smoke.scratch import created_tag

    if create:
        with created_tag(release, tag, host) as name:
            yield name
        return
    import ollama

    assert release.ollama is not None
    name = f"{release.ollama.model}:{tag.tag}"
    try:
        client.show(name)
    except ollama.ResponseError as exc:
        if exc.status_code == 404:
            raise UsageError(
                f"{name} is not on the Ollama at {host}: create it from the local "
                f"GGUF with --create, or `ollama pull {name}`"
            ) from None
        raise TargetUnavailable(
            f"show {name}: Ollama answered {exc.status_code}: {server_text(exc.error)}"
        ) from None
    yield name


def _progress(tag: str, case: str, run: Any) -> None:
    verdict = "ok" if run.passed else f"FAILED ({run.failures[0].code})"
    console.info(f"  {tag} {case} seed {run.seed}: {verdict} [{run.seconds:.1f}s]")


def _print(reports: list[Any], host: str, min_rate: float, json_output: bool) -> None:
    from rich.table import Table

    from publisher.ollama.smoke.report import report_json

    if json_output:
        console.print_json(report_json(reports, host=host, min_rate=min_rate))
        return
    table = Table(
        "tag", "case", "check", "passed", "rate", "result", "first failure", title=f"smoke ({host})"
    )
    for report in reports:
        for case in report.cases:
            first = next((f for run in case.runs for f in run.failures), None)
            ok = case.ok(min_rate)
            table.add_row(
                report.tag,
                case.name,
                case.check,
                f"{case.passes}/{len(case.runs)}",
                f"{case.rate:.0%}",
                Text("pass" if ok else "FAIL", style="green" if ok else "red"),
                f"{first.code}: {first.message}" if first else "",
            )
    console.out.print(table)
    for report in reports:
        for case in report.cases:
            failing = next((run for run in case.runs if not run.passed), None)
            if failing is not None:
                _print_transcript(report.model, case.name, failing)


def _print_transcript(model: str, case: str, run: Any) -> None:
    """The conversation of a failing run, so the reason can be read in context."""
    console.out.print(Text(f"\n✗ {model} {case} (seed {run.seed})", style="red"))
    for failure in run.failures:
        console.out.print(f"  {failure.code}: {failure.message}", markup=False, soft_wrap=True)
    for entry in run.transcript:
        if "show" in entry:
            continue
        role = entry.get("role", "error")
        if entry.get("tool_name"):
            role += f" ({entry['tool_name']})"
        text = entry.get("content") or entry.get("error") or ""
        calls = [
            f"{c['function']['name']}({c['function']['arguments']})"
            for c in entry.get("tool_calls") or []
        ]
        extra = f" → {', '.join(calls)}" if calls else ""
        done = f" [{entry['done_reason']}]" if entry.get("done_reason") else ""
        console.out.print(f"    {role}: {text!r}{extra}{done}", markup=False, soft_wrap=True)
