"""The Hub double's HTTP read routes, driven by the real huggingface_hub client: the calls
publisher/huggingface/ makes answer as the Hub does, and are refused as the Hub refuses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from doubles.hf_double import FakeHub
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

TOKEN = "hf_reads_test_token_0123456789"
GGUF = b"GGUF\x03\x00\x00\x00" + bytes(200)


@pytest.fixture
def served() -> Iterator[tuple[FakeHub, str]]:
    hub = FakeHub()
    http = hub.serve()
    hub.add_token(TOKEN, user="alice")
    hub.add_token("hf_read_only_token_0123456789", user="alice", role="read")
    try:
        yield hub, http.url
    finally:
        http.close()


def test_whoami_needs_a_known_token(served: tuple[FakeHub, str]) -> None:
    _, url = served
    assert HfApi(endpoint=url, token=TOKEN).whoami()["name"] == "alice"
    with pytest.raises(HfHubHTTPError) as refused:
        HfApi(endpoint=url, token="hf_not_a_token_of_anyone_000").whoami()
    assert refused.value.response.status_code == 401


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_create_repo_then_info_tree_paths_and_download(
    served: tuple[FakeHub, str], tmp_path: Path
) -> None:
    hub, url = served
    api = HfApi(endpoint=url, token=TOKEN)
    assert api.create_repo("alice/m", exist_ok=True) == f"{url}/alice/m"
    assert api.create_repo("alice/m", exist_ok=True) == f"{url}/alice/m"  # 409 taken as done
    with pytest.raises(HfHubHTTPError) as exists:
        api.create_repo("alice/m")
    assert exists.value.response.status_code == 409
    first = api.repo_info("alice/m").sha
    hub.seed("alice/m", {"m-Q4_K_M.gguf": GGUF, "README.md": b"card\n"})
    head = api.repo_info("alice/m").sha
    assert head != first and api.repo_info("alice/m", revision=first).sha == first
    api.auth_check("alice/m", write=True)

    tree = {e.path: e for e in api.list_repo_tree("alice/m", recursive=True)}
    assert set(tree) == {".gitattributes", "README.md", "m-Q4_K_M.gguf"}
    lfs = tree["m-Q4_K_M.gguf"].lfs
    assert lfs is not None and lfs.size == len(GGUF) and tree["README.md"].lfs is None
    info = api.get_paths_info("alice/m", ["m-Q4_K_M.gguf", "absent"], expand=True)
    assert [e.path for e in info] == ["m-Q4_K_M.gguf"] and info[0].last_commit is not None
    assert api.get_paths_info("alice/m", ["README.md"], revision=first) == []  # not there then

    card = api.hf_hub_download("alice/m", "README.md", cache_dir=tmp_path, revision=head)
    assert Path(card).read_bytes() == b"card\n"
    gguf = api.hf_hub_download("alice/m", "m-Q4_K_M.gguf", cache_dir=tmp_path)
    assert Path(gguf).read_bytes() == GGUF
    with pytest.raises(EntryNotFoundError):
        api.hf_hub_download("alice/m", "absent.txt", cache_dir=tmp_path)


def test_the_tree_pages_by_link_header(served: tuple[FakeHub, str]) -> None:
    hub, url = served
    hub.seed("alice/m", {f"f{i:03}.txt": b"x" for i in range(120)})
    tree = list(HfApi(endpoint=url, token=TOKEN).list_repo_tree("alice/m", expand=True))
    assert len(tree) == 121
    pages = [p for m, p in hub.http.requests if p == "/api/models/alice/m/tree/main"]
    assert len(pages) == 3  # 50 entries a page when expanded


def test_refusals_are_the_hubs(served: tuple[FakeHub, str], tmp_path: Path) -> None:
    hub, url = served
    hub.seed("alice/private", {"a.txt": b"a"}, private=True)
    api = HfApi(endpoint=url, token=TOKEN)
    with pytest.raises(RepositoryNotFoundError):
        api.repo_info("alice/absent")
    assert api.repo_exists("alice/absent") is False
    with pytest.raises(RevisionNotFoundError):
        list(api.list_repo_tree("alice/private", revision="nope"))
    with pytest.raises(RepositoryNotFoundError) as anonymous:
        HfApi(endpoint=url, token=False).repo_info("alice/private")
    assert anonymous.value.response.status_code == 401
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=url, token=False).hf_hub_download(
            "alice/private", "a.txt", cache_dir=tmp_path
        )
    read_only = HfApi(endpoint=url, token="hf_read_only_token_0123456789")
    with pytest.raises(HfHubHTTPError) as forbidden:
        read_only.create_repo("alice/new")
    assert forbidden.value.response.status_code == 403
    assert (404, "/api/models/alice/absent") in hub.http.refusals
