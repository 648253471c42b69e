"""The real CLI in a forked child, killed after a time bound: how the hostile suites run it.

Forked from the test process after the import, so a run costs milliseconds, not an interpreter
start; patched limits carry over into the child. A run still going at the bound is killed and
reported as a hang (`Outcome.code is None`) instead of stalling the suite.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from publisher.cli import app
from support.release_fixtures import fam_gguf

# the session's cache (conftest): the Go renderer is built once for every run, not once per run
SHARED_CACHE = os.environ["PUBLISHER_CACHE_DIR"]
BOUND = 60.0  # seconds: a run that takes longer is a hang (healthy runs here take ~2 s)

# The healthy release the hostile suites plant their inputs into (a template of its own beside it).
MANIFEST = """\
[model]
family = "fam"
variant = "v1"
title = "Fam v1"
base_model = "org/base"
experts = 98

[files]
gguf_dir = "gguf"
name = "fam-v1-{tag}.gguf"

[ollama]
model = "me/fam"
latest = "Q4_K_M"
template = "gemma4-tools.gotmpl"
license = "LICENSE.txt"

[ollama.parameters]
temperature = 0.6

[huggingface]
repo = "Org/fam-v1-GGUF"

[[tags]]
tag = "Q4_K_M"

[[tags]]
tag = "Q8_0"

[benchmarks]
[[benchmarks.rows]]
name = "GPQA"
reference = 75.25
score = 74.5
"""
TEMPLATE = "{{ range .Messages }}{{ .Role }}: {{ .Content }}\n{{ end }}"


@dataclass
class Outcome:
    """How one bounded run ended."""

    code: int | None  # None: killed at the bound (a hang)
    stdout: str
    stderr: str
    seconds: float


def closed_world(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A closed world: own HOME, every service on a closed loopback port."""
    skip = ("HF_", "OLLAMA_", "PUBLISHER_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(
        HOME=str(root / "home"),
        PUBLISHER_CACHE_DIR=SHARED_CACHE,
        HF_ENDPOINT="http://127.0.0.1:1",
        HF_HUB_OFFLINE="1",
        OLLAMA_HOST="http://127.0.0.1:1",
        COLUMNS="400",
        NO_COLOR="1",
    )
    env.update(extra or {})
    return env


def _child(root: Path, args: list[str], env: dict[str, str], out: int, err: int) -> None:
    """In the forked child: become `publish ARGS` in `root` with `env`; never return."""
    code = 70
    try:
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the child's own stdout
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        os.chdir(root)
        os.environ.clear()
        os.environ.update(env)
        app(args=args, prog_name="publish")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()  # an escaped error: the sweep counts it as a traceback
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run(
    root: Path,
    args: list[str],
    env: dict[str, str] | None = None,
    *,
    bound: float = BOUND,
    before: Callable[[], None] | None = None,
) -> Outcome:
    """`publish ARGS` in a forked child with `closed_world(root, env)`, killed after `bound`
    seconds (an open FIFO blocks forever, /dev/zero never ends); `before` runs in the child
    first (with `sys.argv` set), e.g. to arm a signal."""
    pipes = [os.pipe(), os.pipe()]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        if before is not None:
            sys.argv = ["publish", *args]
            before()
        _child(root, args, closed_world(root, env), pipes[0][1], pipes[1][1])
    for _, write in pipes:
        os.close(write)
    chunks: dict[int, list[bytes]] = {read: [] for read, _ in pipes}
    open_fds = set(chunks)
    while open_fds and time.monotonic() - start < bound:
        ready, _, _ = select.select(list(open_fds), [], [], 0.5)
        for fd in ready:
            data = os.read(fd, 65536)
            if data:
                chunks[fd].append(data)
            else:
                open_fds.discard(fd)
    code: int | None
    if open_fds:  # still running at the bound
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        code = None
    else:
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    for fd in chunks:
        os.close(fd)
    text = [b"".join(chunks[read]).decode(errors="replace") for read, _ in pipes]
    return Outcome(code, text[0], text[1], time.monotonic() - start)


def edit(old: str, new: str) -> Callable[[Path], None]:
    """A planter: replace the first `old` of the workspace's `m.toml` with `new`."""

    def plant(root: Path) -> None:
        text = (root / "m.toml").read_text()
        assert old in text, old
        (root / "m.toml").write_text(text.replace(old, new, 1))

    return plant


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under `root` with its size and mtime (the tool's cache is its own business)."""
    found = {}
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if relative.parts[0] in ("cache", "home"):
            continue
        st = path.lstat()
        found[str(relative)] = (st.st_size, st.st_mtime_ns)
    return found


def _is_run_log(path: str) -> bool:
    """`build/<variant>/runs/...` and its parents: a release records every run, failed ones too."""
    parts = Path(path).parts
    return parts[0] == "build" and (len(parts) <= 2 or parts[2] == "runs")


def assert_nothing_written(before: dict[str, tuple[int, int]], root: Path) -> None:
    """Nothing under `root` changed since `before` but run logs, and every run log says failed."""
    after = snapshot(root)
    changed = {p for p in after if before.get(p) != after[p] and not _is_run_log(p)}
    assert not changed, f"written: {sorted(changed)}"
    for log in root.glob("build/*/runs/*.json"):
        assert json.loads(log.read_text())["ok"] is False, log


def write_healthy_release(root: Path) -> Path:
    """The healthy release the hostile suites start from: manifest, its template and licence,
    two tiny GGUFs and an empty HOME, in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "m.toml").write_text(MANIFEST)
    (root / "fam.gotmpl").write_text(TEMPLATE)
    (root / "LICENSE.txt").write_text("Apache-2.0\n")
    fam_gguf(root / "gguf", "Q4_K_M")
    fam_gguf(root / "gguf", "Q8_0", file_type=7)
    (root / "home").mkdir()
    return root
