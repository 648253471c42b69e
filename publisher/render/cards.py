"""The Hugging Face model card (README.md) of a GGUF repo: front matter and marked sections.

The front matter is built by huggingface_hub's `ModelCardData` (never hand-written YAML); every
body section sits between `publisher:begin/end` markers so a later render replaces only them.
"""

from __future__ import annotations

from publisher.errors import UsageError
from publisher.manifest import Release
from publisher.render import caveats
from publisher.render import context as ctx
from publisher.render.env import render
from publisher.render.eval_results import repo_rows
from publisher.render.facts import TagFacts
from publisher.render.sidefiles import hf_side_files
from publisher.urls import import_hub

CARD_TEMPLATE = "hf-card.md.j2"


def lineage(release: Release) -> str:
    """The card's `base_model`: the repo the files were made from (the BF16 source when the
    manifest names one), not the original model further up the tree."""
    hf = release.huggingface
    return hf.source_repo if hf is not None and hf.source_repo else release.model.base_model


def card_tags(release: Release) -> list[str]:
    """Hub tags from what the manifest says the model is."""
    model = release.model
    tags = ["gguf", model.architecture]
    if model.experts:
        tags.append("moe")
    if model.experts_base is not None and model.experts < model.experts_base:
        tags.append("expert-pruning")
    if any(t.kind == "contrib-dynamic" for t in release.tags):
        tags.append("contrib-dynamic")
    if release.ollama is not None:
        tags.append("ollama")
    return list(dict.fromkeys(tags))


def front_matter(release: Release) -> str:
    """The card's YAML metadata, rendered by ModelCardData.to_yaml(); every key is one the
    publisher owns (markers.GENERATED_KEYS), so a re-render replaces each of them."""
    hf = release.huggingface
    assert hf is not None
    extra: dict[str, object] = {"base_model_relation": "quantized"}
    if hf.quantized_by:
        extra["quantized_by"] = hf.quantized_by
    if hf.license_name:
        extra["license_name"] = hf.license_name
    data = import_hub().ModelCardData(
        base_model=lineage(release),
        license=release.model.license,
        license_link=hf.license_link,
        pipeline_tag="text-generation",
        tags=card_tags(release),
        **extra,
    )
    return data.to_yaml() + "\n"


def render_card(
    release: Release, facts: dict[str, TagFacts], published: set[str] | None = None
) -> str:
    """The whole README.md for the release's GGUF repo. `published` (the seal): the tags the
    repo holds — only their files are linked, and results cite only them."""
    hf = release.huggingface
    if hf is None:
        raise UsageError(f"{release.source}: the manifest has no [huggingface] table to render")
    ollama = release.ollama
    files = ctx.file_rows(release, facts, published)
    run_tag = ctx.default_tag(release, "huggingface")
    run_row = next((row for row in files if run_tag and row.tag == run_tag.tag), None)
    if run_row is not None and not run_row.published:  # never a command for a missing file
        run_row = next((row for row in files if row.published), None)
    ollama_tag = ctx.default_tag(release, "ollama")
    side_files = hf_side_files(release)
    return render(
        CARD_TEMPLATE,
        front_matter=front_matter(release),
        title=release.model.title,
        summary_line=ctx.summary_line(release),
        source_repo=ctx.hf_link(hf.source_repo) if hf.source_repo else None,
        original_model=ctx.hf_link(release.model.base_model),
        summary=release.model.summary.strip(),
        recipe=release.model.recipe.strip(),
        formats=ctx.format_rows(release, here="this repo, "),
        ollama_model=ctx.ollama_link(ollama.model) if ollama else None,
        files=files,
        repo=hf.repo,
        hf_url=ctx.HF_URL,
        ollama_url=ctx.OLLAMA_URL,
        picks=ctx.pick_lines(release),
        bench=ctx.benchmark_table(release),
        hub_results=[f"{row.name} ({row.measured_on})" for row in repo_rows(release, published)],
        run_tag=run_row.hf_tag if run_row else None,
        run_file=run_row.files[0] if run_row else None,
        ollama_run=f"{ollama.model}:{ollama_tag.tag}" if ollama and ollama_tag else None,
        hf_pull_note=caveats.hf_pull_note(release, ollama_tag.tag if ollama_tag else None),
        derivative_note=caveats.derivative_note(release, ollama_tag.tag if ollama_tag else None),
        side_files=side_files,
        template_note=ctx.template_note(release),
        parser=ollama.parser if ollama else None,
        parameter_lines=ctx.release_parameter_lines(release),
        overridden=ctx.overridden_tags(release),
        license=ctx.license_paragraph(release),
    )
