"""Benchmark: one Hugging Face upload with the sha256 handed to huggingface_hub (ours) against
the same upload where huggingface_hub hashes the file itself (the behaviour before: a second
full read and hash of every GGUF).

Each run is a whole process: it starts the strict HF double's HTTP front on loopback
(tests/doubles/hub_http.py: preupload, LFS batch, PUT — whose body the double hashes, as the Hub
checks
it —, commit), publishes one GGUF of --size-mb random bytes with the real `HfApi.create_commit`,
and reports how many bytes huggingface_hub hashed. The parent times the processes from outside
(wall clock, and CPU user+sys from getrusage of its children); the file is hashed once into a
digest cache first (what `publish release`'s verify step does). The double keeps the upload in
memory: mind RAM for large --size-mb.

    /work/venv/bin/python bench/hf_upload.py --size-mb 512 --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from publisher.targets.base import apply_all, plan_all

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE.parent))

MODES = ("rehash", "handover")  # baseline first


def child(mode: str, folder: Path) -> None:
    """One upload in this process; prints the bytes huggingface_hub hashed, as JSON."""
    import huggingface_hub.lfs
    import huggingface_hub.utils.sha
    from doubles.hf_double import Records, new_hub, target

    from publisher.digest import DigestCache
    from publisher.manifest import load

    counted = {"bytes": 0}
    real = huggingface_hub.utils.sha.sha256

    class Counting:
        def __init__(self, data: bytes = b"") -> None:
            self._h = real()
            self.update(data)

        def update(self, data: bytes) -> None:
            counted["bytes"] += len(data)
            self._h.update(data)

        def digest(self) -> bytes:
            return self._h.digest()

        def hexdigest(self) -> str:
            return self._h.hexdigest()

    huggingface_hub.utils.sha.sha256 = Counting  # type: ignore[assignment]
    huggingface_hub.lfs.sha256 = Counting  # type: ignore[assignment]
    release = load(folder / "release.toml")
    hub = new_hub()
    http = hub.serve()
    cache = folder / ("digests.json" if mode == "handover" else "empty.json")
    tgt, _ = target(release, hub, digests=DigestCache(cache))
    data = payload_from_cache(release, folder)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    http.close()
    assert result.ok, result.failures
    print(json.dumps({"lib_hashed": counted["bytes"]}))


def payload_from_cache(release, folder: Path):
    """The payload with the sha256 the digest cache holds (no hashing in the timed process)."""
    from publisher.digest import DigestCache
    from publisher.targets.base import LocalFile, ReleasePayload, TagPayload

    cache = DigestCache(folder / "digests.json")
    tags = []
    for tag in release.tags:
        sha = cache.lookup(tag.path)
        assert sha is not None, f"{tag.path} is not in {cache.path}"
        measured = LocalFile(tag.path, tag.path.stat().st_size, sha)
        tags.append(TagPayload(tag, [measured], {}, "", None, None, None, None, None))
    return ReleasePayload(release=release, tags=tags, hf_files={})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=512)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "DIR"))
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    from doubles.hf_double import write_gguf
    from doubles.hf_double import write_manifest as hf_manifest

    from publisher.digest import DigestCache, sha256_file
    from publisher.manifest import load

    with tempfile.TemporaryDirectory(prefix="bench-hf-") as scratch:
        folder = Path(scratch)
        release = load(hf_manifest(folder, ["Q4_K_M"], private=True))
        path = write_gguf(release, "Q4_K_M", os.urandom(args.size_mb * 1024 * 1024))
        cache = DigestCache(folder / "digests.json")
        sha256_file(path, cache)  # verify's one hash
        cache.save()
        timings: dict[str, list[float]] = {mode: [] for mode in MODES}
        cpu: dict[str, list[float]] = {mode: [] for mode in MODES}
        hashed: dict[str, int] = {}
        for _ in range(args.runs):
            for mode in MODES:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                out = subprocess.run(
                    [sys.executable, __file__, "--child", mode, str(folder)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                timings[mode].append(time.perf_counter() - start)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                cpu[mode].append(used)
                hashed[mode] = json.loads(out.stdout.strip().splitlines()[-1])["lib_hashed"]
    base, base_cpu = statistics.median(timings["rehash"]), statistics.median(cpu["rehash"])
    size = args.size_mb * 1024 * 1024
    print(f"{args.size_mb} MiB GGUF, {args.runs} runs, whole processes, median")
    for mode in MODES:
        wall, used = statistics.median(timings[mode]), statistics.median(cpu[mode])
        print(
            f"{mode:9s} wall {wall:6.2f} s (ratio {wall / base:.3f})  "
            f"cpu {used:6.2f} s (ratio {used / base_cpu:.3f})  "
            f"huggingface_hub hashed {hashed[mode] / size:.2f}× the file"
        )


if __name__ == "__main__":
    main()
