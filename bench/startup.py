"""Benchmark start-up: whole-process CPU time of `publish --version` and `publish validate`
against `hf version` (huggingface_hub's CLI), measured in the same run, interleaved.

CPU time (user + system of the child, from `os.wait4`) rather than wall time: the machine is
shared, and CPU time is what an import costs whatever else runs beside it. Each round runs the
three commands one after the other, so a busy moment hits all three alike; the figure is the
median over the rounds.

    .venv/bin/python bench/startup.py [--runs 9] [--manifest manifests/v3.toml]

Issue 23's goals: `publish --version` <= 0.15 s CPU; `publish validate` <= `hf version`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's scripts, beside this interpreter


def cpu_seconds(argv: list[str]) -> tuple[float, float]:
    """(user + system CPU seconds, wall seconds) of one whole process, its output discarded."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {child.returncode}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--manifest", default="manifests/v3.toml")
    args = parser.parse_args()
    commands = {
        "hf version": [str(BIN / "hf"), "version"],
        "publish --version": [str(BIN / "publish"), "--version"],
        "publish --help": [str(BIN / "publish"), "--help"],
        f"publish validate {args.manifest}": [str(BIN / "publish"), "validate", args.manifest],
    }
    for argv in commands.values():  # warm the page cache and the .pyc files once
        cpu_seconds(argv)
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    wall: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.runs):
        for name, argv in commands.items():
            used, elapsed = cpu_seconds(argv)
            cpu[name].append(used)
            wall[name].append(elapsed)
    hf = statistics.median(cpu["hf version"])
    print(f"{args.runs} runs each, interleaved; median CPU (user+sys) and wall, seconds")
    print(f"{'command':44} {'cpu s':>7} {'wall s':>7} {'cpu / hf':>9}")
    for name in commands:
        median = statistics.median(cpu[name])
        print(f"{name:44} {median:7.3f} {statistics.median(wall[name]):7.3f} {median / hf:9.2f}")
    version = statistics.median(cpu["publish --version"])
    validate = statistics.median(cpu[f"publish validate {args.manifest}"])
    print(f"goal publish --version <= 0.15 s CPU: {'met' if version <= 0.15 else 'MISSED'}")
    print(f"goal validate <= hf version: {'met' if validate <= hf else 'MISSED'}")


if __name__ == "__main__":
    main()
