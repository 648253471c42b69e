"""What Ollama does with this release's files outside `publish`, said once for card, page and
Modelfile: hf.co pulls have no parser, and a local derivative loses the template.

- hf.co: Ollama reads a Hub repo's `template`, `params` and `system` files (hub-docs
  `docs/hub/ollama.md`), but no file declares a PARSER; with no parser Ollama's generic tool
  parser looks for JSON, so a model whose calls need a named parser gets none parsed.
- Derivatives: `ollama create` — a Modelfile `FROM <model>:<tag>`, `/save`, `ollama create -f`
  on a rendered Modelfile — fills in the architecture's built-in renderer when renderer or parser
  is empty (server/create.go, "Auto-detect renderer, parser, and stop tokens"), and a model with
  a renderer ignores its TEMPLATE (server/prompt.go).
"""

from __future__ import annotations

from publisher.architectures import FORCED_DEFAULTS
from publisher.manifest import Release

# How each parser's tool calls look in the raw reply, in the words a card uses.
TOOL_CALL_SHAPES = {"gemma4": "Gemma 4's `call:NAME{…}` tool calls"}


def hf_pull_note(release: Release, ollama_tag: str | None) -> str | None:
    """Card text: hf.co pulls get the repo's template and params but no parser."""
    ollama = release.ollama
    if ollama is None or release.huggingface is None or not ollama.parser:
        return None
    calls = TOOL_CALL_SHAPES.get(ollama.parser, f"tool calls in the `{ollama.parser}` format")
    where = f"`ollama run {ollama.model}:{ollama_tag}`" if ollama_tag else f"`{ollama.model}`"
    return (
        "`ollama run hf.co/…` uses this repo's `template` and `params` files, but a Hub repo "
        "cannot declare a parser: Ollama then looks for JSON tool calls, so "
        f"{calls} stay in the reply text and `tool_calls` is empty. For tool use, pull the "
        f"ollama.com tag ({where}), which carries `PARSER {ollama.parser}`."
    )


def loses_template(release: Release) -> bool:
    """`ollama create` on this release's model would replace its TEMPLATE with a renderer."""
    ollama = release.ollama
    return (
        ollama is not None
        and ollama.template is not None
        and not ollama.renderer
        and release.model.architecture in FORCED_DEFAULTS
    )


def derivative_note(release: Release, example_tag: str | None) -> str | None:
    """Card and page text: a local derivative gets Ollama's renderer; how to keep the template."""
    ollama = release.ollama
    if ollama is None or not loses_template(release):
        return None
    source = f"{ollama.model}:{example_tag}" if example_tag else f"{ollama.model}:…"
    arch = release.model.architecture
    return (
        f"A model you build on these tags — `FROM {source}` in a Modelfile, or `/save` in a "
        f"chat — goes through `ollama create`, which gives every {arch} model without both a "
        f"renderer and a parser Ollama's built-in {arch} renderer (server/create.go); a model "
        "with a renderer ignores its TEMPLATE, so the derivative loses this template. To keep "
        "it, copy the TEMPLATE into your model's image and push that image to the registry "
        "directly (as `publish` does) instead of creating it locally — or accept Ollama's "
        "renderer."
    )


def modelfile_note(release: Release) -> str | None:
    """One comment line for a rendered Modelfile: `ollama create -f` on it loses the template."""
    if not loses_template(release):
        return None
    arch = release.model.architecture
    return (
        f"`ollama create -f` on this file gives the model Ollama's built-in {arch} renderer, "
        "which ignores the TEMPLATE below (server/create.go); publish pushes it to the registry "
        "directly to keep it."
    )
