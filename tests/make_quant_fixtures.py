"""Regenerate tests/fixtures/quant_layouts/ from real llama-quantize runs, or diff the port.

    python tests/make_quant_fixtures.py --llama-quantize /tmp/llq/build/bin/llama-quantize
    python tests/make_quant_fixtures.py --build /tmp/llq      # pip-downloads the sdist and builds
    # another llama.cpp (the sdist's version), into a folder of its own:
    python tests/make_quant_fixtures.py --build /tmp/llq21 --sdist 0.3.21 --out DIR CD-Q5_K_M
    python tests/make_quant_fixtures.py --diff --llama-quantize NEWER/bin/llama-quantize
    python tests/make_quant_fixtures.py --diff --layouts tests/fixtures/quant_layouts/0.3.21

`--diff` writes nothing: it prints, per tag, the tensors whose type differs from the port's
prediction (publisher/gguf/quant_layout.py), under each `--tensor-type` rule for recipe tags, and
exits 1 when the port and that llama-quantize disagree — the next drift is one command away.

What it does, so the committed JSON can be checked by anyone:
1. (--build) downloads the `llama-cpp-python` sdist (version SDIST_VERSION) with pip, and builds
   only the `llama-quantize` target of its vendored llama.cpp (CPU, no curl) in the given folder;
2. writes a tiny gemma4 F16 GGUF with the real tensor naming of Gemma-4-26B-A4B: 30 layers, every
   6th full attention (no attn_v there: K is V), 98 experts, fused ffn_gate_up_exps, widths whose
   ratios follow the real model (n_ff = 3/4 n_embd, n_ff_exp = 1/8) so the 192- and 32-wide rows
   are not multiples of 256 and the row-size fallbacks appear (≈150 MB, outside the repo);
3. writes a synthetic importance matrix in llama-imatrix's GGUF format (made-up values: the
   types llama-quantize picks depend on its presence, not its values);
4. quantizes the whole ladder (plain, IQ, `_L`/`_XL`, Q8_0, Q2_K, IQ2_*, two CD recipes given as
   `--tensor-type` patterns) and records each output's tensor types in `<TAG>.json`, plus the
   model's metadata and tensor shapes in `model.json`.

Nothing of llama.cpp is committed; only the layouts it produced.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.gguf_factory import add_kv
from support.quant_fixtures import Row, recipe_from_args

from publisher.gguf.header import read_header
from publisher.gguf.quant_history import OverrideRule
from publisher.gguf.quant_layout import ModelFacts, predict

T = GGMLQuantizationType
SDIST_VERSION = "0.3.36"  # vendors ggml-org/llama.cpp@0c1e57098 (its CHANGELOG)
# the llama.cpp each measured sdist vendors (its CHANGELOG), for the fixtures' `source`
SDIST_LLAMA_CPP = {"0.3.36": "0c1e57098", "0.3.21": "f53577432"}
OUT = Path(__file__).parent / "fixtures" / "quant_layouts"

# the tiny model: real 26B-A4B ratios at toy size
ARCH = "gemma4"
LAYERS = 30
EXPERTS = 98
EXPERTS_USED = 8
N_EMBD = 256
N_FF = 192  # 2112/2816 of n_embd: not a multiple of 256
N_FF_EXP = 32  # 704/2816 ≈ 1/8: not a multiple of 256
N_HEAD = 8
N_HEAD_KV_SWA = 4  # gqa 2 on sliding layers (layer 0 decides llama-quantize's n_gqa)
N_HEAD_KV_FULL = 1
HEAD_DIM_SWA = 32
HEAD_DIM_FULL = 64
VOCAB = 512
FULL_EVERY = 6  # layers 5, 11, 17, 23, 29 are full attention

# CD recipes modelled on the owner's maps: attention pinned at Q5_K, the experts of most
# layers lower (IQ3_S in 22 of 30), the rest higher, token_embd at Q8_0.
CD_A_LOW = "blk\\.([4-9]|1[0-9]|2[0-5])\\.ffn_(gate_up|down)_exps\\.weight=iq3_s"
CD_A = [
    "attn_(q|k|v|output)\\.weight=q5_k",
    CD_A_LOW,
    "blk\\.([0-3]|2[6-9])\\.ffn_(gate_up|down)_exps\\.weight=q6_k",
]
CD_B = [
    "token_embd\\.weight=q8_0",
    "attn_(q|k|v|output)\\.weight=q5_k",
    "blk\\.(1[0-9]|2[0-3])\\.ffn_(gate_up|down)_exps\\.weight=iq3_s",
    "blk\\.([0-9]|2[4-9])\\.ffn_(gate_up|down)_exps\\.weight=q4_k",
    "ffn_(gate|up|down)\\.weight=q4_k",
]

# tag -> (llama-quantize ftype argument, extra arguments)
_L = ["--token-embedding-type", "q8_0", "--output-tensor-type", "q8_0"]
_CD_A = ["--token-embedding-type", "q8_0"] + [a for p in CD_A for a in ("--tensor-type", p)]
_CD_B = [a for p in CD_B for a in ("--tensor-type", p)]
LADDER: dict[str, tuple[str, list[str]]] = {
    "F16": ("F16", []),
    "Q8_0": ("Q8_0", []),
    "Q6_K_L": ("Q6_K", _L),
    "Q6_K": ("Q6_K", []),
    "Q5_K_L": ("Q5_K_M", _L),
    "Q5_K_M": ("Q5_K_M", []),
    "Q5_K_S": ("Q5_K_S", []),
    "Q4_K_L": ("Q4_K_M", _L),
    "Q4_K_M": ("Q4_K_M", []),
    "Q4_K_S": ("Q4_K_S", []),
    "IQ4_NL": ("IQ4_NL", []),
    "IQ4_XS": ("IQ4_XS", []),
    "Q3_K_XL": ("Q3_K_M", _L),
    "Q3_K_L": ("Q3_K_L", []),
    "Q3_K_M": ("Q3_K_M", []),
    "IQ3_M": ("IQ3_M", []),
    "Q3_K_S": ("Q3_K_S", []),
    "IQ3_XS": ("IQ3_XS", []),
    "IQ3_XXS": ("IQ3_XXS", []),
    "Q2_K": ("Q2_K", []),
    "IQ2_M": ("IQ2_M", []),
    "IQ2_S": ("IQ2_S", []),
    "IQ2_XS": ("IQ2_XS", []),
    "CD-Q6_K": ("Q6_K", _CD_A),
    "CD-Q5_K_M": ("Q5_K_M", _CD_A),
    "CD-Q4_K_M": ("Q4_K_M", _CD_A),
    "CD-Q3_K_L": ("Q3_K_L", _CD_B),
    "CD-Q3_K_M": ("Q3_K_M", _CD_B),
}  # fmt: skip


def is_full(layer: int) -> bool:
    """Full (global) attention every FULL_EVERY-th layer, as Gemma 4 26B-A4B."""
    return layer % FULL_EVERY == FULL_EVERY - 1


def model_tensors() -> list[tuple[str, tuple[int, ...], T]]:
    """(name, ne, type) of the F16 source, in gemma4's real naming."""
    f16, f32 = T.F16, T.F32
    rows = [
        ("token_embd.weight", (N_EMBD, VOCAB), f16),
        ("rope_freqs.weight", (HEAD_DIM_FULL // 2,), f32),
        ("output_norm.weight", (N_EMBD,), f32),
    ]
    for i in range(LAYERS):
        b = f"blk.{i}."
        hd = HEAD_DIM_FULL if is_full(i) else HEAD_DIM_SWA
        kv = N_HEAD_KV_FULL if is_full(i) else N_HEAD_KV_SWA
        rows += [
            (b + "attn_norm.weight", (N_EMBD,), f32),
            (b + "attn_q.weight", (N_EMBD, N_HEAD * hd), f16),
            (b + "attn_k.weight", (N_EMBD, kv * hd), f16),
        ]
        if not is_full(i):
            rows.append((b + "attn_v.weight", (N_EMBD, kv * hd), f16))
        rows += [
            (b + "attn_output.weight", (N_HEAD * hd, N_EMBD), f16),
            (b + "attn_q_norm.weight", (hd,), f32),
            (b + "attn_k_norm.weight", (hd,), f32),
            (b + "post_attention_norm.weight", (N_EMBD,), f32),
            (b + "layer_output_scale.weight", (1,), f32),
            (b + "ffn_norm.weight", (N_EMBD,), f32),
            (b + "ffn_gate.weight", (N_EMBD, N_FF), f16),
            (b + "ffn_up.weight", (N_EMBD, N_FF), f16),
            (b + "ffn_down.weight", (N_FF, N_EMBD), f16),
            (b + "post_ffw_norm.weight", (N_EMBD,), f32),
            (b + "ffn_gate_inp.weight", (N_EMBD, EXPERTS), f32),
            (b + "ffn_gate_inp.scale", (N_EMBD,), f32),
            (b + "pre_ffw_norm_2.weight", (N_EMBD,), f32),
            (b + "post_ffw_norm_1.weight", (N_EMBD,), f32),
            (b + "post_ffw_norm_2.weight", (N_EMBD,), f32),
            (b + "ffn_gate_up_exps.weight", (N_EMBD, 2 * N_FF_EXP, EXPERTS), f16),
            (b + "ffn_down_exps.weight", (N_FF_EXP, N_EMBD, EXPERTS), f16),
            (b + "ffn_down_exps.scale", (EXPERTS,), f32),
        ]
    return rows


def metadata() -> dict[str, Any]:
    """The gemma4 keys llama.cpp's loader reads (values at the tiny model's scale)."""
    return {
        "general.architecture": ARCH,
        f"{ARCH}.block_count": LAYERS,
        f"{ARCH}.context_length": 4096,
        f"{ARCH}.embedding_length": N_EMBD,
        f"{ARCH}.feed_forward_length": N_FF,
        f"{ARCH}.expert_feed_forward_length": N_FF_EXP,
        f"{ARCH}.expert_count": EXPERTS,
        f"{ARCH}.expert_used_count": EXPERTS_USED,
        f"{ARCH}.attention.head_count": N_HEAD,
        f"{ARCH}.attention.head_count_kv": [
            N_HEAD_KV_FULL if is_full(i) else N_HEAD_KV_SWA for i in range(LAYERS)
        ],
        f"{ARCH}.attention.key_length": HEAD_DIM_FULL,
        f"{ARCH}.attention.value_length": HEAD_DIM_FULL,
        f"{ARCH}.attention.key_length_swa": HEAD_DIM_SWA,
        f"{ARCH}.attention.value_length_swa": HEAD_DIM_SWA,
        f"{ARCH}.attention.sliding_window": 128,
        f"{ARCH}.attention.sliding_window_pattern": [not is_full(i) for i in range(LAYERS)],
        f"{ARCH}.attention.layer_norm_rms_epsilon": 1e-6,
        f"{ARCH}.attention.shared_kv_layers": 0,
        f"{ARCH}.embedding_length_per_layer_input": 0,
        f"{ARCH}.rope.freq_base": 1000000.0,
        f"{ARCH}.rope.freq_base_swa": 10000.0,
        f"{ARCH}.rope.dimension_count": HEAD_DIM_FULL,
        f"{ARCH}.rope.dimension_count_swa": HEAD_DIM_SWA,
        f"{ARCH}.final_logit_softcapping": 30.0,
    }


def write_source(path: Path) -> None:
    """The F16 model: random weights (quantizers reject all-zero rows for nothing, but
    random data keeps every code path ordinary)."""
    rng = np.random.default_rng(17)
    writer = GGUFWriter(path, ARCH)
    writer.add_name("gemma4-98e-tiny")
    writer.add_file_type(1)
    for key, value in metadata().items():
        if key != "general.architecture":
            add_kv(writer, key, value)
    tokens = [f"<t{i}>" for i in range(VOCAB)]
    writer.add_tokenizer_model("gemma4")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * VOCAB)
    writer.add_token_types([1] * VOCAB)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(106)
    for name, shape, kind in model_tensors():
        dtype = np.float16 if kind == T.F16 else np.float32
        data = (rng.standard_normal(tuple(reversed(shape)), dtype=np.float32) * 0.02).astype(dtype)
        writer.add_tensor(name, data)
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_imatrix(path: Path) -> None:
    """A GGUF importance matrix as llama-imatrix writes it: `<w>.in_sum2` [ne0, n_mat] and
    `<w>.counts` [1, n_mat] (F32) for every matrix weight, plus the imatrix.* keys."""
    writer = GGUFWriter(path, "imatrix")
    writer.add_string("general.type", "imatrix")
    writer.add_array("imatrix.datasets", ["synthetic"])
    writer.add_uint32("imatrix.chunk_count", 1)
    writer.add_uint32("imatrix.chunk_size", 512)
    for name, shape, kind in sorted(model_tensors()):
        if kind != T.F16:
            continue
        n_mat = shape[2] if len(shape) == 3 else 1
        writer.add_tensor(f"{name}.in_sum2", np.full((n_mat, shape[0]), 512.0, dtype=np.float32))
        writer.add_tensor(f"{name}.counts", np.full((n_mat, 1), 512.0, dtype=np.float32))
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def build(folder: Path, version: str = SDIST_VERSION) -> Path:
    """pip-download the sdist and build only llama-quantize; returns the binary."""
    binary = folder / "build" / "bin" / "llama-quantize"
    if binary.exists():
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    spec = f"llama-cpp-python=={version}"
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    subprocess.run([*pip, spec, "-d", str(folder)], check=True)
    (sdist,) = folder.glob(f"llama_cpp_python-{version}.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(folder, filter="data")
    source = folder / f"llama_cpp_python-{version}" / "vendor" / "llama.cpp"
    flags = ["-DGGML_NATIVE=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF"]
    flags += ["-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=OFF"]
    flags += ["-DCMAKE_BUILD_TYPE=Release"]
    subprocess.run(["cmake", "-S", str(source), "-B", str(folder / "build"), *flags], check=True)
    target = ["--target", "llama-quantize", "-j2"]
    subprocess.run(["cmake", "--build", str(folder / "build"), *target], check=True)
    return binary


def quantize(binary: Path, work: Path, tags: list[str]) -> dict[str, dict[str, Any]]:
    """Run llama-quantize for each tag; returns tag -> its fixture document."""
    source, imatrix = work / "source-F16.gguf", work / "imatrix.gguf"
    layouts: dict[str, dict[str, Any]] = {}
    for tag in tags:
        ftype, extra = LADDER[tag]
        out = work / f"{tag}.gguf"
        args = [*extra]
        if tag != "F16":
            args = ["--imatrix", str(imatrix), *args]
        started = time.monotonic()
        run = subprocess.run(
            [str(binary), *args, str(source), str(out), ftype, "2"], capture_output=True, text=True
        )
        if run.returncode != 0:
            sys.exit(f"llama-quantize {tag} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}")
        header = read_header(out)
        print(f"{tag}: {time.monotonic() - started:.1f} s", file=sys.stderr)
        layouts[tag] = {
            "tag": tag,
            "ftype": ftype,
            "file_type": header.get("general.file_type"),
            "imatrix": tag != "F16",
            "args": [a if a != str(imatrix) else "imatrix.gguf" for a in args],
            "types": matrix_types({t.name: t.type.name for t in header.tensors}, tag),
        }
        out.unlink()
    return layouts


def matrix_types(types: dict[str, str], tag: str) -> dict[str, str]:
    """The types of the ≥2-D tensors; the 1-D ones (norms, scales), which llama-quantize copies,
    are checked here to have kept their source type and left out of the fixture."""
    rows = {name: (shape, kind) for name, shape, kind in model_tensors()}
    copied = [n for n, t in types.items() if len(rows[n][0]) < 2 and t != rows[n][1].name]
    if copied:
        sys.exit(f"{tag}: 1-D tensors changed type: {copied[:5]}")
    return {name: kind for name, kind in types.items() if len(rows[name][0]) > 1}


# ------------------------------------------------------------------------------------------
# --diff: the port against what a llama-quantize wrote


def diff_layout(document: dict[str, Any], model: dict[str, Any]) -> dict[str, list[str]]:
    """Per `--tensor-type` rule (only the pinned one for a tag without patterns), the tensors
    whose type the port predicts otherwise than the layout records: `name: port X, found Y`."""
    recipe = recipe_from_args(document["args"])
    kv = dict(model["metadata"])
    if document["imatrix"]:
        kv["quantize.imatrix.file"] = "imatrix.gguf"
    facts = ModelFacts.from_metadata(kv)
    tensors = [Row(name, shape) for name, shape, _ in model["tensors"]]
    sources = {name: kind for name, _, kind in model["tensors"]}
    rules = list(OverrideRule) if recipe.tensor_types else [OverrideRule.PATTERN_WINS]
    found: dict[str, list[str]] = {}
    for rule in rules:
        prediction = predict(document["file_type"], tensors, facts, recipe, rule)
        found[rule.value] = [
            f"{name}: port {prediction.expected(name)}, llama-quantize {kind}"
            for name, kind in document["types"].items()
            if not (
                prediction.accepts(name, T[kind])
                if prediction.types.get(name) is not None
                else kind == sources[name]
            )
        ]
    return found


def report_diff(layouts: dict[str, dict[str, Any]], model: dict[str, Any]) -> bool:
    """Print the port's disagreements per tag; True when every tag matches (under one rule)."""
    agree = True
    for tag, document in layouts.items():
        per_rule = diff_layout(document, model)
        matching = [rule for rule, lines in per_rule.items() if not lines]
        if matching:
            rules = f" (--tensor-type rule: {' or '.join(matching)})" if len(per_rule) > 1 else ""
            print(f"{tag}: = port{rules}")
            continue
        agree = False
        for rule, lines in per_rule.items():
            print(f"{tag}: {len(lines)} tensor(s) differ from the port ({rule})")
            print("".join(f"  {line}\n" for line in lines), end="")
    return agree


def read_layouts(folder: Path, tags: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Recorded layouts of a fixture folder (every tag, or `tags`) and its model.json."""
    names = tags or sorted(p.stem for p in folder.glob("*.json") if p.stem != "model")
    layouts = {tag: json.loads((folder / f"{tag}.json").read_text()) for tag in names}
    return layouts, json.loads((folder / "model.json").read_text())


def model_document(version: str) -> dict[str, Any]:
    """model.json: where the layouts come from, the model's metadata and tensor shapes."""
    commit = SDIST_LLAMA_CPP.get(version)
    source = f"llama-cpp-python {version} sdist" + (
        f" (ggml-org/llama.cpp@{commit})" if commit else ""
    )
    return {
        "source": source,
        "metadata": metadata(),
        "tensors": [[name, list(shape), kind.name] for name, shape, kind in model_tensors()],
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, build or find llama-quantize, write the fixtures (or diff)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--llama-quantize", type=Path, help="an existing llama-quantize binary")
    where.add_argument("--build", type=Path, help="folder to download the sdist and build in")
    where.add_argument("--layouts", type=Path, help="--diff: a fixture folder instead of a run")
    parser.add_argument("--sdist", default=SDIST_VERSION, help="llama-cpp-python version")
    parser.add_argument("--diff", action="store_true", help="print where the port disagrees")
    parser.add_argument("--work", type=Path, default=Path("/tmp/quant-fixtures"))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("tags", nargs="*", help="tags to (re)generate (default: all)")
    args = parser.parse_args(argv)
    if args.layouts is not None:
        if not args.diff:
            parser.error("--layouts goes with --diff")
        return 0 if report_diff(*read_layouts(args.layouts, args.tags)) else 1
    binary = args.llama_quantize or build(args.build, args.sdist)
    args.work.mkdir(parents=True, exist_ok=True)
    if not (args.work / "source-F16.gguf").exists():
        write_source(args.work / "source-F16.gguf")
        write_imatrix(args.work / "imatrix.gguf")
    layouts = quantize(binary, args.work, args.tags or list(LADDER))
    shutil.rmtree(args.work / "tmp", ignore_errors=True)
    model = model_document(args.sdist)
    if args.diff:
        return 0 if report_diff(layouts, model) else 1
    args.out.mkdir(parents=True, exist_ok=True)
    for tag, layout in layouts.items():
        (args.out / f"{tag}.json").write_text(json.dumps(layout, indent=0) + "\n")
    (args.out / "model.json").write_text(json.dumps(model, indent=0) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
