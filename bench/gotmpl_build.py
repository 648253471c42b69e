"""Benchmark the one-off build of the Go template renderer, with the Go that `publish` finds.

Three states, each a whole process calling `gorender.binary_path()` (what the template check
does first), timed from outside, median of `--runs`:
  cold   — an empty tool cache: Go compiles the standard library packages the renderer uses
           into the tool's GOCACHE, then links (a fresh machine's first template check);
  warm   — Go's build cache kept, the renderer binary deleted (a new publisher version);
  reuse  — the binary exists (every later run): the baseline the other two are compared with.

    /work/venv/bin/python bench/gotmpl_build.py [--runs 3]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUILD = "from publisher.chat.gorender import binary_path; print(binary_path())"


def once(cache: Path) -> float:
    """One process that makes sure the renderer is built; its wall time."""
    env = {**os.environ, "PUBLISHER_CACHE_DIR": str(cache)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", BUILD], env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from publisher.chat.gorender import build_env, find_go, go_version

    go = find_go()
    times: dict[str, list[float]] = {"cold": [], "warm": [], "reuse": []}
    for _ in range(args.runs):
        cache = Path(tempfile.mkdtemp(prefix="bench-gotmpl-"))
        try:
            times["cold"].append(once(cache))
            times["reuse"].append(once(cache))
            for built in cache.glob("gotmpl-*"):
                shutil.rmtree(built)
            times["warm"].append(once(cache))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    report = {
        "go": go,
        "go_version": ".".join(map(str, go_version(go, build_env()) or ())),
        "runs": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "median_s": {k: round(v, 2) for k, v in medians.items()},
        "ratio_over_reuse": {k: round(v / medians["reuse"], 1) for k, v in medians.items()},
        "load_average": os.getloadavg(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
