"""Benchmarks of `publish release` as whole processes against a real docker-registry on loopback.

1. The no-op re-run of a 20-tag release: wall time and bytes hashed of a second `publish
   release` when nothing changed, against `publish validate` of the same manifest (the cost of
   starting the tool at all) measured in the same script.
2. Peak memory while publishing 4 GGUFs of 2 GiB each (limit 150 MB), against `sha256sum` of the
   same files (the least any verifying publisher must do) measured in the same script.

    /work/venv/bin/python bench/release.py --runs 5 --big-gib 2

The Ollama side goes by direct registry push (the path the gemma4 release takes). The Hugging
Face side needs the Hub and is not part of this benchmark.
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from doubles.registry_server import start_registry  # noqa: E402
from support.gguf_factory import write_gemma4_gguf  # noqa: E402

PUBLISH = [sys.executable, "-c", "from publisher.cli import app; app()"]
# 20 real tier names (the quant check verifies each file against its tag's ftype)
FTYPES = {
    "Q8_0": 7, "Q6_K": 18, "Q5_K_M": 17, "Q5_K_S": 16, "Q4_K_M": 15, "Q4_K_S": 14, "Q3_K_L": 13,
    "Q3_K_M": 12, "Q3_K_S": 11, "Q2_K": 10, "IQ4_XS": 30, "IQ4_NL": 25, "IQ3_M": 27, "IQ3_XS": 22,
    "IQ3_XXS": 23, "IQ2_M": 29, "IQ2_S": 28, "IQ2_XS": 20, "IQ2_XXS": 19, "Q4_0": 2,
}  # fmt: skip


def manifest(root: Path, registry: str, tags: list[str]) -> Path:
    """A release of `tags` pushed straight to `registry`."""
    lines = [
        "[model]",
        'family = "bench"',
        'variant = "b1"',
        'title = "bench"',
        'base_model = "google/gemma-4-26B-A4B-it"',
        'parameters = "20.8B"',
        "experts = 98",
        "[files]",
        'gguf_dir = "gguf"',
        'name = "bench-{tag}.gguf"',
        "[ollama]",
        'model = "bench/model"',
        f'latest = "{tags[0]}"',
        'template = "gemma4-tools.gotmpl"',
        'parser = "gemma4"',
        f'registry = "{registry}"',
        "[ollama.parameters]",
        "temperature = 0.6",
        'stop = ["<turn|>", "<|tool_response>"]',
    ]
    for tag in tags:
        lines += ["[[tags]]", f'tag = "{tag}"', 'targets = ["ollama"]']
    path = root / "bench.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def gguf(path: Path, ftype: int, extra_bytes: int, salt: int) -> None:
    """A valid tiny gemma4 GGUF followed by `extra_bytes` of random data (unique per file)."""
    write_gemma4_gguf(path, file_type=ftype, name=f"bench-{salt}")
    with path.open("ab") as out:
        left = extra_bytes
        while left:
            chunk = min(left, 64 << 20)
            out.write(os.urandom(chunk))
            left -= chunk


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS (KiB) of the child and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[-4:])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) if peak > before else peak, proc.stdout


def peak_rss_kib(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    """Like `timed`, but the peak RSS of this one child, read with GNU time."""
    out = cwd / "time.txt"
    wall, _, stdout = timed(["/usr/bin/time", "-f", "%M", "-o", str(out), *cmd], env, cwd)
    return wall, int(out.read_text().split()[-1]), stdout


def noop_rerun(root: Path, registry: str, runs: int, tag_mib: int) -> dict[str, object]:
    """20 tags: a first release, then `runs` no-op re-runs and `runs` validates."""
    tags = list(FTYPES)
    path = manifest(root, registry, tags)
    (root / "gguf").mkdir()
    for salt, tag in enumerate(tags):
        gguf(root / "gguf" / f"bench-{tag}.gguf", FTYPES[tag], tag_mib << 20, salt)
    env = {**os.environ, "PUBLISHER_CACHE_DIR": str(root / "cache")}
    release = [*PUBLISH, "release", str(path), "--yes", "--json", "--quiet"]
    first, _, out = timed(release, env, root)
    first_json = json.loads(out)
    reruns, hashed, sent = [], [], []
    for _ in range(runs):
        wall, _, out = timed(release, env, root)
        data = json.loads(out)
        reruns.append(wall)
        hashed.append(data["bytes_hashed"])
        sent.append(data["bytes_uploaded"])
    validates = [timed([*PUBLISH, "validate", str(path)], env, root)[0] for _ in range(runs)]
    return {
        "tags": len(tags),
        "bytes_per_tag": (tag_mib << 20),
        "first_run_s": round(first, 2),
        "first_run_bytes_hashed": first_json["bytes_hashed"],
        "first_run_bytes_uploaded": first_json["bytes_uploaded"],
        "noop_median_s": round(statistics.median(reruns), 3),
        "noop_runs_s": [round(w, 3) for w in reruns],
        "noop_bytes_hashed": hashed,
        "noop_bytes_uploaded": sent,
        "validate_median_s": round(statistics.median(validates), 3),
        "ratio_noop_to_validate": round(
            statistics.median(reruns) / statistics.median(validates), 2
        ),
    }


def big_files(root: Path, registry: str, gib: int) -> dict[str, object]:
    """4 files of `gib` GiB: peak RSS of the publishing process vs sha256sum of the same files."""
    tags = ["Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0"]
    path = manifest(root, registry, tags)
    (root / "gguf").mkdir()
    for salt, tag in enumerate(tags):
        gguf(root / "gguf" / f"bench-{tag}.gguf", FTYPES[tag], gib << 30, 100 + salt)
    env = {**os.environ, "PUBLISHER_CACHE_DIR": str(root / "cache")}
    files = sorted(str(p) for p in (root / "gguf").glob("*.gguf"))
    # Build the Go template renderer once first: a one-time `go build` is not publishing.
    timed([*PUBLISH, "check-template", str(path)], env, root)
    base_wall, base_rss, _ = peak_rss_kib(["sha256sum", *files], env, root)
    release = [*PUBLISH, "release", str(path), "--yes", "--json", "--quiet"]
    wall, rss, out = peak_rss_kib(release, env, root)
    data = json.loads(out)
    return {
        "files": len(files),
        "bytes_total": sum(Path(f).stat().st_size for f in files),
        "sha256sum_s": round(base_wall, 1),
        "sha256sum_peak_rss_mib": round(base_rss / 1024, 1),
        "publish_s": round(wall, 1),
        "publish_peak_rss_mib": round(rss / 1024, 1),
        "bytes_uploaded": data["bytes_uploaded"],
        "ratio_time_publish_to_sha256sum": round(wall / base_wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tag-mib", type=int, default=16, help="size of each of the 20 tags")
    parser.add_argument("--big-gib", type=int, default=2, help="size of each of the 4 big files")
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-noop", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {}
    for name in ("noop", "big"):
        if (name == "big" and args.skip_big) or (name == "noop" and args.skip_noop):
            continue
        root = Path(tempfile.mkdtemp(prefix=f"publisher-bench-{name}-"))
        try:
            with start_registry(root / "registry") as registry:
                if name == "noop":
                    results[name] = noop_rerun(root, registry, args.runs, args.tag_mib)
                else:
                    results[name] = big_files(root, registry, args.big_gib)
        finally:
            shutil.rmtree(root, ignore_errors=True)
        print(json.dumps({name: results[name]}, indent=2), flush=True)


if __name__ == "__main__":
    main()
