"""`publish check-template`: render the conversation corpus through an Ollama TEMPLATE with real
Go, report every fault, and show the parity with the model's reference chat template."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from publisher import console
from publisher.errors import EXIT_FAILED, UsageError

if TYPE_CHECKING:
    from publisher.chat.checks import TemplateReport


def build_report(
    manifest: Path | None, template: Path | None, reference: Path | None
) -> TemplateReport:
    """The report for the given arguments (a manifest, a template file, or both)."""
    from publisher.chat.preflight import check_file, check_release_template
    from publisher.manifest import load

    if manifest is not None:
        return check_release_template(load(manifest), template=template, reference=reference)
    if template is None:
        raise UsageError("check-template needs a MANIFEST or --template FILE")
    return check_file(template, reference=reference)


def print_report(report: TemplateReport) -> None:
    """The human-readable report on stdout."""
    out = console.out
    out.print(f"template: {report.template}")
    for note in report.notes:
        out.print(f"  note: {note}")
    if report.renders:
        out.print(f"  rendered {len(report.renders)} conversations with Go text/template")
    for failure in report.failures:
        out.print(Text.assemble(("  FAIL ", "red"), failure.format()), soft_wrap=True)
    if report.reference:
        same = sum(1 for p in report.parity if p.identical)
        out.print(
            f"parity with {report.reference}: {same} identical, {len(report.parity) - same} differ"
        )
        for entry in report.parity:
            out.print(f"  {entry.conversation}: {'identical' if entry.identical else 'differs'}")
            if entry.diff:
                out.print(entry.diff, markup=False, highlight=False, soft_wrap=True)
    verdict = (
        Text("ok", style="green")
        if report.ok
        else Text(f"{len(report.failures)} failure(s)", style="red")
    )
    out.print(Text.assemble("result: ", verdict))


def check_template(
    manifest: Annotated[
        Path | None, typer.Argument(help="Release manifest (TOML).", metavar="[MANIFEST]")
    ] = None,
    template: Annotated[
        Path | None, typer.Option("--template", help="Go TEMPLATE file (default: the manifest's).")
    ] = None,
    reference: Annotated[
        Path | None,
        typer.Option("--reference", help="Reference Jinja chat template when no GGUF is present."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Check an Ollama chat template with Go's own text/template against a conversation corpus."""
    report = build_report(manifest, template, reference)
    if json_output:
        console.print_json(report.to_dict())
    else:
        print_report(report)
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)
