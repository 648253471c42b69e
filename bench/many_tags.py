"""Benchmark a manifest with many tags: `publish validate` and `publish render` as whole processes.

Issue 21 item 12: every tag's Hub label was compared with every other tag's, and each warning named
all the other tags with its label, so 50,000 tags took 112 s to validate and 161 s (1.25 GB) to
render. The manifest here is the worst case: every file reads as the same label (Q4_K_M), so
every tag collides with all the others. CPU time and peak RSS come from `os.wait4`.

    .venv/bin/python bench/many_tags.py [--tags 10000 20000 50000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def write_manifest(path: Path, count: int) -> None:
    """`count` Hub tags whose files all carry the label Q4_K_M."""
    head = (
        '[model]\nfamily = "f"\nvariant = "v"\ntitle = "T"\nbase_model = "o/base"\nexperts = 8\n'
        '[files]\nname = "m-{tag}.gguf"\n[huggingface]\nrepo = "o/r-GGUF"\n'
    )
    tags = "".join(
        f'[[tags]]\ntag = "t{i}-Q4_K_M"\ntargets = ["huggingface"]\n' for i in range(count)
    )
    path.write_text(head + tags, encoding="utf-8")


def run(argv: list[str]) -> tuple[float, float, float]:
    """(CPU seconds, wall seconds, peak RSS MiB) of one whole process."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed")
    wall = time.perf_counter() - started
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, nargs="+", default=[10_000, 20_000, 50_000])
    args = parser.parse_args()
    print(f"{'tags':>7} {'command':9} {'cpu s':>7} {'wall s':>7} {'peak RSS MiB':>13}")
    with tempfile.TemporaryDirectory() as scratch:
        for count in args.tags:
            manifest = Path(scratch) / f"tags{count}.toml"
            write_manifest(manifest, count)
            out = Path(scratch) / f"out{count}"
            commands = {
                "validate": [str(BIN / "publish"), "validate", str(manifest)],
                "render": [str(BIN / "publish"), "render", str(manifest), "--out", str(out)],
            }
            for name, argv in commands.items():
                cpu, wall, rss = run(argv)
                print(f"{count:7,} {name:9} {cpu:7.2f} {wall:7.2f} {rss:13.0f}", flush=True)


if __name__ == "__main__":
    main()
