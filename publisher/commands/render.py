"""`publish render`: write a release's Modelfiles, Hugging Face card and side files, and page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from publisher import console

if TYPE_CHECKING:
    from publisher.manifest import Release


def _measure(release: Release, *, digest: bool, progress: bool) -> list[Any] | None:
    """verify's reports when any GGUF (or split set) is on disk (sizes, quants, digests)."""
    from publisher.gguf.checks import tag_files, verify_release

    if not any(tag_files(tag)[0].exists() for tag in release.tags):
        return None

    return verify_release(release, digest=digest, progress=progress)


def render(
    manifest: Annotated[Path, typer.Argument(help="The release manifest (TOML).")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output folder (default: build/<variant>/ here)."),
    ] = None,
    gguf_dir: Annotated[
        Path | None, typer.Option("--gguf-dir", help="Where the GGUFs are (beats the manifest).")
    ] = None,
    no_digest: Annotated[
        bool, typer.Option("--no-digest", help="Do not hash GGUFs; digests show as unknown.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Render Modelfiles, the HF model card and side files, and the Ollama page."""
    from rich.table import Table

    from publisher.manifest import load
    from publisher.render import render_release, write_rendered
    from publisher.render.page import how_to_apply
    from publisher.render.rendered import OLLAMA_DIR, PAGE_NAME, check_out_dir

    release = load(manifest, gguf_dir=gguf_dir)
    out_dir = out if out is not None else Path("build") / release.model.variant
    check_out_dir(out_dir)  # before hashing: a bad --out fails at once
    reports = _measure(release, digest=not no_digest, progress=not json_output)
    rendered = render_release(release, reports)
    written = write_rendered(rendered, out_dir)
    failed = [name for name, fact in rendered.facts.items() if fact.status == "failed"]
    warnings = [*rendered.warnings] + [
        f"tag {name} failed verification (see `publish verify`); its measured values are shown"
        for name in failed
    ]
    measured = [name for name, fact in rendered.facts.items() if fact.present]
    unknown = [t.tag for t in release.tags if t.tag not in measured]
    if json_output:
        console.print_json(
            {
                "variant": release.model.variant,
                "out": str(out_dir),
                "files": [str(path) for path in written],
                "measured": measured,
                "unknown": unknown,
                "warnings": warnings,
            }
        )
        return
    for warning in warnings:
        console.warn(warning)
    table = Table("file", "bytes", title=f"rendered {release.model.variant} into {out_dir}")
    for path in written:
        table.add_row(str(path), str(path.stat().st_size))
    console.out.print(table)
    console.info(
        f"{len(measured)} tag(s) with measured size and digest, {len(unknown)} shown as unknown"
    )
    if rendered.ollama_page is not None and release.ollama is not None:
        page = out_dir / OLLAMA_DIR / PAGE_NAME
        console.out.print(how_to_apply(page, release.ollama.model), soft_wrap=True)
