"""The digest cache: correct sha256, nothing hashed twice, invalidation on change, never corrupt."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from publisher.digest import (
    DigestCache,
    default_cache_path,
    sha256_file,
    sha256_files,
)
from publisher.errors import CheckFailed, UsageError


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    paths = []
    for index, size in enumerate((0, 1, 9 * 1024 * 1024 + 7, 300_000)):
        path = tmp_path / f"f{index}.bin"
        path.write_bytes(os.urandom(size))
        paths.append(path)
    return paths


def _expected(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sha256_matches_hashlib_and_counts_bytes(files: list[Path], tmp_path: Path) -> None:
    cache = DigestCache(tmp_path / "c.json")
    seen: list[int] = []
    assert sha256_file(files[2], cache, seen.append) == _expected(files[2])
    assert sum(seen) == files[2].stat().st_size == cache.bytes_hashed
    assert len(seen) == 2  # one 8 MiB chunk and the rest


def test_rerun_hashes_zero_bytes(files: list[Path], tmp_path: Path) -> None:
    first = DigestCache(tmp_path / "c.json")
    digests = sha256_files(files, first, progress=False)
    assert first.bytes_hashed == sum(p.stat().st_size for p in files)
    assert digests == {p: _expected(p) for p in files}
    again = DigestCache(tmp_path / "c.json")  # a new process would start like this
    assert sha256_files(files, again, progress=False) == digests
    assert again.bytes_hashed == 0 and again.hits == len(files)


def test_changed_file_is_hashed_again(files: list[Path], tmp_path: Path) -> None:
    cache = DigestCache(tmp_path / "c.json")
    sha256_files(files, cache, progress=False)
    files[3].write_bytes(b"changed")
    again = DigestCache(tmp_path / "c.json")
    digests = sha256_files(files, again, progress=False)
    assert again.bytes_hashed == len(b"changed")
    assert digests[files[3]] == hashlib.sha256(b"changed").hexdigest()


def test_same_size_new_mtime_is_hashed_again(files: list[Path], tmp_path: Path) -> None:
    cache = DigestCache(tmp_path / "c.json")
    sha256_file(files[1], cache)
    cache.save()
    stat = files[1].stat()
    os.utime(files[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    again = DigestCache(tmp_path / "c.json")
    sha256_file(files[1], again)
    assert again.bytes_hashed == 1


def test_replaced_file_with_new_inode_is_hashed_again(files: list[Path], tmp_path: Path) -> None:
    cache = DigestCache(tmp_path / "c.json")
    sha256_file(files[3], cache)
    cache.save()
    stat = files[3].stat()
    replacement = tmp_path / "new.bin"
    replacement.write_bytes(os.urandom(stat.st_size))
    os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(replacement, files[3])
    again = DigestCache(tmp_path / "c.json")
    assert sha256_file(files[3], again) == _expected(files[3])
    assert again.bytes_hashed == stat.st_size


def test_symlink_shares_the_entry_of_its_target(files: list[Path], tmp_path: Path) -> None:
    cache = DigestCache(tmp_path / "c.json")
    sha256_file(files[3], cache)
    link = tmp_path / "link.bin"
    link.symlink_to(files[3])
    hashed = cache.bytes_hashed
    assert sha256_file(link, cache) == _expected(files[3]) and cache.bytes_hashed == hashed


def test_corrupt_cache_file_is_ignored_and_rewritten(files: list[Path], tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text("{not json")
    cache = DigestCache(path)
    sha256_files(files[:2], cache, progress=False)
    data = json.loads(path.read_text())
    assert data["format"] == 1 and len(data["entries"]) == 2


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckFailed, match=r"nope\.bin: cannot hash"):
        sha256_file(tmp_path / "nope.bin", DigestCache(tmp_path / "c.json"))


def test_cache_location_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "pc"))
    assert default_cache_path() == tmp_path / "pc" / "digests.json"
    monkeypatch.delenv("PUBLISHER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "publisher" / "digests.json"


WORKER = """
import sys
from pathlib import Path
from publisher.digest import DigestCache, sha256_files
cache_path, *paths = sys.argv[1:]
for _ in range(5):
    sha256_files([Path(p) for p in paths], DigestCache(cache_path), progress=False)
"""


@pytest.mark.slow
def test_concurrent_processes_never_corrupt_the_file(tmp_path: Path) -> None:
    cache_path = tmp_path / "c.json"
    groups = []
    for g in range(4):
        group = []
        for i in range(6):
            path = tmp_path / f"g{g}-{i}.bin"
            path.write_bytes(os.urandom(1000 + i))
            group.append(str(path))
        groups.append(group)
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(cache_path), *group])
        for group in groups
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    data = json.loads(cache_path.read_text())  # always valid JSON
    assert data["format"] == 1
    for entry in data["entries"].values():
        assert set(entry) == {"size", "mtime_ns", "inode", "sha256"}
    assert not list(tmp_path.glob(".digests-*.tmp"))
    every = [Path(p) for g in groups for p in g]
    sha256_files(every, DigestCache(cache_path), progress=False)  # fills any entry a race lost
    again = DigestCache(cache_path)
    sha256_files(every, again, progress=False)
    assert again.bytes_hashed == 0 and again.hits == len(every)


def test_a_cache_dir_that_is_a_file_is_a_usage_error(
    files: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chmod cannot make a folder unwritable for root; a file where the folder should be can
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(blocker))
    cache = DigestCache()
    with pytest.raises(UsageError) as info:
        sha256_files(files[:2], cache, progress=False)
    message = str(info.value)
    assert info.value.exit_code == 2
    assert f"{blocker / 'digests.json'} (from $PUBLISHER_CACHE_DIR)" in message
    assert f"{blocker} is a file, not a folder" in message
    assert "set PUBLISHER_CACHE_DIR to a writable folder" in message


def test_verify_with_an_unwritable_cache_exits_2_without_a_traceback(
    files: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.gguf_factory import write_gemma4_gguf
    from typer.testing import CliRunner

    from publisher.cli import app

    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(blocker))
    gguf = write_gemma4_gguf(tmp_path / "m-Q4_K_M.gguf")
    result = CliRunner().invoke(app, ["verify", str(gguf), "--tag", "Q4_K_M"])
    assert result.exit_code == 2, result.output
    assert "cannot write the digest cache" in " ".join(result.output.split())
    assert "Traceback" not in result.output
