"""Real llama-quantize layouts (tests/fixtures/quant_layouts/, from tests/make_quant_fixtures.py)
and tiny GGUFs that carry exactly those tensor types.

A layout file records what llama-quantize wrote for one tag of a 30-layer, 98-expert gemma4:
tensor name -> ggml type, the ftype, whether an imatrix was used and the command-line options.
`write_layout_gguf` writes a GGUF with those names, types, row widths and expert counts but only
two rows per matrix (types depend on the row width and the expert axis, never on the row count),
so every rung of the ladder is a file of a few hundred kB.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from gguf import GGMLQuantizationType, GGUFWriter

from publisher.gguf.quant_layout import ModelFacts, Recipe, allows_quantization
from support.gguf_factory import DEFAULT_CHAT_TEMPLATE, EOS_ID, add_kv, default_vocab, zero_tensor

T = GGMLQuantizationType
LAYOUTS = Path(__file__).parent.parent / "fixtures" / "quant_layouts"


@cache
def model() -> dict[str, Any]:
    """model.json: the source model's metadata and (name, ne, source type) rows."""
    return json.loads((LAYOUTS / "model.json").read_text())


@cache
def layout(tag: str) -> dict[str, Any]:
    """`<tag>.json`: what llama-quantize wrote for that tag."""
    return json.loads((LAYOUTS / f"{tag}.json").read_text())


def tags() -> list[str]:
    """Every tag with a recorded layout."""
    return sorted(p.stem for p in LAYOUTS.glob("*.json") if p.stem != "model")


def recipe_of(tag: str) -> Recipe:
    """The llama-quantize options the layout was made with, as a Recipe."""
    return recipe_from_args(layout(tag)["args"])


def recipe_from_args(args: list[str]) -> Recipe:
    """A layout's recorded llama-quantize arguments as a Recipe (`--imatrix` is not one)."""
    patterns, options = [], {}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag == "--tensor-type":
            patterns.append(value)
        elif flag in ("--token-embedding-type", "--output-tensor-type"):
            options[flag] = value
    return Recipe.parse(
        patterns, options.get("--token-embedding-type"), options.get("--output-tensor-type")
    )


def facts(tag: str) -> ModelFacts:
    """The model facts the prediction reads, as the quantized file's header gives them."""
    kv = dict(model()["metadata"])
    if layout(tag)["imatrix"]:
        kv["quantize.imatrix.file"] = "imatrix.gguf"
    return ModelFacts.from_metadata(kv)


class Row:
    """A (name, shape) the prediction reads."""

    def __init__(self, name: str, shape: list[int]) -> None:
        self.name, self.shape = name, tuple(shape)


def rows() -> list[Row]:
    """The source model's tensors."""
    return [Row(name, shape) for name, shape, _ in model()["tensors"]]


def write_layout_gguf(
    path: Path, tag: str, *, types: dict[str, str] | None = None, file_type: int | None = None
) -> Path:
    """A GGUF with the tensor types llama-quantize wrote for `tag` (or `types`), two rows each."""
    chosen = types or layout(tag)["types"]
    meta = model()["metadata"]
    arch = meta["general.architecture"]
    writer = GGUFWriter(path, arch)
    writer.add_name("gemma4-98e-tiny")
    writer.add_file_type(file_type if file_type is not None else layout(tag)["file_type"])
    writer.add_quantization_version(2)
    for key, value in meta.items():
        if key != "general.architecture":
            add_kv(writer, key, value)
    if layout(tag)["imatrix"]:
        writer.add_string("quantize.imatrix.file", "imatrix.gguf")
        writer.add_array("quantize.imatrix.dataset", ["synthetic"])
    tokens = default_vocab(512)
    writer.add_tokenizer_model("gemma4")
    writer.add_token_list(tokens)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(EOS_ID)
    writer.add_chat_template(DEFAULT_CHAT_TEMPLATE)
    for name, shape, source in model()["tensors"]:
        kind = T[chosen.get(name, source)]  # 1-D tensors keep their source type
        short = _small(name, shape)
        writer.add_tensor(name, zero_tensor(short, kind), raw_dtype=kind)
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _small(name: str, shape: list[int]) -> list[int]:
    """A shape that keeps what the checks read: the row width of quantized matrices and the
    last (expert) axis; two rows instead of hundreds, one column for copied matrices (router)."""
    if len(shape) < 2:
        return shape
    if allows_quantization(name, shape):
        return [shape[0], min(shape[1], 2), *shape[2:]]
    return [1, *shape[1:]]
