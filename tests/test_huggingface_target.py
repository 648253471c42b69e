"""The Hugging Face target against a strict HfApi double: plan, skip, batches, prune, errors."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest
from doubles.hf_double import (
    NAME,
    REPO,
    TOKEN,
    FakeHub,
    Records,
    local,
    new_hub,
    payload,
    release_with_files,
    target,
    write_gguf,
)

from publisher.errors import TargetUnavailable, UsageError
from publisher.huggingface.commits import commit_message
from publisher.huggingface.plan import git_blob_sha1, plan_files, sidecar_text
from publisher.huggingface.records import facts_record, record_path
from publisher.targets.base import apply_all, plan_all

SIDE = {"template": "{{ .Prompt }}", "params": '{"temperature": 0.6}\n'}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def names(*tags: str) -> list[str]:
    return [NAME.format(tag=t) for t in tags]


def seed_published(
    hub: FakeHub, release, extra: dict[str, bytes] | None = None, *, sealed: bool = True
) -> None:
    """The Hub already holds exactly what the release publishes (GGUFs, sidecars, facts records,
    side files and — `sealed` — the card a seal renders from them), before the test's calls."""
    files: dict[str, bytes] = {}
    for tag_payload in payload(release).tags:
        tag, data = tag_payload.tag, tag_payload.tag.path.read_bytes()
        files[tag.file] = data
        files[f"{tag.file}.sha256"] = sidecar_text(sha(data), tag.file).encode()
        files[record_path(tag.tag)] = facts_record(release, tag_payload) or b""
    files.update({k: v.encode() for k, v in SIDE.items()})
    hub.seed(REPO, files, private=True)
    if sealed:
        tgt, _ = target(release, hub)
        assert tgt.apply_seal(payload(release, SIDE), [], Records()).ok
    hub.seed(REPO, extra or {}, private=True)
    hub.repos[REPO].commits.clear()
    hub.calls.clear()


# ---------------------------------------------------------------------------------------------
# Plan


def test_offline_plan_calls_nothing_and_lists_every_file(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    tgt, _ = target(release, hub)
    plan = plan_all(tgt, payload(release, {**SIDE, "README.md": "# card\n"}), online=False)
    assert hub.calls == [] and hub.clients == []  # no HfApi was even built
    files = plan_files(plan)
    paths = [f["path_in_repo"] for f in files]
    expected = []
    for tag in ("Q4_K_M", "Q6_K", "F16"):  # tiers first, full precision after
        name = NAME.format(tag=tag)
        expected += [name, name + ".sha256", record_path(tag)]
    assert paths == [*expected, "template", "params", "README.md"]
    assert {f["action"] for f in files} == {"upload-file", "update-card"}
    assert all(op.reason == "remote not checked" for op in plan if op.action != "verify")
    gguf = release.tag("Q4_K_M").path
    row = next(f for f in files if f["path_in_repo"] == gguf.name)
    assert row == {
        "path_in_repo": gguf.name,
        "size": gguf.stat().st_size,
        "sha256": sha(gguf.read_bytes()),
        "action": "upload-file",
    }
    assert [op.subject for op in plan if op.action == "verify"] == names("Q4_K_M", "Q6_K", "F16")


def test_sidecar_is_sha256sum_format():
    assert sidecar_text("ab" * 32, "x-Q4_K_M.gguf") == f"{'ab' * 32}  x-Q4_K_M.gguf\n"


def test_git_blob_sha1_matches_git():
    # `printf 'hello\n' | git hash-object --stdin`
    assert git_blob_sha1(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


# ---------------------------------------------------------------------------------------------
# Apply: first publish, order, batches


def test_first_apply_creates_repo_uploads_in_order_and_records(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    tgt, _ = target(release, hub, max_bytes_per_commit=1)  # one commit per tag
    data = payload(release, SIDE)
    tgt.preflight()
    plan = plan_all(tgt, data, online=True)
    assert {op.reason for op in plan if op.action == "upload-file"} == {
        "not on the Hub (the repo is new)"
    }
    records = Records()
    result = apply_all(tgt, data, plan, records)

    assert result.ok, result.failures
    assert hub.called("create_repo") == [
        {
            "repo_id": REPO,
            "token": None,
            "private": True,
            "visibility": None,
            "repo_type": "model",
            "exist_ok": True,
            "resource_group_id": None,
            "region": None,
            "space_sdk": None,
            "space_hardware": None,
            "space_sleep_time": None,
            "space_secrets": None,
            "space_variables": None,
            "space_volumes": None,
            "space_template": None,
        }
    ]
    commits = hub.commits(REPO)
    assert [c.message for c in commits] == [
        "publisher: add Q4_K_M",
        "publisher: add Q6_K",
        "publisher: add F16",
        "publisher seal: update template, params, README.md",  # one commit, after the tags
    ]
    q4_files = [names("Q4_K_M")[0], names("Q4_K_M")[0] + ".sha256", record_path("Q4_K_M")]
    assert list(commits[0].added) == q4_files  # the facts record travels with its files
    files = hub.files(REPO)
    q4 = release.tag("Q4_K_M").path
    assert files[q4.name] == q4.read_bytes()
    assert files[q4.name + ".sha256"].decode() == f"{sha(q4.read_bytes())}  {q4.name}\n"
    assert files["params"] == SIDE["params"].encode()
    # the ledger gets the commit per batch and the sha256 per file
    assert {k for k in records.steps if k.startswith("commit:")} == {
        f"commit:{c.oid}" for c in commits
    }
    assert records.steps[f"file:{q4.name}"]["sha256"] == sha(q4.read_bytes())
    assert records.steps[f"file:{q4.name}"]["commit"] == commits[0].oid
    assert records.steps["verify:Q4_K_M"]["files"] == [q4.name]
    sent = sum(p.stat().st_size for p in (t.path for t in release.tags))
    assert result.bytes_uploaded >= sent
    assert result.facts["huggingface"]["files"][q4.name] == sha(q4.read_bytes())


def test_extra_file_goes_first(tmp_path, monkeypatch):
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    release = release_with_files(tmp_path)
    imatrix = tmp_path / "imatrix.dat"
    imatrix.write_bytes(b"\0imatrix")
    hub = new_hub()
    tgt, _ = target(release, hub, extra_files=[imatrix], max_bytes_per_commit=1)
    data = payload(release)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert result.ok, result.failures
    assert hub.commits(REPO)[0].message == "publisher: add imatrix.dat"
    assert hub.files(REPO)["imatrix.dat"] == b"\0imatrix"


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_commits_hold_at_most_100_operations_and_keep_sidecars_with_their_gguf(tmp_path):
    tags = [f"Q{i}" for i in range(130)]
    release = release_with_files(tmp_path, tags)
    hub = new_hub()
    tgt, _ = target(release, hub)
    data = payload(release)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert result.ok, result.failures
    commits = hub.commits(REPO)
    assert len(commits) == 5  # 390 files in 4 commits of whole tags, then the seal's card
    assert all(c.n_operations <= 100 for c in commits)
    for commit in commits:
        for path in commit.added:
            if path.endswith(".gguf"):
                assert f"{path}.sha256" in commit.added
    # .gitattributes + GGUF, sidecar and facts record per tag + the card
    assert len(hub.files(REPO)) == 1 + 3 * 130 + 1


def test_commit_message_names_what_changed():
    from publisher.targets.base import Operation

    def op(subject, tag, kind, remote, action="upload-file"):
        return Operation(
            "huggingface", action, subject, "", tag=tag, details={"kind": kind, "remote": remote}
        )

    title, description = commit_message(
        [
            op("a-Q4_K_M.gguf", "Q4_K_M", "gguf", "absent"),
            op("a-Q4_K_M.gguf.sha256", "Q4_K_M", "sidecar", "absent"),
            op("a-Q6_K.gguf", "Q6_K", "gguf", "absent"),
            op("README.md", None, "card", "different", "update-card"),
        ]
    )
    assert title == "publisher: add Q4_K_M, Q6_K; update README.md"
    assert "a-Q4_K_M.gguf.sha256" in description


# ---------------------------------------------------------------------------------------------
# Skip what the Hub already holds


def test_unchanged_files_are_skipped_and_nothing_is_committed(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    seed_published(hub, release)
    tgt, _ = target(release, hub)
    data = payload(release, SIDE)
    plan = plan_all(tgt, data, online=True)
    ggufs = [op for op in plan if op.subject.endswith(".gguf") and op.action != "verify"]
    assert {op.action for op in ggufs} == {"skip-file"}
    assert {op.reason for op in ggufs} == {"same sha256 on the Hub"}
    params = next(op for op in plan if op.subject == "params")
    assert (params.action, params.reason) == ("skip-file", "same bytes on the Hub")
    assert all(op.action in ("skip-file",) for op in plan), plan
    assert hub.called("get_paths_info")[0]["expand"] is True
    result = apply_all(tgt, data, plan, Records())
    assert result.ok and result.bytes_uploaded == 0
    assert hub.called("create_commit") == [] and hub.commits(REPO) == []


def test_only_the_changed_gguf_and_its_sidecar_are_sent(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    seed_published(hub, release)
    write_gguf(release, "Q6_K", b"requantized")
    tgt, _ = target(release, hub, force=True)  # --force: replace the Hub's other bytes
    data = payload(release, {**SIDE, "params": '{"temperature": 0.7}\n'})
    plan = plan_all(tgt, data, online=True)
    sent = {op.subject for op in plan if op.action == "upload-file"}
    q6 = names("Q6_K")[0]
    assert sent == {q6, f"{q6}.sha256", record_path("Q6_K"), "params"}
    result = apply_all(tgt, data, plan, Records())
    assert result.ok, result.failures
    assert [c.message for c in hub.commits(REPO)] == [
        "publisher: update Q6_K",
        "publisher seal: update params, README.md",  # the card shows Q6_K's new sha256
    ]
    assert hub.files(REPO)[q6] == release.tag("Q6_K").path.read_bytes()


# ---------------------------------------------------------------------------------------------
# The card


def test_a_hub_card_that_is_not_utf8_is_one_line_not_a_traceback(tmp_path):
    """The Hub's README.md is read to keep its hand-written sections; bytes that are not UTF-8
    (a card someone saved as Latin-1) are refused naming the card, and nothing is sent."""
    release = release_with_files(tmp_path)
    hub = new_hub()
    latin = {"README.md": "# Tiny\n\nCaf\u00e9 notes\n".encode("latin-1")}
    seed_published(hub, release, latin, sealed=False)
    tgt, _ = target(release, hub)
    data = payload(release, {**SIDE, "README.md": "# Tiny\n"})
    with pytest.raises(UsageError) as refused:
        plan_all(tgt, data, online=True)
    assert f"{REPO}/README.md" in str(refused.value) and "not UTF-8" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_card_merge_keeps_hand_written_sections(tmp_path):
    pytest.importorskip("publisher.render.markers")
    release = release_with_files(tmp_path)
    hub = new_hub()
    hand = "## My notes\n\nHand-written by the owner; must survive.\n"
    old = (
        "# Tiny\n\n<!-- publisher:begin files -->\nold table\n<!-- publisher:end files -->\n\n"
        + hand
    )
    seed_published(hub, release, {"README.md": old.encode()}, sealed=False)
    tgt, _ = target(release, hub)
    data = payload(release, SIDE)
    plan = plan_all(tgt, data, online=True)
    card = next(op for op in plan if op.subject == "README.md")
    assert card.action == "update-card"
    result = apply_all(tgt, data, plan, Records())
    assert result.ok, result.failures
    text = hub.files(REPO)["README.md"].decode()
    assert "| File | Tag |" in text and "old table" not in text  # the seal's files table
    assert hand in text
    assert hub.commits(REPO)[-1].message == "publisher seal: update README.md"
    # a second plan finds the merged card on the Hub: nothing to do
    again, _ = target(release, hub)
    assert all(op.action == "skip-file" for op in plan_all(again, data, online=True))


# ---------------------------------------------------------------------------------------------
# Prune


def test_obsolete_files_are_reported_and_kept_without_prune(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    old = names("Q2_K")[0]
    seed_published(hub, release, {old: b"GGUF\0old", f"{old}.sha256": b"x", "LICENSE": b"L"})
    tgt, _ = target(release, hub)
    plan = plan_all(tgt, payload(release, SIDE), online=True)
    extras = {op.subject: op.reason for op in plan if op.details.get("remote") == "extra"}
    assert extras == {  # the owner's LICENSE is not ours: never listed, never pruned
        old: "no manifest tag names it: kept (--prune deletes it)",
        f"{old}.sha256": "no manifest tag names it: kept (--prune deletes it)",
    }
    assert not [op for op in plan if op.action == "delete-file"]


def test_prune_is_part_of_the_seal_s_one_commit(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    old = names("Q2_K")[0]
    seed_published(hub, release, {old: b"GGUF\0old", f"{old}.sha256": b"x", "LICENSE": b"L"})
    write_gguf(release, "Q4_K_M", b"changed")
    tgt, _ = target(release, hub, prune=True, force=True)
    data = payload(release, {**SIDE, "template": "{{ .System }}"})
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert result.ok, result.failures
    commits = hub.commits(REPO)
    assert [c.message for c in commits] == [
        "publisher: update Q4_K_M",
        f"publisher seal: update template, README.md; remove {old}, {old}.sha256",
    ]
    assert commits[-1].deleted == [old, f"{old}.sha256"]  # in the seal's one commit
    assert old not in hub.files(REPO) and "LICENSE" in hub.files(REPO)


# ---------------------------------------------------------------------------------------------
# Preflight


def test_preflight_accepts_org_writer_and_caches_whoami(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    tgt, _ = target(release, hub)
    tgt.preflight()
    tgt.preflight()
    assert len(hub.called("whoami")) == 1 and hub.called("whoami")[0]["cache"] is True
    assert (
        hub.called("auth_check")
        == [{"repo_id": REPO, "repo_type": None, "token": None, "write": True}] * 2
    )


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ({"orgs": {}}, "neither 'acme' nor a member"),
        ({"orgs": {"acme": "read"}}, "role 'read' in 'acme'"),
        ({"role": "read"}, "read-only"),
        (
            {
                "role": "fineGrained",
                "fine_grained": {
                    "scoped": [
                        {
                            "entity": {"type": "org", "name": "acme"},
                            "permissions": ["repo.content.read"],
                        }
                    ]
                },
            },
            "no repo.write permission",
        ),
    ],
)
def test_preflight_refuses_without_write_access(tmp_path, setup, expected):
    release = release_with_files(tmp_path)
    hub = new_hub(**setup)
    tgt, _ = target(release, hub)
    with pytest.raises(TargetUnavailable, match=expected) as caught:
        tgt.preflight()
    assert caught.value.exit_code == 3
    assert "\n" not in str(caught.value)


def test_preflight_fine_grained_write_on_the_org_is_enough(tmp_path):
    release = release_with_files(tmp_path)
    grants = {
        "scoped": [{"entity": {"type": "org", "name": "acme"}, "permissions": ["repo.write"]}]
    }
    hub = new_hub(role="fineGrained", fine_grained=grants)
    tgt, _ = target(release, hub)
    tgt.preflight()  # no TargetUnavailable: the grant on the owner passes the token-role check
    # … and the preflight went on to the owner check and the Hub's own write check, which
    # decides the rest (the same token without the grant is refused above, "no repo.write")
    assert [(c["repo_id"], c["write"]) for c in hub.called("auth_check")] == [(REPO, True)]


def test_preflight_without_token_is_exit_3(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    tgt, _ = target(release, hub, token_provider=lambda: None)
    with pytest.raises(TargetUnavailable, match="set HF_TOKEN or run `hf auth login`"):
        tgt.preflight()
    assert hub.calls == []


def test_preflight_rejected_token_is_one_line(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    tgt, _ = target(release, hub, token_provider=lambda: "hf_revoked")
    with pytest.raises(TargetUnavailable, match=r"whoami .*HTTP 401") as caught:
        tgt.preflight()
    assert "\n" not in str(caught.value)


def test_endpoint_from_env_beats_manifest_and_is_passed_explicitly(tmp_path, monkeypatch):
    release = release_with_files(tmp_path, endpoint="https://hub.private.test")
    hub = new_hub()
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    tgt, _ = target(release, hub)
    tgt.preflight()
    assert hub.clients[-1].init_kwargs["endpoint"] == "https://hub.private.test"
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.test/")
    tgt, _ = target(release, hub)
    tgt.preflight()
    assert hub.clients[-1].init_kwargs["endpoint"] == "https://mirror.test"
    assert hub.clients[-1].init_kwargs["token"] == TOKEN


# ---------------------------------------------------------------------------------------------
# Errors and retries


def test_rate_limit_honours_retry_after_then_succeeds(tmp_path):
    release = release_with_files(tmp_path, ["Q4_K_M"])
    hub = new_hub()
    hub.fail("create_commit", 429, retry_after=7, times=2)
    tgt, sleeps = target(release, hub)
    data = payload(release)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert result.ok, result.failures
    assert sleeps == [7.0, 7.0]
    assert len(hub.commits(REPO)) == 2  # the tag's commit, then the seal's


def test_rate_limit_retries_are_bounded(tmp_path):
    release = release_with_files(tmp_path, ["Q4_K_M"])
    hub = new_hub()
    hub.fail("create_commit", 429, retry_after=1, times=50)
    tgt, sleeps = target(release, hub)
    data = payload(release)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert len(sleeps) == 10  # five for the tag's commit, five for the seal's
    assert "HTTP 429, rate limited by the Hub" in result.failures["Q4_K_M"]
    assert "HTTP 429" in result.failures["seal"]  # the seal could not commit either


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (401, "HTTP 401, the Hub refused the token"),
        (403, "HTTP 403, the token may not write"),
        (404, "HTTP 404, acme/tiny-GGUF not found"),
    ],
)
def test_credential_errors_become_one_line_and_stop_the_rest(tmp_path, status, words):
    release = release_with_files(tmp_path)
    hub = new_hub()
    hub.fail("create_commit", status)
    tgt, _ = target(release, hub, max_bytes_per_commit=1)
    data = payload(release, SIDE)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert set(result.failures) == {"Q4_K_M", "Q6_K", "F16", "seal"}
    assert words in result.failures["Q4_K_M"]
    assert all("\n" not in line for line in result.failures.values())
    assert hub.commits(REPO) == [] and len(hub.called("create_commit")) == 1


def test_a_server_error_fails_its_batch_and_the_rest_goes_on(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    hub.fail("create_commit", 500)
    tgt, _ = target(release, hub, max_bytes_per_commit=1)
    data = payload(release)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert set(result.failures) == {"Q4_K_M"}
    assert "HTTP 500" in result.failures["Q4_K_M"]
    assert [c.message for c in hub.commits(REPO)] == [
        "publisher: add Q6_K",
        "publisher: add F16",
        "publisher seal: update README.md",  # the card lists what the Hub holds: not Q4_K_M
    ]


def test_read_back_mismatch_is_a_failure(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    q6 = names("Q6_K")[0]

    def tamper(repo_id, files):
        if q6 in files:
            files[q6] = b"GGUF\0corrupted on the way"

    hub.on_commit = tamper
    tgt, _ = target(release, hub)
    data = payload(release)
    records = Records()
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), records)
    assert set(result.failures) == {"Q6_K"}
    assert "read back" in result.failures["Q6_K"]
    assert sha(release.tag("Q6_K").path.read_bytes()) in result.failures["Q6_K"]
    assert "verify:Q6_K" not in records.steps and "verify:Q4_K_M" in records.steps


def test_missing_local_gguf_fails_its_tag_only(tmp_path):
    release = release_with_files(tmp_path)
    release.tag("Q6_K").path.unlink()
    hub = new_hub()
    tgt, _ = target(release, hub)
    data = payload(release)
    plan = plan_all(tgt, data, online=True)
    missing = next(op for op in plan if op.subject == names("Q6_K")[0])
    assert missing.reason == "missing locally: cannot be uploaded"
    result = apply_all(tgt, data, plan, Records())
    assert set(result.failures) == {"Q6_K"}
    assert names("Q4_K_M")[0] in hub.files(REPO)


def test_file_changed_since_the_plan_is_not_sent(tmp_path):
    release = release_with_files(tmp_path, ["Q4_K_M"])
    hub = new_hub()
    tgt, _ = target(release, hub)
    data = payload(release)
    plan = plan_all(tgt, data, online=True)
    write_gguf(release, "Q4_K_M", b"rewritten after the plan, longer")
    result = apply_all(tgt, data, plan, Records())
    assert "changed since the plan" in result.failures["Q4_K_M"]
    assert [c.message for c in hub.commits(REPO)] == ["publisher seal: update README.md"]
    assert names("Q4_K_M")[0] not in hub.files(REPO)


# ---------------------------------------------------------------------------------------------
# Pull requests


def test_create_pr_opens_one_pr_and_commits_the_rest_onto_it(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    seed_published(hub, release)
    for tag in ("Q4_K_M", "F16"):
        write_gguf(release, tag, b"v2")
    tgt, _ = target(release, hub, create_pr=True, force=True, max_bytes_per_commit=1)
    data = payload(release, SIDE)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert result.ok, result.failures
    calls = hub.called("create_commit")
    assert [(c["create_pr"], c["revision"]) for c in calls] == [(True, None), (None, "refs/pr/1")]
    assert hub.files(REPO)[names("F16")[0]] != release.tag("F16").path.read_bytes()  # main kept
    assert hub.files(REPO, "refs/pr/1")[names("F16")[0]] == release.tag("F16").path.read_bytes()
    assert hub.called("get_paths_info")[-1]["revision"] == "refs/pr/1"  # read back on the PR
    assert result.facts["huggingface"]["commits"][0]["pr_url"].endswith("/discussions/1")


# ---------------------------------------------------------------------------------------------
# Status


def test_status_per_tag(tmp_path):
    release = release_with_files(tmp_path, ["F16", "Q4_K_M", "Q6_K", "Q8_0"])
    hub = new_hub()
    seed_published(hub, release, {names("Q2_K")[0]: b"GGUF\0old"})
    del hub.files(REPO)[names("Q8_0")[0]]
    write_gguf(release, "Q6_K", b"drifted locally")
    tgt, _ = target(release, hub)
    states = {s.tag: s.state for s in tgt.status(payload(release))}
    assert states == {
        "F16": "up-to-date",
        "Q4_K_M": "up-to-date",
        "Q6_K": "drifted",
        "Q8_0": "missing",
        names("Q2_K")[0]: "extra",
    }


# ---------------------------------------------------------------------------------------------
# Secrets


def test_token_never_reaches_logs_output_records_or_plans(tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))
    release = release_with_files(tmp_path)
    hub = new_hub()
    seed_published(hub, release)
    write_gguf(release, "Q6_K", b"new")
    hub.fail("create_commit", 429, retry_after=1)
    from publisher.huggingface.target import HuggingFaceTarget

    tgt = HuggingFaceTarget(
        release, api_factory=hub.api, sleep=lambda _s: None, prune=True, force=True
    )
    tgt.preflight()  # the default token provider: huggingface_hub's get_token reads HF_TOKEN
    data = payload(release, SIDE)
    plan = plan_all(tgt, data, online=True)
    records = Records()
    result = apply_all(tgt, data, plan, records)
    tgt.status(data)
    hub.fail("create_commit", 401)
    write_gguf(release, "Q4_K_M", b"again")
    failed = apply_all(tgt, payload(release), plan_all(tgt, payload(release), online=True), records)
    assert failed.failures and result.ok
    with pytest.raises(TargetUnavailable) as refused:
        bad = new_hub(orgs={})
        HuggingFaceTarget(release, api_factory=bad.api).preflight()

    assert hub.clients[0].token == TOKEN  # it did reach the client, and only the client
    out, err = capsys.readouterr()
    everything = "\n".join(
        [
            out,
            err,
            caplog.text,
            json.dumps(records.steps, default=str),
            json.dumps([op.to_json() for op in plan], default=str),
            json.dumps([result.facts, failed.failures, failed.facts], default=str),
            str(refused.value),
        ]
    )
    assert "rate limited" in err  # the capture does see our output
    assert TOKEN not in everything
    assert TOKEN[:12] not in everything


def test_double_is_strict_about_arguments():
    hub = new_hub()
    api = hub.api(endpoint=hub.endpoint, token=TOKEN)
    with pytest.raises(TypeError):
        api.get_paths_info(REPO, ["a"], expanded=True)
    with pytest.raises(TypeError):
        api.create_commit(REPO, [], message="x")
    with pytest.raises(AttributeError):
        api.upload_folder  # noqa: B018  (not implemented: a target calling it fails loudly)
    with pytest.raises(TypeError):
        hub.api(endpoint=hub.endpoint, tokn=TOKEN)


def test_local_helper_matches_payload(tmp_path):
    release = release_with_files(tmp_path, ["Q4_K_M"])
    measured = local(release.tag("Q4_K_M").path)
    assert measured.sha256 == sha(release.tag("Q4_K_M").path.read_bytes())


def test_second_run_with_a_fresh_target_sends_nothing(tmp_path):
    pytest.importorskip("publisher.render.markers")
    release = release_with_files(tmp_path)
    hub = new_hub()
    data = payload(release, SIDE)
    planner, _ = target(release, hub)
    plan = plan_all(planner, data, online=True)
    applier, _ = target(release, hub)  # a plan made elsewhere (e.g. resumed from the ledger)
    assert apply_all(applier, data, plan, Records()).ok
    assert "| File | Tag |" in hub.files(REPO)["README.md"].decode()
    commits = len(hub.commits(REPO))
    fresh, _ = target(release, hub)
    again = plan_all(fresh, data, online=True)
    assert {op.action for op in again} == {"skip-file"}
    result = apply_all(fresh, data, again, Records())
    assert result.ok and result.bytes_uploaded == 0 and len(hub.commits(REPO)) == commits


def test_reading_a_private_repo_without_token_is_exit_3(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    seed_published(hub, release, sealed=False)
    tgt, _ = target(release, hub, token_provider=lambda: None)
    with pytest.raises(TargetUnavailable, match="HTTP 401") as caught:
        plan_all(tgt, payload(release), online=True)
    assert caught.value.exit_code == 3
    assert hub.clients[0].init_kwargs["token"] is False  # no implicit token lookup either


def test_prune_waits_until_every_upload_has_landed(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    old = names("Q2_K")[0]
    seed_published(hub, release, {old: b"GGUF\0old"})
    write_gguf(release, "Q4_K_M", b"changed")
    hub.fail("create_commit", 500)
    tgt, _ = target(release, hub, prune=True, force=True)
    data = payload(release, SIDE)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert set(result.failures) == {"Q4_K_M"}
    assert old in hub.files(REPO)
    assert all(not c.deleted for c in hub.commits(REPO))


def test_preflight_new_repo_passes_even_if_the_write_check_says_403(tmp_path):
    release = release_with_files(tmp_path)
    hub = new_hub()
    hub.fail("auth_check", 403)
    tgt, _ = target(release, hub)
    tgt.preflight()  # whoami showed write access to acme; the repo does not exist yet
    assert hub.called("repo_exists") == [{"repo_id": REPO, "repo_type": None, "token": None}]
    hub.seed(REPO, {}, private=True)
    hub.fail("auth_check", 403)
    again, _ = target(release, hub)
    with pytest.raises(TargetUnavailable, match="HTTP 403, the token may not write"):
        again.preflight()


def test_the_ledger_vouches_for_a_small_extra_file_the_hub_keeps_as_a_plain_blob(
    tmp_path, monkeypatch
):
    """A small text extra file is a regular git blob on the Hub, compared by blob id: the ledger
    must hold that id, or `status` can only call its entry unknown."""
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    release = release_with_files(tmp_path, ["Q4_K_M"])
    notes = tmp_path / "calibration.txt"
    notes.write_text("calibration: wiki.train, 200 chunks\n")
    hub = new_hub()
    tgt, _ = target(release, hub, extra_files=[notes])
    data = payload(release, SIDE)
    records = Records()
    assert apply_all(tgt, data, plan_all(tgt, data, online=True), records).ok
    rows = {row.tag: row.state for row in tgt.ledger_status(records.steps)}
    assert rows["calibration.txt"] == "up-to-date"
    assert set(rows.values()) == {"up-to-date"}
    again, _ = target(release, hub, extra_files=[notes])  # a second run: skipped, recorded again
    records = Records()
    assert apply_all(again, data, plan_all(again, data, online=True), records).ok
    assert records.steps["file:calibration.txt"]["outcome"] == "already there"
    rows = {row.tag: row.state for row in again.ledger_status(records.steps)}
    assert set(rows.values()) == {"up-to-date"}
