"""Files for the Hugging Face repo root that make `ollama run hf.co/<repo>:<tag>` behave like
the ollama.com tags: `template` (the Go chat template), `params` (JSON) and `system`.

Ollama reads them for every quant of the repo, so they carry the release-wide values; a tag's
own parameter override cannot be expressed there and is reported as a warning by the caller.
"""

from __future__ import annotations

import json

from publisher.manifest import Release
from publisher.render.modelfile import template_text


def params_json(release: Release) -> str | None:
    """The release's Ollama parameters as the JSON object Ollama's `params` layer holds."""
    if release.ollama is None or not release.ollama.parameters:
        return None
    return json.dumps(release.ollama.parameters, indent=2, ensure_ascii=False) + "\n"


def hf_side_files(release: Release) -> dict[str, str]:
    """`{"template": …, "params": …, "system": …}`, each only when the release has it."""
    files: dict[str, str] = {}
    if release.ollama is None or release.huggingface is None:
        return files
    template = template_text(release)
    if template is not None:
        files["template"] = template
    params = params_json(release)
    if params is not None:
        files["params"] = params
    if release.ollama.system:
        files["system"] = release.ollama.system
    return files


def override_warnings(release: Release) -> list[str]:
    """Tags sent to the Hub whose parameter override the repo-wide `params` file cannot carry."""
    return [
        f"tag {tag.tag} overrides {', '.join(tag.parameters)}; the Hugging Face `params` file "
        "is shared by every quant and carries the release-wide values"
        for tag in release.tags
        if tag.parameters and "huggingface" in tag.targets
    ]
