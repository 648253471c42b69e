"""Benchmark: push one 2 GB blob to a loopback docker-registry, ours vs `curl --upload-file`,
and the same push through the ollama.com stand-in (tests/doubles/ollama_com_standin.py).

Each run is a whole process against a fresh registry (fresh storage, so nothing is skipped):
- baseline: `curl -X PUT --upload-file FILE <upload-location>&digest=…` (one monolithic PUT);
- ours: `python -c … upload_blob` (HEAD, POST, streamed PATCH parts, PUT ?digest=);
- standin: ours through the stand-in (tokens good for `--token-uses` requests, every part
  answered 307 to presigned storage, etag-checked commit); reports bytes stored / file size
  once done (stand-in + registry on disk), the most parts staged at once / file size (sampled:
  above 1 only if a part were stored twice) and bytes sent / file size.
Reports the median wall time of N runs, MB/s, the ratio, and peak RSS (/usr/bin/time %M).
The random file lives in /tmp and is deleted at the end.

    .venv/bin/python bench/registry_push.py [--size-mb 2048] [--runs 3] [--token-uses 3]
        [--modes curl,ours,standin]
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
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from doubles.ollama_com_standin import OllamaComStandIn  # noqa: E402
from doubles.registry_server import start_registry  # noqa: E402

CHILD = """
import sys
from publisher.ollama.auth import OllamaKeyAuth
from publisher.ollama.registry import RegistryClient
url, repo, path, digest, size, key = sys.argv[1:7]
auth = OllamaKeyAuth(key) if key else None
with RegistryClient(url, repo, insecure=True, auth=auth) as c:
    sent = c.upload_blob(path, digest, int(size))
    assert c.has_blob(digest)
print(sent)
assert key or sent == int(size), sent
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


def run_measured(cmd: list[str]) -> tuple[float, int, str]:
    """Run cmd under /usr/bin/time; return (wall seconds, peak RSS in KiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *cmd], cwd=ROOT, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{cmd[0]} failed with {proc.returncode}: {proc.stderr[-500:]}")
    return elapsed, int(proc.stderr.strip().splitlines()[-1]), proc.stdout


def curl_run(url: str, path: Path, digest: str) -> tuple[float, int, str]:
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


def ours_run(url: str, path: Path, digest: str, size: int, key: str = "") -> tuple[float, int, str]:
    """Our client in its own process, default (Ollama) part size."""
    return run_measured(
        [sys.executable, "-c", CHILD, url, "bench/ours", str(path), digest, str(size), key]
    )


def make_key(folder: Path) -> tuple[Path, str]:
    """An ed25519 signing key for the stand-in's token service: (private key file, public b64)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from publisher.ollama.auth import public_key_b64

    key = Ed25519PrivateKey.generate()
    path = folder / "id_ed25519"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    return path, public_key_b64(key)


def standin_run(
    work: Path, store: Path, blob: Path, digest: str, size: int, token_uses: int
) -> tuple[float, int, str, tuple[int, int], OllamaComStandIn]:
    """Ours through the ollama.com stand-in; also (bytes on disk once done, most bytes staged)."""
    key, public = make_key(work)
    with start_registry(store) as upstream:
        standin = OllamaComStandIn(upstream, store / "staging", public, token_uses=token_uses)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.25):
                peak[0] = max(peak[0], standin.bytes_held(store / "no-registry"))

        with standin.serve():
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            try:
                t, rss, out = ours_run(standin.url, blob, digest, size, str(key))
            finally:
                done.set()
                sampler.join()
            held = standin.bytes_held(store / "data")
    return t, rss, out, (held, peak[0]), standin


def main() -> None:
    """Run the benchmark and print markdown tables."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--token-uses", type=int, default=3, help="requests per stand-in token")
    ap.add_argument("--modes", default="curl,ours,standin", help="which pushes to run")
    args = ap.parse_args()
    modes = args.modes.split(",")
    size = args.size_mb * 1024 * 1024
    work = Path(tempfile.mkdtemp(prefix="registry-bench-", dir="/tmp"))
    try:
        blob = work / "blob.bin"
        digest = make_file(blob, size)
        results: dict[str, list[tuple[float, int]]] = {m: [] for m in modes}
        stored: list[tuple[float, float]] = []
        for i in range(args.runs):
            for name in results:
                store = work / f"reg-{name}-{i}"
                extra = ""
                if name == "standin":
                    t, rss, out, (held, staged), standin = standin_run(
                        work, store, blob, digest, size, args.token_uses
                    )
                    stored.append((held / size, staged / size))
                    extra = (
                        f", stored {held / size:.3f}× the file (staged at most "
                        f"{staged / size:.2f}×), sent {int(out) / size:.2f}×, "
                        f"{standin.counts['401']} × 401, "
                        f"{standin.counts['storage_put']} storage PUTs"
                    )
                else:
                    with start_registry(store) as url:
                        run = curl_run if name == "curl" else ours_run
                        t, rss, _ = run(url, blob, digest, *([size] if name == "ours" else []))
                results[name].append((t, rss))
                shutil.rmtree(store, ignore_errors=True)
                print(
                    f"run {i + 1} {name}: {t:.2f} s, {size / t / 1e6:.0f} MB/s, "
                    f"peak RSS {rss / 1024:.0f} MiB{extra}",
                    flush=True,
                )
        med = {k: statistics.median(t for t, _ in v) for k, v in results.items()}
        print("\n| tool | median s | MB/s | peak RSS MiB |\n|---|---|---|---|")
        for k in results:
            rss = max(r for _, r in results[k]) / 1024
            print(f"| {k} | {med[k]:.2f} | {size / med[k] / 1e6:.0f} | {rss:.0f} |")
        if "curl" in med and "ours" in med:
            print(f"\nours/curl throughput ratio: {med['curl'] / med['ours']:.2f}")
        if stored:
            print(
                f"stand-in: median {med['standin']:.2f} s, bytes stored / file size "
                f"{max(h for h, _ in stored):.3f}, parts staged at most "
                f"{max(s for _, s in stored):.2f}×"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
