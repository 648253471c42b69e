"""Releases several tests share: the tiny `fam v1` (manifest text, GGUF files) and v3 seed facts.

One place knows that the manifest's `[files] name` and the file names the tests write agree
(`fam-v1-<tag>.gguf` in the manifest's gguf_dir), so a test says only what is special about it:

    from support.release_fixtures import fam_gguf, fam_manifest, huggingface_tags
    manifest.write_text(fam_manifest(huggingface_tags("Q4_K_M", "Q8_0")))
    fam_gguf(tmp_path / "gguf", "Q4_K_M")
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from support.gguf_factory import write_gemma4_gguf

HF_REPO = "Org/fam-v1-GGUF"


def fam_manifest(
    sections: str = "", *, gguf_dir: str | Path = "gguf", experts_base: int | None = None
) -> str:
    """A `fam v1` manifest (98 experts): `[model]`, `[files]`, then the given sections."""
    base = f"experts_base = {experts_base}\n" if experts_base is not None else ""
    head = (
        '\n[model]\nfamily = "fam"\nvariant = "v1"\ntitle = "Fam v1"\nbase_model = "org/base"\n'
        f"experts = 98\n{base}\n"
        f'[files]\ngguf_dir = "{gguf_dir}"\nname = "fam-v1-{{tag}}.gguf"\n'
    )
    return head + ("\n" + sections if sections else "")


def huggingface_tags(*tags: str, kinds: Mapping[str, str] | None = None) -> str:
    """`[huggingface]` (repo HF_REPO) and one Hugging-Face-only `[[tags]]` per tag, in order."""
    lines = ["[huggingface]", f'repo = "{HF_REPO}"']
    for tag in tags:
        lines += ["", "[[tags]]", f'tag = "{tag}"']
        if kinds and tag in kinds:
            lines.append(f'kind = "{kinds[tag]}"')
        lines.append('targets = ["huggingface"]')
    return "\n".join(lines) + "\n"


def fam_gguf(gguf_dir: Path, tag: str, **factory: Any) -> Path:
    """Write the tiny gemma4 GGUF of `tag` where a fam manifest looks for it (dir created)."""
    gguf_dir.mkdir(parents=True, exist_ok=True)
    return write_gemma4_gguf(gguf_dir / f"fam-v1-{tag}.gguf", **factory)


# ---------------------------------------------------------------------------------------------
# The real v3 release (manifests/v3.toml): its parameters as the hand-written seed page has them

V3_SEED_PARAMETERS: dict[str, Any] = {
    "temperature": 0.6,
    "top_p": 0.95,
    "repeat_penalty": 1.15,
    "repeat_last_n": 256,
    "num_ctx": 256000,
    "stop": ["<turn|>", "<|tool_response>"],
}
V3_SEED_PARAMETER_LINES = [
    "PARAMETER temperature 0.6",
    "PARAMETER top_p 0.95",
    "PARAMETER repeat_penalty 1.15",
    "PARAMETER repeat_last_n 256",
    "PARAMETER num_ctx 256000",
    "PARAMETER stop <turn|>",
    "PARAMETER stop <|tool_response>",
]
