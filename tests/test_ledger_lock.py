"""The ledger survives kills (atomic writes) and the run lock refuses a concurrent run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from publisher.errors import UsageError
from publisher.ledger import Ledger, ledger_path
from publisher.lock import destination_lock_path, destination_locks, release_lock


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


@contextmanager
def held_elsewhere(with_item: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding `with with_item:` (code using publisher.lock); yields it once it
    holds the lock, then kills it with SIGKILL."""
    code = f"""
import time
from pathlib import Path
from publisher.lock import destination_locks, release_lock
with {with_item}:
    print("held", flush=True)
    time.sleep(30)
"""
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_lock_refuses_a_second_holder_and_names_the_pid(tmp_path: Path) -> None:
    lock = tmp_path / ".v3.publish.lock"
    with (
        held_elsewhere(f"release_lock(Path({str(lock)!r}))") as holder,
        pytest.raises(UsageError, match=f"pid {holder.pid}"),
        release_lock(lock),
    ):
        pass
    # the kernel dropped the dead holder's lock: no stale lock after a kill
    with release_lock(lock):
        assert lock.read_text().strip() == str(os.getpid())


def _in_processes(code: str, count: int) -> None:
    """Run `code` in `count` Python processes at once (`N` is each one's number)."""
    procs = [
        subprocess.Popen([sys.executable, "-c", f"N = {n}\n" + textwrap.dedent(code)])
        for n in range(count)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * count


def test_concurrent_runs_keep_each_others_upload_sessions(tmp_path: Path) -> None:
    """Each put merges into the file under its lock: no run drops another's sessions."""
    state = tmp_path / "cache" / "registry-uploads.json"
    _in_processes(
        f"""
        from publisher.ollama.upload import UploadSessions
        sessions = UploadSessions({str(state)!r})
        for i in range(30):
            sessions.put(f"run{{N}}-blob{{i}}", {{"location": "/u", "offset": i, "parts": []}})
        sessions.put(f"run{{N}}-blob0", None)  # a finished upload is forgotten
        """,
        4,
    )
    data = json.loads(state.read_text())
    assert len(data) == 4 * 29 and "run3-blob29" in data and "run0-blob0" not in data
    assert state.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in state.parent.iterdir()) == [
        ".registry-uploads.json.lock",
        "registry-uploads.json",
    ]


def test_concurrent_digest_caches_keep_each_others_entries(tmp_path: Path) -> None:
    cache = tmp_path / "digests.json"
    for n in range(3):
        for i in range(10):
            (tmp_path / f"f{n}-{i}").write_bytes(f"{n}/{i}".encode())
    _in_processes(
        f"""
        from pathlib import Path
        from publisher.digest import DigestCache, sha256_file
        for i in range(10):
            cache = DigestCache({str(cache)!r})
            sha256_file(Path({str(tmp_path)!r}) / f"f{{N}}-{{i}}", cache)
            cache.save()
        """,
        3,
    )
    entries = json.loads(cache.read_text())["entries"]
    assert len(entries) == 30 and cache.stat().st_mode & 0o777 == 0o600


def test_ledger_is_private_and_a_bad_one_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "v3.lock.json"
    Ledger(path, "v3").record("ollama", "push:Q4_K_M", {"manifest_digest": "sha256:" + "a" * 64})
    assert path.stat().st_mode & 0o777 == 0o600
    data = json.loads(path.read_text())
    data["targets"]["ollama"]["push:Q4_K_M"]["bytes_uploaded"] = "lots"
    path.write_text(json.dumps(data))
    before = path.read_bytes()
    with pytest.raises(UsageError) as caught:
        Ledger(path, "v3")
    message = str(caught.value)
    assert message.startswith(f"{path}: ledger: targets.ollama.push:Q4_K_M.bytes_uploaded: ")
    assert "expected int, found 'lots'" in message and "\n" not in message
    assert path.read_bytes() == before


def test_a_destination_lock_names_the_destination_and_the_holder(tmp_path: Path) -> None:
    folder = tmp_path / "locks"
    where = "ollama registry.example/ns/model"
    with held_elsewhere(f"destination_locks([{where!r}], Path({str(folder)!r}))") as holder:
        expected = f"another publish run holds {where} (pid {holder.pid}"
        held = re.compile(re.escape(expected), re.IGNORECASE)  # destinations are case-blind
        with (
            pytest.raises(UsageError, match=held),
            destination_locks(["huggingface hf.co/a/b", where.upper()], folder),
        ):
            pass
        with destination_locks(["huggingface hf.co/a/b"], folder):  # another destination: free
            pass
    with destination_locks([where], folder):  # SIGKILL left no stale lock
        assert destination_lock_path(where, folder).read_text().strip() == str(os.getpid())
