"""Benchmark of one release published from N machines (issue 20), against the real
docker-registry on loopback and the strict Hub double (commits over HTTP through the real
huggingface_hub client).

1. Bytes sent: N machines each publish their share of a T-tag ladder (`--shard i/N`, then
   `--present`) — every file must cross the wire once per remote, whoever sends it: the bytes
   the runs report and the LFS objects the Hub received are compared with the file sizes.
2. A no-op seal on a complete release: `publish seal --yes` from a machine with no GGUF makes
   no commit and sends 0 bytes; its time is compared with `publish status` on the same machine
   (the cost of reading the remotes at all), both measured here, median of R runs each.

    /work/venv/bin/python bench/converge.py --machines 3 --tags 6 --runs 5

The machines run in this process (tests/support/machines.py: own HOME, cache, ledger and
GGUFs each, environment swapped per command), not as separate processes as the other
benchmarks do: the Hub double serves its reads in-process only, so a machine in another process
could not see the same Hub. Both sides of each ratio are measured the same way.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import pytest  # noqa: E402  (its MonkeyPatch wires the Hub double, as in the tests)
from doubles.hf_double import FakeHub  # noqa: E402
from doubles.registry_server import start_registry  # noqa: E402
from support.machines import FTYPES, Fleet, Machine, wire_hub  # noqa: E402

LADDER = ("Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")


def timed(machine: Machine, command: str, *args: str) -> tuple[float, int, dict[str, Any]]:
    started = time.perf_counter()
    code, data, output = machine.publish(command, *args)
    seconds = time.perf_counter() - started
    if code not in (0, 1):
        raise SystemExit(f"{machine.name}: publish {command} exited {code}:\n{output[-2000:]}")
    return seconds, code, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=3)
    parser.add_argument("--tags", type=int, default=len(LADDER), choices=range(2, 7))
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tags = LADDER[: args.tags]
    assert all(tag in FTYPES for tag in tags)

    with tempfile.TemporaryDirectory(prefix="bench-converge-") as scratch:
        root = Path(scratch)
        with start_registry(root / "registry") as registry:
            hub = FakeHub()
            http = hub.serve()
            patch = pytest.MonkeyPatch()
            try:
                wire_hub(patch, hub)
                fleet = Fleet(root / "fleet", registry, hub, tags=tags)
                report(fleet, args.machines, args.runs)
            finally:
                patch.undo()
                http.close()


def report(fleet: Fleet, n: int, runs: int) -> None:
    machines = [fleet.machine(f"m{i}") for i in range(n)]
    for position, tag in enumerate(fleet.tags):  # the --shard rule: position k to k mod N
        machines[position % n].add(tag)

    print(f"{n} machines × {len(fleet.tags)} tags ({', '.join(fleet.tags)})")
    sent = 0
    for i, machine in enumerate(machines):
        seconds, code, data = timed(machine, "release", "--shard", f"{i}/{n}", "--present", "--yes")
        sent += data["bytes_uploaded"]
        print(
            f"  {machine.name}: shard {i}/{n} {data['selection']['tags']} exit {code} "
            f"{data['bytes_uploaded']:,} bytes in {seconds:.2f} s, complete={data['complete']}"
        )
    sizes = {tag: len(fleet.gguf_bytes(tag)) for tag in fleet.tags}
    ollama = sum(size for tag, size in sizes.items() if tag != "F16")
    hub = sum(sizes.values())
    lfs_puts = [p for m, p in fleet.hub.http.requests if m == "PUT" and p.startswith("/_lfs/")]
    oids = [p.removeprefix("/_lfs/") for p in lfs_puts]
    gguf_oids = {hashlib.sha256(fleet.gguf_bytes(t)).hexdigest() for t in fleet.tags}
    print(
        f"bytes sent by all runs: {sent:,}; GGUF bytes: {ollama:,} to the registry + "
        f"{hub:,} to the Hub = {ollama + hub:,} (ratio {sent / (ollama + hub):.4f}; the "
        "rest is config, template, params, license layers, sidecars, facts, card)"
    )
    print(
        f"Hub LFS PUTs: {len(oids)} ({len(set(oids))} distinct); every GGUF once: "
        f"{sorted(o for o in oids if o in gguf_oids) == sorted(gguf_oids)}"
    )

    fresh = fleet.machine("fresh")
    status = [timed(fresh, "status")[0] for _ in range(runs)]
    commits = len(fleet.hub.commits(fleet.hf_repo))
    seals, seal_bytes = [], 0
    for _ in range(runs):
        seconds, code, data = timed(fresh, "seal", "--yes")
        seals.append(seconds)
        seal_bytes += data.get("bytes_uploaded", 0)
    new_commits = len(fleet.hub.commits(fleet.hf_repo)) - commits
    s_med, z_med = statistics.median(status), statistics.median(seals)
    print(f"publish status (fresh machine, no GGUF): median {s_med:.3f} s of {runs}")
    print(
        f"publish seal --yes (no-op): median {z_med:.3f} s of {runs}, {new_commits} commits, "
        f"{seal_bytes} bytes sent; seal/status = {z_med / s_med:.2f} (limit 1.5)"
    )


if __name__ == "__main__":
    main()
