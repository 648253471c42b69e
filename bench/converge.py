"""Benchmark of one release published from N machines (issue 20), against the real
docker-registry on loopback and the strict Hub double (commits over HTTP through the real
huggingface_hub client).

1. Bytes sent: N machines each publish their share of a T-tag ladder (`--shard i/N`, then
   `--present`) — every file must cross the wire once per remote, whoever sends it: the bytes
   the runs report and the LFS objects the Hub received are compared with the file sizes.
2. A no-op seal on a complete release: `publish seal --yes` from a machine with no GGUF makes
   no commit and sends 0 bytes; its time is compared with `publish status` on the same machine
   (the cost of reading the remotes at all), both whole processes, interleaved, median of R runs.

    .venv/bin/python bench/converge.py --machines 3 --tags 6 --runs 5 [--together]

Every command is a whole `publish` process (tests/support/machines.py `Machine.run`: own HOME,
PUBLISHER_CACHE_DIR, ledger, GGUFs and working directory; `HF_ENDPOINT` at the Hub double's
HTTP front, `HF_TOKEN` in the environment), timed from outside, start-up included — status and
seal alike. `--together` starts the N shard runs at once (a CI matrix) instead of one by one.
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

from doubles.hf_double import FakeHub  # noqa: E402
from doubles.registry_server import start_registry  # noqa: E402
from support.machines import FTYPES, HF_TOKEN, HF_USER, Fleet, Machine, finish  # noqa: E402

LADDER = ("Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "F16")


def timed(machine: Machine, command: str, *args: str) -> tuple[float, int, dict[str, Any]]:
    """One whole `publish` process on `machine`, timed from outside."""
    started = time.perf_counter()
    code, data, output = machine.run(command, *args)
    seconds = time.perf_counter() - started
    return seconds, checked(machine, command, code, output), data


def checked(machine: Machine, command: str, code: int, output: str) -> int:
    if code not in (0, 1):
        raise SystemExit(f"{machine.name}: publish {command} exited {code}:\n{output[-2000:]}")
    return code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=3)
    parser.add_argument("--tags", type=int, default=len(LADDER), choices=range(2, 7))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--together", action="store_true", help="start the shard runs at once")
    args = parser.parse_args()
    tags = LADDER[: args.tags]
    assert all(tag in FTYPES for tag in tags)

    with tempfile.TemporaryDirectory(prefix="bench-converge-") as scratch:
        root = Path(scratch)
        with start_registry(root / "registry") as registry:
            hub = FakeHub()
            http = hub.serve()
            hub.add_token(HF_TOKEN, user=HF_USER)
            try:
                fleet = Fleet(root / "fleet", registry, hub, tags=tags)
                report(fleet, args.machines, args.runs, args.together)
            finally:
                http.close()


def publish_shards(machines: list[Machine], together: bool) -> int:
    """Each machine publishes its shard (`--shard i/N --present`); the bytes all runs sent."""
    n, sent = len(machines), 0
    argv = [("release", "--shard", f"{i}/{n}", "--present", "--yes") for i in range(n)]
    started = time.perf_counter()
    if together:
        processes = [m.spawn(*a) for m, a in zip(machines, argv, strict=True)]
        results = [finish(p) for p in processes]
        ends = [time.perf_counter() - started] * n  # wall time of the whole fleet
    else:
        results, ends = [], []
        for machine, a in zip(machines, argv, strict=True):
            begun = time.perf_counter()
            results.append(machine.run(*a))
            ends.append(time.perf_counter() - begun)
    for i, (machine, (code, data, output), seconds) in enumerate(
        zip(machines, results, ends, strict=True)
    ):
        checked(machine, "release", code, output)
        sent += data["bytes_uploaded"]
        print(
            f"  {machine.name}: shard {i}/{n} {data['selection']['tags']} exit {code} "
            f"{data['bytes_uploaded']:,} bytes in {seconds:.2f} s, complete={data['complete']}"
        )
    if together:
        print(f"  (started together: {ends[0]:.2f} s wall for the fleet)")
    return sent


def report(fleet: Fleet, n: int, runs: int, together: bool) -> None:
    machines = [fleet.machine(f"m{i}") for i in range(n)]
    for position, tag in enumerate(fleet.tags):  # the --shard rule: position k to k mod N
        machines[position % n].add(tag)

    mode = "started together" if together else "one after another"
    print(f"{n} machines × {len(fleet.tags)} tags ({', '.join(fleet.tags)}), {mode}")
    sent = publish_shards(machines, together)
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

    refused = sum(1 for code, _ in fleet.hub.http.refusals if code == 412)
    print(f"Hub commits refused 412 (parentCommit) while publishing: {refused}")

    fresh = fleet.machine("fresh")
    commits = len(fleet.hub.commits(fleet.hf_repo))
    status, seals, seal_bytes = [], [], 0
    for _ in range(runs):  # interleaved: both see the same load
        status.append(timed(fresh, "status")[0])
        seconds, _, data = timed(fresh, "seal", "--yes")
        seals.append(seconds)
        seal_bytes += data.get("bytes_uploaded", 0)
    new_commits = len(fleet.hub.commits(fleet.hf_repo)) - commits
    s_med, z_med = statistics.median(status), statistics.median(seals)
    print(
        f"publish status (fresh machine, no GGUF, whole process): median {s_med:.3f} s of {runs} "
        f"({min(status):.3f}–{max(status):.3f})"
    )
    print(
        f"publish seal --yes (no-op): median {z_med:.3f} s of {runs} "
        f"({min(seals):.3f}–{max(seals):.3f}), {new_commits} commits, "
        f"{seal_bytes} bytes sent; seal/status = {z_med / s_med:.2f} (limit 1.5)"
    )


if __name__ == "__main__":
    main()
