"""Benchmark: rendering the chat corpus with one Go process (batch) vs one process per
conversation (baseline). Whole processes, several runs, median, ratio against the baseline.

Run: /work/venv/bin/python bench/gotmpl_batch.py [--runs 7] [--copies 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from publisher.chat import gorender
from publisher.chat.corpus import load_corpus
from publisher.manifest import TEMPLATES_DIR


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--copies", type=int, default=4, help="corpus repetitions per run")
    args = parser.parse_args()
    binary = str(gorender.binary_path())
    template = (TEMPLATES_DIR / "ollama" / "gemma4-tools.gotmpl").read_text()
    values = [c.values() for c in load_corpus()] * args.copies
    singles = [json.dumps({"template": template, "values": v}).encode() for v in values]
    batch = json.dumps(
        {"jobs": [{"op": "render", "template": template, "values": v} for v in values]}
    ).encode()

    def per_conversation() -> None:
        for request in singles:
            subprocess.run([binary, "render"], input=request, capture_output=True, check=True)

    def one_batch() -> None:
        subprocess.run([binary, "batch"], input=batch, capture_output=True, check=True)

    timings: dict[str, list[float]] = {"per-conversation": [], "batch": []}
    for _ in range(args.runs):
        for name, fn in (("per-conversation", per_conversation), ("batch", one_batch)):
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    base = statistics.median(timings["per-conversation"])
    print(f"{len(values)} renders, {args.runs} runs, median wall time")
    for name, samples in timings.items():
        med = statistics.median(samples)
        print(f"  {name:17s} {med * 1000:8.1f} ms   ratio vs per-conversation {med / base:5.3f}")


if __name__ == "__main__":
    main()
