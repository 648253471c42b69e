"""The strict HF double over loopback HTTP: the routes a real `HfApi.create_commit` and
`ollama pull hf.co/…` use, served from a `FakeHub`'s state.

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
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from huggingface_hub import constants
from huggingface_hub.utils.sha import git_hash

from doubles.hf_double import FakeHub, HubRefusal, lfs_by_sample
from publisher.huggingface.labels import quant_label

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
        self.configs: dict[str, bytes] = {}  # config blobs of the manifests served, by digest
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
        self.wfile.write(raw)

    def _refuse(self, refusal: HubRefusal, message: str = "") -> None:
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
                    handler(self, *[unquote(g) for g in match.groups()], query=query)
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

    def model_info(self, repo_id: str, revision: str, *, query: dict[str, list[str]]) -> None:
        """`GET /api/models/<repo>/revision/<rev>` (`HfApi.model_info`): the real client asks it
        when every operation of a commit turned out to be a no-op (hf_api.py `create_commit`,
        lines 5256-5262 of huggingface_hub 2.4.0: "Skipping to prevent empty commit") — and
        then commits nothing, whatever `parentCommit` said."""
        me = self._identity()
        repo = self.state.hub.repos.get(repo_id)
        if repo is None or (repo.private and me is None):
            raise HubRefusal(404 if me else 401, f"/api/models/{repo_id}", "RepoNotFound")
        if revision in repo.snapshots:
            sha = revision
        elif revision in repo.heads:
            sha = repo.heads[revision]
        else:
            raise HubRefusal(404, f"/api/models/{repo_id}/revision/{revision}", "RevisionNotFound")
        self._send(200, {"id": repo_id, "modelId": repo_id, "sha": sha, "private": repo.private})

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


_REPO = r"([\w.-]+/[\w.-]+)"
_ROUTES: dict[str, list[tuple[str, Any]]] = {
    "GET": [
        (rf"/api/models/{_REPO}/revision/([^/]+)", _Handler.model_info),
        (rf"/v2/{_REPO}/manifests/([^/]+)", _Handler.manifest),
        (rf"/v2/{_REPO}/blobs/(sha256:[0-9a-f]{{64}})", _Handler.blob),
    ],
    "POST": [
        (r"/api/validate-yaml", _Handler.validate_yaml),
        (rf"/api/models/{_REPO}/preupload/([^/]+)", _Handler.preupload),
        (rf"/{_REPO}\.git/info/lfs/objects/batch", _Handler.lfs_batch),
        (r"/_lfs/([0-9a-f]{64})/verify", _Handler.lfs_verify),
        (rf"/api/models/{_REPO}/commit/([^/]+)", _Handler.commit),
    ],
    "PUT": [(r"/_lfs/([0-9a-f]{64})", _Handler.lfs_put)],
}
