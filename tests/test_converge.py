"""One release from many runs on many machines converges (issue 20): three or more machines,
each with its own HOME, cache, ledger and only its own GGUFs, publish into the real
docker-registry and the strict Hub double (commits over HTTP through the real huggingface_hub
client) — incrementally, two at once, with the owner's edit landing between a run's read and
its commit, with `--prune` on a partial run, and from a fresh machine. Every test asserts the
end state of both remotes, not an exit code alone. The scenarios that lay one run inside another
at an exact point (a hook before a Hub commit) run the machines in this process; the race of
machines as separate OS processes (every Hub call over HTTP) is its own scenario."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from doubles.hf_double import FakeHub
from support.machines import Fleet, before_hub_commits, finish, wire_hub

from publisher.ollama.registry import RegistryClient

pytestmark = pytest.mark.slow


@pytest.fixture
def fleet(tmp_path: Path, docker_registry: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    hub = FakeHub()
    http = hub.serve()
    wire_hub(monkeypatch, hub)
    try:
        yield Fleet(tmp_path, docker_registry, hub)
    finally:
        http.close()


# ---------------------------------------------------------------------------------------------
# The end state, read from the remotes


def registry_tags(fleet: Fleet) -> dict[str, str]:
    """tag -> the sha256 of the GGUF its manifest's model layer names."""
    found = {}
    with RegistryClient(fleet.registry, fleet.repository, insecure=True) as client:
        for tag in client.list_tags() or []:
            manifest, _ = client.get_manifest(tag)  # type: ignore[misc]
            model = [layer for layer in manifest["layers"] if layer["mediaType"].endswith(".model")]
            found[tag] = model[0]["digest"].removeprefix("sha256:")
    return found


def hub_files(fleet: Fleet) -> dict[str, bytes]:
    return dict(fleet.hub.files(fleet.hf_repo)) if fleet.hf_repo in fleet.hub.repos else {}


def assert_published(fleet: Fleet, tags: set[str]) -> None:
    """Both remotes hold exactly these tags' files (and nothing of the others)."""
    sha = {tag: hashlib.sha256(fleet.gguf_bytes(tag)).hexdigest() for tag in tags}
    ollama = {tag for tag in tags if tag != "F16"}
    registry = registry_tags(fleet)
    assert {t: registry[t] for t in registry if t != "latest"} == {t: sha[t] for t in ollama}
    if "Q4_K_M" in tags:
        assert registry["latest"] == sha["Q4_K_M"]  # latest only once its source is there
    else:
        assert "latest" not in registry
    files = hub_files(fleet)
    ggufs = {path for path in files if path.endswith(".gguf")}
    assert ggufs == {f"tiny-{tag}.gguf" for tag in tags}
    for tag in tags:
        assert files[f"tiny-{tag}.gguf"] == fleet.gguf_bytes(tag)
        assert files[f"tiny-{tag}.gguf.sha256"].decode().split()[0] == sha[tag]


def card_rows(fleet: Fleet) -> dict[str, list[str]]:
    """The card's file table: file name -> its cells (files, tag, hf.co tag, quant, size,
    sha256, vram, notes)."""
    card = hub_files(fleet)["README.md"].decode()
    rows = {}
    for line in card.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        names = re.findall(r"\[([\w.-]+\.gguf)\]", cells[0]) if line.startswith("|") else []
        for name in names:
            rows[name] = cells
    return rows


def card_links(fleet: Fleet) -> list[str]:
    """Every file of this repo the card links to."""
    card = hub_files(fleet)["README.md"].decode()
    repo = re.escape(fleet.hf_repo)
    return re.findall(rf"/{repo}/(?:blob|resolve)/[^/)\s]+/([^)\s]+)\)", card)


def assert_card(fleet: Fleet, tags: set[str]) -> None:
    """The card lists every published file with its true facts (quant, size, sha256: never
    "—"), whichever machine published it, and links no file the repo lacks."""
    files = hub_files(fleet)
    rows = card_rows(fleet)
    for tag in tags:
        data = fleet.gguf_bytes(tag)
        cells = rows[f"tiny-{tag}.gguf"]
        _, row_tag, _, quant, size, sha256 = cells[:6]
        assert row_tag == tag and quant == tag, cells
        assert sha256.strip("`") == hashlib.sha256(data).hexdigest(), cells
        assert size not in ("", "—"), cells
    dead = sorted({name for name in card_links(fleet) if name not in files})
    assert not dead, f"the card links files the repo lacks: {dead}"
    unpublished = {f"tiny-{t}.gguf" for t in fleet.tags if t not in tags}
    assert not unpublished & set(card_links(fleet))


def assert_converged(fleet: Fleet, tags: set[str]) -> None:
    assert_published(fleet, tags)
    assert_card(fleet, tags)


# ---------------------------------------------------------------------------------------------
# The scenarios


def test_incremental_runs_from_three_machines(fleet: Fleet) -> None:
    a = fleet.machine("a", ["Q4_K_M", "Q6_K"])
    b = fleet.machine("b", ["Q5_K_M"])
    c = fleet.machine("c", ["Q3_K_M", "F16"])

    code, data, output = a.release("--present", "--yes")
    assert code == 0, output
    assert data["complete"] is False and data["missing_tags"] == ["Q3_K_M", "Q5_K_M", "F16"]
    assert_converged(fleet, {"Q4_K_M", "Q6_K"})

    code, data, output = b.release("--present", "--yes")
    assert code == 0, output
    assert_converged(fleet, {"Q4_K_M", "Q5_K_M", "Q6_K"})

    code, data, output = c.release("--present", "--yes")
    assert code == 0, output
    assert data["complete"] is True and data["missing_tags"] == []
    assert_converged(fleet, set(fleet.tags))
    for machine in (a, b, c):
        code, rows, output = machine.status()
        assert code == 0 and set(rows.values()) == {"up-to-date"}, output


def test_two_runs_at_once_both_land(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    """B's whole release runs between A's read of the Hub and A's seal commit: A's commit is
    refused (412, parentCommit), A reads again and commits a card with both machines' rows."""
    a = fleet.machine("a", ["Q4_K_M", "Q6_K"])
    b = fleet.machine("b", ["Q5_K_M", "F16"])
    fired: list[tuple[int, str]] = []

    def between(arguments: dict[str, Any]) -> None:
        paths = {op.path_in_repo for op in arguments["operations"]}
        if fired or "README.md" not in paths:
            return
        fired.append((-1, "running"))  # B's own commits pass through here too
        code, _, output = b.release("--present", "--yes")
        fired[0] = (code, output)

    commits = before_hub_commits(monkeypatch, between)
    code, data, output = a.release("--present", "--yes")
    assert code == 0, (output, data.get("failures"), fired)
    assert len(fired) == 1 and fired[0][0] == 0, fired
    # A's seal commit (parent R) was refused: B had committed since R. A read again; B's seal
    # had already written the card A would write (B read A's tags and facts records), so A
    # committed nothing more: 4 commits asked for, 3 accepted (A's tags, B's tags, B's seal).
    assert [bool(c["parent_commit"]) for c in commits] == [False, True, False, True]
    assert len(fleet.hub.commits(fleet.hf_repo)) == 3
    assert_converged(fleet, {"Q4_K_M", "Q5_K_M", "Q6_K", "F16"})
    assert data["complete"] is False and data["missing_tags"] == ["Q3_K_M"]


def test_an_owner_edit_between_read_and_commit_is_kept(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = fleet.machine("a", ["Q4_K_M"])
    assert a.release("--present", "--yes")[0] == 0
    b = fleet.machine("b", ["Q6_K"])
    edited: list[bytes] = []

    def owner_edits(arguments: dict[str, Any]) -> None:
        paths = {op.path_in_repo for op in arguments["operations"]}
        if edited or "README.md" not in paths:
            return
        card = hub_files(fleet)["README.md"]
        edit = card + b"\n## Owner's notes\n\nHand-written between a read and a commit.\n"
        edited.append(edit)
        fleet.hub.apply_commit(
            fleet.hf_repo,
            None,
            create_pr=False,
            message="owner edit",
            description="",
            added={"README.md": edit},
            deleted=[],
        )

    before_hub_commits(monkeypatch, owner_edits)
    code, _, output = b.release("--present", "--yes")
    assert code == 0, output
    assert edited
    card = hub_files(fleet)["README.md"].decode()
    assert "## Owner's notes\n\nHand-written between a read and a commit." in card
    assert_converged(fleet, {"Q4_K_M", "Q6_K"})


def test_prune_on_a_partial_run_deletes_only_what_no_manifest_tag_names(fleet: Fleet) -> None:
    a = fleet.machine("a", ["Q4_K_M", "Q6_K"])
    assert a.release("--present", "--yes")[0] == 0
    old = b"GGUF\x03\x00\x00\x00 an old tier"
    fleet.hub.apply_commit(
        fleet.hf_repo,
        None,
        create_pr=False,
        message="an old tier",
        description="",
        added={
            "tiny-Q2_K.gguf": old,
            "tiny-Q2_K.gguf.sha256": hashlib.sha256(old).hexdigest().encode()
            + b"  tiny-Q2_K.gguf\n",
            "notes.txt": b"the owner's file\n",
        },
        deleted=[],
    )
    b = fleet.machine("b", ["Q5_K_M"])
    code, data, output = b.release("--tag", "Q5_K_M", "--prune", "--yes")
    assert code == 0, output
    assert data["prune_scope"] == "manifest"
    files = hub_files(fleet)
    assert "tiny-Q2_K.gguf" not in files and "tiny-Q2_K.gguf.sha256" not in files
    assert files["notes.txt"] == b"the owner's file\n"  # not the tool's: never pruned
    assert_converged(fleet, {"Q4_K_M", "Q5_K_M", "Q6_K"})
    ledger = json.loads(b.ledger.read_text())
    removed = {k for k, v in ledger["targets"]["huggingface"].items() if v.get("removed")}
    assert removed == {"file:tiny-Q2_K.gguf", "file:tiny-Q2_K.gguf.sha256"}


def test_a_fresh_machine_sees_the_release_and_seals_it(fleet: Fleet) -> None:
    """No GGUF, no ledger: status reads the remotes (exit 1 until complete, 0 after), and
    `publish seal` rewrites a damaged card from what the Hub holds; a second seal is a no-op."""
    a = fleet.machine("a", ["Q3_K_M", "Q4_K_M", "Q5_K_M"])
    b = fleet.machine("b", ["Q6_K", "F16"])
    fresh = fleet.machine("fresh")
    assert a.release("--present", "--yes")[0] == 0
    code, rows, output = fresh.status()
    assert code == 1, output
    assert rows[("ollama", "Q4_K_M")] == rows[("huggingface", "Q5_K_M")] == "up-to-date"
    assert rows[("ollama", "Q6_K")] == rows[("huggingface", "F16")] == "missing"
    assert b.release("--present", "--yes")[0] == 0
    code, rows, output = fresh.status()
    assert code == 0, output
    assert not fresh.ledger.exists() or not json.loads(fresh.ledger.read_text())["tags"]

    fleet.hub.apply_commit(
        fleet.hf_repo,
        None,
        create_pr=False,
        message="card lost",
        description="",
        added={},
        deleted=["README.md"],
    )
    commits = len(fleet.hub.commits(fleet.hf_repo))
    code, data, output = fresh.publish("seal", "--yes")
    assert code == 0, output
    assert len(fleet.hub.commits(fleet.hf_repo)) == commits + 1
    assert_converged(fleet, set(fleet.tags))
    code, data, output = fresh.publish("seal", "--yes")
    assert code == 0, output
    assert len(fleet.hub.commits(fleet.hf_repo)) == commits + 1  # nothing changed: no commit
    assert data.get("bytes_uploaded", 0) == 0


def test_machines_as_processes_two_at_once_converge(fleet: Fleet) -> None:
    """Three machines, each a separate OS process with its own HOME, cache, ledger and GGUFs,
    every Hub read and write over loopback HTTP (HF_ENDPOINT, HF_TOKEN): two started together
    race their seal commits (the double holds each until both have read and sent theirs, so one
    is refused 412 and reads again), the third completes the release; both remotes end exactly
    as the manifest says, and every machine's `status` says so."""
    a = fleet.machine("a", ["Q4_K_M", "Q6_K"])
    b = fleet.machine("b", ["Q5_K_M", "F16"])
    c = fleet.machine("c", ["Q3_K_M"])

    fleet.hub.http.meet_before_cas_commits(2)  # the two seals' commits arrive together
    together = [a.spawn("release", "--present", "--yes"), b.spawn("release", "--present", "--yes")]
    for machine, (code, data, output) in zip((a, b), [finish(p) for p in together], strict=True):
        assert code == 0, (machine.name, output)
        assert data["missing_tags"] and "Q3_K_M" in data["missing_tags"], output
    assert_converged(fleet, {"Q4_K_M", "Q5_K_M", "Q6_K", "F16"})
    # both seals read the Hub before either committed: one landed, the other was refused 412
    # (parentCommit), read again and committed a card with both machines' rows or found it there
    raced = [path for status, path in fleet.hub.http.refusals if status == 412]
    assert raced == [f"/api/models/{fleet.hf_repo}/commit/main"], fleet.hub.http.refusals

    code, data, output = c.run("release", "--present", "--yes")
    assert code == 0, output
    assert data["complete"] is True and data["missing_tags"] == []
    assert_converged(fleet, set(fleet.tags))
    for machine in (a, b, c):
        code, data, output = machine.run("status")
        states = {row["state"] for row in data.get("targets", [])}
        assert code == 0 and states == {"up-to-date"}, output
    reads = {path for method, path in fleet.hub.http.requests if method in ("GET", "HEAD")}
    assert any("/tree/" in p for p in reads) and any("/resolve/" in p for p in reads)
