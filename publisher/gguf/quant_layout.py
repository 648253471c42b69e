"""Predict the ggml type llama-quantize writes for each tensor of a GGUF, from its ftype.

A port of `llama_tensor_get_type` and its helpers in llama.cpp's `src/llama-quant.cpp` as read at
ggml-org/llama.cpp@0c1e57098 (the llama.cpp vendored in the `llama-cpp-python` 0.3.36 sdist;
docs/llama-quant-facts.md): which tensors are quantized at all, the per-category rules (the
`use_more_bits` layer pattern, MoE and expert-count cases, imatrix-dependent choices), the
`--tensor-type` / `--token-embedding-type` / `--output-tensor-type` overrides and the fallbacks
when a row is not a multiple of the type's block. Tables are data; the rules that depend on a
layer or a running counter are small functions in the order llama-quantize applies them.

Version drift: llama.cpp before the `tensor_type_fallback` refactor substituted IQ4_NL for Q2_K
and Q3_K rows that do not fit (now Q4_0); a prediction is a set of accepted types per tensor so
both are accepted (LEGACY_FALLBACK).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

from publisher.gguf.ggml_constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

T = GGMLQuantizationType
F = LlamaFileType

LLAMA_CPP_COMMIT = "0c1e57098"  # ggml-org/llama.cpp, vendored in llama-cpp-python 0.3.36
LLAMA_CPP_SOURCE = f"ggml-org/llama.cpp@{LLAMA_CPP_COMMIT} src/llama-quant.cpp"

# ------------------------------------------------------------------------------------------
# Data read from llama-quant.cpp

# llama_ftype_get_default_type: the type every quantized tensor starts from
DEFAULT_TYPE: dict[LlamaFileType, GGMLQuantizationType] = {
    F.MOSTLY_Q4_0: T.Q4_0, F.MOSTLY_Q4_1: T.Q4_1, F.MOSTLY_Q5_0: T.Q5_0, F.MOSTLY_Q5_1: T.Q5_1,
    F.MOSTLY_Q8_0: T.Q8_0, F.MOSTLY_F16: T.F16, F.MOSTLY_BF16: T.BF16, F.ALL_F32: T.F32,
    F.MOSTLY_Q1_0: T.Q1_0, F.MOSTLY_MXFP4_MOE: T.MXFP4,
    F.MOSTLY_Q2_K_S: T.Q2_K, F.MOSTLY_Q2_K: T.Q2_K, F.MOSTLY_IQ3_XS: T.IQ3_S,
    F.MOSTLY_Q3_K_S: T.Q3_K, F.MOSTLY_Q3_K_M: T.Q3_K, F.MOSTLY_Q3_K_L: T.Q3_K,
    F.MOSTLY_Q4_K_S: T.Q4_K, F.MOSTLY_Q4_K_M: T.Q4_K,
    F.MOSTLY_Q5_K_S: T.Q5_K, F.MOSTLY_Q5_K_M: T.Q5_K, F.MOSTLY_Q6_K: T.Q6_K,
    F.MOSTLY_TQ1_0: T.TQ1_0, F.MOSTLY_TQ2_0: T.TQ2_0,
    F.MOSTLY_IQ2_XXS: T.IQ2_XXS, F.MOSTLY_IQ2_XS: T.IQ2_XS, F.MOSTLY_IQ2_S: T.IQ2_XS,
    F.MOSTLY_IQ2_M: T.IQ2_S, F.MOSTLY_IQ3_XXS: T.IQ3_XXS, F.MOSTLY_IQ1_S: T.IQ1_S,
    F.MOSTLY_IQ1_M: T.IQ1_M, F.MOSTLY_IQ4_NL: T.IQ4_NL, F.MOSTLY_IQ4_XS: T.IQ4_XS,
    F.MOSTLY_IQ3_S: T.IQ3_S, F.MOSTLY_IQ3_M: T.IQ3_S,
}  # fmt: skip

# tensor_type_fallback: what a type becomes when ne[0] is not a multiple of its block
FALLBACK: dict[GGMLQuantizationType, GGMLQuantizationType] = {
    T.IQ1_S: T.IQ4_NL, T.IQ1_M: T.IQ4_NL, T.IQ2_XXS: T.IQ4_NL, T.IQ2_XS: T.IQ4_NL,
    T.IQ2_S: T.IQ4_NL, T.IQ3_XXS: T.IQ4_NL, T.IQ3_S: T.IQ4_NL, T.IQ4_XS: T.IQ4_NL,
    T.Q2_K: T.Q4_0, T.Q3_K: T.Q4_0, T.TQ1_0: T.Q4_0, T.TQ2_0: T.Q4_0,
    T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1, T.Q6_K: T.Q8_0,
}  # fmt: skip
# older llama.cpp (before tensor_type_fallback) sent Q2_K and Q3_K to IQ4_NL: accepted too
LEGACY_FALLBACK: dict[GGMLQuantizationType, GGMLQuantizationType] = {
    T.Q2_K: T.IQ4_NL,
    T.Q3_K: T.IQ4_NL,
}

# tensor_allows_quantization: names (substrings) never quantized
NOT_QUANTIZED_PARTS = (
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
    "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
    "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight",
    "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
    "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
    "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
    ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd",
    ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
)  # fmt: skip
NOT_QUANTIZED_NAMES = ("position_embd.weight", "token_types.weight")

# llm_type 70B (attn_v one step up): architecture -> block count, as the model loaders set it
_70B_LAYERS = {"llama": 80, "deci": 80, "olmo": 80, "qwen2": 80, "jais2": 68}

FLOAT_TYPES = frozenset({T.F32, T.F16, T.BF16})
_IQ2_FAMILY = frozenset(
    {F.MOSTLY_IQ2_XXS, F.MOSTLY_IQ2_XS, F.MOSTLY_IQ1_S, F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M,
     F.MOSTLY_IQ1_M}
)  # fmt: skip


class Category(Enum):
    """tensor_get_category: the broad role a tensor's name gives it."""

    TOKEN_EMBD = "token_embd"
    ATTENTION_Q = "attn_q"
    ATTENTION_V = "attn_v"
    ATTENTION_K = "attn_k"
    ATTENTION_QKV = "attn_qkv"
    ATTENTION_KV_B = "attn_kv_b"
    ATTENTION_OUTPUT = "attn_output"
    FFN_UP = "ffn_up"
    FFN_GATE = "ffn_gate"
    FFN_DOWN = "ffn_down"
    OUTPUT = "output"
    OTHER = "other"


C = Category
# substring -> category, first match wins (the order of tensor_get_category); note that
# "ffn_gate_up_exps" has no "ffn_up" in it, so it is FFN_GATE
_CATEGORY_PARTS = (
    ("attn_qkv.weight", C.ATTENTION_QKV),
    ("attn_kv_b.weight", C.ATTENTION_KV_B),
    ("attn_v.weight", C.ATTENTION_V),
    ("attn_k.weight", C.ATTENTION_K),
    ("attn_q.weight", C.ATTENTION_Q),
    ("attn_output.weight", C.ATTENTION_OUTPUT),
    ("ffn_up", C.FFN_UP),
    ("ffn_gate", C.FFN_GATE),
    ("ffn_down", C.FFN_DOWN),
)
_ATTN_V_LIKE = frozenset({C.ATTENTION_V, C.ATTENTION_QKV, C.ATTENTION_KV_B})

# attn_output for models that are not 8-expert MoE (and not Falcon): ftype -> type
_ATTN_OUTPUT: dict[LlamaFileType, GGMLQuantizationType] = {
    F.MOSTLY_Q2_K: T.Q3_K, F.MOSTLY_IQ3_XXS: T.IQ3_S, F.MOSTLY_Q3_K_M: T.Q4_K,
    F.MOSTLY_Q3_K_L: T.Q5_K, F.MOSTLY_IQ3_M: T.Q4_K,
}  # fmt: skip
# attn_output of an 8-expert MoE goes to Q5_K for these
_ATTN_OUTPUT_8_EXPERTS = frozenset(
    {F.MOSTLY_Q2_K, F.MOSTLY_IQ3_XS, F.MOSTLY_IQ3_XXS, F.MOSTLY_Q3_K_S, F.MOSTLY_Q3_K_M,
     F.MOSTLY_IQ4_NL, F.MOSTLY_Q4_K_S, F.MOSTLY_Q4_K_M, F.MOSTLY_IQ3_S, F.MOSTLY_IQ3_M,
     F.MOSTLY_IQ4_XS}
)  # fmt: skip
_ATTN_QKV: dict[LlamaFileType, GGMLQuantizationType] = {
    F.MOSTLY_Q3_K_M: T.Q4_K, F.MOSTLY_Q3_K_L: T.Q4_K, F.MOSTLY_IQ3_M: T.Q4_K,
    F.MOSTLY_Q4_K_M: T.Q5_K, F.MOSTLY_Q5_K_M: T.Q6_K,
}  # fmt: skip


class LayoutError(ValueError):
    """A file llama-quantize itself would refuse (e.g. an expert tensor with no layer number)."""


# ------------------------------------------------------------------------------------------
# Inputs


class _Tensor(Protocol):
    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ModelFacts:
    """The hyper-parameters llama-quantize's rules look at."""

    arch: str
    n_layer: int
    n_expert: int = 0
    n_gqa: int = 1  # n_head / n_head_kv of layer 0
    has_imatrix: bool = False
    is_70b: bool = False

    @classmethod
    def from_metadata(cls, kv: Mapping[str, Any]) -> ModelFacts:
        """From a GGUF's keys; `quantize.imatrix.*` (written by llama-quantize) says whether an
        importance matrix was used."""
        arch = str(kv.get("general.architecture") or "")
        n_layer = _first_int(kv.get(f"{arch}.block_count")) or 0
        n_head = _first_int(kv.get(f"{arch}.attention.head_count"))
        n_head_kv = _first_int(kv.get(f"{arch}.attention.head_count_kv"))
        if n_head_kv is None:
            n_head_kv = n_head
        n_gqa = n_head // n_head_kv if n_head and n_head_kv else 0
        is_70b = _70B_LAYERS.get(arch) == n_layer and (arch != "llama" or n_gqa > 1)
        return cls(
            arch=arch,
            n_layer=n_layer,
            n_expert=_first_int(kv.get(f"{arch}.expert_count")) or 0,
            n_gqa=n_gqa,
            has_imatrix=any(key.startswith("quantize.imatrix.") for key in kv),
            is_70b=is_70b,
        )


def _first_int(value: Any) -> int | None:
    """A scalar int, or element 0 of an array of them (per-layer keys)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if value is not None and hasattr(value, "__getitem__") and len(value):
        first = value[0]
        return first if isinstance(first, int) and not isinstance(first, bool) else None
    return None


@dataclass(frozen=True)
class Recipe:
    """llama-quantize's own options beyond the ftype: `--tensor-type` patterns (first match wins),
    `--token-embedding-type`, `--output-tensor-type`."""

    tensor_types: tuple[tuple[str, GGMLQuantizationType], ...] = ()
    token_embedding_type: GGMLQuantizationType | None = None
    output_tensor_type: GGMLQuantizationType | None = None

    @classmethod
    def parse(
        cls,
        tensor_types: Iterable[str] = (),
        token_embedding_type: str | None = None,
        output_tensor_type: str | None = None,
    ) -> Recipe:
        """From the strings a person passes llama-quantize; ValueError names the bad one."""
        return cls(
            tuple(parse_tensor_type(text) for text in tensor_types),
            parse_type(token_embedding_type) if token_embedding_type else None,
            parse_type(output_tensor_type) if output_tensor_type else None,
        )

    @property
    def empty(self) -> bool:
        """True when it changes nothing."""
        return not (self.tensor_types or self.token_embedding_type or self.output_tensor_type)

    def describe(self) -> str:
        """The recipe as llama-quantize arguments."""
        parts = [f"--tensor-type {p}={t.name.lower()}" for p, t in self.tensor_types]
        if self.token_embedding_type is not None:
            parts.append(f"--token-embedding-type {self.token_embedding_type.name.lower()}")
        if self.output_tensor_type is not None:
            parts.append(f"--output-tensor-type {self.output_tensor_type.name.lower()}")
        return " ".join(parts) or "(none)"


def parse_type(name: str) -> GGMLQuantizationType:
    """A ggml type name as llama-quantize reads it (case-insensitive: q8_0, Q5_K, iq3_s)."""
    try:
        return T[name.strip().upper()]
    except KeyError:
        known = ", ".join(t.name.lower() for t in T if t in DEFAULT_TYPE.values())
        raise ValueError(f"{name!r} is not a ggml type (e.g. {known})") from None


def parse_tensor_type(text: str) -> tuple[str, GGMLQuantizationType]:
    """One `--tensor-type` value, `pattern=type`: llama-quantize lower-cases the pattern and
    matches it as a regular expression anywhere in the tensor name."""
    pattern, sep, kind = text.strip().partition("=")
    if not sep or not pattern or not kind:
        raise ValueError(f"{text!r} is not PATTERN=TYPE (as llama-quantize --tensor-type)")
    pattern = pattern.lower()
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{text!r}: bad regular expression ({exc})") from None
    return pattern, parse_type(kind)


def parse_tensor_type_file(text: str) -> list[str]:
    """The entries of a `--tensor-type-file` (whitespace-separated `pattern=type`)."""
    return text.split()


# ------------------------------------------------------------------------------------------
# The rules


def category(name: str) -> Category:
    """tensor_get_category."""
    if name == "output.weight":
        return C.OUTPUT
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return C.TOKEN_EMBD
    return next((cat for part, cat in _CATEGORY_PARTS if part in name), C.OTHER)


def allows_quantization(name: str, shape: Sequence[int]) -> bool:
    """tensor_allows_quantization (for the default options: output.weight is quantized)."""
    dims = len(shape)
    while dims > 1 and shape[dims - 1] == 1:  # ggml_n_dims ignores trailing 1s
        dims -= 1
    if dims < 2 or not name.endswith("weight"):
        return False
    if name in NOT_QUANTIZED_NAMES:
        return False
    return not any(part in name for part in NOT_QUANTIZED_PARTS)


def use_more_bits(i_layer: int, n_layers: int) -> bool:
    """The layers attn_v / ffn_down get more bits in (first and last eighth, every third)."""
    return (
        i_layer < n_layers // 8
        or i_layer >= 7 * n_layers // 8
        or _mod(i_layer - n_layers // 8, 3) == 2
    )


def _mod(a: int, b: int) -> int:
    """C's % (sign of the dividend)."""
    return a - b * int(a / b)


def _layer_of(name: str) -> int:
    match = re.match(r"blk\.(-?\d+)\.", name)
    return int(match.group(1)) if match else -1


def _sort_key(name: str) -> tuple[int, str]:
    """llama_model_loader's weight_name_comparer: by layer (none first), then by name."""
    return _layer_of(name), name


@dataclass
class _State:
    """quantize_state_impl's counters, advanced in tensor order as llama-quantize does."""

    facts: ModelFacts
    ftype: LlamaFileType
    n_attention_wv: int
    tied_embeddings: bool
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0

    def layer_info(self, counter: int, name: str) -> tuple[int, int]:
        """(layer, n_layer): by counter, or by the name's layer number in a MoE model."""
        n_layer = self.facts.n_layer
        if max(1, self.facts.n_expert) > 1:
            layer = _layer_of(name)
            if not 0 <= layer < n_layer:
                raise LayoutError(f"{name}: no layer in [0, {n_layer}) in its name")
            return layer, n_layer
        return counter, n_layer


def _embedding_type(
    st: _State, new: GGMLQuantizationType, ne0: int, recipe: Recipe
) -> GGMLQuantizationType:
    """output.weight, and token_embd when tied to the output."""
    if recipe.output_tensor_type is not None:
        return recipe.output_tensor_type
    if st.ftype == F.MOSTLY_MXFP4_MOE or st.facts.arch == "falcon":
        return T.Q8_0
    if ne0 % GGML_QUANT_SIZES[new][0]:
        return T.Q8_0
    if st.ftype in _IQ2_FAMILY or st.ftype == F.MOSTLY_IQ3_XXS:
        return T.Q5_K
    return new if new == T.Q8_0 else T.Q6_K


def _token_embd_type(st: _State, new: GGMLQuantizationType, recipe: Recipe) -> GGMLQuantizationType:
    """token_embd of a model with its own output.weight."""
    if recipe.token_embedding_type is not None:
        return recipe.token_embedding_type
    ftype = st.ftype
    if ftype in (F.MOSTLY_IQ2_XXS, F.MOSTLY_IQ2_XS, F.MOSTLY_IQ1_S, F.MOSTLY_IQ1_M):
        return T.Q2_K
    if ftype in (F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M, F.MOSTLY_IQ3_XXS):
        return T.IQ3_S
    if ftype in (F.MOSTLY_TQ1_0, F.MOSTLY_TQ2_0):
        return T.Q4_K
    return new


def _iq2_family_type(st: _State, new: GGMLQuantizationType, cat: Category) -> GGMLQuantizationType:
    """The branch for IQ1/IQ2 ftypes."""
    facts, ftype = st.facts, st.ftype
    s_or_m = ftype in (F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M)
    if cat in _ATTN_V_LIKE:
        st.i_attention_wv += 1
        if facts.n_gqa >= 4 or facts.n_expert >= 4:
            return T.Q4_K
        return T.IQ3_S if s_or_m else T.Q2_K
    if facts.n_expert == 8 and cat == C.ATTENTION_K:
        return T.Q4_K
    if cat == C.FFN_DOWN:
        low = st.i_ffn_down < facts.n_layer // 8
        st.i_ffn_down += 1
        if low:
            return T.IQ3_S if s_or_m else T.Q2_K
        return new
    if cat == C.ATTENTION_OUTPUT:
        if facts.n_expert == 8:
            return T.Q5_K
        if ftype in (F.MOSTLY_IQ1_S, F.MOSTLY_IQ1_M):
            return T.IQ2_XXS
        if s_or_m:
            return T.IQ3_S
    return new


def _attn_v_type(st: _State, new: GGMLQuantizationType) -> GGMLQuantizationType:
    """attn_v / attn_qkv / attn_kv_b outside the IQ1/IQ2 ftypes."""
    facts, ftype, gqa4 = st.facts, st.ftype, st.facts.n_gqa >= 4
    if ftype == F.MOSTLY_Q2_K:
        new = T.Q4_K if gqa4 else T.Q3_K
    elif ftype == F.MOSTLY_Q2_K_S and gqa4:
        new = T.Q4_K
    elif ftype == F.MOSTLY_IQ3_XXS:
        new = T.Q4_K if gqa4 else T.IQ3_S if not facts.has_imatrix else T.IQ3_XXS
    elif (ftype in (F.MOSTLY_IQ3_XS, F.MOSTLY_IQ3_S) and gqa4) or ftype == F.MOSTLY_IQ3_M:
        new = T.Q4_K
    elif ftype == F.MOSTLY_Q3_K_M:
        new = T.Q5_K if st.i_attention_wv < 2 else T.Q4_K
    elif ftype == F.MOSTLY_Q3_K_L or (ftype in (F.MOSTLY_IQ4_NL, F.MOSTLY_IQ4_XS) and gqa4):
        new = T.Q5_K
    elif ftype in (F.MOSTLY_Q4_K_M, F.MOSTLY_Q5_K_M) and use_more_bits(
        st.i_attention_wv, st.n_attention_wv
    ):
        new = T.Q6_K
    elif ftype == F.MOSTLY_Q4_K_S and st.i_attention_wv < 4:
        new = T.Q5_K
    if facts.is_70b and new in (T.Q3_K, T.Q4_K):
        new = T.Q5_K
    if facts.n_expert == 8:
        new = T.Q8_0
    st.i_attention_wv += 1
    return new


def _ffn_down_type(st: _State, new: GGMLQuantizationType, name: str) -> GGMLQuantizationType:
    """ffn_down (dense and experts) outside the IQ1/IQ2 ftypes."""
    facts, ftype = st.facts, st.ftype
    layer, n = st.layer_info(st.i_ffn_down, name)
    falcon = facts.arch == "falcon"
    st.i_ffn_down += 1
    if ftype == F.MOSTLY_Q2_K:
        return T.Q3_K
    if ftype == F.MOSTLY_Q2_K_S:
        return T.Q4_K if layer < n // 8 else new
    if ftype == F.MOSTLY_IQ3_XXS and not facts.has_imatrix:
        return T.Q4_K if layer < n // 8 else T.Q3_K
    if ftype == F.MOSTLY_Q3_K_M:
        if layer < n // 16:
            return T.Q5_K
        return T.Q4_K if not falcon or use_more_bits(layer, n) else T.Q3_K
    if ftype == F.MOSTLY_IQ3_M and (
        layer < n // 8 or (facts.n_expert == 8 and use_more_bits(layer, n))
    ):
        return T.Q4_K
    if ftype == F.MOSTLY_Q3_K_L:
        return T.Q4_K if falcon else T.Q5_K
    if ftype == F.MOSTLY_Q4_K_M:
        if falcon:
            return T.Q6_K if layer < n // 16 else T.Q5_K if use_more_bits(layer, n) else T.Q4_K
        return T.Q6_K if use_more_bits(layer, n) else new
    if layer < n // 8 and ftype in (F.MOSTLY_IQ4_NL, F.MOSTLY_IQ4_XS) and not facts.has_imatrix:
        return T.Q5_K
    if ftype == F.MOSTLY_Q5_K_M and use_more_bits(layer, n):
        return T.Q6_K
    if ftype == F.MOSTLY_Q4_K_S and not falcon and layer < n // 8:
        return T.Q5_K
    if ftype in (F.MOSTLY_Q4_0, F.MOSTLY_Q5_0) and facts.has_imatrix and layer < n // 8:
        return T.Q4_1 if ftype == F.MOSTLY_Q4_0 else T.Q5_1
    return new


def _attn_output_type(st: _State, new: GGMLQuantizationType) -> GGMLQuantizationType:
    if st.facts.arch == "falcon":
        return T.Q4_K if st.ftype == F.MOSTLY_Q3_K_L else new
    if st.facts.n_expert == 8:
        return T.Q5_K if st.ftype in _ATTN_OUTPUT_8_EXPERTS else new
    return _ATTN_OUTPUT.get(st.ftype, new)


def _gate_up_type(
    st: _State, new: GGMLQuantizationType, name: str, cat: Category
) -> GGMLQuantizationType:
    """ffn_gate / ffn_up (fused gate_up_exps is FFN_GATE): IQ3_XS's middle layers go IQ3_XXS."""
    if cat == C.FFN_GATE:
        layer, n = st.layer_info(st.i_ffn_gate, name)
        st.i_ffn_gate += 1
    else:
        layer, n = st.layer_info(st.i_ffn_up, name)
        st.i_ffn_up += 1
    if st.ftype == F.MOSTLY_IQ3_XS and n // 8 <= layer < 7 * n // 8:
        return T.IQ3_XXS
    return new


def _standard_type(
    st: _State,
    new: GGMLQuantizationType,
    name: str,
    shape: Sequence[int],
    cat: Category,
    recipe: Recipe,
) -> GGMLQuantizationType:
    """llama_tensor_get_type_impl: the ftype's mixture for one tensor."""
    ftype = st.ftype
    if cat == C.OUTPUT or (st.tied_embeddings and cat == C.TOKEN_EMBD):
        return _embedding_type(st, new, shape[0], recipe)
    if ftype == F.MOSTLY_MXFP4_MOE:
        return T.MXFP4 if len(shape) > 2 and shape[2] > 1 else T.Q8_0
    if cat == C.TOKEN_EMBD:
        return _token_embd_type(st, new, recipe)
    if ftype in _IQ2_FAMILY:
        return _iq2_family_type(st, new, cat)
    if cat in _ATTN_V_LIKE:
        return _attn_v_type(st, new)
    if cat == C.ATTENTION_K:
        if st.facts.n_expert == 8:
            return T.Q8_0
        return {F.MOSTLY_IQ3_XS: T.IQ3_XXS, F.MOSTLY_IQ3_XXS: T.IQ2_S}.get(ftype, new)
    if cat == C.ATTENTION_Q:
        return {F.MOSTLY_IQ3_XS: T.IQ3_XXS, F.MOSTLY_IQ3_XXS: T.IQ2_S}.get(ftype, new)
    if cat == C.FFN_DOWN:
        return _ffn_down_type(st, new, name)
    if cat == C.ATTENTION_OUTPUT:
        return _attn_output_type(st, new)
    if cat == C.ATTENTION_QKV:
        return _ATTN_QKV.get(ftype, new)
    if cat in (C.FFN_GATE, C.FFN_UP):
        return _gate_up_type(st, new, name, cat)
    return new


def fallback(kind: GGMLQuantizationType, ne0: int) -> tuple[GGMLQuantizationType, ...]:
    """tensor_type_fallback: the pinned llama.cpp's type first, then an older one's if other."""
    if ne0 % GGML_QUANT_SIZES[kind][0] == 0:
        return (kind,)
    found: list[GGMLQuantizationType] = []
    for table in (FALLBACK, LEGACY_FALLBACK):
        substitute = table.get(kind)
        if substitute is not None:
            fits = ne0 % GGML_QUANT_SIZES[substitute][0] == 0
            found.append(substitute if fits else T.F16)
    # no substitute (a 32-block type already): llama-quantize stores F16
    return tuple(dict.fromkeys(found)) or (T.F16,)


# ------------------------------------------------------------------------------------------
# The prediction


@dataclass(frozen=True)
class Prediction:
    """Per tensor: the accepted types, the pinned llama.cpp's first (more where versions differ),
    or None for a tensor llama-quantize copies unchanged (kept in its source float type)."""

    ftype: LlamaFileType
    types: dict[str, tuple[GGMLQuantizationType, ...] | None] = field(default_factory=dict)
    overridden: frozenset[str] = frozenset()  # tensors a --tensor-type pattern decided

    def accepts(self, name: str, kind: GGMLQuantizationType) -> bool:
        """True when `kind` is what llama-quantize writes for tensor `name`."""
        accepted = self.types.get(name)
        return kind in FLOAT_TYPES if accepted is None else kind in accepted

    def expected(self, name: str) -> str:
        """The expectation for one tensor in words: `Q6_K`, `Q4_0 or IQ4_NL`, `unquantized`."""
        accepted = self.types.get(name)
        if accepted is None:
            return "unquantized (F32/F16/BF16)"
        return " or ".join(t.name for t in accepted)

    def primary(self, name: str) -> GGMLQuantizationType | None:
        """The type the pinned llama.cpp writes (None: unquantized)."""
        accepted = self.types.get(name)
        return accepted[0] if accepted else None


def predict(
    ftype: LlamaFileType | int,
    tensors: Iterable[_Tensor],
    facts: ModelFacts,
    recipe: Recipe = Recipe(),
) -> Prediction:
    """What llama-quantize writes for each tensor when quantizing to `ftype` with `recipe`."""
    ftype = LlamaFileType(ftype)
    default = DEFAULT_TYPE.get(ftype)
    if default is None:
        raise LayoutError(f"ftype {ftype.name} is not one llama-quantize writes")
    ordered = sorted(tensors, key=lambda t: _sort_key(t.name))
    names = [t.name for t in ordered]
    st = _State(
        facts=facts,
        ftype=ftype,
        n_attention_wv=sum(category(n) in _ATTN_V_LIKE for n in names),
        tied_embeddings="output.weight" not in names,
    )
    patterns = [(re.compile(p), kind) for p, kind in recipe.tensor_types]
    types: dict[str, tuple[GGMLQuantizationType, ...] | None] = {}
    overridden: set[str] = set()
    for tensor in ordered:
        name, shape = tensor.name, tuple(tensor.shape)
        if not allows_quantization(name, shape):
            types[name] = None
            continue
        kind, manual = _tensor_type(st, default, name, shape, recipe, patterns)
        if manual:
            overridden.add(name)
        types[name] = kind
    return Prediction(ftype, types, frozenset(overridden))


def _tensor_type(
    st: _State,
    default: GGMLQuantizationType,
    name: str,
    shape: tuple[int, ...],
    recipe: Recipe,
    patterns: list[tuple[re.Pattern[str], GGMLQuantizationType]],
) -> tuple[tuple[GGMLQuantizationType, ...], bool]:
    """llama_tensor_get_type: explicit options first, then the mixture, then the fallback."""
    cat = category(name)
    if recipe.token_embedding_type is not None and cat == C.TOKEN_EMBD:
        named = name == "per_layer_token_embd.weight" and any(p.search(name) for p, _ in patterns)
        if not named:
            return (recipe.token_embedding_type,), False
    if recipe.output_tensor_type is not None and cat == C.OUTPUT:
        return (recipe.output_tensor_type,), False
    if default in FLOAT_TYPES:
        return (default,), False
    manual = next((kind for pattern, kind in patterns if pattern.search(name)), None)
    new = manual if manual is not None else _standard_type(st, default, name, shape, cat, recipe)
    return fallback(new, shape[0]), manual is not None
