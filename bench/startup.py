"""Benchmark start-up: whole-process CPU time of `publish --version` and `publish validate`
against `hf version` (huggingface_hub's CLI), measured in the same run, interleaved.

CPU time (user + system of the child, from `os.wait4`) rather than wall time: the machine is
shared, and CPU time is what an import costs whatever else runs beside it. Each round runs the
three commands one after the other, so a busy moment hits all three alike; the figure is the
median over the rounds.

Bytecode is cached as an installed package has it: pip compiles site-packages (hf's modules) at
install, while an editable checkout compiles `publisher/` on first import — and not at all under
PYTHONDONTWRITEBYTECODE, which would charge every run for compiling publisher's sources. The
children run without that variable, so the warm-up run writes `publisher/**/__pycache__`.

    .venv/bin/python bench/startup.py [--runs 9] [--manifest manifests/v3.toml] [--tree DIR]

`--tree DIR` runs `publish` from another copy of the sources (e.g. `git archive main publisher |
tar -x -C DIR`) instead of this checkout, for a before/after pair measured the same way.

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
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cpu_seconds(argv: list[str]) -> tuple[float, float]:
    """(user + system CPU seconds, wall seconds) of one whole process, its output discarded."""
    started = time.perf_counter()
    child = subprocess.Popen(
        argv, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {child.returncode}")
    return usage.ru_utime + usage.ru_stime, wall


# `publish` from the sources in argv[1]: the venv's editable finder would load this checkout
FROM_TREE = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path.insert(0, sys.argv.pop(1))
sys.argv[0] = "publish"
from publisher.cli import app
app()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--manifest", default="manifests/v3.toml")
    parser.add_argument("--tree", help="run publish from the sources in this folder")
    args = parser.parse_args()
    publish = [str(BIN / "publish")]
    if args.tree:
        publish = [sys.executable, "-c", FROM_TREE, str(Path(args.tree).resolve())]
    commands = {
        "hf version": [str(BIN / "hf"), "version"],
        "publish --version": [*publish, "--version"],
        "publish --help": [*publish, "--help"],
        f"publish validate {args.manifest}": [*publish, "validate", args.manifest],
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
