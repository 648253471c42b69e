"""Benchmark `publish init` over a folder of 25 GGUF file sets, one of them a sparse 13 GB GGUF.

The folder: the sparse 13.26 GB gemma4 26B-A4B 98e Q4_K_M of `bench/verify.py` (real shapes,
262,144-token vocabulary, ~7 MB on disk) and 24 tiny synthetic gemma4 GGUFs of the other tiers
(tests/support/gguf_factory.py: plain, `_L`/`_XL`, IQ, a CD tier, a 2-shard split set), all
carrying the
same chat template, so init proposes all 25. Whole processes timed from outside, median of
`--runs`; the baseline, in the same run, is `publish --version` (the interpreter and CLI start).
Also timed in this process: the proposal itself (read every header, ask check_quant, write the
TOML text), without the interpreter start.

    /work/venv/bin/python bench/init.py [--runs 5] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from support.gguf_factory import T, write_gemma4_gguf  # noqa: E402
from verify import timed, write_sparse  # noqa: E402

STEM = "gemma-4-A4B-98e-bench"
TEMPLATE = "{# gemma4 #}" + "x" * 17_454  # the sparse file's template (bench/verify.py)
# tag -> (general.file_type, token_embd in Q8_0) of the 24 small files
TIERS: dict[str, tuple[int, bool]] = {
    "Q6_K": (18, False), "Q6_K_L": (18, True), "Q5_K_M": (17, False), "Q5_K_L": (17, True),
    "Q5_K_S": (16, False), "Q4_K_S": (14, False), "Q4_K_L": (15, True), "IQ4_NL": (25, False),
    "IQ4_XS": (30, False), "Q3_K_L": (13, False), "Q3_K_M": (12, False), "Q3_K_XL": (12, True),
    "Q3_K_S": (11, False), "IQ3_M": (27, False), "IQ3_S": (26, False), "IQ3_XS": (22, False),
    "IQ3_XXS": (23, False), "Q2_K": (10, False), "IQ2_M": (29, False), "IQ2_S": (28, False),
    "IQ2_XS": (20, False), "IQ2_XXS": (19, False),
}  # fmt: skip


def build_folder(folder: Path) -> int:
    """Write the 25 file sets; returns the sparse file's size."""
    folder.mkdir(parents=True)
    size = write_sparse(folder / f"{STEM}-Q4_K_M.gguf")
    common = {"chat_template": TEMPLATE, "name": STEM}
    for tag, (ftype, q8_embd) in TIERS.items():
        embd = T.Q8_0 if q8_embd else None
        path = folder / f"{STEM}-{tag}.gguf"
        write_gemma4_gguf(path, file_type=ftype, token_embd_type=embd, **common)
    write_gemma4_gguf(folder / f"{STEM}-Q8_0.gguf", file_type=7, split=2, **common)
    write_gemma4_gguf(
        folder / f"{STEM}-CD-Q4_K_M.gguf",
        file_type=15,
        expert_type=T.Q5_K,
        attn_type=T.Q4_K,
        **common,
    )
    return size


def cpu_per_run(cmd: list[str], runs: int, env: dict[str, str]) -> tuple[list[float], float]:
    """Wall times of `runs` processes and their mean CPU seconds (user + sys): on a loaded
    machine the CPU time is what one process costs, the wall time what it waited too."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    times = timed(cmd, runs, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return times, cpu / runs


def in_process(folder: Path, out: Path, runs: int) -> list[float]:
    """Wall times of propose_release + render_manifest in this process (headers page-cached)."""
    from publisher.scaffold.proposal import propose_release
    from publisher.scaffold.writer import InitRequest, render_manifest

    request = InitRequest(folder, out, "me/bench", "me/b-GGUF", "bench", "bench")
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proposals, facts, latest = propose_release(folder)
        render_manifest(request, proposals, facts, latest)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-init-", dir=args.dir))
    folder = work / "gguf"
    out = work / "bench.toml"
    publish = [sys.executable, "-c", "from publisher.cli import app; app()"]
    env = {**os.environ, "PUBLISHER_CACHE_DIR": str(work / "cache")}
    init = [*publish, "init", str(folder), "--ollama-model", "me/bench", "--hf-repo", "me/b-GGUF"]
    init += ["--out", str(out), "--force", "--json"]
    try:
        sparse = build_folder(folder)
        first = subprocess.run(init, capture_output=True, text=True, env=env, check=True)
        result = json.loads(first.stdout)
        proposed = [t["tag"] for t in result["tags"] if t["proposed"]]
        held = [f"{t['file']}: {t['reason']}" for t in result["tags"] if not t["proposed"]]
        assert result["valid"] and not held and len(proposed) == 25, (proposed, held)
        assert len(tomllib.loads(out.read_text())["tags"]) == 25
        init_times, init_cpu = cpu_per_run(init, args.runs, env)
        base_times, base_cpu = cpu_per_run([*publish, "--version"], args.runs, env)
        median, base = statistics.median(init_times), statistics.median(base_times)
        inside = in_process(folder, out, args.runs)
        report = {
            "file_sets": len(proposed),
            "sparse_file_gb": round(sparse / 1e9, 2),
            "on_disk_mb": round(sum(p.stat().st_blocks for p in folder.iterdir()) * 512 / 1e6, 1),
            "init_median_s": round(median, 3),
            "init_runs_s": [round(t, 3) for t in init_times],
            "baseline_version_median_s": round(base, 3),
            "ratio_init_over_baseline": round(median / base, 2),
            "init_cpu_mean_s": round(init_cpu, 3),
            "baseline_cpu_mean_s": round(base_cpu, 3),
            "in_process_median_s": round(statistics.median(inside), 3),
            "load_average": os.getloadavg(),
            "target_s": 2.0,
        }
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
