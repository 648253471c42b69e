"""A real Docker distribution registry on 127.0.0.1, so registry code meets the real thing.

Registered for every test by `pytest_plugins` in tests/conftest.py; a test names the fixture:

    def test_x(docker_registry):       # "http://127.0.0.1:<port>", plain HTTP, no auth
        ...

The session-scoped fixture starts Debian's `/usr/bin/docker-registry` once per test session with
a temporary storage directory and stops it afterwards; tests should use their own repository
names to stay independent.
`start_registry(storage_dir, ...)` is the context manager behind it, for tests that need a
private instance (e.g. a token-auth realm). Tests skip with a clear reason when the binary is
absent (Debian package `docker-registry`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REGISTRY_BIN = os.environ.get("PUBLISHER_DOCKER_REGISTRY", "/usr/bin/docker-registry")

_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: publisher-tests
health:
  storagedriver:
    enabled: false
"""


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def registry_available() -> bool:
    """True when the docker-registry binary can be run."""
    return os.access(REGISTRY_BIN, os.X_OK)


def _wait_ready(base_url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(base_url + "/v2/", timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise RuntimeError(f"docker-registry did not answer on {base_url} within {timeout}s")


@contextlib.contextmanager
def start_registry(storage_dir: Path, *, timeout: float = 15.0) -> Iterator[str]:
    """Run docker-registry on a free loopback port, storage in storage_dir; yield its base URL."""
    storage_dir.mkdir(parents=True, exist_ok=True)
    last_error: Exception | None = None
    for _ in range(3):  # the free port may be taken between probe and bind: try again
        port = free_port()
        config = storage_dir / "config.yml"
        config.write_text(_CONFIG.format(root=storage_dir / "data", port=port))
        log = open(storage_dir / "registry.log", "wb")  # noqa: SIM115 - closed in finally
        proc = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            try:
                _wait_ready(base_url, proc, timeout)
            except RuntimeError as exc:
                last_error = exc
                continue
            yield base_url
            return
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    log_text = (storage_dir / "registry.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"could not start docker-registry: {last_error}\n{log_text}")


@pytest.fixture(scope="session")
def docker_registry() -> Iterator[str]:
    """Base URL ("http://127.0.0.1:<port>") of a docker-registry running for this test session."""
    if not registry_available():
        pytest.skip(f"{REGISTRY_BIN} not found: install the Debian package docker-registry")
    tmp = Path(tempfile.mkdtemp(prefix="publisher-registry-"))
    try:
        with start_registry(tmp) as url:
            yield url
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
