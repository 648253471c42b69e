"""A STRICT in-process stand-in of the Ollama daemon's HTTP API, for tests (127.0.0.1 only).

Stricter than the real daemon where the real one would accept a mistake silently: it verifies
every blob's digest against the bytes, refuses `create` with unknown blobs, unknown request keys,
unknown or mistyped parameters (the table of support/modelfile_parser.py) and bad names, pushes
only models that exist, and streams NDJSON like the daemon. `/api/show` is built field by field
as Ollama builds it (doubles/ollama_show.py: the field list, with the source lines). Like Ollama
(server/create.go createModel), a gemma4 GGUF created without renderer or parser gets
renderer/parser `gemma4` and, unless a stop was given, `stop ["<turn|>"]` — so read-back checks
have something real to catch.

Pushes go to a real registry when the model name's host is a loopback registry (e.g. Debian's
docker-registry from tests/doubles/registry_server.py), else they are only recorded in `pushes`.

Faults are injectable: `standin.inject(Fault("push_error", match="Q4_K_M"))`; kinds:
`upload_reset` (connection reset after `after` bytes of a blob upload), `push_500` (HTTP 500
instead of a push stream), `push_error` (an `{"error"}` line after `after` layers), `push_truncate`
(the stream ends without `success`), `create_error` (an `{"error"}` line in create).

Extending: subclass or call `standin.route("POST", "/api/chat", handler)`; a handler takes a
`Request` and returns a `Response` (`Response.json(...)`, `Response.stream(iterable of dicts)`).

    from doubles.ollama_standin import ollama_standin  # noqa: F401  (registers the fixture)
    def test_x(ollama_standin): ...            # ollama_standin.url == "http://127.0.0.1:<port>"
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from gguf import LlamaFileType
from support.modelfile_parser import (  # Ollama's parameter types, one table
    BOOL_PARAMETERS,
    FLOAT_PARAMETERS,
    INT_PARAMETERS,
    LIST_PARAMETERS,
)

from doubles.ollama_show import show_response
from publisher.gguf.header import read_header
from publisher.ollama.image import (
    MEDIA_CONFIG,
    MEDIA_LICENSE,
    MEDIA_MANIFEST,
    MEDIA_MODEL,
    MEDIA_PARAMS,
    MEDIA_SYSTEM,
    MEDIA_TEMPLATE,
    Layer,
    manifest_bytes,
    params_bytes,
)

VERSION = "0.20.0"
CREATE_KEYS = {
    "model",
    "stream",
    "quantize",
    "from",
    "files",
    "adapters",
    "template",
    "renderer",
    "parser",
    "license",
    "system",
    "parameters",
    "messages",
    "requires",
}
_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}$")
_NS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,79}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:\d+)?$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


# ---------------------------------------------------------------------------------------------
# Requests, responses, faults


@dataclass
class Request:
    """One HTTP request as a handler sees it; the body is read lazily (blob uploads stream).

    The request tracks how much of the body it has consumed (`consumed`, and for chunked transfer
    encoding where it is inside the current chunk), so every `iter_body()` continues where the
    last one stopped: the drain after the handler reads only what the handler left.
    """

    method: str
    path: str
    headers: dict[str, str]
    _read: Callable[[int], bytes]
    _length: int | None
    _chunked: bool

    consumed: int = 0
    _chunk_left: int = 0
    _done: bool = False

    def iter_body(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The rest of the body in pieces (Content-Length or chunked transfer encoding)."""
        if self._chunked:
            yield from self._iter_chunked(size)
            return
        while not self._done and (self._length or 0) > self.consumed:
            piece = self._take(min(size, (self._length or 0) - self.consumed))
            if not piece:
                break
            yield piece
        self._done = True

    def _iter_chunked(self, size: int) -> Iterator[bytes]:
        while not self._done:
            if self._chunk_left == 0:
                line = b""
                while not line.endswith(b"\r\n"):
                    line += self._read(1)
                self._chunk_left = int(line.strip().split(b";")[0], 16)
                if self._chunk_left == 0:
                    self._read(2)
                    self._done = True
                    return
            while self._chunk_left:
                piece = self._take(min(size, self._chunk_left))
                if not piece:
                    self._done = True
                    return
                self._chunk_left -= len(piece)
                if self._chunk_left == 0:
                    self._read(2)  # the CRLF after the chunk, before a consumer may stop
                yield piece

    def _take(self, n: int) -> bytes:
        piece = self._read(n)
        self.consumed += len(piece)
        return piece

    def json(self) -> Any:
        """The body as JSON (raises ValueError on anything else)."""
        return json.loads(b"".join(self.iter_body()) or b"null")


@dataclass
class Response:
    """What a handler answers: a JSON body, an empty body, an NDJSON stream, or a reset."""

    status: int = 200
    body: bytes = b""
    lines: Iterable[dict[str, Any]] | None = None
    reset: bool = False
    content_type: str = "application/json; charset=utf-8"

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(data).encode())

    @classmethod
    def error(cls, message: str, status: int = 400) -> Response:
        return cls.json({"error": message}, status)

    @classmethod
    def stream(cls, lines: Iterable[dict[str, Any]]) -> Response:
        return cls(200, lines=lines, content_type="application/x-ndjson")


@dataclass
class Fault:
    """An injected failure: `kind`, for names/digests containing `match`, `times` times."""

    kind: str
    match: str = ""
    after: int = 0
    times: int = 1
    message: str = "max retries exceeded: http status 500 Internal Server Error"


@dataclass
class StoredModel:
    """One local model as the daemon keeps it: manifest layers and what /api/show reports."""

    name: str
    layers: list[Layer]
    config: Layer
    parameters: dict[str, Any]
    template: str | None
    system: str | None
    licenses: list[str]
    renderer: str | None
    parser: str | None
    kv: dict[str, Any]
    details: dict[str, Any]
    modified_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    requires: str | None = None  # config.Requires = r.Requires (server/create.go)
    tensors: list[Any] = field(default_factory=list)  # the GGUF's tensor infos, for show

    @property
    def manifest(self) -> bytes:
        return manifest_bytes(self.config, self.layers)


def parse_name(name: str) -> dict[str, str] | None:
    """Ollama's name rules (parts split from the right) with defaults; None when invalid."""
    rest, _, tag = _split_tag(name or "")
    parts = rest.split("/")
    if len(parts) > 3 or not all(parts):
        return None
    host = parts[0] if len(parts) == 3 else "registry.ollama.ai"
    ns = parts[-2] if len(parts) >= 2 else "library"
    tag = tag or "latest"
    if not (_HOST.match(host) and _NS.match(ns)):
        return None
    if not (_PART_RE.match(parts[-1]) and _PART_RE.match(tag)):
        return None
    return {"host": host, "ns": ns, "model": parts[-1], "tag": tag}


def _split_tag(name: str) -> tuple[str, str, str]:
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        head, _, tag = name.rpartition(":")
        return head, ":", tag
    return name, "", ""


def canonical(name: str) -> str:
    """The case-insensitive identity of a model name."""
    p = parse_name(name)
    assert p is not None
    return f"{p['host']}/{p['ns']}/{p['model']}:{p['tag']}".lower()


def display(name: str) -> str:
    """DisplayShortest: default host and namespace left out, as /api/tags lists names."""
    p = parse_name(name)
    assert p is not None
    out = f"{p['model']}:{p['tag']}"
    if p["host"] != "registry.ollama.ai":
        return f"{p['host']}/{p['ns']}/{out}"
    return out if p["ns"] == "library" else f"{p['ns']}/{out}"


def go_value(value: Any) -> str:
    """Go's `%#v` of a JSON-decoded value: floats shortest, `e` notation below 1e-4 or from 1e6."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        f = float(value)
        if f == 0:
            return "0"
        d = Decimal(repr(f)).normalize()
        exp = d.adjusted()
        if -4 <= exp < 6:
            return format(d, "f")
        digits = "".join(map(str, d.as_tuple().digits))
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{'-' if f < 0 else ''}{mantissa}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


# ---------------------------------------------------------------------------------------------
# The stand-in


class OllamaStandIn:
    """The daemon's state and its route handlers; `serve()` runs it on 127.0.0.1."""

    def __init__(self, root: Path, *, version: str = VERSION) -> None:
        self.root = root
        self.blobs = root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.version = version
        self.models: dict[str, StoredModel] = {}
        self.pushes: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str]] = []
        self.bytes_received = 0
        self.faults: list[Fault] = []
        self.url = ""
        self._lock = threading.RLock()
        self._routes: dict[tuple[str, str], Callable[[Request], Response]] = {}
        self._prefix_routes: list[tuple[str, str, Callable[[Request], Response]]] = []
        self.route("GET", "/api/version", self.handle_version)
        self.route("GET", "/api/tags", self.handle_tags)
        self.route("POST", "/api/create", self.handle_create)
        self.route("POST", "/api/show", self.handle_show)
        self.route("POST", "/api/push", self.handle_push)
        self.route("POST", "/api/copy", self.handle_copy)
        self.route("DELETE", "/api/delete", self.handle_delete)
        self.route("HEAD", "/api/blobs/", self.handle_blob_head, prefix=True)
        self.route("POST", "/api/blobs/", self.handle_blob_upload, prefix=True)

    # ---- plumbing -----------------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        handler: Callable[[Request], Response],
        *,
        prefix: bool = False,
    ) -> None:
        """Register (or replace) a handler; prefix routes match the start of the path."""
        if prefix:
            self._prefix_routes.append((method, path, handler))
        else:
            self._routes[(method, path)] = handler

    def dispatch(self, request: Request) -> Response:
        """Find the handler for a request (404/405 like a router would)."""
        with self._lock:
            self.requests.append((request.method, request.path))
        handler = self._routes.get((request.method, request.path))
        if handler is None:
            for method, prefix, candidate in self._prefix_routes:
                if method == request.method and request.path.startswith(prefix):
                    handler = candidate
                    break
        if handler is None:
            return Response.error(f"no route {request.method} {request.path}", 404)
        return handler(request)

    def inject(self, fault: Fault) -> None:
        """Arm a fault."""
        self.faults.append(fault)

    def _fault(self, kind: str, subject: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.kind == kind and fault.match in subject and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def blob_path(self, digest: str) -> Path:
        """Where a blob lives (`sha256-<hex>`, as Ollama names blob files)."""
        return self.blobs / digest.replace(":", "-")

    def find(self, name: str) -> StoredModel | None:
        """A model by name, case-insensitively."""
        if parse_name(name) is None:
            return None
        return self.models.get(canonical(name))

    def _put_small_blob(self, media: str, data: bytes) -> Layer:
        layer = Layer.from_bytes(media, data)
        self.blob_path(layer.digest).write_bytes(data)
        return Layer(media, layer.digest, layer.size, self.blob_path(layer.digest))

    def _prune(self) -> None:
        used = {x.digest for m in self.models.values() for x in [m.config, *m.layers]}
        for path in self.blobs.iterdir():
            if path.name.replace("-", ":", 1) not in used:
                path.unlink()

    # ---- simple routes --------------------------------------------------------------------

    def handle_version(self, request: Request) -> Response:
        return Response.json({"version": self.version})

    def handle_tags(self, request: Request) -> Response:
        models = [
            {
                "name": display(m.name),
                "model": display(m.name),
                "modified_at": m.modified_at,
                "size": sum(x.size for x in m.layers) + m.config.size,
                "digest": hashlib.sha256(m.manifest).hexdigest(),
                "details": m.details,
            }
            for m in self.models.values()
        ]
        return Response.json({"models": models})

    def handle_blob_head(self, request: Request) -> Response:
        digest = request.path.rsplit("/", 1)[-1]
        if not _DIGEST.match(digest):
            return Response.error("invalid digest format")
        return Response(200 if self.blob_path(digest).exists() else 404)

    def handle_blob_upload(self, request: Request) -> Response:
        digest = request.path.rsplit("/", 1)[-1]
        if not _DIGEST.match(digest):
            return Response.error("invalid digest format")
        fault = self._fault("upload_reset", digest)
        temp = self.blobs / f".upload-{threading.get_ident()}"
        h = hashlib.sha256()
        received = 0
        with open(temp, "wb") as out:
            for piece in request.iter_body():
                received += len(piece)
                with self._lock:
                    self.bytes_received += len(piece)
                h.update(piece)
                out.write(piece)
                if fault is not None and received >= fault.after:
                    temp.unlink()
                    return Response(reset=True)
        got = f"sha256:{h.hexdigest()}"
        if got != digest:
            temp.unlink()
            return Response.error(f'digest mismatch, expected "{digest}", got "{got}"')
        temp.replace(self.blob_path(digest))
        return Response(201)

    # ---- create -----------------------------------------------------------------------------

    def handle_create(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError as exc:
            return Response.error(f"invalid JSON: {exc}")
        if not isinstance(body, dict):
            return Response.error("expected a JSON object")
        unknown = set(body) - CREATE_KEYS
        if unknown:
            return Response.error(f"unknown fields {sorted(unknown)}")
        name = body.get("model") or ""
        if parse_name(name) is None:
            return Response.error("invalid model name")
        problem = check_parameters(body.get("parameters"))
        if problem:
            return Response.error(problem)
        for key in ("template", "renderer", "parser", "system"):
            if key in body and not isinstance(body[key], str):
                return Response.error(f"{key}: expected a string")
        files = body.get("files")
        if body.get("from") or not isinstance(files, dict) or not files:
            return Response.error("the stand-in creates from `files` only")
        for file_name, digest in files.items():
            if "/" in file_name or file_name in ("", ".", "..") or not _DIGEST.match(str(digest)):
                return Response.error("file path must be relative / invalid digest format")
        return Response.stream(self._create_lines(name, body))

    def _create_lines(self, name: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield {"status": "parsing GGUF"}
        digests = list(body["files"].values())
        for digest in digests:
            if not self.blob_path(digest).exists():
                path = self.blob_path(digest)
                yield {"error": f"open {path}: no such file or directory"}
                return
        header = read_header(self.blob_path(digests[0]))
        fault = self._fault("create_error", name)
        if fault is not None:
            yield {"error": fault.message}
            return
        params = dict(body.get("parameters") or {})
        renderer, parser = body.get("renderer") or None, body.get("parser") or None
        arch = header.architecture or ""
        if arch == "gemma4" and (not renderer or not parser):  # createModel's auto-detection
            renderer, parser = renderer or "gemma4", parser or "gemma4"
            params.setdefault("stop", ["<turn|>"])
        layers = [
            Layer(MEDIA_MODEL, d, self.blob_path(d).stat().st_size, self.blob_path(d))
            for d in digests
        ]
        for d in digests:
            yield {"status": f"using existing layer {d}"}
        template, system = body.get("template") or None, body.get("system") or None
        licenses = body.get("license") or []
        licenses = [licenses] if isinstance(licenses, str) else list(licenses)
        with self._lock:
            if template:
                layers.append(self._put_small_blob(MEDIA_TEMPLATE, template.encode()))
            if system:
                layers.append(self._put_small_blob(MEDIA_SYSTEM, system.encode()))
            layers += [self._put_small_blob(MEDIA_LICENSE, t.encode()) for t in licenses]
            if params:
                layers.append(self._put_small_blob(MEDIA_PARAMS, params_bytes(params)))
            details = _details(header)
            config: dict[str, Any] = {
                "model_format": "gguf",
                "model_family": arch,
                "model_families": [arch],
                "model_type": details["parameter_size"],
                "file_type": details["quantization_level"],
            }
            config.update({k: v for k, v in (("renderer", renderer), ("parser", parser)) if v})
            if body.get("requires"):
                config["requires"] = body["requires"]
            config.update(architecture="amd64", os="linux")
            config_layer = self._put_small_blob(
                MEDIA_CONFIG, (json.dumps(config, separators=(",", ":")) + "\n").encode()
            )
            kv = dict(header.kv)  # arrays stay lazy: show reads the short ones (model_info)
            self.models[canonical(name)] = StoredModel(
                name,
                layers,
                config_layer,
                params,
                template,
                system,
                licenses,
                renderer,
                parser,
                kv,
                details,
                requires=body.get("requires") or None,
                tensors=list(header.tensors),
            )
        yield {"status": "writing manifest"}
        yield {"status": "success"}

    # ---- show / copy / delete ---------------------------------------------------------------

    def handle_show(self, request: Request) -> Response:
        """/api/show exactly as routes.go GetModelInfo builds it: doubles/ollama_show.py has the
        field list and the source lines; unknown request keys are refused (ShowRequest,
        api/types.go:722-734)."""
        body = request.json()
        if not isinstance(body, dict):
            return Response.error("missing request body")
        unknown = set(body) - {"model", "name", "system", "template", "verbose", "options"}
        if unknown:
            return Response.error(f"unknown fields {sorted(unknown)}")
        name = body.get("model") or body.get("name") or ""
        if not name:
            return Response.error("model is required")
        if parse_name(name) is None:
            return Response.error("invalid model name")
        model = self.find(name)
        if model is None:
            return Response.error(f"model '{name}' not found", 404)
        tensors = [
            {"name": t.name, "type": t.type.name, "shape": list(t.shape)} for t in model.tensors
        ]
        blob = self.blob_path(model.layers[0].digest)
        return Response.json(show_response(model, blob, display(name), tensors))

    def handle_copy(self, request: Request) -> Response:
        body = request.json() or {}
        source, destination = body.get("source", ""), body.get("destination", "")
        if parse_name(source) is None or parse_name(destination) is None:
            return Response.error("invalid model name")
        model = self.find(source)
        if model is None:
            return Response.error(f"model '{source}' not found", 404)
        with self._lock:
            self.models[canonical(destination)] = StoredModel(
                destination,
                list(model.layers),
                model.config,
                dict(model.parameters),
                model.template,
                model.system,
                list(model.licenses),
                model.renderer,
                model.parser,
                dict(model.kv),
                dict(model.details),
                requires=model.requires,
                tensors=list(model.tensors),
            )
        return Response(200)

    def handle_delete(self, request: Request) -> Response:
        body = request.json() or {}
        name = body.get("model") or body.get("name") or ""
        if parse_name(name) is None:
            return Response.error("invalid model name")
        with self._lock:
            if self.find(name) is None:
                return Response.error(f"model '{name}' not found", 404)
            del self.models[canonical(name)]
            self._prune()  # like Ollama: every blob no manifest references goes
        return Response(200)

    # ---- push -------------------------------------------------------------------------------

    def handle_push(self, request: Request) -> Response:
        body = request.json() or {}
        unknown = set(body) - {"model", "name", "insecure", "stream"}
        if unknown:
            return Response.error(f"unknown fields {sorted(unknown)}")
        name = body.get("model") or body.get("name") or ""
        if parse_name(name) is None:
            return Response.error("invalid model name")
        fault = self._fault("push_500", name)
        if fault is not None:
            return Response.error(fault.message, 500)
        return Response.stream(self._push_lines(name, bool(body.get("insecure"))))

    def _push_lines(self, name: str, insecure: bool) -> Iterator[dict[str, Any]]:
        yield {"status": "retrieving manifest"}
        model = self.find(name)
        if model is None:
            yield {"status": "couldn't retrieve manifest"}
            yield {"error": f"open manifests/{display(name)}: no such file or directory"}
            return
        p = parse_name(name)
        assert p is not None
        registry = None
        if p["host"].split(":")[0] in ("127.0.0.1", "localhost"):
            if not insecure:
                yield {"error": "insecure protocol http"}
                return
            registry = f"http://{p['host']}"
        error_after = self._fault("push_error", name)
        truncate = self._fault("push_truncate", name)
        client = httpx.Client(timeout=60) if registry else None
        repo = f"{p['ns']}/{p['model']}"
        try:
            for i, layer in enumerate([*model.layers, model.config]):
                if error_after is not None and i >= error_after.after:
                    yield {"error": error_after.message}
                    return
                short = layer.digest[7:19]
                yield {
                    "status": f"pushing {short}",
                    "digest": layer.digest,
                    "total": layer.size,
                    "completed": 0,
                }
                if client is not None:
                    _registry_upload(client, registry or "", repo, layer)
                yield {
                    "status": f"pushing {short}",
                    "digest": layer.digest,
                    "total": layer.size,
                    "completed": layer.size,
                }
            if truncate is not None:
                return
            yield {"status": "pushing manifest"}
            if client is not None:
                resp = client.put(
                    f"{registry}/v2/{repo}/manifests/{p['tag']}",
                    content=model.manifest,
                    headers={"Content-Type": MEDIA_MANIFEST},
                )
                if resp.status_code not in (200, 201):
                    yield {"error": f"manifest PUT: HTTP {resp.status_code} {resp.text[:200]}"}
                    return
        finally:
            if client is not None:
                client.close()
        with self._lock:
            self.pushes.append(
                {
                    "model": display(name),
                    "registry": registry,
                    "layers": [x.digest for x in model.layers],
                    "config": model.config.digest,
                    "manifest": "sha256:" + hashlib.sha256(model.manifest).hexdigest(),
                }
            )
        yield {"status": "success"}

    # ---- serving ----------------------------------------------------------------------------

    def serve(self) -> _Server:
        """Start serving on a random 127.0.0.1 port (a context manager; `.url` is set)."""
        return _Server(self)


def check_parameters(params: Any, what: str = "parameter") -> str | None:
    """Why a parameters map (create's `parameters`, chat's `options`) is unacceptable (unknown
    name or wrong type), or None; `what` names one entry in the message."""
    if params is None:
        return None
    if not isinstance(params, dict):
        return f"{what}s: expected an object"
    for key, value in params.items():
        if key in INT_PARAMETERS:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif key in FLOAT_PARAMETERS:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
        elif key in BOOL_PARAMETERS:
            ok = isinstance(value, bool)
        elif key in LIST_PARAMETERS:
            ok = isinstance(value, list) and all(isinstance(v, str) and v for v in value)
        else:
            return f"unknown {what} '{key}'"
        if not ok:
            return f"invalid type for {what} '{key}': {type(value).__name__} {value!r}"
    return None


def _registry_upload(client: httpx.Client, registry: str, repo: str, layer: Layer) -> None:
    """Monolithic blob upload (POST uploads/ then PUT ?digest=) unless the registry has it."""
    if client.head(f"{registry}/v2/{repo}/blobs/{layer.digest}").status_code == 200:
        return
    start = client.post(f"{registry}/v2/{repo}/blobs/uploads/")
    start.raise_for_status()
    location = httpx.URL(registry).join(start.headers["location"])
    data = layer.source.read_bytes() if isinstance(layer.source, Path) else layer.source
    put = client.put(location.copy_merge_params({"digest": layer.digest}), content=data)
    put.raise_for_status()


def _details(header: Any) -> dict[str, Any]:
    arch = header.architecture or ""
    count = sum(t.n_elements for t in header.tensors)
    try:
        quant = LlamaFileType(header.get("general.file_type", 0)).name.removeprefix("MOSTLY_")
    except ValueError:
        quant = "unknown"
    size = f"{count / 1e9:.1f}B" if count >= 1e9 else f"{count / 1e6:.2f}M"
    return {
        "parent_model": "",
        "format": "gguf",
        "family": arch,
        "families": [arch],
        "parameter_size": size,
        "quantization_level": quant,
    }


# ---------------------------------------------------------------------------------------------
# HTTP server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    app: OllamaStandIn

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = headers.get("content-length")
        request = Request(
            self.command,
            self.path.split("?")[0],
            headers,
            self.rfile.read,
            int(length) if length else None,
            "chunked" in headers.get("transfer-encoding", ""),
        )
        try:
            response = self.app.dispatch(request)
        except ValueError as exc:
            response = Response.error(f"bad request: {exc}")
        if response.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        for _ in request.iter_body():  # drain what the handler did not read
            pass
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        if response.lines is None:
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in response.lines:
            data = json.dumps(line).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_HEAD = do_DELETE = _handle


class _Server:
    """A running stand-in: a ThreadingHTTPServer on 127.0.0.1:<random> in a daemon thread."""

    def __init__(self, app: OllamaStandIn) -> None:
        handler = type("Handler", (_Handler,), {"app": app})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.app = app
        app.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> OllamaStandIn:
        self.thread.start()
        return self.app

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def ollama_standin(tmp_path: Path) -> Iterator[OllamaStandIn]:
    """A fresh stand-in daemon per test; `.url` is its base URL."""
    with OllamaStandIn(tmp_path / "ollama-standin").serve() as app:
        yield app


# ---------------------------------------------------------------------------------------------
# A small release for daemon tests: manifest + tiny gemma4 GGUFs + the payload a target receives

DEFAULT_PARAMETERS: dict[str, Any] = {
    "temperature": 0.6,
    "top_p": 0.95,
    "num_ctx": 256000,
    "stop": ["<turn|>", "<|tool_response>"],
}


def _toml(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def make_payload(
    root: Path,
    *,
    model: str = "ns/fam",
    tags: dict[str, dict[str, Any]] | None = None,
    latest: str | None = "Q4_K_M",
    renderer: str | None = "gemma4",
    parser: str | None = "gemma4",
    template: str | None = None,
    license: str | None = "Some licence text, inline.",
    system: str | None = None,
    parameters: dict[str, Any] | None = None,
    experts: int = 98,
    gguf_experts: int | None = None,
    requires: str | None = None,
) -> Any:
    """Write a manifest and one tiny gemma4 GGUF per tag; return the ReleasePayload."""
    from support.gguf_factory import write_gemma4_gguf

    from publisher.manifest import load
    from publisher.targets.base import LocalFile, ReleasePayload, TagPayload

    tags = {"Q4_K_M": {}, "Q6_K": {"temperature": 0.8}} if tags is None else tags
    params = DEFAULT_PARAMETERS if parameters is None else parameters
    (root / "gguf").mkdir(parents=True, exist_ok=True)
    lines = [
        "[model]",
        'family = "fam"',
        'variant = "v1"',
        'title = "Fam v1"',
        'base_model = "org/base"',
        'parameters = "20.8B"',
        f"experts = {experts}",
        "experts_base = 128",
        "",
        "[files]",
        'gguf_dir = "gguf"',
        'name = "fam-{tag}.gguf"',
        "",
        "[ollama]",
        f"model = {_toml(model)}",
    ]
    for key, value in (
        ("latest", latest),
        ("renderer", renderer),
        ("parser", parser),
        ("license", license),
        ("system", system),
        ("requires", requires),
    ):
        if value is not None:
            lines.append(f"{key} = {_toml(value)}")
    if template is not None:
        (root / "chat.gotmpl").write_text(template, encoding="utf-8")
        lines.append('template = "chat.gotmpl"')
    lines += ["", "[ollama.parameters]", *(f"{k} = {_toml(v)}" for k, v in params.items())]
    for tag, override in tags.items():
        lines += ["", "[[tags]]", f"tag = {_toml(tag)}", 'targets = ["ollama"]']
        if override:
            inline = ", ".join(f"{k} = {_toml(v)}" for k, v in override.items())
            lines.append(f"parameters = {{ {inline} }}")
        write_gemma4_gguf(
            root / "gguf" / f"fam-{tag}.gguf", experts=gguf_experts or experts, name=f"fam-{tag}"
        )
    (root / "fam.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    release = load(root / "fam.toml")
    payloads = []
    for tag in release.tags:
        data = tag.path.read_bytes()
        payloads.append(
            TagPayload(
                tag=tag,
                files=[LocalFile(tag.path, len(data), hashlib.sha256(data).hexdigest())],
                parameters=release.parameters_for(tag),
                modelfile="",
                template=template,
                renderer=renderer,
                parser=parser,
                license=release.ollama.license if release.ollama else None,
                system=system,
            )
        )
    return ReleasePayload(release=release, tags=payloads)
