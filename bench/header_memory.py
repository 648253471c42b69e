"""Benchmark reading a huge GGUF header: peak memory against the header's size, and time.

Issue 21 item 11: a header of 2 million tiny tensors (82 MB) took 45 s and 819 MB to parse —
about 10x its size — so the 256 MiB header cap implied ~3 GB. This writes such a header (the
tensor data is a sparse hole: a few MB of disk), then reads it with `read_header` in a fresh
process and reports that process's CPU time and peak RSS, minus the peak RSS of a process that
imports the same modules and reads nothing (the interpreter's own share).

    .venv/bin/python bench/header_memory.py [--tensors 2000000] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALIGNMENT = 32
F32 = 0  # ggml type F32: block 1, 4 bytes


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_tiny_tensors(path: Path, count: int) -> int:
    """A GGUF v3 whose table holds `count` one-weight F32 tensors; returns the header's size."""
    kv = _string("general.architecture") + struct.pack("<I", 8) + _string("bench")
    with path.open("wb") as out:
        out.write(b"GGUF" + struct.pack("<IQQ", 3, count, 1) + kv)
        rows = bytearray()
        for index in range(count):
            rows += _string(f"t{index:08d}") + struct.pack("<IQIQ", 1, 1, F32, index * ALIGNMENT)
            if len(rows) > 1 << 20:
                out.write(rows)
                rows.clear()
        out.write(rows)
        header_size = out.tell()
    data_start = -(-header_size // ALIGNMENT) * ALIGNMENT
    os.truncate(path, data_start + count * ALIGNMENT)  # the data: a hole
    return header_size


READ = """
import sys
from publisher.gguf.header import read_header
if sys.argv[1] != "-":
    header = read_header(sys.argv[1])
    assert len(header.tensors) == int(sys.argv[2]), len(header.tensors)
"""


def measure(argv: list[str]) -> tuple[float, float, float]:
    """(CPU s, wall s, peak RSS bytes) of one whole process."""
    started = time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:3]} failed")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - started, usage.ru_maxrss * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tensors", type=int, nargs="+", default=[2_000_000])
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    _, _, baseline = measure([sys.executable, "-c", READ, "-", "0"])
    print(f"interpreter + imports: peak RSS {baseline / 2**20:.0f} MiB")
    columns = ("tensors", "header MB", "cpu s", "wall s", "RSS-base MB", "x size")
    print("{:>10} {:>10} {:>7} {:>7} {:>12} {:>7}".format(*columns))
    for count in args.tensors:
        with tempfile.TemporaryDirectory(dir=args.dir) as scratch:
            path = Path(scratch) / "tiny.gguf"
            size = write_tiny_tensors(path, count)
            cpu, wall, peak = measure([sys.executable, "-c", READ, str(path), str(count)])
        grown = peak - baseline
        print(
            f"{count:10,} {size / 1e6:10.1f} {cpu:7.2f} {wall:7.2f} {grown / 1e6:12.1f} "
            f"{grown / size:7.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
