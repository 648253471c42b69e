"""The manifest's schema: one strict pydantic model per TOML table, checking what one table can.

Rules that span tables are in `cross_checks`; turning the document into a `Release` is `resolve`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from publisher.licenses import HUB_LICENSES, unknown_license_message
from publisher.manifest.names import (
    check_bare_file_name,
    check_hf_repo_id,
    check_ollama_model_name,
    check_ollama_tag,
    is_ollama_tag,
)
from publisher.manifest.text_rules import (
    check_handler_name,
    check_link,
    check_one_line,
    refuse_markers,
)
from publisher.urls import check_hub_url, check_registry_url

# Ollama parses PARAMETER floats as float32 (api/types.go): anything larger cannot be created.
_FLOAT32_MAX = 3.4028234663852886e38
# A benchmark figure beyond this is a typo, and its exact decimal would not fit a card.
BENCHMARK_LIMIT = 1e9
_MAX_DEPTH = 32  # no manifest table or array nests deeper; 5,000 levels would overflow the stack
# semver 2.0 (golang.org/x/mod/semver, which Ollama's REQUIRES goes through), without the "v"
_SEMVER_IDENT = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER_RE = re.compile(
    rf"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)"
    rf"(?:-{_SEMVER_IDENT}(?:\.{_SEMVER_IDENT})*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)

PathKind = Literal["tree", "gguf_dir", "gguf", "beside_gguf"]


@dataclass(frozen=True)
class PathKey:
    """Marks a manifest key that names a file (`Annotated[str, PathKey(...)]`), so the loader
    confines every such key and a test can enumerate them (`path_keys`): "tree" resolves inside
    the manifest's own tree (git work tree, else its folder), `builtin` when it may instead name
    a file of the package (or be a licence's text); "gguf_dir" and "gguf" are exempt (checked as
    GGUFs); "beside_gguf" names a file in gguf_dir that is uploaded (never a link out of it)."""

    kind: PathKind
    builtin: bool = False


# The names of the destinations; `publisher.pipeline.targets.TARGETS` (a feature above) maps
# each to its manifest table and factory, and checks at import that it has exactly these keys.
TARGET_NAMES: tuple[str, ...] = ("ollama", "huggingface")
TargetName = Literal[TARGET_NAMES]  # type: ignore[valid-type]


class _Strict(BaseModel):
    """Unknown keys are errors and values are not coerced: a typo must never be silently ignored."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, allow_inf_nan=False, defer_build=True
    )

    @field_validator("*")
    @classmethod
    def _no_card_markers(cls, value: Any) -> Any:
        # any text may reach the card, and the card is split on its markers (issue 21 item 8)
        refuse_markers(value)
        return value


class OllamaParameters(_Strict):
    """Every PARAMETER Ollama accepts, with its type (parser/parser.go, api/types.go Options)."""

    num_keep: int | None = None
    seed: int | None = None
    num_predict: int | None = None
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    typical_p: float | None = None
    repeat_last_n: int | None = None
    temperature: float | None = None
    repeat_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    num_ctx: int | None = None
    num_batch: int | None = None
    num_gpu: int | None = None
    main_gpu: int | None = None
    num_thread: int | None = None
    use_mmap: bool | None = None
    draft_num_predict: int | None = None
    stop: list[str] | None = None

    @field_validator("*")
    @classmethod
    def _floats_fit_float32(cls, value: Any) -> Any:
        if isinstance(value, float) and abs(value) > _FLOAT32_MAX:
            raise ValueError(f"{value!r} does not fit the 32-bit float Ollama reads")
        return value

    @field_validator("stop")
    @classmethod
    def _stop_values_nonempty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and any(not s for s in value):
            raise ValueError("stop sequences must be non-empty strings")
        return value


ParameterValue = int | float | bool | list[str]


def _validated_parameters(raw: Any) -> dict[str, ParameterValue]:
    """Validate a parameters table and return it in declaration order (the Modelfile's order)."""
    if not isinstance(raw, dict):
        raise ValueError("expected a table of Ollama parameters")
    checked = OllamaParameters.model_validate(raw)
    return {name: getattr(checked, name) for name in raw}


class Model(_Strict):
    """What the model is: identity, lineage and the facts every GGUF must carry."""

    family: str
    variant: str
    title: str
    base_model: str  # the original model, named in the card's text
    license: str | None = None  # a Hub licence id (publisher/licenses.py)
    parameters: str | None = None
    architecture: str = "gemma4"
    experts: int = Field(gt=0)
    experts_base: int | None = Field(default=None, gt=0)
    drop_map: str | None = None
    summary: str = ""
    recipe: str = ""
    pick_for: str = ""

    @field_validator("title")
    @classmethod
    def _title_one_line(cls, value: str) -> str:
        return check_one_line(value) or value

    @field_validator("variant")
    @classmethod
    def _variant_is_a_name(cls, value: str) -> str:
        # The variant names files: build/<variant>/, <variant>.lock.json. No paths, no spaces.
        if not is_ollama_tag(value):
            raise ValueError(
                f"expected letters, digits, '_', '.', '-' (starting with a letter, digit or '_'), "
                f"found {value!r}"
            )
        return value

    @field_validator("base_model")
    @classmethod
    def _base_model_is_a_repo(cls, value: str) -> str:
        # the card's `base_model` and its link: an empty or malformed id publishes a broken tree
        check_hf_repo_id(value)
        return value

    @field_validator("license")
    @classmethod
    def _hub_license_id(cls, value: str | None) -> str | None:
        if value is not None and value not in HUB_LICENSES:
            close = difflib.get_close_matches(value.lower(), list(HUB_LICENSES), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(hint + unknown_license_message(value))
        return value

    @model_validator(mode="after")
    def _experts_within_base(self) -> Model:
        if self.experts_base is not None and self.experts > self.experts_base:
            raise ValueError(
                f"experts ({self.experts}) cannot exceed experts_base ({self.experts_base})"
            )
        return self


class Files(_Strict):
    """Where the GGUFs live and how a tag maps to a file name."""

    gguf_dir: Annotated[str, PathKey("gguf_dir")] = "."
    name: Annotated[str, PathKey("gguf")] = "{tag}.gguf"

    @field_validator("name")
    @classmethod
    def _name_has_tag(cls, value: str) -> str:
        if "{tag}" not in value:
            raise ValueError(f"the file name pattern must contain {{tag}}, found {value!r}")
        if "/" in value or "\\" in value:
            raise ValueError(f"the file name pattern must be a bare file name, found {value!r}")
        check_bare_file_name(value)
        try:
            value.format(tag="T")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                f"only {{tag}} may stand in braces in the file name pattern, found {value!r}"
            ) from None
        return value


class Checks(_Strict):
    """Release-wide pins checked in every GGUF (a wrong eos token leaks control tokens)."""

    eos_token_id: int | None = None
    chat_template_sha256: str | None = None
    require_chat_template: bool = True

    @field_validator("chat_template_sha256")
    @classmethod
    def _is_sha256(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError(f"expected 64 lower-case hex digits, found {value!r}")
        return value


class Ollama(_Strict):
    """The Ollama side of the release: model name, Modelfile inputs and where to push."""

    model: str
    latest: str | None = None
    template: Annotated[str | None, PathKey("tree", builtin=True)] = None
    renderer: str | None = None
    parser: str | None = None
    requires: str | None = None
    license: Annotated[str | None, PathKey("tree", builtin=True)] = None  # path, name or text
    system: str | None = None
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)
    registry: str | None = None

    @field_validator("renderer", "parser")
    @classmethod
    def _handler_name(cls, value: str | None) -> str | None:
        return check_handler_name(value)

    @field_validator("requires")
    @classmethod
    def _requires_semver(cls, value: str | None) -> str | None:
        # Ollama's REQUIRES (parser/parser.go): semver, stored without the leading "v"
        if value is not None and not _SEMVER_RE.fullmatch(value):
            hint = " (write it without the leading 'v')" if value[:1] in ("v", "V") else ""
            raise ValueError(
                f"expected an Ollama version as semver MAJOR.MINOR.PATCH, e.g. 0.30.0{hint}; "
                f"found {value!r}"
            )
        return value

    @field_validator("registry")
    @classmethod
    def _registry_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_registry_url(value)
        return value

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters(cls, value: Any) -> dict[str, ParameterValue]:
        return _validated_parameters(value)

    @field_validator("model")
    @classmethod
    def _model_name(cls, value: str) -> str:
        check_ollama_model_name(value)
        return value

    @field_validator("latest")
    @classmethod
    def _latest_name(cls, value: str | None) -> str | None:
        if value is not None:
            check_ollama_tag(value)
        return value

    @model_validator(mode="after")
    def _template_xor_renderer(self) -> Ollama:
        # Ollama ignores TEMPLATE when a RENDERER is set (server/prompt.go): shipping both is a lie.
        if self.template and self.renderer:
            raise ValueError(
                "set either template or renderer, not both: Ollama ignores TEMPLATE when a "
                "RENDERER is set"
            )
        return self


class HuggingFace(_Strict):
    """The Hugging Face side: the GGUF repo and the source weights it quantizes."""

    repo: str
    source_repo: str | None = None
    private: bool = False
    endpoint: str | None = None
    license_name: str | None = None  # only with [model] license = "other" (the Hub asks for it)
    license_link: str | None = None  # only with "other": the Hub links its own text for the rest
    quantized_by: str | None = None
    # e.g. imatrix.dat, beside the GGUFs
    extra_files: Annotated[list[str], PathKey("beside_gguf")] = Field(default_factory=list)

    @field_validator("license_name", "quantized_by")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return check_one_line(value)

    @field_validator("license_link")
    @classmethod
    def _link(cls, value: str | None) -> str | None:
        return check_link(value)

    @field_validator("extra_files")
    @classmethod
    def _bare_names(cls, value: list[str]) -> list[str]:
        for name in value:
            check_bare_file_name(name)
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_hub_url(value)
        return value

    @field_validator("repo", "source_repo")
    @classmethod
    def _repo_id(cls, value: str | None) -> str | None:
        if value is not None:
            check_hf_repo_id(value)
        return value


class TagSpec(_Strict):
    """One rung of the quant ladder: the tag is declared, never parsed from a file name."""

    tag: str
    file: Annotated[str | None, PathKey("gguf")] = None
    kind: Literal["standard", "contrib-dynamic"] = "standard"
    vram: str | None = None
    note: str | None = None
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)
    targets: list[TargetName] = Field(default_factory=lambda: list(TARGET_NAMES))

    @field_validator("vram", "note")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return check_one_line(value)

    @field_validator("tag")
    @classmethod
    def _tag_name(cls, value: str) -> str:
        check_ollama_tag(value)
        return value

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters(cls, value: Any) -> dict[str, ParameterValue]:
        return _validated_parameters(value)

    @field_validator("file")
    @classmethod
    def _bare_file_name(cls, value: str | None) -> str | None:
        if value is not None:
            check_bare_file_name(value)
        return value

    @field_validator("targets")
    @classmethod
    def _targets_nonempty(cls, value: list[TargetName]) -> list[TargetName]:
        if not value:
            raise ValueError("a tag must go to at least one target")
        return value


SOURCE_WEIGHTS = "source"  # `measured_on` for a score taken on the source weights (BF16 repo)


class QuantRecipe(_Strict):
    """How a tier was quantized beyond its ftype, as llama-quantize's own options: the CD map
    (`--tensor-type` patterns, in order, or the `--tensor-type-file`), the embedding types."""

    tensor_types: list[str] = Field(default_factory=list)
    tensor_type_file: Annotated[str | None, PathKey("tree")] = None  # relative to the manifest
    token_embedding_type: str | None = None
    output_tensor_type: str | None = None

    @field_validator("tensor_types")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        from publisher.gguf.quant_layout import parse_tensor_type  # only when a recipe is declared

        for text in value:
            parse_tensor_type(text)
        return value

    @field_validator("token_embedding_type", "output_tensor_type")
    @classmethod
    def _ggml_type(cls, value: str | None) -> str | None:
        if value is not None:
            from publisher.gguf.quant_layout import parse_type  # only when a recipe is declared

            parse_type(value)
        return value

    @model_validator(mode="after")
    def _one_map(self) -> QuantRecipe:
        if self.tensor_types and self.tensor_type_file:
            raise ValueError("give tensor_types or tensor_type_file, not both")
        return self


class BenchmarkRow(_Strict):
    """One benchmark line; numbers come from the model owner, never invented.

    `hub_dataset` + `task_id` name the Hub Benchmark dataset and its task (hub-docs
    eval-results.md); `measured_on` says what was scored — a tag of this release (its file) or
    "source" (the source weights). Only rows measured on a file of the Hub repo are written to
    its `.eval_results/`."""

    name: str
    n: int | None = None
    mode: str | None = None
    precision: str | None = None
    reference: float | None = None
    score: float
    measured_on: str | None = None
    hub_dataset: str | None = None
    task_id: str | None = None

    @field_validator("name", "mode", "precision")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return check_one_line(value)

    @field_validator("hub_dataset")
    @classmethod
    def _dataset_id(cls, value: str | None) -> str | None:
        if value is not None:
            check_hf_repo_id(value)
        return value

    @field_validator("reference", "score")
    @classmethod
    def _plausible(cls, value: float | None) -> float | None:
        if value is not None and abs(value) > BENCHMARK_LIMIT:
            raise ValueError(
                f"expected a benchmark figure within ±{BENCHMARK_LIMIT:g}, found {value!r}"
            )
        return value


class Benchmarks(_Strict):
    """The benchmark table and the notes that make it honest."""

    setup: str = ""
    reference_label: str = "reference"
    score_label: str | None = None
    reading: str = ""
    rows: list[BenchmarkRow] = Field(default_factory=list)

    @field_validator("reference_label", "score_label")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return check_one_line(value)


class Related(_Strict):
    """A sibling variant of the same family, linked from cards and pages."""

    variant: str
    ollama: str | None = None
    huggingface: str | None = None
    pick_for: str = ""

    # the same name rules as the release's own: these names become links in cards and pages
    @field_validator("variant")
    @classmethod
    def _variant_name(cls, value: str) -> str:
        return Model._variant_is_a_name(value)

    @field_validator("ollama")
    @classmethod
    def _ollama_name(cls, value: str | None) -> str | None:
        if value is not None:
            check_ollama_model_name(value)
        return value

    @field_validator("huggingface")
    @classmethod
    def _repo_id(cls, value: str | None) -> str | None:
        if value is not None:
            check_hf_repo_id(value)
        return value


class ManifestDocument(_Strict):
    """The merged TOML document, exactly as written (paths still relative)."""

    model: Model
    files: Files = Files()
    checks: Checks = Checks()
    ollama: Ollama | None = None
    huggingface: HuggingFace | None = None
    tags: list[TagSpec] = Field(min_length=1)
    benchmarks: Benchmarks | None = None
    related: list[Related] = Field(default_factory=list)
    # tag name or glob ("CD-*", "*_L") -> how llama-quantize was run; an exact name beats a glob
    recipes: dict[str, QuantRecipe] = Field(default_factory=dict)


TABLE_MODELS: dict[str, type[BaseModel]] = {
    "": ManifestDocument,
    "model": Model,
    "files": Files,
    "checks": Checks,
    "ollama": Ollama,
    "ollama.parameters": OllamaParameters,
    "huggingface": HuggingFace,
    "tags": TagSpec,
    "tags.parameters": OllamaParameters,
    "benchmarks": Benchmarks,
    "benchmarks.rows": BenchmarkRow,
    "related": Related,
    "recipes.*": QuantRecipe,  # every entry, whatever tag or glob names it
}


def known_keys(table_loc: list[str]) -> list[str]:
    """The keys allowed in the table at `table_loc` (array indices ignored)."""
    parts = [p for p in table_loc if not p.isdigit()]
    if parts[:1] == ["recipes"] and len(parts) == 2:
        parts[1] = "*"
    key = ".".join(parts)
    model = TABLE_MODELS.get(key)
    known = list(model.model_fields) if model else []
    return [*known, "extends"] if key == "" else known


# `extends` is read by the loader before validation, so it is not a model field; it names a file
EXTENDS_KEY = PathKey("tree")


def path_keys() -> list[tuple[str, str, PathKey]]:
    """Every manifest key that names a file: (table, key, marker); table "" is the top level,
    "recipes.*" every recipe, "tags" every `[[tags]]` entry. Derived from the models, so a new
    file key marked with PathKey is confined without a second list to keep."""
    found = [("", "extends", EXTENDS_KEY)]
    for table, model in TABLE_MODELS.items():
        for name, info in model.model_fields.items():
            for marker in info.metadata:
                if isinstance(marker, PathKey):
                    found.append((table, name, marker))
    return found
