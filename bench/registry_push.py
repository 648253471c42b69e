"""Benchmark: push one 2 GB blob to a loopback docker-registry, ours vs `curl --upload-file`.

Each run is a whole process against a fresh registry (fresh storage, so nothing is skipped):
- baseline: `curl -X PUT --upload-file FILE <upload-location>&digest=…` (one monolithic PUT);
- ours: `python -m … upload_blob` (HEAD, POST, streamed PATCH parts, PUT ?digest=).
Reports the median wall time of N runs, MB/s, the ratio, and peak RSS (/usr/bin/time %M).
The 2 GB random file lives in /tmp and is deleted at the end.

    /work/venv/bin/python bench/registry_push.py [--size-mb 2048] [--runs 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from registry_server import start_registry  # noqa: E402

CHILD = """
import sys
from publisher.ollama.registry import RegistryClient
url, repo, path, digest, size = sys.argv[1:6]
with RegistryClient(url, repo, insecure=True) as c:
    sent = c.upload_blob(path, digest, int(size))
assert sent == int(size), sent
"""


def make_file(path: Path, size: int) -> str:
    """Write size random bytes (64 MiB at a time) and return their sha256 digest."""
    h = hashlib.sha256()
    piece = 64 * 1024 * 1024
    with path.open("wb") as f:
        left = size
        while left:
            data = os.urandom(min(piece, left))
            h.update(data)
            f.write(data)
            left -= len(data)
    return "sha256:" + h.hexdigest()


def run_measured(cmd: list[str]) -> tuple[float, int]:
    """Run cmd under /usr/bin/time; return (wall seconds, peak RSS in KiB) of that process."""
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd], cwd=ROOT, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{cmd[0]} failed with {proc.returncode}: {proc.stderr[-500:]}")
    return elapsed, int(proc.stderr.strip().splitlines()[-1])


def curl_run(url: str, path: Path, digest: str) -> tuple[float, int]:
    """Baseline: open an upload session, then one curl process streams the file in a PUT."""
    req = urllib.request.Request(f"{url}/v2/bench/curl/blobs/uploads/", method="POST")
    with urllib.request.urlopen(req) as resp:
        location = resp.headers["Location"]
    target = f"{location}&digest={digest}"
    return run_measured(
        [
            "curl",
            "-sS",
            "-f",
            "-o",
            "/dev/null",
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/octet-stream",
            "--upload-file",
            str(path),
            target,
        ]
    )


def ours_run(url: str, path: Path, digest: str, size: int) -> tuple[float, int]:
    """Our client in its own process, default (Ollama) part size."""
    return run_measured(
        [sys.executable, "-c", CHILD, url, "bench/ours", str(path), digest, str(size)]
    )


def main() -> None:
    """Run the benchmark and print a markdown table row set."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    size = args.size_mb * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="registry-bench-", dir="/tmp"))
    try:
        blob = work / "blob.bin"
        digest = make_file(blob, size)
        results: dict[str, list[tuple[float, int]]] = {"curl": [], "ours": []}
        for i in range(args.runs):
            for name in ("curl", "ours"):
                store = work / f"reg-{name}-{i}"
                with start_registry(store) as url:
                    if name == "curl":
                        results[name].append(curl_run(url, blob, digest))
                    else:
                        results[name].append(ours_run(url, blob, digest, size))
                shutil.rmtree(store, ignore_errors=True)
                t, rss = results[name][-1]
                print(
                    f"run {i + 1} {name}: {t:.2f} s, {size / t / 1e6:.0f} MB/s, "
                    f"peak RSS {rss / 1024:.0f} MiB",
                    flush=True,
                )
        med = {k: statistics.median(t for t, _ in v) for k, v in results.items()}
        peak = max(r for _, r in results["ours"]) / 1024
        print("\n| tool | median s | MB/s | peak RSS MiB |\n|---|---|---|---|")
        for k in ("curl", "ours"):
            rss = max(r for _, r in results[k]) / 1024
            print(f"| {k} | {med[k]:.2f} | {size / med[k] / 1e6:.0f} | {rss:.0f} |")
        print(
            f"\nours/curl time ratio: {med['ours'] / med['curl']:.2f}; "
            f"our peak RSS {peak:.0f} MiB (limit 100 MB)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
