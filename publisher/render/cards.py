"""The Hugging Face model card (README.md) of a GGUF repo: front matter and marked sections.

The front matter is built by huggingface_hub's `ModelCardData` (never hand-written YAML); every
body section sits between `publisher:begin/end` markers so a later render replaces only them.
"""

from __future__ import annotations

from publisher.errors import UsageError
from publisher.manifest import Release
from publisher.render import context as ctx
from publisher.render.env import render
from publisher.render.facts import TagFacts
from publisher.render.sidefiles import hf_side_files
from publisher.urls import import_hub

CARD_TEMPLATE = "hf-card.md.j2"
GEMMA_TERMS_URL = "ai.google.dev/gemma"


def license_id(release: Release) -> str:
    """The Hub licence id: `gemma` for the Gemma Terms of Use, else `other` with its link."""
    hf = release.huggingface
    declared = getattr(hf, "license", None)
    if isinstance(declared, str) and declared:
        return declared
    link = getattr(hf, "license_link", None) or ""
    text = release.ollama.license if release.ollama and release.ollama.license else ""
    if GEMMA_TERMS_URL in link or "Gemma Terms of Use" in text:
        return "gemma"
    return "other"


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
    """The card's YAML metadata, rendered by ModelCardData.to_yaml()."""
    hf = release.huggingface
    assert hf is not None
    extra: dict[str, object] = {"base_model_relation": "quantized"}
    quantized_by = getattr(hf, "quantized_by", None)
    if quantized_by:
        extra["quantized_by"] = quantized_by
    data = import_hub().ModelCardData(
        base_model=release.model.base_model,
        license=license_id(release),
        license_link=getattr(hf, "license_link", None),
        pipeline_tag="text-generation",
        tags=card_tags(release),
        **extra,
    )
    return data.to_yaml() + "\n"


def render_card(release: Release, facts: dict[str, TagFacts]) -> str:
    """The whole README.md for the release's GGUF repo."""
    hf = release.huggingface
    if hf is None:
        raise UsageError(f"{release.source}: the manifest has no [huggingface] table to render")
    ollama = release.ollama
    run_tag = ctx.default_tag(release, "huggingface")
    ollama_tag = ctx.default_tag(release, "ollama")
    side_files = hf_side_files(release)
    return render(
        CARD_TEMPLATE,
        front_matter=front_matter(release),
        title=release.model.title,
        summary_line=ctx.summary_line(release),
        source_repo=ctx.hf_link(hf.source_repo) if hf.source_repo else None,
        summary=release.model.summary.strip(),
        recipe=release.model.recipe.strip(),
        formats=ctx.format_rows(release, here="this repo, "),
        ollama_model=ctx.ollama_link(ollama.model) if ollama else None,
        files=ctx.file_rows(release, facts),
        repo=hf.repo,
        hf_url=ctx.HF_URL,
        ollama_url=ctx.OLLAMA_URL,
        picks=ctx.pick_lines(release),
        bench=ctx.benchmark_table(release),
        run_tag=run_tag.tag if run_tag else None,
        ollama_run=f"{ollama.model}:{ollama_tag.tag}" if ollama and ollama_tag else None,
        side_files=side_files,
        template_note=ctx.template_note(release),
        parser=ollama.parser if ollama else None,
        parameter_lines=ctx.release_parameter_lines(release),
        overridden=ctx.overridden_tags(release),
        license_text=(ollama.license or "").strip() if ollama else "",
        license_link=getattr(hf, "license_link", None),
    )
