"""Tiny synthetic gemma4 MoE GGUFs written with gguf.GGUFWriter, for any test that needs a GGUF.

The files have the real gemma4 MoE layout (router, fused or split gate/up experts, down experts
with their per-expert scale, dense MLP, norms, tied embeddings) at toy sizes (a few MB, written in
milliseconds). Every property the release checks look at can be set, so a test builds exactly the
good or broken file it needs:

    from support.gguf_factory import write_gemma4_gguf   # tests/ is on sys.path under pytest
    good = write_gemma4_gguf(tmp_path / "m-Q4_K_M.gguf")
    bad = write_gemma4_gguf(tmp_path / "m-Q4_K_M.gguf",
                            tensor_experts={"blk.1.ffn_down_exps.weight": 128})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter, LlamaFileType

from publisher.gguf.quant_layout import DEFAULT_TYPE, ModelFacts, fallback, predict

T = GGMLQuantizationType

DEFAULT_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|turn>{{ m['role'] }}\n"
    "{{ m['content'] }}<turn|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|turn>model\n{% endif %}"
)
EOS_ID = 106
EOS_TOKEN = "<turn|>"


def _default_type(file_type: int) -> GGMLQuantizationType | None:
    """llama-quantize's type for the bulk of the weights of `file_type` (publisher's own table);
    None for an ftype it does not write."""
    try:
        return DEFAULT_TYPE.get(LlamaFileType(file_type))
    except ValueError:
        return None


def default_vocab(size: int = 300) -> list[str]:
    """A vocabulary with gemma4's special ids in place: 0 pad, 1 eos, 2 bos, 105/106 turn marks."""
    tokens = [f"<tok{i}>" for i in range(size)]
    for index, text in {0: "<pad>", 1: "<eos>", 2: "<bos>", 105: "<|turn>", 106: EOS_TOKEN}.items():
        if index < size:
            tokens[index] = text
    return tokens


def _fallback_type(main: GGMLQuantizationType, row: int) -> GGMLQuantizationType:
    """What llama-quantize stores when a row length is not a multiple of the main block size."""
    return fallback(main, row)[0]


class _Row:
    """A (name, shape) as the layout prediction reads it."""

    def __init__(self, name: str, shape: tuple[int, ...]) -> None:
        self.name, self.shape = name, shape


def _as_quantized(
    rows: list[tuple[str, tuple[int, ...], GGMLQuantizationType]],
    file_type: int,
    layers: int,
    experts: int,
    overrides: Mapping[str, GGMLQuantizationType],
) -> list[tuple[str, tuple[int, ...], GGMLQuantizationType]]:
    """The rows with the types llama-quantize writes for `file_type` (no imatrix), except the
    tensors in `overrides` (name -> type): a file exactly as a real run would lay it out."""
    facts = ModelFacts(arch="gemma4", n_layer=layers, n_expert=experts, n_gqa=0)
    layout = predict(file_type, [_Row(name, shape) for name, shape, _ in rows], facts)
    result = []
    for name, shape, kind in rows:
        predicted = layout.primary(name)
        chosen = overrides.get(name, predicted if predicted is not None else kind)
        result.append((name, shape, chosen))
    return result


def _overrides(
    rows: list[tuple[str, tuple[int, ...], GGMLQuantizationType]],
    *,
    token_embd_type: GGMLQuantizationType | None,
    output_type: GGMLQuantizationType | None,
    expert_type: GGMLQuantizationType | None,
    down_exps_type: GGMLQuantizationType | None,
    attn_type: GGMLQuantizationType | None,
) -> dict[str, GGMLQuantizationType]:
    """The tensors a test set explicitly, by name (row fallbacks applied to the experts)."""
    chosen: dict[str, GGMLQuantizationType] = {}
    for name, shape, _ in rows:
        if name == "token_embd.weight" and token_embd_type is not None:
            chosen[name] = token_embd_type
        elif name == "output.weight" and output_type is not None:
            chosen[name] = output_type
        elif name.endswith("ffn_down_exps.weight") and (down_exps_type or expert_type):
            chosen[name] = down_exps_type or _fallback_type(expert_type, shape[0])  # type: ignore[arg-type]
        elif name.endswith("_exps.weight") and expert_type is not None:
            chosen[name] = expert_type
        elif ".attn_" in name and "_norm" not in name and attn_type is not None:
            chosen[name] = attn_type
    return chosen


def zero_tensor(shape: Sequence[int], ggml_type: GGMLQuantizationType) -> np.ndarray[Any, Any]:
    """Zero bytes for a tensor of ne `shape` and `ggml_type` (numpy order is ne reversed)."""
    block, size = GGML_QUANT_SIZES[ggml_type]
    if shape[0] % block:
        raise ValueError(f"ne[0]={shape[0]} is not a multiple of {ggml_type.name} block {block}")
    byte_shape = (*reversed(shape[1:]), shape[0] // block * size)
    return np.zeros(byte_shape, dtype=np.uint8)


def gemma4_tensors(
    *,
    layers: int,
    experts: int,
    tensor_experts: int | Mapping[str, int] | None,
    main: GGMLQuantizationType,
    token_embd_type: GGMLQuantizationType,
    output_type: GGMLQuantizationType | None,
    expert_type: GGMLQuantizationType,
    down_exps_type: GGMLQuantizationType,
    attn_type: GGMLQuantizationType,
    fused_gate_up: bool,
    vocab_size: int,
    n_embd: int,
    n_ff_exp: int,
    n_ff: int,
) -> list[tuple[str, tuple[int, ...], GGMLQuantizationType]]:
    """The (name, ne, type) rows of a gemma4 MoE model, expert count on the last axis."""

    def n_exp(name: str) -> int:
        if isinstance(tensor_experts, Mapping):
            return tensor_experts.get(name, experts)
        return experts if tensor_experts is None else tensor_experts

    rows: list[tuple[str, tuple[int, ...], GGMLQuantizationType]] = [
        ("token_embd.weight", (n_embd, vocab_size), token_embd_type),
        ("output_norm.weight", (n_embd,), T.F32),
    ]
    if output_type is not None:
        rows.append(("output.weight", (n_embd, vocab_size), output_type))
    for i in range(layers):
        b = f"blk.{i}."
        rows += [
            (b + "attn_norm.weight", (n_embd,), T.F32),
            (b + "attn_q.weight", (n_embd, n_embd), attn_type),
            (b + "attn_k.weight", (n_embd, n_embd // 2), attn_type),
            (b + "attn_v.weight", (n_embd, n_embd // 2), attn_type),
            (b + "attn_output.weight", (n_embd, n_embd), attn_type),
            (b + "post_attention_norm.weight", (n_embd,), T.F32),
            (b + "ffn_norm.weight", (n_embd,), T.F32),
            (b + "ffn_gate.weight", (n_embd, n_ff), main),
            (b + "ffn_up.weight", (n_embd, n_ff), main),
            (b + "ffn_down.weight", (n_ff, n_embd), _fallback_type(main, n_ff)),
            (b + "pre_ffw_norm_2.weight", (n_embd,), T.F32),
            (b + "post_ffw_norm_1.weight", (n_embd,), T.F32),
            (b + "post_ffw_norm_2.weight", (n_embd,), T.F32),
        ]
        router = b + "ffn_gate_inp.weight"
        rows.append((router, (n_embd, n_exp(router)), T.F32))
        rows.append((b + "ffn_gate_inp.scale", (n_embd,), T.F32))  # per-dim, not per-expert
        if fused_gate_up:
            name = b + "ffn_gate_up_exps.weight"
            rows.append((name, (n_embd, 2 * n_ff_exp, n_exp(name)), expert_type))
        else:
            for part in ("ffn_gate_exps.weight", "ffn_up_exps.weight"):
                rows.append((b + part, (n_embd, n_ff_exp, n_exp(b + part)), expert_type))
        down = b + "ffn_down_exps.weight"
        rows.append((down, (n_ff_exp, n_embd, n_exp(down)), down_exps_type))
        scale = b + "ffn_down_exps.scale"
        rows.append((scale, (n_exp(scale),), T.F32))
    return rows


def write_gemma4_gguf(
    path: str | Path,
    *,
    experts: int = 98,
    tensor_experts: int | Mapping[str, int] | None = None,
    expert_used: int = 8,
    layers: int = 2,
    file_type: int | None = 15,
    eos: int | None = EOS_ID,
    chat_template: str | None = DEFAULT_CHAT_TEMPLATE,
    token_embd_type: GGMLQuantizationType | None = None,
    output_type: GGMLQuantizationType | None = None,
    expert_type: GGMLQuantizationType | None = None,
    down_exps_type: GGMLQuantizationType | None = None,
    attn_type: GGMLQuantizationType | None = None,
    main_type: GGMLQuantizationType | None = None,
    fused_gate_up: bool = True,
    split: int | None = None,
    vocab: int | Sequence[str] = 300,
    arch: str = "gemma4",
    n_embd: int = 256,
    n_ff_exp: int = 32,
    n_ff: int = 256,
    name: str = "gemma-4-A4B-98e-test",
    extra_kv: Mapping[str, Any] | None = None,
    omit_tensors: Sequence[str] = (),
    alignment: int | None = None,
    tokenizer_model: str = "gemma4",
) -> Path:
    """Write a tiny gemma4 MoE GGUF and return its path (the first shard's when `split` > 1).

    experts: `{arch}.expert_count`; tensor_experts: the expert axis actually stored (one int for
    every expert tensor, or {tensor name: count} overrides; default = `experts`).
    file_type: `general.file_type` (None omits it); the tensor types are what llama-quantize
    writes for it (publisher.gguf.quant_layout's prediction, no imatrix) unless `main_type` is
    given (every quantized tensor that type, with row fallbacks); token_embd_type, output_type,
    expert_type, down_exps_type and attn_type then override those tensors.
    eos / chat_template: None omits the key. output_type: None = tied embeddings (no output).
    split: number of shards (`<stem>-0000k-of-0000n.gguf`, split.* keys in every shard).
    extra_kv: more keys, typed by value (str, bool, int → u32, float → f32, list → array).
    omit_tensors: names to leave out (a broken file); alignment: `general.alignment`.
    tokenizer_model: `tokenizer.ggml.model` ("gemma4" as in real gemma4 GGUFs, which carry no
    `tokenizer.ggml.pre`; add one with extra_kv).
    """
    path = Path(path)
    main = main_type or _default_type(15 if file_type is None else file_type) or T.Q4_K
    tokens = default_vocab(vocab) if isinstance(vocab, int) else list(vocab)
    rows = gemma4_tensors(
        layers=layers,
        experts=experts,
        tensor_experts=tensor_experts,
        main=main,
        token_embd_type=token_embd_type or main,
        output_type=output_type,
        expert_type=expert_type or main,
        down_exps_type=down_exps_type or _fallback_type(expert_type or main, n_ff_exp),
        attn_type=attn_type or main,
        fused_gate_up=fused_gate_up,
        vocab_size=len(tokens),
        n_embd=n_embd,
        n_ff_exp=n_ff_exp,
        n_ff=n_ff,
    )
    if main_type is None and file_type is not None and _default_type(file_type) is not None:
        chosen = _overrides(
            rows,
            token_embd_type=token_embd_type,
            output_type=output_type,
            expert_type=expert_type,
            down_exps_type=down_exps_type,
            attn_type=attn_type,
        )
        rows = _as_quantized(rows, file_type, layers, experts, chosen)
    rows = [row for row in rows if row[0] not in set(omit_tensors)]
    per_shard = math.ceil(len(rows) / split) if split and split > 1 else 0
    writer = GGUFWriter(path, arch, split_max_tensors=per_shard)
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    writer.add_name(name)
    if file_type is not None:
        writer.add_file_type(file_type)
    writer.add_quantization_version(2)
    writer.add_block_count(layers)
    writer.add_embedding_length(n_embd)
    writer.add_context_length(262144)
    writer.add_uint32(f"{arch}.expert_count", experts)
    writer.add_uint32(f"{arch}.expert_used_count", expert_used)
    writer.add_uint32(f"{arch}.expert_feed_forward_length", n_ff_exp)
    writer.add_tokenizer_model(tokenizer_model)
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types([1] * len(tokens))
    writer.add_bos_token_id(2)
    if eos is not None:
        writer.add_eos_token_id(eos)
    if chat_template is not None:
        writer.add_chat_template(chat_template)
    for key, value in (extra_kv or {}).items():
        add_kv(writer, key, value)
    for tensor_name, shape, ggml_type in rows:
        writer.add_tensor(tensor_name, zero_tensor(shape, ggml_type), raw_dtype=ggml_type)
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if per_shard:
        shards = len(writer.tensors)
        return path.with_name(f"{path.stem}-00001-of-{shards:05d}.gguf")
    return path


def add_kv(writer: GGUFWriter, key: str, value: Any) -> None:
    if isinstance(value, bool):
        writer.add_bool(key, value)
    elif isinstance(value, int):
        writer.add_uint32(key, value)
    elif isinstance(value, float):
        writer.add_float32(key, value)
    elif isinstance(value, str):
        writer.add_string(key, value)
    else:
        writer.add_array(key, list(value))
