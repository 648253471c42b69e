"""The release manifest: a TOML file (optionally `extends` a base) validated into a typed `Release`.

Everything downstream (verify, render, targets) receives these objects and never parses TOML itself.
Errors name the file, the TOML line, the dotted field, what was expected and what was found.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from publisher.architectures import DEFAULT_EOS
from publisher.errors import ManifestError, UsageError
from publisher.files import NotARegularFile, NulInPath, check_regular, read_bytes
from publisher.gguf.quant_layout import (
    Recipe,
    parse_tensor_type,
    parse_tensor_type_file,
    parse_type,
)
from publisher.licenses import HUB_LICENSES, OTHER, builtin_text, unknown_license_message
from publisher.urls import check_hub_url, check_registry_url

TEMPLATES_DIR = Path(__file__).parent / "templates"
GGUF_DIR_ENV = "PUBLISHER_GGUF_DIR"


# Ollama's name rules (types/model/name.go): parts start with a letter, digit or "_". Every rule
# is applied with fullmatch: `$` would also match before a trailing newline ("v3\n").
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}")
_MODEL_OR_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")
_HF_PART_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
_HOST_RE = re.compile(r"[A-Za-z0-9.-]+(:[0-9]+)?")
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

Target = Literal["ollama", "huggingface"]
ALL_TARGETS: tuple[Target, ...] = ("ollama", "huggingface")


class _Strict(BaseModel):
    """Unknown keys are errors and values are not coerced: a typo must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


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

    @model_validator(mode="after")
    def _floats_fit_float32(self) -> OllamaParameters:
        for name, value in self:
            if isinstance(value, float) and abs(value) > _FLOAT32_MAX:
                raise ValueError(f"{name}: {value!r} does not fit the 32-bit float Ollama reads")
        return self

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

    @field_validator("variant")
    @classmethod
    def _variant_is_a_name(cls, value: str) -> str:
        # The variant names files: build/<variant>/, <variant>.lock.json. No paths, no spaces.
        if not _MODEL_OR_TAG_RE.fullmatch(value):
            raise ValueError(
                f"expected letters, digits, '_', '.', '-' (starting with a letter, digit or '_'), "
                f"found {value!r}"
            )
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

    gguf_dir: str = "."
    name: str = "{tag}.gguf"

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
    """Release-wide pins checked in every GGUF (failure 9 of the prior workflow)."""

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
    template: str | None = None
    renderer: str | None = None
    parser: str | None = None
    requires: str | None = None
    license: str | None = None
    system: str | None = None
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)
    registry: str | None = None

    @field_validator("requires")
    @classmethod
    def _requires_semver(cls, value: str | None) -> str | None:
        # Ollama's REQUIRES (parser/parser.go): semver, stored without the leading "v"
        if value is not None and not _SEMVER_RE.fullmatch(value):
            hint = " (write it without the leading 'v')" if value[:1] in "vV" else ""
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
        if value is not None and not _MODEL_OR_TAG_RE.fullmatch(value):
            raise ValueError(f"not a valid Ollama tag: {value!r}")
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
    extra_files: list[str] = Field(default_factory=list)  # e.g. imatrix.dat, beside the GGUFs

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
    file: str | None = None
    kind: Literal["standard", "contrib-dynamic"] = "standard"
    vram: str | None = None
    note: str | None = None
    parameters: dict[str, ParameterValue] = Field(default_factory=dict)
    targets: list[Target] = Field(default_factory=lambda: list(ALL_TARGETS))

    @field_validator("tag")
    @classmethod
    def _tag_name(cls, value: str) -> str:
        if not _MODEL_OR_TAG_RE.fullmatch(value):
            raise ValueError(
                f"not a valid Ollama tag: {value!r} (letters, digits, '_', '.', '-'; "
                "starting with a letter, digit or '_'; at most 80)"
            )
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
    def _targets_nonempty(cls, value: list[Target]) -> list[Target]:
        if not value:
            raise ValueError("a tag must go to at least one target")
        return value


SOURCE_WEIGHTS = "source"  # `measured_on` for a score taken on the source weights (BF16 repo)


class QuantRecipe(_Strict):
    """How a tier was quantized beyond its ftype, as llama-quantize's own options: the CD map
    (`--tensor-type` patterns, in order, or the `--tensor-type-file`), the embedding types."""

    tensor_types: list[str] = Field(default_factory=list)
    tensor_type_file: str | None = None  # relative to the manifest
    token_embedding_type: str | None = None
    output_tensor_type: str | None = None

    @field_validator("tensor_types")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_tensor_type(text)
        return value

    @field_validator("token_embedding_type", "output_tensor_type")
    @classmethod
    def _ggml_type(cls, value: str | None) -> str | None:
        if value is not None:
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


class Tag(BaseModel):
    """A tag with its file resolved to an absolute path."""

    model_config = ConfigDict(frozen=True)

    tag: str
    file: str
    path: Path
    kind: Literal["standard", "contrib-dynamic"]
    vram: str | None
    note: str | None
    parameters: dict[str, ParameterValue]
    targets: list[Target]
    recipe: Recipe | None = None  # the declared llama-quantize options (`[recipes]`)


class OllamaConfig(BaseModel):
    """The `[ollama]` table with the template path resolved and the licence read."""

    model_config = ConfigDict(frozen=True)

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

    model_config = ConfigDict(frozen=True)

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
            + _did_you_mean(name, [t.tag for t in self.tags])
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


# ---------------------------------------------------------------------------------------------
# Name rules


def check_ollama_model_name(name: str) -> None:
    """Raise ValueError unless `name` is `[host/][namespace/]model` per Ollama's rules (no tag)."""
    if ":" in name.split("/")[-1]:
        raise ValueError(f"the model name must not carry a tag, found {name!r}")
    parts = name.split("/")
    if len(parts) > 3 or not all(parts):
        raise ValueError(f"expected [host/][namespace/]model, found {name!r}")
    if len(parts) == 3 and not _HOST_RE.fullmatch(parts[0]):
        raise ValueError(f"not a valid registry host: {parts[0]!r}")
    if len(parts) >= 2 and not _NAMESPACE_RE.fullmatch(parts[-2]):
        raise ValueError(
            f"not a valid Ollama namespace: {parts[-2]!r} (letters, digits, '_', '-'; at most 80)"
        )
    if not _MODEL_OR_TAG_RE.fullmatch(parts[-1]):
        raise ValueError(
            f"not a valid Ollama model name: {parts[-1]!r} (letters, digits, '_', '.', '-'; "
            "starting with a letter, digit or '_'; at most 80)"
        )
    # Registries store repositories in lower case (OCI distribution names; `ollama push` says
    # "namespace must be lowercase"); an upper-case name is created locally, then 404s on push.
    named = {"namespace": parts[-2]} if len(parts) >= 2 else {}
    for kind, part in {**named, "model name": parts[-1]}.items():
        if part != part.lower():
            raise ValueError(
                f"the Ollama {kind} must be lower case, found {part!r}: registries refuse "
                f"upper-case repository names (use {part.lower()!r})"
            )


def is_ollama_tag(name: str) -> bool:
    """True when `name` parses as the tag part of an Ollama model name (types/model/name.go)."""
    return bool(_MODEL_OR_TAG_RE.fullmatch(name))


def check_bare_file_name(name: str) -> None:
    """Raise ValueError unless `name` is a file name inside gguf_dir (no path, no `..`)."""
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise ValueError(f"expected a file name inside gguf_dir, found {name!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(f"a file name cannot hold control characters (a newline?), found {name!r}")


def check_hf_repo_id(repo_id: str) -> None:
    """Raise ValueError unless `repo_id` is `owner/name` as the Hub accepts it."""
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_HF_PART_RE.fullmatch(p) for p in parts):
        raise ValueError(f"expected a Hugging Face repo id 'owner/name', found {repo_id!r}")
    if any(".." in p or "--" in p or p.endswith(".") for p in parts):
        raise ValueError(f"'..', '--' and a trailing '.' are not allowed in repo ids: {repo_id!r}")


# ---------------------------------------------------------------------------------------------
# Loading


class _Source:
    """One TOML file read: its text (to locate lines) and its parsed data."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.text = read_bytes(path, "manifest").decode("utf-8")
        except FileNotFoundError:
            raise ManifestError("manifest not found", file=str(path)) from None
        except NotARegularFile as exc:
            raise ManifestError(
                f"the manifest is {exc.kind}, not a regular file", file=str(path)
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"cannot read manifest: {exc}", file=str(path)) from None
        self.data = self._parse()
        self._check_values(self.data, [])

    def _parse(self) -> dict[str, Any]:
        try:
            return tomllib.loads(self.text)
        except RecursionError:
            raise ManifestError(
                f"tables or arrays nested too deeply (at most {_MAX_DEPTH} levels)",
                file=str(self.path),
            ) from None
        except tomllib.TOMLDecodeError as exc:
            # Before Python 3.14 tomllib gives the position only in the message: "(at line 3, …)"
            where = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
            line = getattr(exc, "lineno", None) or (int(where.group(1)) if where else None)
            column = getattr(exc, "colno", None) or (int(where.group(2)) if where else None)
            message = getattr(exc, "msg", None) or re.sub(r"\s*\(at line.*\)$", "", str(exc))
            raise ManifestError(
                f"TOML syntax error: {message}", file=str(self.path), line=line, column=column
            ) from None

    def _check_values(self, value: Any, loc: list[str]) -> None:
        """No NUL byte in any key or string (no file system or registry takes one) and no
        nesting deeper than any manifest needs (the validators recurse)."""
        if len(loc) > _MAX_DEPTH:
            raise self._error(f"nested deeper than {_MAX_DEPTH} levels", loc)
        if isinstance(value, str) and "\0" in value:
            raise self._error(f"a NUL byte in the string {value!r:.80}", loc)
        for key, item in _children(value):
            if "\0" in str(key):
                raise self._error(f"a NUL byte in the key {key!r:.80}", loc)
            self._check_values(item, [*loc, str(key)])

    def _error(self, message: str, loc: list[str]) -> ManifestError:
        return _located(message, loc, [self])


def _children(value: Any) -> list[tuple[Any, Any]]:
    """(key, value) of a TOML table or (index, item) of an array; nothing for a scalar."""
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        return list(enumerate(value))
    return []


def _read_chain(path: Path) -> list[_Source]:
    """The manifest and every base it extends, base first; cycles and missing bases are errors."""
    chain: list[_Source] = []
    seen: list[Path] = []
    current: Path | None = path.resolve()
    child: _Source | None = None
    while current is not None:
        if current in seen:
            cycle = " -> ".join(str(p) for p in [*seen, current])
            raise ManifestError(f"circular extends: {cycle}", file=str(seen[-1]), field="extends")
        if child is not None and not current.exists():
            raise ManifestError(
                f"extends names {current}, which does not exist",
                file=str(child.path),
                line=_locate(child.text, ["extends"]),
                field="extends",
            )
        source = _Source(current)
        seen.append(current)
        chain.append(source)
        base = source.data.pop("extends", None)
        if base is not None and not isinstance(base, str):
            raise ManifestError(
                f"expected a path string, found {type(base).__name__}",
                file=str(current),
                line=_locate(source.text, ["extends"]),
                field="extends",
            )
        current = (current.parent / base).resolve() if base else None
        child = source
    return list(reversed(chain))


def _deep_merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; arrays and scalars of the child replace the base's."""
    merged = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


_RELATIVE_PATH_FIELDS = (("files", "gguf_dir"), ("ollama", "template"), ("ollama", "license"))


def _anchor_paths(source: _Source) -> None:
    """Make relative paths relative to the file that declared them, before merging."""
    recipes = source.data.get("recipes")
    for recipe in recipes.values() if isinstance(recipes, dict) else ():
        if isinstance(recipe, dict) and isinstance(recipe.get("tensor_type_file"), str):
            recipe["tensor_type_file"] = str(source.path.parent / recipe["tensor_type_file"])
    for table, key in _RELATIVE_PATH_FIELDS:
        section = source.data.get(table)
        if isinstance(section, dict) and isinstance(section.get(key), str):
            value = section[key]
            candidate = source.path.parent / value
            if key == "gguf_dir" or candidate.exists():
                section[key] = str(candidate)


def _merged(chain: list[_Source]) -> dict[str, Any]:
    """The chain's data merged base first, each file's relative paths anchored to it."""
    merged: dict[str, Any] = {}
    for source in chain:
        _anchor_paths(source)
        merged = _deep_merge(merged, source.data)
    return merged


def read_merged(path: str | Path) -> dict[str, Any]:
    """A manifest and its bases merged but not validated (a base alone is not a release)."""
    return _merged(_read_chain(Path(path)))


def load(path: str | Path, *, gguf_dir: str | Path | None = None) -> Release:
    """Load, merge and validate a manifest; `gguf_dir` (from --gguf-dir) beats the environment."""
    for value, what in (
        (path, "manifest"),
        (gguf_dir, "--gguf-dir"),
        (os.environ.get(GGUF_DIR_ENV), GGUF_DIR_ENV),
    ):
        if value is not None and "\0" in str(value):
            raise NulInPath(value, what)
    manifest_path = Path(path)
    chain = _read_chain(manifest_path)
    merged = _merged(chain)
    try:
        document = ManifestDocument.model_validate(merged)
    except ValidationError as exc:
        raise _manifest_error(exc, chain) from None
    _cross_check(document, chain)
    return _resolve(document, chain, gguf_dir)


def _cross_check(document: ManifestDocument, chain: list[_Source]) -> None:
    """Rules that span tables: unique tags, `latest` among them, every target configured."""

    def fail(message: str, loc: list[str]) -> ManifestError:
        return _located(message, loc, chain)

    seen: dict[str, int] = {}
    for index, spec in enumerate(document.tags):
        key = spec.tag.lower()  # Ollama matches names case-insensitively
        if key in seen:
            raise fail(
                f"duplicate tag {spec.tag!r}: already declared as tags[{seen[key]}]",
                ["tags", str(index), "tag"],
            )
        seen[key] = index
        for target in spec.targets:
            if getattr(document, target) is None:
                raise fail(
                    f"tag {spec.tag!r} goes to {target} but the manifest has no [{target}] table",
                    ["tags", str(index), "targets"],
                )
    _check_license(document, chain)
    _check_measured_on(document, seen, chain)
    for key in document.recipes:
        if not any(fnmatch.fnmatchcase(t.tag.upper(), key.upper()) for t in document.tags):
            raise fail(f"{key!r} matches no declared tag", ["recipes", key])
    latest = document.ollama.latest if document.ollama else None
    if latest is None:
        return
    if latest.lower() not in seen:
        raise fail(
            f"expected one of the declared tags ({', '.join(t.tag for t in document.tags)}), "
            f"found {latest!r}",
            ["ollama", "latest"],
        )
    spec = document.tags[seen[latest.lower()]]
    if "ollama" not in spec.targets:
        raise fail(f"{spec.tag!r} is a tag that is not sent to ollama", ["ollama", "latest"])


def _check_measured_on(
    document: ManifestDocument, tags: dict[str, int], chain: list[_Source]
) -> None:
    """A benchmark row's `measured_on` names a declared tag or the source weights, and a row
    for the Hub has its dataset, task and what was measured."""
    rows = document.benchmarks.rows if document.benchmarks else []
    for index, row in enumerate(rows):
        loc = ["benchmarks", "rows", str(index)]
        value = row.measured_on
        if value is not None and value != SOURCE_WEIGHTS and value.lower() not in tags:
            raise _located(
                f"expected one of the declared tags or {SOURCE_WEIGHTS!r}, found {value!r}",
                [*loc, "measured_on"],
                chain,
            )
        if (row.hub_dataset is None) != (row.task_id is None):
            key = "task_id" if row.task_id is not None else "hub_dataset"
            raise _located(
                "hub_dataset and task_id go together: the Hub reads a result by dataset and task",
                [*loc, key],
                chain,
            )
        if row.hub_dataset is not None and value is None:
            raise _located(
                "a row with hub_dataset needs measured_on: a tag of this release (the file that "
                f'was scored) or "{SOURCE_WEIGHTS}" (the source weights)',
                [*loc, "hub_dataset"],
                chain,
            )


def _check_license(document: ManifestDocument, chain: list[_Source]) -> None:
    """`license_name` and `license_link` go with `license = "other"` only, as the Hub wants."""
    hf = document.huggingface
    if hf is None:
        return
    license_id = document.model.license
    if license_id == OTHER and not hf.license_name:
        raise _located(
            'license = "other" needs [huggingface] license_name (the Hub shows it, and the '
            "licence text must be in the repo, e.g. as a LICENSE in extra_files)",
            ["model", "license"],
            chain,
        )
    for key in ("license_name", "license_link"):
        if getattr(hf, key) is not None and license_id != OTHER:
            reason = (
                f"the Hub links its own text for {license_id!r}"
                if license_id
                else "[model] license is not set"
            )
            raise _located(
                f'{key} is only for [model] license = "other" ({reason}): remove {key}',
                ["huggingface", key],
                chain,
            )


def _resolve(
    document: ManifestDocument, chain: list[_Source], gguf_dir: str | Path | None
) -> Release:
    """Turn the validated document into a Release: absolute paths, licence text read."""
    top = chain[-1]
    root = top.path.parent
    # --gguf-dir and PUBLISHER_GGUF_DIR are typed by a person in a shell: relative to the current
    # directory. The manifest's own gguf_dir was anchored to its file by _anchor_paths.
    override = gguf_dir or os.environ.get(GGUF_DIR_ENV)
    chosen = Path(override) if override else root / document.files.gguf_dir
    directory = chosen.expanduser().resolve()
    tags = []
    for spec in document.tags:
        file = spec.file or document.files.name.format(tag=spec.tag)
        tags.append(
            Tag(
                tag=spec.tag,
                file=file,
                path=directory / file,
                kind=spec.kind,
                vram=spec.vram,
                note=spec.note,
                parameters=spec.parameters,
                targets=spec.targets,
                recipe=_recipe_for(spec.tag, document.recipes, chain),
            )
        )
    ollama = (
        _resolve_ollama(document.ollama, document.model.license, chain) if document.ollama else None
    )
    return Release(
        source=top.path,
        root=root,
        model=document.model,
        files=document.files,
        gguf_dir=directory,
        checks=document.checks,
        ollama=ollama,
        huggingface=document.huggingface,
        tags=tags,
        benchmarks=document.benchmarks,
        related=document.related,
    )


def _recipe_for(tag: str, recipes: dict[str, QuantRecipe], chain: list[_Source]) -> Recipe | None:
    """The tag's `[recipes]` entry (its own name first, then the first glob matching it), with
    the tensor-type file read."""
    exact = [key for key in recipes if key.upper() == tag.upper()]
    globs = [key for key in recipes if fnmatch.fnmatchcase(tag.upper(), key.upper())]
    key = (exact or globs or [None])[0]
    if key is None:
        return None
    spec = recipes[key]
    patterns = spec.tensor_types
    if spec.tensor_type_file:
        field = f"recipes.{key}.tensor_type_file"
        text = _read_text(Path(spec.tensor_type_file), chain, field)
        try:
            patterns = parse_tensor_type_file(text)
            return Recipe.parse(patterns, spec.token_embedding_type, spec.output_tensor_type)
        except ValueError as exc:
            raise _located(f"{spec.tensor_type_file}: {exc}", ["recipes", key], chain) from None
    return Recipe.parse(patterns, spec.token_embedding_type, spec.output_tensor_type)


def _resolve_ollama(section: Ollama, license_id: str | None, chain: list[_Source]) -> OllamaConfig:
    """Find the template file and the LICENSE text: `[ollama] license` (a path, a built-in name
    or the text), else the built-in text of `[model] license`; the two must not disagree."""
    template = None
    if section.template:
        template = _find_file(section.template, TEMPLATES_DIR / "ollama", chain, "ollama.template")
    implied = builtin_text(license_id)
    license_text = _license_text(section.license, chain) if section.license else implied
    if implied is not None and license_text != implied:
        raise _located(
            f"[model] license = {license_id!r} puts its built-in text in every tag's LICENSE "
            "layer, and this is another text: remove ollama.license, or set [model] license "
            "to the id of this licence",
            ["ollama", "license"],
            chain,
        )
    return OllamaConfig(
        model=section.model,
        latest=section.latest,
        template=template,
        renderer=section.renderer,
        parser=section.parser,
        license=license_text,
        system=section.system,
        parameters=section.parameters,
        registry=section.registry,
        requires=section.requires,
    )


def _find_file(value: str, builtin_dir: Path, chain: list[_Source], field: str) -> Path:
    """A file named by the manifest: as a path (already anchored) or a built-in of the package."""
    for candidate in (Path(value), builtin_dir / value):
        if candidate.is_absolute() and candidate.exists():
            _regular(candidate, chain, field)
            return candidate.resolve()
    builtins = sorted(p.name for p in builtin_dir.glob("*") if p.is_file())
    raise _located(
        f"no file {value!r}: expected a path relative to the manifest or one of the built-ins "
        f"({', '.join(builtins) or 'none'})",
        field.split("."),
        chain,
    )


def _license_text(value: str, chain: list[_Source]) -> str:
    """`license` is a path, a built-in licence name, or the licence text itself."""
    builtin_dir = TEMPLATES_DIR / "licenses"
    for candidate in (Path(value), builtin_dir / value, builtin_dir / f"{value}.txt"):
        # relative values were anchored to the manifest already: never the current directory
        if (
            "\n" not in value
            and len(value) < 256
            and candidate.is_absolute()
            and candidate.exists()
        ):
            return _read_text(candidate, chain, "ollama.license")
    builtins = [p.stem for p in builtin_dir.glob("*.txt")]
    looks_like_a_path = "/" in value or value.endswith((".txt", ".md"))
    if looks_like_a_path or difflib.get_close_matches(value, builtins, n=1, cutoff=0.75):
        # A path or a near-miss of a built-in name is a typo, not a licence text like "MIT".
        _find_file(value, builtin_dir, chain, "ollama.license")
    return value


def _regular(path: Path, chain: list[_Source], field: str) -> None:
    """A file the manifest names must be a regular file (a FIFO or device would hang a reader)."""
    try:
        check_regular(path, field)
    except NotARegularFile as exc:
        raise _located(
            f"{path} is {exc.kind}, not a regular file", field.split("."), chain
        ) from None


def _read_text(path: Path, chain: list[_Source], field: str) -> str:
    """A file the manifest names, as UTF-8 text; unreadable files are manifest errors."""
    try:
        return read_bytes(path, field).decode("utf-8")
    except NotARegularFile as exc:
        raise _located(
            f"{path} is {exc.kind}, not a regular file", field.split("."), chain
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _located(f"cannot read {path}: {exc}", field.split("."), chain) from None


# ---------------------------------------------------------------------------------------------
# Error reporting


def _manifest_error(exc: ValidationError, chain: list[_Source]) -> ManifestError:
    """The first validation error, located in the file and line that declared it."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    loc = [p for p in loc if p not in {"int", "float", "bool", "list[str]", "str"}]
    return _located(_describe(error, loc), loc, chain)


def _located(message: str, loc: list[str], chain: list[_Source]) -> ManifestError:
    """An error at `loc`, pinned to the nearest line that declares it, child file first."""
    field = _dotted(loc) or None
    for depth in range(len(loc), 0, -1):
        for source in reversed(chain):
            line = _locate(source.text, loc[:depth])
            if line is not None:
                return ManifestError(message, file=str(source.path), line=line, field=field)
    return ManifestError(message, file=str(chain[-1].path), field=field)


def _dotted(loc: list[str]) -> str:
    """`['tags', '3', 'vram']` → `tags[3].vram`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def _describe(error: dict[str, Any], loc: list[str]) -> str:
    """Say what was expected and what was found, with a suggestion for misspelt keys."""
    kind = error["type"]
    found = error.get("input")
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        return f"unknown key {loc[-1]!r}" + _did_you_mean(loc[-1], known)
    if kind == "missing":
        return "required key is missing"
    expected = error["msg"]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        expected = "expected " + kind.removesuffix("_type").removesuffix("_parsing").replace(
            "_", " "
        )
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{expected}, found {found!r} ({type(found).__name__})"


def _did_you_mean(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


_TABLE_MODELS: dict[str, type[BaseModel]] = {
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
}


def _known_keys(table_loc: list[str]) -> list[str]:
    """The keys allowed in the table at `table_loc` (array indices ignored)."""
    key = ".".join(p for p in table_loc if not p.isdigit())
    model = _TABLE_MODELS.get(key)
    known = list(model.model_fields) if model else []
    return [*known, "extends"] if key == "" else known


_HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY_RE = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+)\s*=")


def _locate(text: str, loc: list[str]) -> int | None:
    """Best-effort TOML line of a dotted location (`tags`, `3`, `vram`) in one file's text."""
    table: str = ""
    counts: dict[str, int] = {}
    target_tables, key = _split_location(loc)
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(raw)
        if header:
            name = header.group(2).replace(" ", "")
            if header.group(1) == "[[":
                counts[name] = counts.get(name, -1) + 1
                table = f"{name}[{counts[name]}]"
            else:
                table = name
            if table in target_tables and key is None:
                return number
            continue
        match = _KEY_RE.match(raw)
        if match and key is not None:
            name = match.group(1).strip("\"'")
            full = f"{table}.{name}" if table else name
            if full in {f"{t}.{key}" if t else key for t in target_tables}:
                return number
    return None


def _split_location(loc: list[str]) -> tuple[set[str], str | None]:
    """Candidate table spellings and the key for a location; `[[tags]]` index `3` → `tags[3]`."""
    parts: list[str] = []
    for part in loc:
        if part.isdigit() and parts:
            parts[-1] = f"{parts[-1]}[{part}]"
        else:
            parts.append(part)
    if not parts:
        return {""}, None
    if len(parts) == 1:
        return ({parts[0]}, None) if "[" in parts[0] else ({""}, parts[0])
    tables = {".".join(parts[:-1])}
    # An inline sub-table (`parameters = {…}`) is written as a key of its parent table.
    key = parts[-1]
    return tables, key
