"""Benchmark `publish verify` on a sparse GGUF with the real gemma4 26B-A4B 98e shape (~13 GB).

Measures, in one run, on the same file:
  1. in-process header checks (read_header + every check, no hashing): median time and peak
     Python memory (tracemalloc), plus the peak RSS of a process that does only that;
  2. whole processes: `publish verify FILE --no-digest` vs `gguf-dump --no-tensors FILE`;
  3. sha256 throughput: a process hashing with publisher.digest vs `sha256sum` (page-cached);
  4. a second `publish verify` (with digests) of the unchanged file: bytes hashed (must be 0).

The file is sparse (header + tensor table with real shapes and types, then a hole up to the
full size), so it costs ~10 MB of disk; it is deleted at the end.

    /work/venv/bin/python bench/verify.py [--runs 5] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGUFWriter
from gguf import GGMLQuantizationType as T

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_EMBD, N_FF, N_FF_EXP, N_EXPERT, N_LAYER, N_VOCAB = 2816, 2112, 704, 98, 30, 262_144
N_Q, N_KV = 4096, 2048  # 16 heads x 256, 8 kv heads x 256


def _nbytes(shape: tuple[int, ...], kind: T) -> int:
    block, size = GGML_QUANT_SIZES[kind]
    n = 1
    for dim in shape:
        n *= dim
    return n // block * size


def tensors() -> list[tuple[str, tuple[int, ...], T]]:
    """(name, ne, type) of a gemma4 26B-A4B 98e Q4_K_M, expert axis last."""
    rows: list[tuple[str, tuple[int, ...], T]] = [
        ("token_embd.weight", (N_EMBD, N_VOCAB), T.Q6_K),
        ("output_norm.weight", (N_EMBD,), T.F32),
    ]
    for i in range(N_LAYER):
        b = f"blk.{i}."
        down = T.Q8_0 if i % 2 else T.Q5_0  # 704-wide rows cannot be K-quants
        rows += [
            (b + "attn_norm.weight", (N_EMBD,), T.F32),
            (b + "attn_q.weight", (N_EMBD, N_Q), T.Q4_K),
            (b + "attn_k.weight", (N_EMBD, N_KV), T.Q4_K),
            (b + "attn_v.weight", (N_EMBD, N_KV), T.Q6_K),
            (b + "attn_output.weight", (N_Q, N_EMBD), T.Q4_K),
            (b + "attn_q_norm.weight", (256,), T.F32),
            (b + "attn_k_norm.weight", (256,), T.F32),
            (b + "post_attention_norm.weight", (N_EMBD,), T.F32),
            (b + "ffn_norm.weight", (N_EMBD,), T.F32),
            (b + "ffn_gate.weight", (N_EMBD, N_FF), T.Q4_K),
            (b + "ffn_up.weight", (N_EMBD, N_FF), T.Q4_K),
            (b + "ffn_down.weight", (N_FF, N_EMBD), T.Q5_0),
            (b + "pre_ffw_norm_2.weight", (N_EMBD,), T.F32),
            (b + "post_ffw_norm_1.weight", (N_EMBD,), T.F32),
            (b + "post_ffw_norm_2.weight", (N_EMBD,), T.F32),
            (b + "ffn_gate_inp.weight", (N_EMBD, N_EXPERT), T.F32),
            (b + "ffn_gate_inp.scale", (N_EMBD,), T.F32),
            (b + "ffn_gate_up_exps.weight", (N_EMBD, 2 * N_FF_EXP, N_EXPERT), T.Q4_K),
            (b + "ffn_down_exps.weight", (N_FF_EXP, N_EMBD, N_EXPERT), down),
            (b + "ffn_down_exps.scale", (N_EXPERT,), T.F32),
            (b + "layer_output_scale.weight", (1,), T.F32),
        ]
    return rows


def write_sparse(path: Path) -> int:
    """Write the header and tensor table, then extend the file sparsely to its full size."""
    writer = GGUFWriter(path, "gemma4")
    writer.add_name("gemma-4-A4B-98e-bench")
    writer.add_file_type(15)
    writer.add_quantization_version(2)
    writer.add_block_count(N_LAYER)
    writer.add_embedding_length(N_EMBD)
    writer.add_context_length(262_144)
    writer.add_uint32("gemma4.expert_count", N_EXPERT)
    writer.add_uint32("gemma4.expert_used_count", 8)
    writer.add_uint32("gemma4.expert_feed_forward_length", N_FF_EXP)
    writer.add_tokenizer_model("gemma4")
    tokens = [f"<tok{i}>" for i in range(N_VOCAB)]
    tokens[1], tokens[2], tokens[106] = "<eos>", "<bos>", "<turn|>"
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * N_VOCAB)
    writer.add_token_types([1] * N_VOCAB)
    writer.add_bos_token_id(2)
    writer.add_eos_token_id(106)
    writer.add_chat_template("{# gemma4 #}" + "x" * 17_454)  # a 17,466-byte template
    total = 0
    for name, ne, kind in tensors():
        nbytes = _nbytes(ne, kind)
        writer.add_tensor_info(name, tuple(reversed(ne)), np.dtype(np.float32), nbytes, kind)
        total += GGUFWriter.ggml_pad(nbytes, writer.data_alignment)
    writer.write_header_to_file(path)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    assert writer.fout is not None
    header_end = writer.fout[0].tell()
    writer.close()
    size = GGUFWriter.ggml_pad(header_end, writer.data_alignment) + total
    os.truncate(path, size)
    return size


def timed(cmd: list[str], runs: int, env: dict[str, str] | None = None) -> list[float]:
    """Wall times of `runs` whole-process runs of `cmd` (output discarded; must not crash)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, env=env, check=False)
        times.append(time.perf_counter() - start)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr[-400:]!r}")
    return times


PEAK_RSS = """
import resource, sys
from publisher.gguf.checks import Expectations, check_tag, tag_files
path = sys.argv[1]
report = check_tag("Q4_K_M", tag_files(path), Expectations(experts=98))
assert report.ok, [str(r) for r in report.failures]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

BASELINE_RSS = """
import resource
import publisher.gguf.checks
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

HASH = """
import sys, time
from publisher.digest import sha256_file
start = time.perf_counter()
sha256_file(sys.argv[1])
print(time.perf_counter() - start)
"""


def in_process(path: Path, runs: int) -> dict[str, float]:
    from publisher.gguf.checks import Expectations, check_tag, tag_files

    exp = Expectations(experts=98)
    check_tag("Q4_K_M", tag_files(path), exp)  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        report = check_tag("Q4_K_M", tag_files(path), exp)
        times.append(time.perf_counter() - start)
        assert report.ok, [str(r) for r in report.failures]
    tracemalloc.start()
    check_tag("Q4_K_M", tag_files(path), exp)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"median_s": statistics.median(times), "peak_py_mb": peak / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-verify-", dir=args.dir))
    path = work / "gemma-4-A4B-98e-bench-Q4_K_M.gguf"
    py = sys.executable
    publish = [py, "-c", "from publisher.cli import app; app()"]
    env = {**os.environ, "PUBLISHER_CACHE_DIR": str(work / "cache")}
    results: dict[str, object] = {}
    try:
        size = write_sparse(path)
        disk = os.stat(path).st_blocks * 512
        results["file"] = {"size_gb": size / 1e9, "on_disk_mb": disk / 1e6}
        results["in_process"] = in_process(path, args.runs)
        rss = int(
            subprocess.run(
                [py, "-c", PEAK_RSS, str(path)], capture_output=True, text=True, check=True
            ).stdout
        )
        base = int(
            subprocess.run(
                [py, "-c", BASELINE_RSS], capture_output=True, text=True, check=True
            ).stdout
        )
        results["process_rss_mb"] = {"checks": rss / 1e3, "imports_only": base / 1e3}

        verify_cmd = [*publish, "verify", str(path), "--tag", "Q4_K_M", "--experts", "98"]
        ours = timed([*verify_cmd, "--no-digest"], args.runs, env)
        dump = shutil.which("gguf-dump", path=str(Path(py).parent)) or "gguf-dump"
        theirs = timed([dump, "--no-tensors", str(path)], max(2, args.runs // 2), env)
        results["whole_process"] = {
            "publish_verify_no_digest_s": statistics.median(ours),
            "gguf_dump_no_tensors_s": statistics.median(theirs),
            "speedup": statistics.median(theirs) / statistics.median(ours),
        }

        subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # page cache
        hash_runs = max(2, args.runs // 2)
        sha_ours = [
            float(
                subprocess.run(
                    [py, "-c", HASH, str(path)], capture_output=True, text=True, env=env, check=True
                ).stdout
            )
            for _ in range(hash_runs)
        ]
        sha_theirs = timed(["sha256sum", str(path)], hash_runs)
        results["sha256"] = {
            "publisher_gb_s": size / 1e9 / statistics.median(sha_ours),
            "sha256sum_gb_s": size / 1e9 / statistics.median(sha_theirs),
            "ratio": statistics.median(sha_theirs) / statistics.median(sha_ours),
        }

        first = timed(verify_cmd, 1, env)[0]
        second = timed(verify_cmd, 1, env)[0]
        from publisher.digest import DigestCache, sha256_files

        again = DigestCache(work / "cache" / "digests.json")
        sha256_files([path], again, progress=False)
        results["rerun"] = {
            "first_verify_with_digest_s": first,
            "second_verify_with_digest_s": second,
            "bytes_hashed_on_rerun": again.bytes_hashed,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
