"""A strict in-memory stand-in for the `HfApi` methods the Hugging Face target calls.

Strict means: every call is bound against `inspect.signature(HfApi.<method>)` of the installed
huggingface_hub, so a wrong or unknown argument raises TypeError exactly as the real client would;
a method the double does not implement raises AttributeError. Failures are the real
`huggingface_hub.errors` exceptions, built by huggingface_hub's own `hf_raise_for_status` from an
HTTP response with the status, headers (Retry-After, X-Error-Code) and URL the Hub would send.
Files are served with the same `RepoFile` objects (LFS sha256, size, pointer blob id) the real
`get_paths_info` / `list_repo_tree` return, so the target under test cannot tell the difference.

    hub = FakeHub()
    hub.add_token("hf_x", user="alice", orgs={"acme": "write"})
    target = HuggingFaceTarget(release, api_factory=hub.api, token_provider=lambda: "hf_x")

Each ref has a head commit and every commit keeps its snapshot, so a read at a commit sha (the
revision R a seal reads at) answers R's files even after `main` moved. `create_commit` with
`parent_commit` is compare-and-swap exactly as the Hub does it: huggingface_hub sends it as
`parentCommit` in the NDJSON commit header (`_commit_api.py` `_prepare_commit_payload`, lines
929-931 of huggingface_hub 2.4.0; `hf_api.py` `create_commit` lines 5096-5102 document it and
5138-5141 check its form), and the Hub refuses with HTTP 412 when the branch head is no longer
that commit, "A commit has happened since. Please refresh and try again." (huggingface_hub's own
live test `tests/test_hf_api.py` `test_create_commit_conflict` asserts that status and text).

`hub.serve()` adds the HTTP front (tests/doubles/hub_http.py): from then on `create_commit` is the
real
`HfApi.create_commit` talking to it (preupload, LFS upload, NDJSON commit), and the Hub's
Ollama registry route `/v2/<repo>/manifests/<tag>` answers from the same files.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import inspect
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.hf_api import CommitInfo, ModelInfo, RepoFile, RepoFolder, RepoUrl
from huggingface_hub.utils import hf_raise_for_status
from huggingface_hub.utils.sha import git_hash

from publisher.huggingface.target import HuggingFaceTarget
from publisher.manifest import Release, load
from publisher.targets.base import LocalFile, ReleasePayload, TagPayload

LFS_SUFFIXES = (".gguf", ".dat", ".bin", ".safetensors")  # the Hub's default .gitattributes
LFS_SIZE = 10 * 1024 * 1024


def _lfs_pointer(data: bytes) -> bytes:
    sha = hashlib.sha256(data).hexdigest()
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()
    )


def is_lfs(path: str, data: bytes) -> bool:
    """What the Hub's preupload decides: LFS for tracked suffixes, binary content or big files."""
    return lfs_by_sample(path, data[:512], len(data))


def lfs_by_sample(path: str, sample: bytes, size: int) -> bool:
    """The same decision from what preupload receives: the first 512 bytes and the size."""
    return path.endswith(LFS_SUFFIXES) or b"\0" in sample[:512] or size >= LFS_SIZE


def entry_fields(path: str, data: bytes, expand: bool) -> dict[str, Any]:
    """One file as the Hub's tree and paths-info routes describe it (the JSON `RepoFile(**…)`
    reads, huggingface_hub hf_api.py `RepoFile.__init__`): `oid` the git blob id (of the LFS
    pointer for an LFS file), `lfs` {size, oid = sha256, pointerSize}, `lastCommit` if expanded."""
    fields: dict[str, Any] = {"type": "file", "path": path, "size": len(data)}
    if is_lfs(path, data):
        pointer = _lfs_pointer(data)
        fields["oid"] = git_hash(pointer)
        fields["lfs"] = {
            "size": len(data),
            "oid": hashlib.sha256(data).hexdigest(),
            "pointerSize": len(pointer),
        }
    else:
        fields["oid"] = git_hash(data)
    if expand:
        fields["lastCommit"] = {"id": "0" * 40, "title": "seed", "date": "2026-01-01T00:00:00.000Z"}
    return fields


@dataclass
class RecordedCommit:
    """One create_commit the double accepted: what it added (with sha256) and deleted."""

    oid: str
    message: str
    description: str
    revision: str
    create_pr: bool
    added: dict[str, str]  # path -> sha256 of the bytes sent
    deleted: list[str]

    @property
    def n_operations(self) -> int:
        return len(self.added) + len(self.deleted)


@dataclass
class FakeRepo:
    """A repo: its refs (main, refs/pr/N), each a map of path to bytes, and its commits."""

    private: bool
    refs: dict[str, dict[str, bytes]] = field(default_factory=lambda: {"main": {}})
    commits: list[RecordedCommit] = field(default_factory=list)
    heads: dict[str, str] = field(default_factory=lambda: {"main": "0" * 40})  # ref -> commit
    snapshots: dict[str, dict[str, bytes]] = field(default_factory=dict)  # commit -> files


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    times: int


def _strict(method: Callable[..., Any]) -> Callable[..., Any]:
    """Bind the call against the real HfApi method's signature, record it, then run the fake."""
    name = method.__name__
    signature = inspect.signature(getattr(HfApi, name))

    @functools.wraps(method)
    def wrapper(self: FakeHfApi, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)  # TypeError on a wrong argument
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        arguments.pop("self")
        self.hub.calls.append((name, arguments))
        self.hub._inject(name, arguments, self)
        return method(self, arguments)

    return wrapper


class FakeHub:
    """The Hub's state shared by every FakeHfApi a test creates (one per HfApi(...) call)."""

    def __init__(self, endpoint: str = "https://hub.test") -> None:
        self.endpoint = endpoint
        self.repos: dict[str, FakeRepo] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.clients: list[FakeHfApi] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._commit_counter = 0
        self.blobs: dict[str, bytes] = {}  # the LFS store: sha256 -> bytes uploaded over HTTP
        self.http: Any = None  # a hub_http.HubHTTP once serve() ran: commits go over HTTP
        # called after each accepted commit with (repo_id, files of the ref): a test may tamper
        self.on_commit: Callable[[str, dict[str, bytes]], None] | None = None

    # --- set-up -------------------------------------------------------------------------------

    def add_token(
        self,
        token: str,
        *,
        user: str = "alice",
        orgs: dict[str, str] | None = None,
        role: str = "write",
        fine_grained: dict[str, Any] | None = None,
    ) -> None:
        """A token the Hub accepts, with the whoami-v2 answer the real Hub gives for it."""
        access: dict[str, Any] = {"displayName": "test", "role": role}
        if fine_grained is not None:
            access["fineGrained"] = fine_grained
        self.tokens[token] = {
            "type": "user",
            "id": "0" * 24,
            "name": user,
            "fullname": user.title(),
            "email": f"{user}@example.test",
            "orgs": [
                {"type": "org", "name": org, "roleInOrg": org_role}
                for org, org_role in (orgs or {}).items()
            ],
            "auth": {"type": "access_token", "accessToken": access},
        }

    def seed(self, repo_id: str, files: dict[str, bytes], *, private: bool = False) -> None:
        """A repo as it stands on the Hub before the test."""
        repo = self.repos.setdefault(repo_id, FakeRepo(private=private))
        repo.refs["main"].update({".gitattributes": b"*.gguf filter=lfs diff=lfs merge=lfs\n"})
        repo.refs["main"].update(files)
        oid = self._next_oid()  # a seed is a commit of its own: the head moves
        repo.heads["main"] = oid
        repo.snapshots[oid] = dict(repo.refs["main"])

    def fail(
        self, method: str, status: int, *, retry_after: float | None = None, times: int = 1
    ) -> None:
        """Make the next `times` calls of `method` answer HTTP `status` (429 with Retry-After);
        served over HTTP, `method` may also name a route handler of hub_http (`lfs_put`, …)."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        if status == 404:
            headers["X-Error-Code"] = "RepoNotFound"
        self._failures.setdefault(method, []).append(_Failure(status, headers, times))

    def api(self, **kwargs: Any) -> FakeHfApi:
        """The `api_factory` a target takes: bound against `HfApi.__init__` like every call."""
        inspect.signature(HfApi.__init__).bind(None, **kwargs)
        client = FakeHfApi(self, **kwargs)
        self.clients.append(client)
        return client

    def serve(self) -> Any:
        """Serve the Hub's upload and registry routes on loopback; from now on `create_commit`
        runs the real `HfApi.create_commit` against them (preupload, LFS, commit payload)."""
        from doubles.hub_http import HubHTTP

        self.http = HubHTTP(self)
        return self.http

    def apply_commit(
        self,
        repo_id: str,
        revision: str | None,
        *,
        create_pr: bool,
        message: str,
        description: str,
        added: dict[str, bytes],
        deleted: list[str],
        parent_commit: str | None = None,
    ) -> tuple[str, str | None, str]:
        """Apply one commit the way the Hub does (all or nothing); returns (oid, pr_url, ref).
        Raises `HubRefusal` for what the Hub refuses: a deleted path that is not there, or a
        `parent_commit` that is no longer the head of the branch (HTTP 412)."""
        repo = self.repos[repo_id]
        base = repo.refs[revision or "main"]
        ref = revision or "main"
        head = repo.heads.get(ref)
        if parent_commit is not None and not create_pr and parent_commit != head:
            raise HubRefusal(412, f"/api/models/{repo_id}/commit/{ref}", None, PARENT_MOVED)
        files = dict(base)
        for path in deleted:
            if path not in files:
                raise HubRefusal(404, f"/api/models/{repo_id}/commit/{ref}", "EntryNotFound")
            del files[path]
        files.update(added)
        pr_url = None
        if create_pr:
            number = sum(1 for r in repo.refs if r.startswith("refs/pr/")) + 1
            ref = f"refs/pr/{number}"
            pr_url = f"{self.endpoint}/{repo_id}/discussions/{number}"
        repo.refs[ref] = files
        oid = self._next_oid()
        repo.heads[ref] = oid
        repo.snapshots[oid] = dict(files)
        if self.on_commit is not None:
            self.on_commit(repo_id, files)
        repo.commits.append(
            RecordedCommit(
                oid=oid,
                message=message,
                description=description,
                revision=ref,
                create_pr=create_pr,
                added={path: hashlib.sha256(data).hexdigest() for path, data in added.items()},
                deleted=list(deleted),
            )
        )
        return oid, pr_url, ref

    # --- inspection ---------------------------------------------------------------------------

    def files(self, repo_id: str, ref: str = "main") -> dict[str, bytes]:
        return self.repos[repo_id].refs[ref]

    def commits(self, repo_id: str) -> list[RecordedCommit]:
        return self.repos[repo_id].commits

    def called(self, name: str) -> list[dict[str, Any]]:
        return [arguments for method, arguments in self.calls if method == name]

    # --- internals ----------------------------------------------------------------------------

    def take_failure(self, name: str) -> _Failure | None:
        """The failure queued for `name` (a method, or an HTTP route such as `lfs_put`), used up."""
        queue = self._failures.get(name)
        if not queue:
            return None
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        return failure

    def _inject(self, name: str, arguments: dict[str, Any], client: FakeHfApi) -> None:
        failure = self.take_failure(name)
        if failure is None:
            return
        repo_id = arguments.get("repo_id")
        url = (
            f"{self.endpoint}/api/models/{repo_id}/{name}"
            if repo_id
            else f"{self.endpoint}/api/{name}"
        )
        raise_http(failure.status, url, failure.headers)

    def _next_oid(self) -> str:
        self._commit_counter += 1
        return hashlib.sha1(f"commit {self._commit_counter}".encode()).hexdigest()


PARENT_MOVED = "A commit has happened since. Please refresh and try again."


class HubRefusal(Exception):
    """What the Hub answers with an HTTP error: status, the route, its X-Error-Code/-Message."""

    def __init__(
        self, status: int, route: str, code: str | None = None, message: str | None = None
    ) -> None:
        super().__init__(message or f"HTTP {status} {route}")
        self.status, self.route, self.code, self.message = status, route, code, message

    def headers(self) -> dict[str, str]:
        headers = {"X-Error-Code": self.code} if self.code else {}
        if self.message:
            headers["X-Error-Message"] = self.message
        return headers


def raise_http(status: int, url: str, headers: dict[str, str] | None = None) -> None:
    """Raise what huggingface_hub raises for this response (its own hf_raise_for_status)."""
    request = httpx2.Request("GET", url)
    response = httpx2.Response(status, headers=headers or {}, request=request)
    hf_raise_for_status(response)
    raise AssertionError(f"hf_raise_for_status did not raise for HTTP {status}")


class FakeHfApi:
    """The HfApi methods the target uses, each bound against the real signature."""

    def __init__(self, hub: FakeHub, **kwargs: Any) -> None:
        self.hub = hub
        self.endpoint = kwargs.get("endpoint")
        self.token = kwargs.get("token")
        self.init_kwargs = kwargs

    # --- auth ---------------------------------------------------------------------------------

    def _identity(self, token: Any = None) -> dict[str, Any] | None:
        effective = self.token if token is None else token
        if effective in (None, False):
            return None
        if effective not in self.hub.tokens:
            raise_http(
                401,
                f"{self.hub.endpoint}/api/whoami-v2",
                {"X-Error-Message": "Invalid credentials in Authorization header"},
            )
        return self.hub.tokens[effective]

    def _can_write(self, me: dict[str, Any] | None, repo_id: str) -> bool:
        if me is None:
            return False
        if (me["auth"]["accessToken"] or {}).get("role") == "read":
            return False
        owner = repo_id.split("/")[0]
        if me["name"] == owner:
            return True
        return any(o["name"] == owner and o["roleInOrg"] in ("admin", "write") for o in me["orgs"])

    def _repo(self, repo_id: str, token: Any = None) -> FakeRepo:
        me = self._identity(token)
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and not self._can_write(me, repo_id)):
            raise_http(
                404 if me else 401,
                f"{self.hub.endpoint}/api/models/{repo_id}",
                {"X-Error-Code": "RepoNotFound"},
            )
        assert repo is not None
        return repo

    def _ref(self, repo: FakeRepo, repo_id: str, revision: str | None) -> dict[str, bytes]:
        ref = revision or "main"
        if ref in repo.snapshots:  # a commit sha: the files as that commit left them
            return repo.snapshots[ref]
        if ref not in repo.refs:
            raise_http(
                404,
                f"{self.hub.endpoint}/api/models/{repo_id}/revision/{ref}",
                {"X-Error-Code": "RevisionNotFound"},
            )
        return repo.refs[ref]

    @_strict
    def whoami(self, a: dict[str, Any]) -> dict[str, Any]:
        me = self._identity(a["token"])
        if me is None:
            raise_http(401, f"{self.hub.endpoint}/api/whoami-v2")
        return copy.deepcopy(me)

    @_strict
    def auth_check(self, a: dict[str, Any]) -> None:
        repo_id = a["repo_id"]
        me = self._identity(a["token"])
        self._repo(repo_id, a["token"])
        if a["write"] and not self._can_write(me, repo_id):
            raise_http(403, f"{self.hub.endpoint}/api/models/{repo_id}/auth-check/write")

    @_strict
    def repo_exists(self, a: dict[str, Any]) -> bool:
        repo = self.hub.repos.get(a["repo_id"])
        me = self._identity(a["token"])
        return repo is not None and (not repo.private or self._can_write(me, a["repo_id"]))

    # --- repos and files ----------------------------------------------------------------------

    @_strict
    def repo_info(self, a: dict[str, Any]) -> ModelInfo:
        """`sha` is the head commit of the revision (main): the R a seal reads at."""
        repo_id = a["repo_id"]
        repo = self._repo(repo_id, a["token"])
        self._ref(repo, repo_id, a["revision"])
        ref = a["revision"] or "main"
        sha = ref if ref in repo.snapshots else repo.heads[ref]
        return ModelInfo(id=repo_id, sha=sha, private=repo.private)

    @_strict
    def create_repo(self, a: dict[str, Any]) -> RepoUrl:
        repo_id = a["repo_id"]
        assert a["repo_type"] in (None, "model"), a["repo_type"]
        me = self._identity(a["token"])
        if me is None:
            raise_http(401, f"{self.hub.endpoint}/api/repos/create")
        if not self._can_write(me, repo_id):
            raise_http(403, f"{self.hub.endpoint}/api/repos/create")
        if repo_id in self.hub.repos:
            if not a["exist_ok"]:
                raise_http(409, f"{self.hub.endpoint}/api/repos/create")
        else:
            self.hub.seed(repo_id, {}, private=bool(a["private"]))
        return RepoUrl(f"{self.hub.endpoint}/{repo_id}", endpoint=self.hub.endpoint)

    def _entry(self, path: str, data: bytes, expand: bool) -> RepoFile:
        return RepoFile(**entry_fields(path, data, expand))

    @_strict
    def get_paths_info(self, a: dict[str, Any]) -> list[RepoFile | RepoFolder]:
        repo_id = a["repo_id"]
        paths = [a["paths"]] if isinstance(a["paths"], str) else list(a["paths"])
        assert all(isinstance(p, str) for p in paths), paths
        files = self._ref(self._repo(repo_id, a["token"]), repo_id, a["revision"])
        return [self._entry(p, files[p], a["expand"]) for p in paths if p in files]

    @_strict
    def list_repo_tree(self, a: dict[str, Any]) -> Any:
        repo_id = a["repo_id"]
        files = self._ref(self._repo(repo_id, a["token"]), repo_id, a["revision"])
        folders = sorted({p.rsplit("/", 1)[0] for p in files if "/" in p})
        entries: list[RepoFile | RepoFolder] = [
            RepoFolder(path=f, oid=hashlib.sha1(f.encode()).hexdigest()) for f in folders
        ]
        entries += [self._entry(p, files[p], a["expand"]) for p in sorted(files)]
        if not a["recursive"]:
            entries = [e for e in entries if "/" not in e.path]
        return iter(entries)

    @_strict
    def hf_hub_download(self, a: dict[str, Any]) -> str:
        repo_id, filename = a["repo_id"], a["filename"]
        files = self._ref(self._repo(repo_id, a["token"]), repo_id, a["revision"])
        if filename not in files:
            raise_http(
                404,
                f"{self.hub.endpoint}/{repo_id}/resolve/main/{filename}",
                {"X-Error-Code": "EntryNotFound"},
            )
        base = Path(a["cache_dir"] or a["local_dir"])
        target = base / f"models--{repo_id.replace('/', '--')}" / "snapshots" / "main" / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(files[filename])
        return str(target)

    @_strict
    def create_commit(self, a: dict[str, Any]) -> CommitInfo:
        repo_id = a["repo_id"]
        operations = list(a["operations"])
        assert isinstance(a["commit_message"], str) and a["commit_message"].strip()
        assert operations, "the target never sends an empty commit"
        repo = self._repo(repo_id, a["token"])
        if not self._can_write(self._identity(a["token"]), repo_id):
            raise_http(403, f"{self.hub.endpoint}/api/models/{repo_id}/commit/main")
        self._ref(repo, repo_id, a["revision"])
        if self.hub.http is not None:  # the real client, over HTTP, against the same state
            real = HfApi(endpoint=self.hub.http.url, token=self.token, library_name="publisher")
            return real.create_commit(**a)
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        for op in operations:
            if isinstance(op, CommitOperationAdd):
                added[op.path_in_repo] = _read(op.path_or_fileobj)
            elif isinstance(op, CommitOperationDelete):
                deleted.append(op.path_in_repo)
            else:
                raise AssertionError(f"unexpected operation {op!r}")
        try:
            oid, pr_url, _ = self.hub.apply_commit(
                repo_id,
                a["revision"],
                create_pr=bool(a["create_pr"]),
                message=a["commit_message"],
                description=a["commit_description"] or "",
                added=added,
                deleted=deleted,
                parent_commit=a["parent_commit"],
            )
        except HubRefusal as refusal:
            raise_http(refusal.status, self.hub.endpoint + refusal.route, refusal.headers())
            raise
        return CommitInfo(
            commit_url=f"{self.hub.endpoint}/{repo_id}/commit/{oid}",
            commit_message=a["commit_message"],
            commit_description=a["commit_description"] or "",
            oid=oid,
            _endpoint=self.hub.endpoint,
            pr_url=pr_url,
        )


def _read(source: Any) -> bytes:
    if isinstance(source, bytes):
        return source
    if isinstance(source, str | Path):
        return Path(source).read_bytes()
    if isinstance(source, io.IOBase):
        source.seek(0)
        return source.read()
    raise AssertionError(f"unexpected path_or_fileobj {type(source)}")


# ---------------------------------------------------------------------------------------------
# Release fixtures shared by the HF target tests: a manifest in a tmp dir, tiny files, payloads.

TOKEN = "hf_SENTINELtok3n_d0_not_leak_0123456789"
REPO = "acme/tiny-GGUF"
NAME = "tiny-{tag}.gguf"


def write_manifest(
    root: Path,
    tags: Iterable[str] = ("F16", "Q4_K_M", "Q6_K"),
    *,
    private: bool = True,
    endpoint: str | None = None,
) -> Path:
    """A minimal release publishing only to the Hub, F16 declared first (upload order test)."""
    lines = [
        "[model]",
        'family = "tiny"',
        'variant = "v1"',
        'title = "Tiny"',
        'base_model = "google/tiny"',
        "experts = 4",
        "[files]",
        'gguf_dir = "gguf"',
        f'name = "{NAME}"',
        "[huggingface]",
        f'repo = "{REPO}"',
        f"private = {'true' if private else 'false'}",
    ]
    if endpoint:
        lines.append(f'endpoint = "{endpoint}"')
    for tag in tags:
        lines += ["[[tags]]", f'tag = "{tag}"', 'targets = ["huggingface"]']
    path = root / "release.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "gguf").mkdir(exist_ok=True)
    return path


def write_gguf(release: Release, tag: str, body: bytes | None = None) -> Path:
    """A tiny file with the GGUF magic (binary, so the Hub stores it through LFS)."""
    path = release.tag(tag).path
    path.write_bytes(b"GGUF\x03\x00\x00\x00" + (body if body is not None else tag.encode()))
    return path


def local(path: Path) -> LocalFile:
    data = path.read_bytes()
    return LocalFile(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def payload(release: Release, hf_files: dict[str, str] | None = None) -> ReleasePayload:
    """The payload a target receives: every tag whose GGUF exists is measured (sha256)."""
    tags = []
    for tag in release.tags:
        files = [local(tag.path)] if tag.path.exists() else []
        tags.append(
            TagPayload(
                tag=tag,
                files=files,
                parameters={},
                modelfile="",
                template=None,
                renderer=None,
                parser=None,
                license=None,
                system=None,
            )
        )
    return ReleasePayload(release=release, tags=tags, hf_files=dict(hf_files or {}))


def release_with_files(root: Path, tags: Iterable[str] = ("F16", "Q4_K_M", "Q6_K"), **kw: Any):
    release = load(write_manifest(root, tags, **kw))
    for tag in release.tags:
        write_gguf(release, tag.tag)
    return release


def new_hub(*, orgs: dict[str, str] | None = None, **kw: Any) -> FakeHub:
    hub = FakeHub()
    hub.add_token(TOKEN, user="alice", orgs={"acme": "write"} if orgs is None else orgs, **kw)
    return hub


def target(release: Release, hub: FakeHub, **kw: Any) -> tuple[HuggingFaceTarget, list[float]]:
    """The target wired to the double, with a recorded (not slept) wait."""
    sleeps: list[float] = []
    kw.setdefault("token_provider", lambda: TOKEN)
    made = HuggingFaceTarget(release, api_factory=hub.api, sleep=sleeps.append, **kw)
    return made, sleeps


class Records:
    """A `record` callable that keeps what the ledger would receive."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, Any]] = {}

    def __call__(self, key: str, data: dict[str, Any]) -> None:
        self.steps[key] = data
