"""The loaded release as every other module sees it: tags with absolute paths, the Ollama table
with its template found and licence read. Frozen: nothing downstream edits the manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from publisher.architectures import DEFAULT_EOS
from publisher.errors import UsageError
from publisher.field_errors import did_you_mean
from publisher.manifest.schema import (
    Benchmarks,
    Checks,
    Files,
    HuggingFace,
    Model,
    ParameterValue,
    Related,
    TargetName,
)

if TYPE_CHECKING:
    from publisher.gguf.quant_layout import Recipe
else:
    # Only resolve.py makes a Tag's recipe, from a declared `[recipes]` entry: pydantic takes it
    # as it is, so loading a manifest without recipes never imports llama.cpp's quant tables
    # (issue 23: `validate` no slower than `hf version`).
    Recipe = Any


class Tag(BaseModel):
    """A tag with its file resolved to an absolute path."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    tag: str
    file: str
    path: Path
    kind: Literal["standard", "contrib-dynamic"]
    vram: str | None
    note: str | None
    parameters: dict[str, ParameterValue]
    targets: list[TargetName]
    recipe: Recipe | None = None  # the declared llama-quantize options (`[recipes]`)


class OllamaConfig(BaseModel):
    """The `[ollama]` table with the template path resolved and the licence read."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    model: str
    latest: str | None
    template: Path | None
    renderer: str | None
    parser: str | None
    license: str | None
    system: str | None
    parameters: dict[str, ParameterValue]
    registry: str | None
    requires: str | None = None


class Release(BaseModel):
    """A loaded, validated release: what every other module works from."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    source: Path
    root: Path
    model: Model
    files: Files
    gguf_dir: Path
    checks: Checks
    ollama: OllamaConfig | None
    huggingface: HuggingFace | None
    tags: list[Tag]
    benchmarks: Benchmarks | None
    related: list[Related]

    @property
    def expected_eos_token_id(self) -> int | None:
        """The eos id every GGUF must carry: the pinned one, else the architecture's default."""
        if self.checks.eos_token_id is not None:
            return self.checks.eos_token_id
        return DEFAULT_EOS.get(self.model.architecture)

    def tag(self, name: str) -> Tag:
        """The tag called `name` (case-insensitive, as Ollama matches names)."""
        for tag in self.tags:
            if tag.tag.lower() == name.lower():
                return tag
        raise UsageError(
            f"{self.source}: no tag {name!r}; the manifest declares "
            f"{', '.join(t.tag for t in self.tags)}"
            + did_you_mean(name, [t.tag for t in self.tags])
        )

    def select(self, names: list[str] | None) -> list[Tag]:
        """The tags named on the command line (all when none), in manifest order."""
        if not names:
            return list(self.tags)
        wanted = {self.tag(name).tag for name in names}
        return [tag for tag in self.tags if tag.tag in wanted]

    def parameters_for(self, tag: Tag) -> dict[str, ParameterValue]:
        """The release's Ollama parameters with the tag's override merged in, order kept."""
        base = dict(self.ollama.parameters) if self.ollama else {}
        base.update(tag.parameters)
        return base
