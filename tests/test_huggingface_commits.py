"""The HF upload path with the real huggingface_hub client over HTTP (the strict double's routes):
one hash per byte, byte progress, and the hf.co registry route the Hub serves for Ollama."""

from __future__ import annotations

import hashlib
import importlib
import io
import itertools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import huggingface_hub
import pytest
from doubles.hf_double import (
    REPO,
    TOKEN,
    FakeHub,
    Records,
    new_hub,
    payload,
    release_with_files,
    target,
    write_gguf,
)
from rich.console import Console
from support.release_fixtures import HF_REPO, fam_gguf, fam_manifest, huggingface_tags
from typer.testing import CliRunner

import publisher.pipeline.targets as targets
from publisher import console
from publisher.cli import app
from publisher.digest import DigestCache, bytes_hashed_total, sha256_file
from publisher.huggingface import commits
from publisher.huggingface.progress import library_progress
from publisher.huggingface.target import HuggingFaceTarget
from publisher.progress import Transfers, transfer_progress
from publisher.targets.base import LocalFile, ReleasePayload, apply_all, plan_all

# huggingface_hub's own LFS PUT passes `data=` to httpx2, which warns: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")

GGUF_BYTES = 1024 * 1024 + 3  # big enough that one stray full hash shows


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    """A double whose commits go through the real `HfApi.create_commit` over loopback HTTP
    (LFS: Xet's upload needs a CAS server, so it is off while the double serves)."""
    made = new_hub()
    http = made.serve()
    yield made
    http.close()


class HashCount:
    """Counts the bytes huggingface_hub feeds to sha256 (its `utils.sha` and `lfs` modules)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        self.digests: set[str] = set()  # every sha256 the library finished computing
        real = hashlib.sha256
        count = self

        class Counting:
            def __init__(self, data: bytes = b"") -> None:
                self._h = real()
                self.update(data)

            def update(self, data: bytes) -> None:
                count.bytes += len(data)
                self._h.update(data)

            def digest(self) -> bytes:
                count.digests.add(self._h.hexdigest())
                return self._h.digest()

            def hexdigest(self) -> str:
                return self._h.hexdigest()

        monkeypatch.setattr(huggingface_hub.utils.sha, "sha256", Counting)
        monkeypatch.setattr(huggingface_hub.lfs, "sha256", Counting)


def ladder(tmp_path: Path, tags: tuple[str, ...] = ("Q4_K_M", "Q6_K")):
    release = release_with_files(tmp_path, tags)
    for tag in tags:
        write_gguf(release, tag, os.urandom(GGUF_BYTES))
    return release


def measured(release, cache: DigestCache, side: dict[str, str] | None = None) -> ReleasePayload:
    """The payload as a release builds it: every sha256 from the digest cache (verify's)."""
    data = payload(release, side)
    tags = [
        replace(t, files=[LocalFile(f.path, f.size, sha256_file(f.path, cache)) for f in t.files])
        for t in data.tags
    ]
    cache.save()
    return replace(data, tags=tags)


SIDE = {"template": "{{ .Prompt }}", "params": '{"temperature": 0.6}\n', "README.md": "# tiny\n"}


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_real_client_hashes_no_gguf_byte_a_second_time(tmp_path, hub, monkeypatch):
    release = ladder(tmp_path)
    cache = DigestCache(tmp_path / "digests.json")
    before = bytes_hashed_total()
    data = measured(release, cache, SIDE)
    ggufs = [t.path for t in release.tags]
    assert bytes_hashed_total() - before == sum(p.stat().st_size for p in ggufs)  # verify's read

    counted = HashCount(monkeypatch)
    tgt, _ = target(release, hub, digests=DigestCache(tmp_path / "digests.json"))
    hashed_before_apply = bytes_hashed_total()
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())

    assert result.ok, result.failures
    for path in ggufs:  # the real client sent every byte, through LFS, under our sha256
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        assert hub.files(REPO)[path.name] == path.read_bytes()
        assert ("PUT", f"/_lfs/{sha}") in hub.http.requests
    generated = sum(len(op.encode()) for op in SIDE.values())  # + sidecars: small, hashed in memory
    assert counted.bytes < GGUF_BYTES, "huggingface_hub hashed a GGUF again"
    assert not counted.digests & {f.sha256 for t in data.tags for f in t.files}
    assert counted.bytes >= generated  # the counter does see the library's hashing
    assert bytes_hashed_total() == hashed_before_apply  # nor did our own code hash anything


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_without_the_cache_vouching_the_library_hashes_and_the_upload_still_lands(
    tmp_path, hub, monkeypatch
):
    """The control: a sha256 the digest cache cannot vouch for is not handed over."""
    release = ladder(tmp_path, ("Q4_K_M",))
    data = measured(release, DigestCache(tmp_path / "digests.json"))
    counted = HashCount(monkeypatch)
    tgt, _ = target(release, hub, digests=DigestCache(tmp_path / "other.json"))  # empty cache
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert result.ok, result.failures
    assert counted.bytes >= GGUF_BYTES  # the library read the whole GGUF to hash it


def test_a_file_rewritten_in_place_since_the_plan_is_refused(tmp_path, hub):
    """Same size, new bytes: the cache no longer vouches for our sha256, and it says so."""
    release = ladder(tmp_path, ("Q4_K_M",))
    cache = DigestCache(tmp_path / "digests.json")
    data = measured(release, cache)
    tgt, _ = target(release, hub, digests=cache)
    plan = plan_all(tgt, data, online=True)
    path = release.tag("Q4_K_M").path
    write_gguf(release, "Q4_K_M", os.urandom(GGUF_BYTES))  # same size, other bytes
    sha256_file(path, cache)  # something (a re-verify) hashed the new bytes meanwhile
    result = apply_all(tgt, data, plan, Records())
    assert not result.ok
    assert "changed since the plan" in result.failures["Q4_K_M"]
    assert path.name not in hub.files(REPO)


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_release_hashes_each_gguf_byte_once_and_says_so(tmp_path, hub, monkeypatch):
    """`publish release` end to end (HF only): the summary's bytes_hashed is every GGUF byte once
    (verify's read); the upload hashes none again; a re-run hashes nothing at all."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    hub.add_token(TOKEN, user="alice", orgs={"Org": "write"})
    manifest = tmp_path / "fam.toml"
    manifest.write_text(fam_manifest(huggingface_tags("Q4_K_M", "Q6_K")), encoding="utf-8")
    ggufs = [
        fam_gguf(tmp_path / "gguf", "Q4_K_M"),
        fam_gguf(tmp_path / "gguf", "Q6_K", file_type=18),
    ]
    shas = {hashlib.sha256(p.read_bytes()).hexdigest() for p in ggufs}

    def hf_target(release, options):
        return HuggingFaceTarget(release, api_factory=hub.api, token_provider=lambda: TOKEN)

    monkeypatch.setitem(
        targets.TARGETS, "huggingface", replace(targets.TARGETS["huggingface"], factory=hf_target)
    )
    counted = HashCount(monkeypatch)
    first = CliRunner().invoke(app, ["release", str(manifest), "--json", "--yes"])
    data = json.loads(first.stdout)
    assert first.exit_code == 0, first.output
    assert data["bytes_hashed"] == sum(p.stat().st_size for p in ggufs)
    assert all(hub.files(HF_REPO)[p.name] == p.read_bytes() for p in ggufs)
    assert not counted.digests & shas, "huggingface_hub hashed a GGUF a second time"

    again = json.loads(
        CliRunner().invoke(app, ["release", str(manifest), "--json", "--yes"]).stdout
    )
    assert again["ok"] and again["bytes_hashed"] == 0 and again["bytes_uploaded"] == 0


# ---------------------------------------------------------------------------------------------
# Byte progress


class RecordingTransfers(Transfers):
    """The real board (nothing drawn), keeping each report in the order it arrived."""

    instances: ClassVar[list[RecordingTransfers]] = []

    def __init__(self, description: str, total: int) -> None:
        super().__init__(None, description, total)
        self.total = total
        self.events: list[tuple[str, str, int]] = []
        RecordingTransfers.instances.append(self)

    def update(self, name: str, done: int) -> None:
        self.events.append(("at", name, done))  # how far the reads of `name` have come
        step = done - self.sent.get(name, 0)
        if step > 0:
            self.events.append(("bytes", name, step))
        super().update(name, done)

    def finish(self, names: list[str]) -> None:
        self.events += [("landed", name, 0) for name in names]
        super().finish(names)


@contextmanager
def recording_progress(description: str, total: int) -> Iterator[RecordingTransfers]:
    yield RecordingTransfers(description, total)


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_upload_progress_is_reported_in_bytes_per_file_while_it_is_sent(
    tmp_path, hub, monkeypatch, capfd
):
    monkeypatch.setattr(commits, "transfer_progress", recording_progress)
    RecordingTransfers.instances.clear()
    release = ladder(tmp_path)
    cache = DigestCache(tmp_path / "digests.json")
    data = measured(release, cache, SIDE)
    tgt, _ = target(release, hub, digests=cache, max_ops_per_commit=100)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert result.ok, result.failures

    (board,) = RecordingTransfers.instances  # the tags' files; the seal's are a few KB inline
    seal = hub.commits(REPO)[-1]
    assert seal.message.startswith("publisher seal:")
    sealed = sum(len(hub.files(REPO)[path]) for path in seal.added)
    assert board.total == result.bytes_uploaded - sealed
    for tag in release.tags:
        name, size = tag.path.name, tag.path.stat().st_size
        chunks = [n for kind, who, n in board.events if kind == "bytes" and who == name]
        assert sum(chunks) == size and len(chunks) > 1  # bytes as they are read, many reports
        reported = board.events.index(("bytes", name, chunks[-1]))
        assert reported < board.events.index(("landed", name, 0))  # before the commit landed
    assert sum(board.sent.values()) == board.total  # the total reaches 100 %
    assert "Upload 2 LFS files" not in capfd.readouterr().err  # the library's bars stay quiet


def test_the_board_draws_a_bar_per_file_and_a_total_on_a_terminal_only(monkeypatch):
    def drawn() -> str:
        screen = io.StringIO()
        monkeypatch.setattr(console, "err", Console(file=screen, force_terminal=True, width=120))
        with transfer_progress("huggingface: acme/tiny-GGUF", 3_000_000) as board:
            board.expect("tiny-Q4_K_M.gguf", 3_000_000)
            board.update("tiny-Q4_K_M.gguf", 1_000_000)
        return screen.getvalue()

    monkeypatch.setattr(console.state, "quiet", False)
    monkeypatch.setattr(console.state, "progress", True)
    screen = drawn()
    assert "huggingface: acme/tiny-GGUF" in screen and "tiny-Q4_K_M.gguf" in screen
    assert "1.0/3.0 MB" in screen  # bytes, not files
    monkeypatch.setattr(console.state, "progress", False)  # --json
    assert drawn() == ""
    monkeypatch.setattr(console.state, "progress", True)
    monkeypatch.setattr(console.state, "quiet", True)  # --quiet
    assert drawn() == ""


def test_release_json_turns_the_bars_off_and_a_new_command_turns_them_back_on(tmp_path):
    manifest = tmp_path / "fam.toml"
    manifest.write_text(fam_manifest(huggingface_tags("Q4_K_M")), encoding="utf-8")
    CliRunner().invoke(app, ["release", str(manifest), "--json", "--dry-run", "--no-digest"])
    assert console.state.progress is False
    CliRunner().invoke(app, ["validate", str(manifest)])
    assert console.state.progress is True


def test_xet_reports_reach_the_board_through_the_library_s_own_lookup(tmp_path):
    """The Xet path cannot run here (no CAS server): huggingface_hub's own lookup of its
    reporter gets ours, which takes hf_xet's per-file reports (`ItemProgressReport` carries
    `item_name`, `bytes_completed`, `total_bytes`) and forwards them in bytes."""
    reporting = importlib.import_module("huggingface_hub.utils._xet_progress_reporting")
    original = reporting.XetUploadProgressReporter
    local = tmp_path / "tiny-Q4_K_M.gguf"
    board = Transfers(None, "huggingface: acme/tiny-GGUF", 3000)
    board.expect("tiny-Q4_K_M.gguf", 3000)
    with library_progress(board, {str(local): "tiny-Q4_K_M.gguf"}):
        reporter = reporting.XetUploadProgressReporter()  # as _upload_xet_files makes it
        for done in (1000, 2500, 3000):
            item = SimpleNamespace(item_name=str(local), bytes_completed=done, total_bytes=3000)
            reporter.update_progress(SimpleNamespace(total_bytes=3000), {"0": item})
        reporter.close()
    assert board.sent == {"tiny-Q4_K_M.gguf": 3000} and board.reports == 3
    assert reporting.XetUploadProgressReporter is original  # put back after the commit


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_refused_lfs_upload_fails_its_batch_in_one_line_and_the_rest_goes_on(tmp_path, hub):
    """huggingface_hub wraps a failed LFS upload in RuntimeError: the target reports the HTTP
    cause on the tag (never a traceback) and commits the other batches."""
    release = ladder(tmp_path)
    cache = DigestCache(tmp_path / "digests.json")
    data = measured(release, cache)
    hub.fail("lfs_put", 400)  # the storage refuses the first GGUF's PUT
    tgt, _ = target(release, hub, digests=cache, max_bytes_per_commit=1)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert "HTTP 400" in result.failures["Q4_K_M"]
    assert "Q6_K" not in result.failures
    assert release.tag("Q6_K").path.name in hub.files(REPO)


def test_card_metadata_the_hub_refuses_is_a_failure_line(tmp_path, hub):
    release = ladder(tmp_path, ("Q4_K_M",))
    cache = DigestCache(tmp_path / "digests.json")
    data = measured(release, cache, {"README.md": "---\nlicense: nope\n---\n# tiny\n"})
    hub.fail("validate_yaml", 400)
    tgt, _ = target(release, hub, digests=cache)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    refused = "the Hub refused publisher seal: update README.md: Invalid metadata"
    assert refused in result.failures["seal"]
    assert release.tag("Q4_K_M").path.name in hub.files(REPO)  # the GGUF's commit landed


# A Hub answer made to attack the terminal and the logs: colour, an OSC window title, a forged
# `error:` line after a newline, and 2,000 characters (issue 21 item 6).
HOSTILE = "\x1b[31mInvalid metadata\x1b]0;owned\x07 " + "A" * 2000 + "\nerror: forged"


def assert_one_safe_line(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "owned" not in text
    assert "\n" not in text and "forged" not in text
    assert len(text) < 500


def test_hub_error_text_is_one_bounded_line_without_escape_codes():
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    from publisher.huggingface.session import HubSession, server_message

    url = f"https://huggingface.co/api/models/{REPO}"
    response = httpx2.Response(500, request=httpx2.Request("GET", url))
    exc = HfHubHTTPError(HOSTILE, response=response, server_message=HOSTILE)
    line = HubSession("https://huggingface.co", REPO).explain(exc, "listing the repo")
    assert_one_safe_line(line)
    assert "HTTP 500, Invalid metadata AAA" in line and line.endswith("…")
    assert_one_safe_line(server_message(HfHubHTTPError(HOSTILE, response=response)))
    unreachable = HubSession("https://huggingface.co", REPO).explain(OSError(HOSTILE), "listing")
    assert_one_safe_line(unreachable)
    assert "cannot reach the Hub: OSError: Invalid metadata" in unreachable


def test_a_refused_commit_is_one_bounded_line_without_escape_codes(tmp_path, hub, monkeypatch):
    def refuse(*args, **kwargs):
        raise ValueError(HOSTILE)

    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", refuse)
    release = ladder(tmp_path, ("Q4_K_M",))
    cache = DigestCache(tmp_path / "digests.json")
    data = measured(release, cache)
    tgt, _ = target(release, hub, digests=cache)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert result.failures
    for line in result.failures.values():
        assert_one_safe_line(line)
    assert any("the Hub refused" in line for line in result.failures.values())


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_retried_lfs_upload_counts_its_bytes_once(tmp_path, hub, monkeypatch):
    """huggingface_hub re-sends a PUT the storage answered 503 (its own backoff), reading the
    file again through our seam: the board must not count those bytes twice (a bar past 100 %)."""
    monkeypatch.setattr(commits, "transfer_progress", recording_progress)
    RecordingTransfers.instances.clear()
    release = ladder(tmp_path)
    cache = DigestCache(tmp_path / "digests.json")
    data = measured(release, cache, SIDE)
    hub.fail("lfs_put", 503)  # the first PUT; the library retries it after a second
    tgt, _ = target(release, hub, digests=cache, max_ops_per_commit=100)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert result.ok, result.failures

    (board,) = RecordingTransfers.instances
    reads = [
        [at for kind, who, at in board.events if kind == "at" and who == tag.path.name]
        for tag in release.tags
    ]
    assert any(a > b for at in reads for a, b in itertools.pairwise(at))  # read again
    for tag in release.tags:
        assert board.sent[tag.path.name] == tag.path.stat().st_size
    assert sum(board.sent.values()) == board.total
