"""The ollama.com model page (markdown), in the structure of the model owner's published page.

ollama.com edits the page by hand on the web, so it is written whole each time (no markers), and
publishing it is a person's step: paste it into the model page's editor on ollama.com.
"""

from __future__ import annotations

import publisher.render.caveats as caveats
import publisher.render.context as ctx
from publisher.errors import UsageError
from publisher.manifest import Release
from publisher.render.env import render

PAGE_TEMPLATE = "ollama-page.md.j2"


def how_to_apply(path: object, model: str) -> str:
    """The one line that tells a person what to do with the rendered page (no API takes it)."""
    return (
        f"ollama.com page: {path} — publish does not upload it; paste it into the model page "
        f"editor on ollama.com ({ctx.OLLAMA_URL}/{model})"
    )


def related_models(release: Release) -> list[str]:
    """Links to the sibling variants on ollama.com (the Hub repo when one has no Ollama model)."""
    links = []
    for related in release.related:
        if related.variant == release.model.variant:
            continue
        if related.ollama:
            links.append(ctx.ollama_link(related.ollama))
        elif related.huggingface:
            links.append(ctx.hf_link(related.huggingface))
    return links


def render_page(release: Release) -> str:
    """The markdown of the release's ollama.com page."""
    ollama = release.ollama
    if ollama is None:
        raise UsageError(f"{release.source}: the manifest has no [ollama] table to render")
    hf = release.huggingface
    ollama_tags = [t for t in release.tags if "ollama" in t.targets]
    latest = ctx.default_tag(release, "ollama")
    return render(
        PAGE_TEMPLATE,
        summary_line=ctx.summary_line(release),
        summary=release.model.summary.strip(),
        recipe=release.model.recipe.strip(),
        source_repo=ctx.hf_link(hf.source_repo) if hf and hf.source_repo else None,
        formats=ctx.format_rows(release, here=""),
        picks=ctx.pick_lines(release),
        model=ollama.model,
        pulls=ctx.pull_tags(release),
        contrib_dynamic=any(t.kind == "contrib-dynamic" for t in ollama_tags),
        bench=ctx.benchmark_table(release),
        template_note=ctx.template_note(release),
        parameter_lines=ctx.release_parameter_lines(release),
        overridden=ctx.overridden_tags(release),
        derivative_note=caveats.derivative_note(release, latest.tag if latest else None),
        license=ctx.license_paragraph(release),
        related=related_models(release),
    )
