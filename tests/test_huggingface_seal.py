"""Per-tag work and the seal on the Hub (issue 20): what each run writes, what the seal renders
from the repo, compare-and-swap with `parent_commit` (HTTP 412) through the real huggingface_hub
client, prune scope, refusal of other bytes, facts published by another machine."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from doubles.hf_double import (
    NAME,
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

from publisher.huggingface.records import record_path
from publisher.manifest import load
from publisher.targets.base import ReleasePayload, apply_all, plan_all

SIDE = {"template": "{{ .Prompt }}", "params": '{"temperature": 0.6}\n'}
TAGS = ("Q4_K_M", "Q5_K_M", "Q6_K")
BENCH = """
[benchmarks]
setup = "GGUF Q6_K via llama.cpp"
reference_label = "ref"
score_label = "this"

[[benchmarks.rows]]
name = "GPQA Diamond"
reference = 75.25
score = 75.25
measured_on = "Q6_K"
hub_dataset = "Idavidrein/gpqa"
task_id = "gpqa_diamond"
"""
GPQA = ".eval_results/gpqa-gpqa_diamond.yaml"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def machine(root: Path, present: tuple[str, ...], *, bench: bool = False):
    """One machine: its own folder, the same manifest, only its own GGUFs."""
    root.mkdir(parents=True, exist_ok=True)
    release = release_with_files(root, TAGS)
    if bench:
        manifest = release.source
        manifest.write_text(manifest.read_text(encoding="utf-8") + BENCH, encoding="utf-8")
        release = load(manifest)
    for tag in TAGS:
        if tag in present:
            write_gguf(release, tag, f"{tag} built on {root.name}".encode())
        else:
            release.tag(tag).path.unlink()
    return release


def selected(release, *tags: str) -> ReleasePayload:
    """The payload of a run that publishes `tags` (`--tag`), GGUFs present."""
    data = payload(release, SIDE)
    return replace(data, tags=[t for t in data.tags if t.tag.tag in tags])


def publish(release, hub: FakeHub, *tags: str, **kw) -> tuple[object, Records]:
    tgt, _ = target(release, hub, **kw)
    data = selected(release, *tags)
    records = Records()
    return apply_all(tgt, data, plan_all(tgt, data, online=True), records), records


def seal(release, hub: FakeHub, **kw):
    """`publish seal`: no tag selected, no GGUF needed."""
    tgt, sleeps = target(release, hub, **kw)
    data = selected(release)
    result = tgt.apply_seal(data, tgt.plan_seal(data, online=True), Records())
    return result, sleeps


def card(hub: FakeHub) -> str:
    return hub.files(REPO)["README.md"].decode()


def row(text: str, tag: str) -> str:
    return next(line for line in text.splitlines() if f"| {tag} |" in line)


@pytest.fixture
def served() -> Iterator[FakeHub]:
    """Commits through the real `HfApi.create_commit` over loopback HTTP (parentCommit too)."""
    hub = new_hub()
    http = hub.serve()
    yield hub
    http.close()


# ---------------------------------------------------------------------------------------------
# Per-tag work


def test_per_tag_work_commits_only_the_tag_s_files_and_its_facts_record(tmp_path):
    a = machine(tmp_path / "a", ("Q4_K_M",))
    hub = new_hub()
    tgt, _ = target(a, hub)
    data = selected(a, "Q4_K_M")
    result = tgt.apply_tags(data, tgt.plan_tags(data, online=True), Records())
    assert result.ok, result.failures
    (commit,) = hub.commits(REPO)
    q4 = NAME.format(tag="Q4_K_M")
    assert set(commit.added) == {q4, f"{q4}.sha256", record_path("Q4_K_M")}  # one commit
    record = json.loads(hub.files(REPO)[record_path("Q4_K_M")])
    gguf = a.tag("Q4_K_M").path.read_bytes()
    assert record["files"] == [{"path": q4, "size": len(gguf), "sha256": sha(gguf)}]
    assert record["schema"] == 1 and record["tag"] == "Q4_K_M"
    assert str(tmp_path) not in hub.files(REPO)[record_path("Q4_K_M")].decode()  # names only
    assert "README.md" not in hub.files(REPO) and "params" not in hub.files(REPO)


def test_a_path_holding_other_bytes_is_refused_naming_both_sha256s_and_force_replaces(tmp_path):
    a = machine(tmp_path / "a", ("Q4_K_M",))
    b = machine(tmp_path / "b", ("Q4_K_M",))  # another machine built other bytes for the tag
    hub = new_hub()
    assert publish(a, hub, "Q4_K_M")[0].ok
    before = dict(hub.files(REPO))
    result, _ = publish(b, hub, "Q4_K_M")
    theirs, ours = sha(a.tag("Q4_K_M").path.read_bytes()), sha(b.tag("Q4_K_M").path.read_bytes())
    line = result.failures["Q4_K_M"]
    assert theirs in line and ours in line and "--force" in line
    q4 = NAME.format(tag="Q4_K_M")
    assert hub.files(REPO)[q4] == before[q4]
    assert hub.files(REPO)[record_path("Q4_K_M")] == before[record_path("Q4_K_M")]
    forced, _ = publish(b, hub, "Q4_K_M", force=True)
    assert forced.ok, forced.failures
    assert hub.files(REPO)[q4] == b.tag("Q4_K_M").path.read_bytes()
    assert ours in row(card(hub), "Q4_K_M")  # the seal's card follows the Hub's bytes


# ---------------------------------------------------------------------------------------------
# The seal renders from the repo


def test_card_facts_of_a_tag_published_by_another_machine_appear(tmp_path):
    a = machine(tmp_path / "a", ("Q4_K_M",))
    b = machine(tmp_path / "b", ("Q6_K",))
    hub = new_hub()
    assert publish(a, hub, "Q4_K_M")[0].ok
    assert publish(b, hub, "Q6_K")[0].ok  # B's seal: A's Q4_K_M row keeps its facts
    text = card(hub)
    for tag, release in (("Q4_K_M", a), ("Q6_K", b)):
        data = release.tag(tag).path.read_bytes()
        line = row(text, tag)
        assert sha(data) in line and "—" not in line.split("|")[5:7]
        assert f"({'https://huggingface.co'}/{REPO}/blob/main/{NAME.format(tag=tag)})" in line
    q5 = row(text, "Q5_K_M")  # still to come: listed, never linked
    assert "not published yet" in q5 and "blob/main" not in q5
    fresh = machine(tmp_path / "c", ())  # a third machine with no GGUF at all: seal only
    result, _ = seal(fresh, hub)
    assert result.ok and card(hub) == text  # the same card, whichever machine renders it


def test_a_record_the_hub_s_sha256_contradicts_is_not_trusted(tmp_path):
    a = machine(tmp_path / "a", ("Q4_K_M",))
    hub = new_hub()
    assert publish(a, hub, "Q4_K_M")[0].ok
    record = json.loads(hub.files(REPO)[record_path("Q4_K_M")])
    record["quant"], record["files"][0]["sha256"] = "IQ1_S", "0" * 64  # stale: other bytes
    hub.seed(REPO, {record_path("Q4_K_M"): json.dumps(record).encode()})
    assert seal(a, hub)[0].ok
    line = row(card(hub), "Q4_K_M")
    assert "IQ1_S" not in line  # the stale record's facts are not printed
    assert sha(a.tag("Q4_K_M").path.read_bytes()) in line  # the Hub's own sha256 is


def test_remote_tags_says_what_the_hub_holds_without_any_gguf(tmp_path):
    a = machine(tmp_path / "a", ("Q4_K_M",))
    hub = new_hub()
    assert publish(a, hub, "Q4_K_M")[0].ok
    fresh, _ = target(machine(tmp_path / "fresh", ()), hub)
    rows = {row.tag: row for row in fresh.remote_tags()}
    assert {tag: row.published for tag, row in rows.items()} == {
        "Q4_K_M": True,
        "Q5_K_M": False,
        "Q6_K": False,
    }
    assert rows["Q4_K_M"].digests == (sha(a.tag("Q4_K_M").path.read_bytes()),)


def test_a_second_seal_makes_no_commit(tmp_path):
    a = machine(tmp_path / "a", ("Q4_K_M", "Q6_K"))
    hub = new_hub()
    assert publish(a, hub, "Q4_K_M", "Q6_K")[0].ok
    commits = len(hub.commits(REPO))
    result, _ = seal(a, hub)
    assert result.ok and result.bytes_uploaded == 0
    assert len(hub.commits(REPO)) == commits


def test_the_seal_reads_the_card_and_the_records_side_by_side(tmp_path, monkeypatch):
    """Each file read is a HEAD + GET round trip: the card and the facts records are read at
    once (the no-op seal's cost against `status`, bench/converge.py), and the card the seal
    renders is the same as when read one after another."""
    import threading

    from publisher.huggingface.session import HubSession

    a = machine(tmp_path / "a", ("Q4_K_M", "Q6_K"))
    hub = new_hub()
    assert publish(a, hub, "Q4_K_M", "Q6_K")[0].ok
    text, commits = card(hub), len(hub.commits(REPO))
    meeting = threading.Barrier(3, timeout=10)  # the card and both records, all in flight
    original = HubSession.read_bytes

    def read_bytes(self, api, path, revision=None):
        meeting.wait()  # BrokenBarrierError (after 10 s) when the reads come one by one
        return original(self, api, path, revision)

    monkeypatch.setattr(HubSession, "read_bytes", read_bytes)
    result, _ = seal(a, hub)
    assert result.ok and result.bytes_uploaded == 0
    assert len(hub.commits(REPO)) == commits and card(hub) == text


def test_eval_results_wait_for_their_measured_on_tag(tmp_path):
    a = machine(tmp_path / "a", ("Q4_K_M", "Q6_K"), bench=True)
    hub = new_hub()
    assert publish(a, hub, "Q4_K_M")[0].ok
    assert GPQA not in hub.files(REPO)  # measured on Q6_K, which the repo does not hold yet
    assert publish(a, hub, "Q6_K")[0].ok
    assert GPQA in hub.files(REPO)
    commits = len(hub.commits(REPO))
    assert seal(a, hub)[0].ok and len(hub.commits(REPO)) == commits


def test_prune_never_deletes_what_a_manifest_tag_names_even_with_one_tag_selected(tmp_path):
    a = machine(tmp_path / "a", ("Q4_K_M", "Q6_K"))
    b = machine(tmp_path / "b", ("Q5_K_M",))
    hub = new_hub()
    assert publish(a, hub, "Q4_K_M", "Q6_K")[0].ok
    old = NAME.format(tag="Q2_K")
    hub.seed(REPO, {old: b"GGUF\0old", f"{old}.sha256": b"x", "LICENSE": b"mine"})
    kept = {p for p in hub.files(REPO) if p not in (old, f"{old}.sha256", "README.md")}
    result, _ = publish(b, hub, "Q5_K_M", prune=True)  # `--tag Q5_K_M --prune`
    assert result.ok, result.failures
    files = hub.files(REPO)
    assert kept <= set(files)  # Q4_K_M, Q6_K, their sidecars and records, the owner's LICENSE
    assert old not in files and f"{old}.sha256" not in files
    (deleting,) = [c for c in hub.commits(REPO) if c.deleted]
    assert sorted(deleting.deleted) == [old, f"{old}.sha256"]
    assert "README.md" in deleting.added  # the prune is part of the seal's one commit


# ---------------------------------------------------------------------------------------------
# Compare-and-swap through the real client


def _interleave(tgt, between) -> None:
    """Run `between()` once, after the seal read the repo at R and before it commits."""
    plan = tgt.sealer.plan

    def plan_then_interfere(api, side_files=None):
        made = plan(api, side_files)
        if not getattr(tgt, "_interfered", False):
            tgt._interfered = True
            between()
        return made

    tgt.sealer.plan = plan_then_interfere


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_two_seals_racing_meet_a_412_and_both_machines_rows_survive(tmp_path, served):
    """A reads the repo at R (Q4_K_M only); B publishes Q6_K and seals before A commits: A's
    commit with parent_commit=R is refused (412) by the double through the real client; A reads
    again at the new head, renders the same card B did, and commits nothing."""
    a = machine(tmp_path / "a", ("Q4_K_M",))
    b = machine(tmp_path / "b", ("Q6_K",))
    ta, sleeps = target(a, served)
    tb, _ = target(b, served)
    da, db = selected(a, "Q4_K_M"), selected(b, "Q6_K")
    assert ta.apply_tags(da, ta.plan_tags(da, online=True), Records()).ok

    def machine_b():
        assert apply_all(tb, db, plan_all(tb, db, online=True), Records()).ok

    _interleave(ta, machine_b)
    result = ta.apply_seal(da, [], Records())
    assert result.ok, result.failures
    posts = [r for r in served.http.requests if r == ("POST", f"/api/models/{REPO}/commit/main")]
    assert len(posts) == 4  # A's tag, B's tag, B's seal, A's seal refused with 412
    seals = [c for c in served.commits(REPO) if c.message.startswith("publisher seal")]
    assert len(seals) == 1  # B's: A found nothing left to change at the new head
    assert len(sleeps) == 1  # one jittered wait before A read again
    text = card(served)
    for tag, release in (("Q4_K_M", a), ("Q6_K", b)):
        assert sha(release.tag(tag).path.read_bytes()) in row(text, tag)


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_an_owner_s_card_edit_between_read_and_commit_survives(tmp_path, served):
    a = machine(tmp_path / "a", ("Q4_K_M",))
    hub = served
    assert publish(a, hub, "Q4_K_M")[0].ok  # the first seal wrote the card
    write_gguf(a, "Q6_K", b"Q6_K from a")
    ta, _ = target(a, hub)
    data = selected(a, "Q6_K")
    assert ta.apply_tags(data, ta.plan_tags(data, online=True), Records()).ok
    edit = "\n## Owner's notes\n\nWritten on the Hub by hand; must survive.\n"

    def owner_edits():
        hub.seed(REPO, {"README.md": hub.files(REPO)["README.md"] + edit.encode()})

    _interleave(ta, owner_edits)
    result = ta.apply_seal(data, [], Records())
    assert result.ok, result.failures
    text = card(hub)
    assert edit.strip() in text  # the edit committed after R is kept
    assert sha(b"GGUF\x03\x00\x00\x00Q6_K from a") in row(text, "Q6_K")  # and the seal's rows


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_the_seal_gives_up_after_bounded_412s(tmp_path, served):
    a = machine(tmp_path / "a", ("Q4_K_M",))
    ta, sleeps = target(a, served)
    data = selected(a, "Q4_K_M")
    assert ta.apply_tags(data, ta.plan_tags(data, online=True), Records()).ok
    served.fail("commit", 412, times=50)
    result = ta.apply_seal(data, [], Records())
    assert "HTTP 412" in result.failures["seal"]
    assert len(sleeps) == 5  # six tries, five jittered waits
    assert all(later >= earlier * 0.5 for earlier, later in itertools.pairwise(sleeps))


# ---------------------------------------------------------------------------------------------
# `publish seal`


def test_publish_seal_on_a_machine_without_any_gguf(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from publisher.cli import app
    from publisher.huggingface.target import HuggingFaceTarget
    from publisher.pipeline import targets

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    a = machine(tmp_path / "a", ("Q4_K_M",))
    hub = new_hub()
    tgt, _ = target(a, hub)
    data = selected(a, "Q4_K_M")
    assert tgt.apply_tags(data, tgt.plan_tags(data, online=True), Records()).ok  # no seal yet
    fresh = machine(tmp_path / "fresh", ())

    def hub_target(release, options):
        return HuggingFaceTarget(
            release, api_factory=hub.api, token_provider=lambda: TOKEN, prune=options.prune
        )

    entry = replace(targets.TARGETS["huggingface"], factory=hub_target)
    monkeypatch.setitem(targets.TARGETS, "huggingface", entry)
    done = CliRunner().invoke(app, ["seal", str(fresh.source), "--yes", "--json"])
    assert done.exit_code == 0, done.output
    data = json.loads(done.stdout)
    assert data["ok"] and [s["name"] for s in data["steps"]][-1] == "seal"
    assert {f["path_in_repo"] for f in data["huggingface"]["files"]} >= {"README.md"}
    q4 = a.tag("Q4_K_M").path.read_bytes()
    assert sha(q4) in row(card(hub), "Q4_K_M")
    commits, listed = len(hub.commits(REPO)), len(hub.called("list_repo_tree"))
    again = CliRunner().invoke(app, ["seal", str(fresh.source), "--yes", "--json"])
    assert again.exit_code == 0 and len(hub.commits(REPO)) == commits  # nothing changed
    assert len(hub.called("list_repo_tree")) == listed + 1  # read once: apply found R unmoved


# ---------------------------------------------------------------------------------------------
# The registry's `latest`, and what a failed seal withholds


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_registry_latest_waits_for_its_source_then_is_the_source_s_manifest(
    tmp_path,
    docker_registry: str,
):
    from doubles.ollama_standin import make_payload

    from publisher.ollama.push import OllamaRegistryTarget

    full = make_payload(tmp_path, model="ns/sealed", renderer=None, template="{{ .Prompt }}")
    t = OllamaRegistryTarget(full.release, docker_registry)
    with t.client:
        q6 = replace(full, tags=[tp for tp in full.tags if tp.tag.tag == "Q6_K"])  # --tag Q6_K
        result = apply_all(t, q6, plan_all(t, q6, online=True), lambda *_: None)
        assert result.ok, result.failures
        assert t.client.manifest_digest("latest") is None  # its source Q4_K_M is not there yet
        q4 = replace(full, tags=[tp for tp in full.tags if tp.tag.tag == "Q4_K_M"])
        assert {op.kind for op in t.plan_tags(q4, online=True)} == {"tag"}  # never latest
        result = apply_all(t, q4, plan_all(t, q4, online=True), lambda *_: None)
        assert result.ok, result.failures
        source = t.client.manifest_digest("Q4_K_M")
        assert source is not None and t.client.manifest_digest("latest") == source
        nothing = replace(full, tags=[])  # `publish seal` on a machine with no GGUF
        (op,) = t.plan_seal(nothing, online=True)
        assert op.action == "skip-tag" and op.details["manifest_digest"] == source


def test_a_failed_seal_withholds_no_tag_from_the_ledger():
    from types import SimpleNamespace

    from publisher.pipeline.release import _published_tags
    from publisher.pipeline.run import VariantRun
    from publisher.targets.base import SEAL_FAILURE, ApplyResult

    run = VariantRun(manifest=Path("m.toml"))
    run.reports = [SimpleNamespace(tag="Q4_K_M")]  # type: ignore[list-item]
    run.results["huggingface"] = ApplyResult(failures={SEAL_FAILURE: "HTTP 412 six times"})
    release = SimpleNamespace(tag=lambda _t: SimpleNamespace(targets=["huggingface"]))
    assert _published_tags(run, release, {"huggingface"}) == {"Q4_K_M"}  # type: ignore[arg-type]
    run.results["huggingface"] = ApplyResult(failures={"*": "creating the repo: HTTP 403"})
    assert _published_tags(run, release, {"huggingface"}) == set()  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# status checks what the seal writes


def _not_up_to_date(release, hub: FakeHub) -> dict[str, str]:
    tgt, _ = target(release, hub)
    rows = tgt.status(payload(release, SIDE))  # every tag, GGUF here or not
    return {r.tag: r.state for r in rows if r.state != "up-to-date"}


def test_status_says_a_lost_or_stale_card_until_the_seal_restores_it(tmp_path):
    """The card is the seal's: a run killed before its seal, `--create-pr`, or a seal that gave
    up leaves it missing or stale, and status must not call that up to date (MUST-1 of f1)."""
    a = machine(tmp_path / "a", ("Q4_K_M", "Q5_K_M", "Q6_K"))
    hub = new_hub()
    assert publish(a, hub, *TAGS)[0].ok
    fresh = machine(tmp_path / "fresh", ())  # status from a machine without any GGUF
    assert _not_up_to_date(fresh, hub) == {}
    hub.apply_commit(
        REPO, None, create_pr=False, message="card lost", description="",
        added={}, deleted=["README.md"],
    )  # fmt: skip
    assert _not_up_to_date(fresh, hub) == {"README.md": "missing"}
    assert seal(fresh, hub)[0].ok
    assert _not_up_to_date(fresh, hub) == {}
    stale = card(hub).replace(sha(a.tag("Q6_K").path.read_bytes()), "0" * 64)
    hub.apply_commit(
        REPO, None, create_pr=False, message="stale", description="",
        added={"README.md": stale.encode()}, deleted=[],
    )  # fmt: skip
    assert _not_up_to_date(fresh, hub) == {"README.md": "drifted"}


def test_publish_status_exits_1_after_the_card_is_lost_and_0_after_publish_seal(
    tmp_path, monkeypatch
):
    from typer.testing import CliRunner

    from publisher.cli import app
    from publisher.huggingface.target import HuggingFaceTarget
    from publisher.pipeline import targets

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    a = machine(tmp_path / "a", TAGS)
    hub = new_hub()
    assert publish(a, hub, *TAGS)[0].ok
    fresh = machine(tmp_path / "fresh", ())

    def hub_target(release, options):
        return HuggingFaceTarget(release, api_factory=hub.api, token_provider=lambda: TOKEN)

    entry = replace(targets.TARGETS["huggingface"], factory=hub_target)
    monkeypatch.setitem(targets.TARGETS, "huggingface", entry)

    def status() -> tuple[int, dict[str, str]]:
        done = CliRunner().invoke(app, ["status", str(fresh.source), "--json"])
        rows = json.loads(done.stdout)["targets"]
        return done.exit_code, {r["tag"]: r["state"] for r in rows if r["state"] != "up-to-date"}

    assert status() == (0, {})
    hub.apply_commit(
        REPO, None, create_pr=False, message="card lost", description="",
        added={}, deleted=["README.md"],
    )  # fmt: skip
    assert status() == (1, {"README.md": "missing"})
    sealed = CliRunner().invoke(app, ["seal", str(fresh.source), "--yes"])
    assert sealed.exit_code == 0, sealed.output
    assert status() == (0, {})
