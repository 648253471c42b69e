"""Facts per model architecture that the manifest and the GGUF checks both rely on (one place)."""

from __future__ import annotations

# The eos token id a GGUF must carry when the manifest pins none: Gemma 4 closes a turn with
# <turn|> (106); files with eos = 1 leak control tokens into answers.
DEFAULT_EOS: dict[str, int] = {"gemma4": 106}

# What `publish init` proposes for an architecture the tool ships an Ollama template for: the
# built-in template (publisher/templates/ollama/) and Ollama's own tool-call parser for it.
BUILTIN_TEMPLATE: dict[str, str] = {"gemma4": "gemma4-tools.gotmpl"}
BUILTIN_PARSER: dict[str, str] = {"gemma4": "gemma4"}
