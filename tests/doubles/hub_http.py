"""The strict HF double over loopback HTTP: the routes the real `HfApi` calls of
publisher/huggingface/ and `ollama pull hf.co/…` use, served from a `FakeHub`'s state — so a
`publish` in another process (HF_ENDPOINT at `url`) sees the same Hub as the test.

- reads (each cited to huggingface_hub 2.4.0 beside its handler): `GET /api/whoami-v2`,
  `GET /api/models/<repo>[/revision/<rev>]` (`sha`), `GET /api/models/<repo>/auth-check[/write]`,
  `GET /api/models/<repo>/tree/<rev>[/<path>]` (`recursive`, `expand`, Link-header paging),
  `POST /api/models/<repo>/paths-info/<rev>`, `POST /api/repos/create`,
  `HEAD`/`GET /<repo>/resolve/<rev>/<path>` (`X-Repo-Commit`, `ETag`, `X-Linked-Etag`,
  `X-Linked-Size`); refused as the Hub refuses: 401 without a token where one is needed or with
  an unknown one, 404 `RepoNotFound` (also for a private repo the caller may not see), 404
  `RevisionNotFound`, 404 `EntryNotFound`, 403 without write access, 409 for a repo that exists;

- upload (huggingface_hub's LFS protocol; Xet, which needs a CAS server, is off while serving):
  `POST /api/models/<repo>/preupload/<rev>`, `POST /<repo>.git/info/lfs/objects/batch`,
  `PUT /_lfs/<oid>` (refused unless the body hashes to the oid and has the announced size),
  `POST /_lfs/<oid>/verify`, `POST /api/models/<repo>/commit/<rev>` (NDJSON; an `lfsFile` whose
  object was never uploaded is refused), `POST /api/validate-yaml`;
- the Ollama registry route the Hub serves for `ollama run hf.co/<repo>:<tag>`:
  `GET /v2/<repo>/manifests/<tag>` (a Docker v2 manifest whose `application/vnd.ollama.image.model`
  layer is the resolved GGUF, by its LFS sha256) and `GET /v2/<repo>/blobs/<digest>` — the
  route is Ollama's pull (ollama/ollama v0.33.0-rc2 server/images.go:1272-1277
  `pullModelManifest`: `<host>/v2/<namespace>/<model>/manifests/<tag>`, Docker v2 Accept header),
  the tags hub-docs `docs/hub/ollama.md` ("Custom Quantization"). Beside the model layer it
  serves the repo's `template`, `system` and `params` files as their Ollama layers, the file's
  bytes as the blob (hub-docs ollama.md, "Custom Chat Template and Parameters": the `template`
  file is the Go template, `system` the system prompt, `params` the JSON parameters). Not
  reproduced: without a `template` file the real Hub picks a template matching the GGUF's
  `tokenizer.chat_template` (same section); this double serves no template layer then, and how
  the Hub serialises `params` is undocumented (the read-back compares it as JSON).

Which file a tag reaches is the Hub's rule, kept here as a test fact in `resolve_tag` (the
label rule of huggingface.js `gguf.ts`); the product's own copy of that rule is another module.

    hub = new_hub(); http = hub.serve()   # HfApi(endpoint=http.url) now talks to it
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from huggingface_hub import constants
from huggingface_hub.utils.sha import git_hash

from doubles.hf_double import FakeHub, FakeRepo, HubRefusal, entry_fields, is_lfs, lfs_by_sample
from publisher.render.hub_labels import quant_label

MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
MODEL_LAYER = "application/vnd.ollama.image.model"
SIDE_LAYERS = {  # repo file -> its layer (hub-docs ollama.md; Ollama reads it: images.go GetModel)
    "template": "application/vnd.ollama.image.template",
    "system": "application/vnd.ollama.image.system",
    "params": "application/vnd.ollama.image.params",
}
# what the Hub answers for a tag no file carries (the message Ollama users report)
NO_SUCH_TAG = (
    'The specified tag is not available in the repository. Please use another tag or "latest"'
)

# --- the Hub's tag rule (test fact; huggingface.js packages/tasks/src/gguf.ts) --------------------

hub_quant_label = quant_label  # the product's copy of the Hub's rule, pinned by its tests


def resolve_tag(paths: list[str], tag: str) -> str | None:
    """The GGUF `ollama run hf.co/<repo>:<tag>` reaches: a full file name, else the file whose
    label equals the tag (case-insensitive); `latest` is Q4_K_M when present (hub-docs
    ollama.md). Unverified against the Hub, and so the double's own choice: several files with
    one label (shards included) give the first by path, and `latest` without a Q4_K_M the first
    GGUF."""
    ggufs = sorted(p for p in paths if p.endswith(".gguf"))
    for path in ggufs:
        if path == tag or path.rsplit("/", 1)[-1] == tag:
            return path
    wanted = "Q4_K_M" if tag.lower() == "latest" else tag.upper()
    labelled = [p for p in ggufs if hub_quant_label(p.rsplit("/", 1)[-1]) == wanted]
    if labelled:
        return labelled[0]
    if tag.lower() == "latest" and ggufs:
        return ggufs[0]
    return None


# --- the server -------------------------------------------------------------------------------


class HubHTTP:
    """A threaded HTTP server on 127.0.0.1 (free port) in front of one FakeHub."""

    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.refusals: list[tuple[int, str]] = []  # (status, path) of every HubRefusal answered
        self.configs: dict[str, bytes] = {}  # config blobs of the manifests served, by digest
        self._meeting: threading.Barrier | None = None  # see meet_before_cas_commits
        self._meeting_seats = 0
        self._meeting_lock = threading.Lock()
        # Xet needs a CAS server: while this serves, the real client uploads through LFS
        self._xet_was_off = constants.HF_HUB_DISABLE_XET
        constants.HF_HUB_DISABLE_XET = True

        class Handler(_Handler):
            state = self

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def meet_before_cas_commits(self, parties: int, timeout: float = 120) -> None:
        """Hold the next `parties` commits that carry a `parentCommit` until all of them have
        arrived, then apply them in turn: runs in separate processes then race for real — every
        one read the branch before any of them moved it, so all but the first are refused 412
        and must read again. A scheduling control only: what each commit is answered is the
        Hub's rule in `FakeHub.apply_commit`. Past `timeout` (a party never came) they go on."""
        self._meeting = threading.Barrier(parties, timeout=timeout)
        self._meeting_seats = parties

    def _meet(self) -> None:
        with self._meeting_lock:
            seat = self._meeting_seats > 0
            self._meeting_seats -= 1
        if seat and self._meeting is not None:
            with contextlib.suppress(threading.BrokenBarrierError):
                self._meeting.wait()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        constants.HF_HUB_DISABLE_XET = self._xet_was_off


class _Handler(BaseHTTPRequestHandler):
    state: HubHTTP
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # --- plumbing -----------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: Any = None, *, headers: dict[str, str] | None = None):
        raw = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if "Content-Type" not in (headers or {}):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD":  # a HEAD answer has the GET's headers and no body
            self.wfile.write(raw)

    def _refuse(self, refusal: HubRefusal, message: str = "") -> None:
        self.state.refusals.append((refusal.status, urlsplit(self.path).path))
        self._send(
            refusal.status,
            {"error": message or str(refusal)},
            headers={**refusal.headers(), "X-Error-Message": message or str(refusal)},
        )

    def _identity(self) -> dict[str, Any] | None:
        auth = self.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ").strip()
        if not token:
            return None
        me = self.state.hub.tokens.get(token)
        if me is None:
            raise HubRefusal(401, "/api/whoami-v2")
        return me

    def _writable_repo(self, repo_id: str) -> Any:
        """The repo, if the caller may write to it (the Hub answers 404 for what it hides)."""
        me = self._identity()
        repo = self.state.hub.repos.get(repo_id)
        owner = repo_id.split("/")[0]
        may_write = me is not None and (
            me["name"] == owner
            or any(o["name"] == owner and o["roleInOrg"] in ("admin", "write") for o in me["orgs"])
        )
        if repo is None or (repo.private and not may_write):
            raise HubRefusal(404 if me else 401, f"/api/models/{repo_id}", "RepoNotFound")
        if not may_write or me["auth"]["accessToken"].get("role") == "read":
            raise HubRefusal(403, f"/api/models/{repo_id}")
        return repo

    def _readable_files(self, repo_id: str) -> dict[str, bytes]:
        me = self._identity()
        repo = self.state.hub.repos.get(repo_id)
        if repo is None or (repo.private and me is None):
            raise HubRefusal(404 if me else 401, f"/v2/{repo_id}", "RepoNotFound")
        return repo.refs["main"]

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        self.state.requests.append((method, url.path))
        query = parse_qs(url.query)
        try:
            for pattern, handler in _ROUTES[method]:
                match = re.fullmatch(pattern, url.path)
                if match:
                    failure = self.state.hub.take_failure(handler.__name__)
                    if failure is not None:
                        self._body()
                        self._send(failure.status, {"error": "injected"}, headers=failure.headers)
                        return
                    groups = [None if g is None else unquote(g) for g in match.groups()]
                    handler(self, *groups, query=query)
                    return
            self._send(404, {"error": f"no route {method} {url.path}"})
        except HubRefusal as refusal:
            self._refuse(refusal)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_HEAD(self) -> None:
        self._route("HEAD")

    # --- upload -------------------------------------------------------------------------------

    def validate_yaml(self, *, query: dict[str, list[str]]) -> None:
        payload = json.loads(self._body())
        assert isinstance(payload.get("content"), str) and payload.get("repoType") == "model"
        self._send(200, {"errors": [], "warnings": []})

    def preupload(self, repo_id: str, revision: str, *, query: dict[str, list[str]]) -> None:
        repo = self._writable_repo(repo_id)
        files = repo.refs.get(revision)
        if files is None:
            raise HubRefusal(404, f"/api/models/{repo_id}/revision/{revision}", "RevisionNotFound")
        answers = []
        for entry in json.loads(self._body())["files"]:
            sample = base64.b64decode(entry["sample"])
            assert len(sample) <= 512, "preupload receives a sample, never the file"
            lfs = lfs_by_sample(entry["path"], sample, int(entry["size"]))
            current = files.get(entry["path"])
            oid = None
            if current is not None:
                oid = hashlib.sha256(current).hexdigest() if lfs else git_hash(current)
            answers.append(
                {
                    "path": entry["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": oid,
                }
            )
        self._send(200, {"files": answers, "commitOid": "0" * 40})

    def lfs_batch(self, repo_id: str, *, query: dict[str, list[str]]) -> None:
        self._writable_repo(repo_id)
        payload = json.loads(self._body())
        assert payload["operation"] == "upload" and payload["hash_algo"] == "sha256"
        objects = []
        for item in payload["objects"]:
            oid, size = item["oid"], int(item["size"])
            assert re.fullmatch(r"[0-9a-f]{64}", oid), oid
            answer: dict[str, Any] = {"oid": oid, "size": size}
            if self.state.hub.blobs.get(oid) is None:
                base = self.state.url
                answer["actions"] = {
                    "upload": {"href": f"{base}/_lfs/{oid}?size={size}"},
                    "verify": {"href": f"{base}/_lfs/{oid}/verify"},
                }
            objects.append(answer)
        self._send(200, {"transfer": "basic", "objects": objects})

    def lfs_put(self, oid: str, *, query: dict[str, list[str]]) -> None:
        data = self._body()
        size = int(query["size"][0])
        if hashlib.sha256(data).hexdigest() != oid or len(data) != size:
            self._send(400, {"error": f"content does not match oid {oid} / size {size}"})
            return
        self.state.hub.blobs[oid] = data
        self._send(200, {})

    def lfs_verify(self, oid: str, *, query: dict[str, list[str]]) -> None:
        payload = json.loads(self._body())
        data = self.state.hub.blobs.get(oid)
        if payload["oid"] != oid or data is None or len(data) != payload["size"]:
            self._send(404, {"error": f"object {oid} not uploaded"})
            return
        self._send(200, {})

    def commit(self, repo_id: str, revision: str, *, query: dict[str, list[str]]) -> None:
        repo = self._writable_repo(repo_id)
        if revision not in repo.refs:
            raise HubRefusal(404, f"/api/models/{repo_id}/revision/{revision}", "RevisionNotFound")
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        header = lines[0]
        assert header["key"] == "header", header
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            if key == "file":
                assert value["encoding"] == "base64"
                added[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                data = self.state.hub.blobs.get(value["oid"])
                if value["algo"] != "sha256" or data is None or len(data) != value["size"]:
                    self._send(400, {"error": f"LFS object {value['oid']} was never uploaded"})
                    return
                added[value["path"]] = data
            elif key == "deletedFile":
                deleted.append(value["path"])
            else:
                raise AssertionError(f"unexpected commit line {line!r}")
        # `parentCommit` in the header (huggingface_hub `_commit_api.py` lines 929-931): the
        # Hub commits only while the branch head is that commit, else HTTP 412
        if header["value"].get("parentCommit"):
            self.state._meet()
        oid, pr_url, _ = self.state.hub.apply_commit(
            repo_id,
            None if revision == "main" else revision,
            create_pr="create_pr" in query,
            message=header["value"]["summary"],
            description=header["value"].get("description", ""),
            added=added,
            deleted=deleted,
            parent_commit=header["value"].get("parentCommit"),
        )
        endpoint = self.state.url  # the client checks the URLs name the endpoint it called
        if pr_url is not None:
            pr_url = pr_url.replace(self.state.hub.endpoint, endpoint)
        self._send(
            200,
            {
                "commitUrl": f"{endpoint}/{repo_id}/commit/{oid}",
                "commitOid": oid,
                "pullRequestUrl": pr_url,
            },
        )

    # --- reads (what publisher/huggingface/ asks through HfApi) -----------------------------------
    # Line numbers are those of huggingface_hub 2.4.0 as installed in the venv.

    def _readable_repo(self, repo_id: str) -> FakeRepo:
        """The repo if the caller may read it: a private one only with write access (the tokens
        the tests make), else 404 `RepoNotFound` — 401 without a token (the Hub hides what the
        caller may not see; as hf_double.FakeHfApi._repo)."""
        me = self._identity()
        repo = self.state.hub.repos.get(repo_id)
        if repo is None or (repo.private and not _may_write(me, repo_id)):
            raise HubRefusal(404 if me else 401, f"/api/models/{repo_id}", "RepoNotFound")
        return repo

    def _at(self, repo: FakeRepo, repo_id: str, revision: str) -> tuple[str, dict[str, bytes]]:
        """(commit sha, files) at a branch or commit sha; 404 `RevisionNotFound` otherwise."""
        if revision in repo.snapshots:
            return revision, repo.snapshots[revision]
        if revision in repo.refs:
            return repo.heads[revision], repo.refs[revision]
        raise HubRefusal(404, f"/api/models/{repo_id}/revision/{revision}", "RevisionNotFound")

    def whoami(self, *, query: dict[str, list[str]]) -> None:
        """`GET /api/whoami-v2` (hf_api.py 2260-2264 `_inner_whoami`): a token is required."""
        me = self._identity()
        if me is None:
            raise HubRefusal(401, "/api/whoami-v2")
        self._send(200, me)

    def auth_check(self, repo_id: str, write: str | None, *, query: dict[str, list[str]]) -> None:
        """`GET /api/models/<repo>/auth-check[/write]` (hf_api.py 12116-12119 `auth_check`)."""
        self._readable_repo(repo_id)
        if write and not _may_write(self._identity(), repo_id):
            raise HubRefusal(403, f"/api/models/{repo_id}/auth-check/write")
        self._send(200, {})

    def model_info(
        self, repo_id: str, revision: str | None = None, *, query: dict[str, list[str]]
    ) -> None:
        """`GET /api/models/<repo>` or `…/revision/<rev>` (hf_api.py 3202-3224 `model_info`,
        which `repo_info` and `repo_exists` (3715-3721) call): `ModelInfo(**json)`, whose `sha`
        is the revision's head commit — the R a seal reads at. The real client also asks it when
        every operation of a commit turned out to be a no-op (hf_api.py `create_commit`,
        5256-5262: "Skipping to prevent empty commit") — and then commits nothing."""
        repo = self._readable_repo(repo_id)
        sha, _ = self._at(repo, repo_id, revision or "main")
        self._send(200, {"id": repo_id, "modelId": repo_id, "sha": sha, "private": repo.private})

    def tree(
        self, repo_id: str, revision: str, path: str | None = None, *, query: dict[str, list[str]]
    ) -> None:
        """`GET /api/models/<repo>/tree/<rev>[/<path>]?recursive=&expand=` (hf_api.py 4023-4025
        `_iter_repo_tree_pages`), paged by a `Link: <…>; rel="next"` header (utils/_pagination.py
        41-53, 69-70); the Hub caps a page at 1000 entries, 50 when expanded (hf_api.py
        4009-4010). The cursor in the next link is this double's own."""
        repo = self._readable_repo(repo_id)
        _, files = self._at(repo, repo_id, revision)
        recursive = _flag(query, "recursive")
        expand = _flag(query, "expand")
        prefix = f"{path.strip('/')}/" if path else ""
        if path and not any(p.startswith(prefix) for p in files):
            raise HubRefusal(404, f"/api/models/{repo_id}/tree/{revision}/{path}", "EntryNotFound")
        entries: list[dict[str, Any]] = []
        below = sorted(p.removeprefix(prefix) for p in files if p.startswith(prefix))
        folders = sorted({p.rsplit("/", 1)[0] for p in below if "/" in p})
        for folder in folders if recursive else sorted({p.split("/")[0] for p in folders}):
            oid = hashlib.sha1(folder.encode()).hexdigest()
            entries.append({"type": "directory", "path": prefix + folder, "oid": oid})
        for name in below:
            if recursive or "/" not in name:
                entries.append(entry_fields(prefix + name, files[prefix + name], expand))
        size = 50 if expand else 1000
        start = int(query.get("cursor", ["0"])[0])
        page, headers = entries[start : start + size], {}
        if start + size < len(entries):
            flags = f"recursive={str(recursive).lower()}&expand={str(expand).lower()}"
            url = f"{self.state.url}{urlsplit(self.path).path}?{flags}&cursor={start + size}"
            headers["Link"] = f'<{url}>; rel="next"'
        self._send(200, page, headers=headers)

    def paths_info(self, repo_id: str, revision: str, *, query: dict[str, list[str]]) -> None:
        """`POST /api/models/<repo>/paths-info/<rev>`, a form body `paths=…&paths=…&expand=…`
        (hf_api.py 4331-4337 `get_paths_info`): the entries of the paths that exist, as in the
        tree listing."""
        repo = self._readable_repo(repo_id)
        _, files = self._at(repo, repo_id, revision)
        form = parse_qs(self._body().decode(), keep_blank_values=True)
        expand = _flag(form, "expand")
        self._send(200, [entry_fields(p, files[p], expand) for p in form["paths"] if p in files])

    def create_repo(self, *, query: dict[str, list[str]]) -> None:
        """`POST /api/repos/create` {name, organization, visibility?, type} (hf_api.py 4663,
        4700-4708, 4750-4786 `create_repo`): 401 without a token, 403 without write access to
        the namespace, 409 when it exists (the client takes 409 as done under `exist_ok`);
        answers {"url"}."""
        payload = json.loads(self._body())
        assert payload.get("type", "model") == "model", payload
        repo_id = f"{payload['organization'] or ''}/{payload['name']}"
        me = self._identity()
        if me is None:
            raise HubRefusal(401, "/api/repos/create")
        if "/" not in repo_id.strip("/") or not _may_write(me, repo_id):
            raise HubRefusal(403, "/api/repos/create")
        if repo_id in self.state.hub.repos:  # the client reads `url` from the 409 too (4785)
            url = f"{self.state.url}/{repo_id}"
            self._send(409, {"error": "You already created this model repo", "url": url})
            return
        self.state.hub.seed(repo_id, {}, private=payload.get("visibility") == "private")
        self._send(200, {"url": f"{self.state.url}/{repo_id}", "name": repo_id})

    def resolve(self, repo_id: str, revision: str, path: str, *, query: dict[str, list[str]]):
        """`HEAD`/`GET /<repo>/resolve/<rev>/<path>` (constants.py 70; file_download.py
        1660-1690 `get_hf_file_metadata`, 1750-1800): `X-Repo-Commit` (required, 1790-1796),
        `ETag` (the git blob id; for an LFS file `X-Linked-Etag` = its sha256 and
        `X-Linked-Size`). A missing file is 404 `EntryNotFound` with `X-Repo-Commit`
        (1770-1776). Not reproduced: the real Hub redirects an LFS file to its CDN; this double
        serves the bytes itself."""
        repo = self._readable_repo(repo_id)
        sha, files = self._at(repo, repo_id, revision)
        if path not in files:
            self._send(
                404,
                {"error": "Entry not found"},
                headers={"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha},
            )
            return
        data = files[path]
        headers = {"X-Repo-Commit": sha, "ETag": f'"{git_hash(data)}"'}
        headers["Content-Type"] = "application/octet-stream"
        if is_lfs(path, data):
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(data))
        self._send(200, data, headers=headers)

    # --- the Ollama registry route ------------------------------------------------------------

    def manifest(self, repo_id: str, tag: str, *, query: dict[str, list[str]]) -> None:
        files = self._readable_files(repo_id)
        path = resolve_tag(list(files), tag)
        if path is None:
            self._send(400, {"error": NO_SUCH_TAG})
            return
        config = json.dumps({"model_format": "gguf", "file_type": hub_quant_label(path)}).encode()
        self.state.configs["sha256:" + hashlib.sha256(config).hexdigest()] = config
        layers = [_layer(MODEL_LAYER, files[path])]
        layers += [_layer(kind, files[name]) for name, kind in SIDE_LAYERS.items() if name in files]
        body = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": _layer(CONFIG_TYPE, config),
            "layers": layers,
        }
        self._send(200, json.dumps(body).encode(), headers={"Content-Type": MANIFEST_TYPE})

    def blob(self, repo_id: str, digest: str, *, query: dict[str, list[str]]) -> None:
        files = self._readable_files(repo_id)
        for data in [*files.values(), *self.state.configs.values()]:
            if "sha256:" + hashlib.sha256(data).hexdigest() == digest:
                self._send(200, data, headers={"Content-Type": "application/octet-stream"})
                return
        self._send(404, {"errors": [{"code": "BLOB_UNKNOWN", "message": digest}]})


def _layer(media_type: str, data: bytes) -> dict[str, Any]:
    return {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


def _flag(query: dict[str, list[str]], name: str) -> bool:
    """A boolean query/form field as httpx sends a Python bool: `true`/`false`."""
    value = query.get(name, ["false"])[0]
    assert value in ("true", "false", "True", "False"), (name, value)
    return value.lower() == "true"


def _may_write(me: dict[str, Any] | None, repo_id: str) -> bool:
    if me is None or me["auth"]["accessToken"].get("role") == "read":
        return False
    owner = repo_id.split("/")[0]
    return me["name"] == owner or any(
        o["name"] == owner and o["roleInOrg"] in ("admin", "write") for o in me["orgs"]
    )


_REPO = r"([\w.-]+/[\w.-]+)"
_ROUTES: dict[str, list[tuple[str, Any]]] = {
    "GET": [
        (r"/api/whoami-v2", _Handler.whoami),
        (rf"/api/models/{_REPO}/auth-check(/write)?", _Handler.auth_check),
        (rf"/api/models/{_REPO}", _Handler.model_info),
        (rf"/api/models/{_REPO}/revision/([^/]+)", _Handler.model_info),
        (rf"/api/models/{_REPO}/tree/([^/]+)(?:/(.+))?", _Handler.tree),
        (rf"/{_REPO}/resolve/([^/]+)/(.+)", _Handler.resolve),
        (rf"/v2/{_REPO}/manifests/([^/]+)", _Handler.manifest),
        (rf"/v2/{_REPO}/blobs/(sha256:[0-9a-f]{{64}})", _Handler.blob),
    ],
    "POST": [
        (r"/api/validate-yaml", _Handler.validate_yaml),
        (rf"/api/models/{_REPO}/preupload/([^/]+)", _Handler.preupload),
        (rf"/{_REPO}\.git/info/lfs/objects/batch", _Handler.lfs_batch),
        (r"/_lfs/([0-9a-f]{64})/verify", _Handler.lfs_verify),
        (rf"/api/models/{_REPO}/commit/([^/]+)", _Handler.commit),
        (rf"/api/models/{_REPO}/paths-info/([^/]+)", _Handler.paths_info),
        (r"/api/repos/create", _Handler.create_repo),
    ],
    "PUT": [(r"/_lfs/([0-9a-f]{64})", _Handler.lfs_put)],
    "HEAD": [(rf"/{_REPO}/resolve/([^/]+)/(.+)", _Handler.resolve)],
}
