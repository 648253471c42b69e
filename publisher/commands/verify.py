"""`publish verify`: check a release's GGUFs (or loose files) before anything is published."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from publisher import console
from publisher.errors import CheckFailed, UsageError

if TYPE_CHECKING:
    from publisher.gguf.checks import TagReport


def verify(
    targets: Annotated[
        list[Path],
        typer.Argument(
            help="A manifest TOML, or one or more GGUF files (the first shard of a split set).",
            metavar="MANIFEST | FILE.gguf...",
        ),
    ],
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            "-t",
            help="With a manifest: only these tags. With GGUF files: the tag of each file, "
            "in order (required, one per file).",
        ),
    ] = None,
    experts: Annotated[
        int | None,
        typer.Option("--experts", help="GGUF files only: the expert count every file must carry."),
    ] = None,
    arch: Annotated[
        str | None,
        typer.Option("--arch", help="GGUF files only: the architecture (default gemma4)."),
    ] = None,
    eos: Annotated[
        int | None,
        typer.Option(
            "--eos", help="GGUF files only: the eos token id (default: the architecture's)."
        ),
    ] = None,
    no_digest: Annotated[
        bool, typer.Option("--no-digest", help="Skip sha256 (and the digest-uniqueness check).")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    gguf_dir: Annotated[
        Path | None,
        typer.Option("--gguf-dir", help="With a manifest: where its GGUF files are."),
    ] = None,
) -> None:
    """Check GGUF headers, experts, quant, template, eos, size and sha256; exit 1 on a failure."""
    from publisher.gguf.checks import verify_release

    manifests = [path for path in targets if path.suffix.lower() == ".toml"]
    if manifests:
        if len(targets) != 1:
            raise UsageError("give one manifest, or GGUF files — not both, not several manifests")
        for name, value in (("--experts", experts), ("--arch", arch), ("--eos", eos)):
            if value is not None:
                raise UsageError(f"{name} is for loose GGUF files; a manifest declares it")
        from publisher.manifest import load

        release = load(targets[0], gguf_dir=gguf_dir)
        reports = verify_release(release, tag, digest=not no_digest)
    else:
        reports = _verify_loose(targets, tag or [], experts, arch, eos, not no_digest, gguf_dir)
    _print(reports, json_output)
    failed = [report for report in reports if not report.ok]
    if failed:
        names = ", ".join(report.tag for report in failed)
        raise CheckFailed(f"{len(failed)} of {len(reports)} tag(s) failed verification: {names}")


def _verify_loose(
    files: list[Path],
    tags: list[str],
    experts: int | None,
    arch: str | None,
    eos: int | None,
    digest: bool,
    gguf_dir: Path | None,
) -> list[TagReport]:
    """Loose files: one declared tag per file, expectations from the flags."""
    from publisher.gguf.checks import Expectations, verify_files

    if gguf_dir is not None:
        raise UsageError("--gguf-dir is for a manifest; give the GGUF paths directly")
    not_gguf = [str(path) for path in files if path.suffix.lower() != ".gguf"]
    if not_gguf:
        raise UsageError(f"expected a manifest (.toml) or GGUF files, found {', '.join(not_gguf)}")
    if len(tags) != len(files):
        raise UsageError(
            f"give one --tag per GGUF file, in order: {len(files)} file(s), {len(tags)} --tag; "
            "tags are declared, never guessed from file names"
        )
    absent = [str(path) for path in files if not path.exists() and "-00001-of-" not in path.name]
    if absent:
        raise UsageError(f"no such file: {', '.join(absent)}")
    exp = Expectations(arch=arch or "gemma4", experts=experts, eos_token_id=eos)
    return verify_files(list(zip(tags, files, strict=True)), exp, digest=digest)


def _size(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def _print(reports: list[TagReport], json_output: bool) -> None:
    from rich.table import Table

    if json_output:
        console.print_json([report.to_dict() for report in reports])
        return
    table = Table("tag", "file", "size", "quant", "experts", "result", title="verify")
    for report in reports:
        name = report.files[0].name
        if len(report.files) > 1:
            name += f" (+{len(report.files) - 1} shards)"
        style = {"ok": "green", "missing": "yellow"}.get(report.status, "red")
        table.add_row(
            report.tag,
            name,
            _size(report.size) if report.size else "—",
            report.quant or "—",
            report.experts_label,
            Text(report.status, style=style),
        )
    console.out.print(table)
    _print_layouts(reports)
    for report in reports:
        for failure in report.failures:
            line = Text.assemble(("✗ ", "red"), f"{report.tag}: {failure}")
            console.out.print(line, soft_wrap=True)


def _counts(counts: dict[str, int]) -> str:
    return " · ".join(f"{kind} {n}" for kind, n in counts.items()) or "—"


def _print_layouts(reports: list[TagReport]) -> None:
    """What the quant check measured: per tag, the ftype, the predicted and the found tensor
    counts per type, and for CD tiers the layers that deviate from the plain layout."""
    from rich.table import Table

    from publisher.gguf.quant_check import layer_ranges

    rows = [(r.tag, q.measured) for r in reports if (q := r.result("quant")) and q.measured]
    if not rows:
        return
    table = Table("tag", "ftype", "predicted", "found", title="quant layout (tensors per type)")
    for tag, measured in rows:
        predicted, actual = measured["predicted"], measured["actual"]
        found = "= predicted" if predicted == actual else _counts(actual)
        if "deviating_layers" in measured:
            layers = layer_ranges(measured["deviating_layers"]) or "none"
            found += f"\nlayers deviating from plain: {layers}"
        table.add_row(tag, measured["ftype"] or "—", _counts(predicted), found)
    console.out.print(table)
