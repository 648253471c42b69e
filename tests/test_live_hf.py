"""Opt-in: publish a tiny GGUF and a card to a real private Hub repo, read back what
`ollama run hf.co/…` gets (the Hub's /v2 registry route), re-run, clean up.

Runs with `pytest -m live` when HF_TOKEN and PUBLISHER_HF_TEST_REPO (`owner/name`, a repo the
token may create, write and delete) are set; HF_ENDPOINT is honoured. A repo that did not exist
before is deleted afterwards; in a repo that existed, only the files the test added are removed
(a card that was there keeps the test's generated section).
"""

from __future__ import annotations

import logging
import os
import time

import pytest
from doubles.hf_double import Records, local, write_manifest
from support.gguf_factory import write_gemma4_gguf

from publisher.huggingface.readback import read_back
from publisher.huggingface.session import resolve_endpoint
from publisher.huggingface.target import HuggingFaceTarget
from publisher.manifest import load
from publisher.targets.base import ReleasePayload, TagPayload, apply_all, plan_all

pytestmark = pytest.mark.live

TOKEN = os.environ.get("HF_TOKEN")
REPO = os.environ.get("PUBLISHER_HF_TEST_REPO")

CARD = """# publisher live test

<!-- publisher:begin files -->
| File | sha256 |
|---|---|
| {name} | {sha} |
<!-- publisher:end files -->
"""


@pytest.mark.skipif(not (TOKEN and REPO), reason="set HF_TOKEN and PUBLISHER_HF_TEST_REPO")
def test_publish_tiny_gguf_then_rerun_uploads_nothing(tmp_path, capsys, caplog):
    from huggingface_hub import CommitOperationDelete, HfApi

    caplog.set_level(logging.DEBUG)
    manifest = write_manifest(tmp_path, ["Q4_K_M"], private=True)
    text = manifest.read_text().replace('repo = "acme/tiny-GGUF"', f'repo = "{REPO}"')
    manifest.write_text(text)
    release = load(manifest)
    gguf = write_gemma4_gguf(release.tag("Q4_K_M").path)
    measured = local(gguf)
    tag = TagPayload(release.tag("Q4_K_M"), [measured], {}, "", None, None, None, None, None)
    files = {
        "README.md": CARD.format(name=gguf.name, sha=measured.sha256),
        "params": '{"temperature": 0.6}\n',
    }
    payload = ReleasePayload(release, [tag], files)

    api = HfApi(endpoint=resolve_endpoint(None), token=TOKEN)
    existed = api.repo_exists(REPO)
    before = set(api.list_repo_files(REPO)) if existed else set()
    added = [gguf.name, f"{gguf.name}.sha256", "README.md", "params"]
    try:
        first = HuggingFaceTarget(release)
        first.preflight()
        records = Records()
        result = apply_all(first, payload, plan_all(first, payload, online=True), records)
        assert result.ok, result.failures
        assert "verify:Q4_K_M" in records.steps
        assert api.model_info(REPO).private is True
        assert_hf_co_resolves(gguf.name, measured.sha256)

        second = HuggingFaceTarget(release)
        second.preflight()
        plan = plan_all(second, payload, online=True)
        assert {op.action for op in plan} == {"skip-file"}, [op.to_json() for op in plan]
        again = Records()
        rerun = apply_all(second, payload, plan, again)
        assert rerun.ok and rerun.bytes_uploaded == 0
        assert not [key for key in again.steps if key.startswith("commit:")]
    finally:
        if not existed:
            api.delete_repo(REPO, missing_ok=True)
        else:
            present = set(api.list_repo_files(REPO))
            gone = [CommitOperationDelete(p) for p in added if p in present - before]
            if gone:
                api.create_commit(REPO, gone, commit_message="publisher live test: clean up")
    out, err = capsys.readouterr()
    assert TOKEN not in out + err + caplog.text


def assert_hf_co_resolves(name: str, sha256: str) -> None:
    """Every tag a user may type for the file reaches its bytes: the quant label (any case),
    the full file name, and `latest` (Q4_K_M when present). The Hub may need a moment after the
    commit, so a few tries; the token is sent because the test repo is private."""
    expected = {"Q4_K_M": sha256, "q4_k_m": sha256, name: sha256, "latest": sha256}
    verdict = read_back(resolve_endpoint(None), REPO or "", expected, token=TOKEN)
    for _ in range(5):
        if verdict.ok:
            return
        time.sleep(5)
        verdict = read_back(resolve_endpoint(None), REPO or "", expected, token=TOKEN)
    raise AssertionError(f"hf.co resolution: {verdict}")
