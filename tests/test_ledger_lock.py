"""The ledger survives kills (atomic writes) and the run lock refuses a concurrent run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from publisher.errors import UsageError
from publisher.ledger import Ledger, ledger_path
from publisher.lock import release_lock


def test_ledger_records_steps_and_reloads(tmp_path: Path) -> None:
    path = ledger_path(tmp_path / "v3.toml", "v3")
    assert path == tmp_path.resolve() / "v3.lock.json"
    ledger = Ledger(path, "v3")
    ledger.record("ollama", "push:Q4_K_M", {"manifest_digest": "sha256:" + "a" * 64})
    ledger.record_tag("Q4_K_M", {"sha256": "b" * 64, "size": 10})
    again = Ledger(path, "v3")
    step = again.step("ollama", "push:Q4_K_M")
    assert step is not None and step["manifest_digest"] == "sha256:" + "a" * 64
    assert step["tool"].startswith("publisher ") and step["at"]
    assert again.data["tags"]["Q4_K_M"]["sha256"] == "b" * 64
    assert again.step("ollama", "push:Q6_K") is None


def test_ledger_write_leaves_no_temp_files(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "v3.lock.json", "v3")
    for i in range(5):
        ledger.record("hf", f"commit:{i}", {"oid": str(i)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v3.lock.json"]
    assert len(json.loads((tmp_path / "v3.lock.json").read_text())["targets"]["hf"]) == 5


def test_corrupt_ledger_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "v3.lock.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not JSON"):
        Ledger(path, "v3")


def test_lock_refuses_a_second_holder_and_names_the_pid(tmp_path: Path) -> None:
    lock = tmp_path / ".v3.publish.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pathlib import Path
                from publisher.lock import release_lock
                with release_lock(Path({str(lock)!r})):
                    print("held", flush=True)
                    time.sleep(30)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=f"pid {holder.pid}"), release_lock(lock):
            pass
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the dead holder's lock: no stale lock after a kill
    with release_lock(lock):
        assert lock.read_text().strip() == str(os.getpid())
