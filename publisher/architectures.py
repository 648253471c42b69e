"""Facts per model architecture that the manifest and the GGUF checks both rely on (one place)."""

from __future__ import annotations

# The eos token id a GGUF must carry when the manifest pins none: Gemma 4 closes a turn with
# <turn|> (106); files with eos = 1 leak control tokens into answers.
DEFAULT_EOS: dict[str, int] = {"gemma4": 106}

# Architectures whose renderer and parser `ollama create` fills in by itself when either is empty
# (server/create.go, "Auto-detect renderer, parser, and stop tokens"); a model with a renderer
# ignores its TEMPLATE (server/prompt.go).
FORCED_DEFAULTS = frozenset({"gemma4", "laguna", "nemotron_h", "nemotron_h_moe", "nemotron_h_omni"})

# What `publish init` proposes for an architecture the tool ships an Ollama template for: the
# built-in template (publisher/templates/ollama/) and Ollama's own tool-call parser for it.
BUILTIN_TEMPLATE: dict[str, str] = {"gemma4": "gemma4-tools.gotmpl"}
BUILTIN_PARSER: dict[str, str] = {"gemma4": "gemma4"}
