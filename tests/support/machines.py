"""Several publishing machines in one test: each its own folder, HOME, cache (digests, upload
sessions, destination locks), ledger and only its own GGUFs, against one shared pair of remotes
(the real docker-registry and the strict Hub double, its commits over HTTP through the real
huggingface_hub client).

    fleet = Fleet(tmp_path, registry_url, hub)
    a = fleet.machine("a", tags=["Q4_K_M"])
    code, data = a.release("--present", "--yes")

A machine runs `publish` in one of two ways:

- `machine.release(…)`, `machine.publish(…)`: in this process through typer's CliRunner, with its
  environment (HOME, PUBLISHER_CACHE_DIR) and working directory swapped in for the length of the
  command — so one machine's run may be started from inside another's (a hook before a Hub
  commit), which is how a test lays two runs over each other at the exact point it wants;
- `machine.spawn(…)` / `machine.run(…)`: a separate OS process (`python -c "from publisher.cli
  import app; app()"`, as tests/test_cli.py runs it) with its own HOME, PUBLISHER_CACHE_DIR and
  working directory, `HF_ENDPOINT` at the Hub double's HTTP front and `HF_TOKEN` in its
  environment (never argv): every Hub read and write crosses loopback HTTP through the real
  huggingface_hub client, as on a real machine.
 Only the template
renderer, a compiled program the tool builds once per source hash, is shared between the caches
(linked): building it once per machine would test Go's compiler, not publishing.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import subprocess
import sys
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from support.gguf_factory import write_gemma4_gguf

HF_TOKEN = "hf_converge_test_token_0123456789"
HF_USER = "alice"
VARIANT = "t1"
FTYPES = {"Q3_K_M": 12, "Q4_K_M": 15, "Q5_K_M": 17, "Q6_K": 18, "Q8_0": 7, "F16": 1}
LADDER = ("Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "F16")

_runner = CliRunner()


def manifest_head(registry: str, repository: str, hf_repo: str, variant: str = VARIANT) -> str:
    """The tiny release's tables above its tags (Ollama by direct push, and the Hub): the one
    text the fleet's machines and the release world share."""
    return f"""
[model]
family = "tiny"
variant = "{variant}"
title = "Tiny gemma4 98e"
base_model = "google/gemma-4-26B-A4B-it"
parameters = "20.8B"
experts = 98
experts_base = 128

[files]
gguf_dir = "gguf"
name = "tiny-{{tag}}.gguf"

[ollama]
model = "{repository}"
latest = "Q4_K_M"
template = "gemma4-tools.gotmpl"
parser = "gemma4"
license = "gemma-terms"
registry = "{registry}"

[ollama.parameters]
temperature = 0.6
top_p = 0.95
num_ctx = 256000
stop = ["<turn|>", "<|tool_response>"]

[huggingface]
repo = "{hf_repo}"
"""


def manifest_text(registry: str, repository: str, hf_repo: str, tags: tuple[str, ...]) -> str:
    """The release every machine holds (the same text): Ollama by direct push, and the Hub."""
    head = manifest_head(registry, repository, hf_repo)
    body = []
    for tag in tags:
        body += ["", "[[tags]]", f'tag = "{tag}"']
        if tag == "F16":
            body.append('targets = ["huggingface"]')
    return head + "\n".join(body) + "\n"


@dataclass
class Machine:
    """One publishing machine: a folder with the manifest, its GGUFs, HOME and cache."""

    name: str
    root: Path
    fleet: Fleet
    tags: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> Path:
        return self.root / "tiny.toml"

    @property
    def ledger(self) -> Path:
        return self.root / f"{VARIANT}.lock.json"

    @property
    def gguf_dir(self) -> Path:
        return self.root / "gguf"

    def add(self, *tags: str) -> None:
        """Quantize (write) these tags' GGUFs on this machine; every machine writes the same
        bytes for a tag, as the same quantization of the same source would."""
        self.gguf_dir.mkdir(parents=True, exist_ok=True)
        for tag in tags:
            self.fleet.gguf(tag, self.gguf_dir / f"tiny-{tag}.gguf")
            self.tags.append(tag)

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """This machine's environment and working directory, restored afterwards (nestable)."""
        saved_env = {k: os.environ.get(k) for k in ("HOME", "PUBLISHER_CACHE_DIR")}
        saved_cwd = Path.cwd()
        os.environ["HOME"] = str(self.root / "home")
        os.environ["PUBLISHER_CACHE_DIR"] = str(self.root / "cache")
        os.chdir(self.root)
        try:
            yield
        finally:
            os.chdir(saved_cwd)
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def publish(self, command: str, *args: str) -> tuple[int, dict[str, Any], str]:
        """`publish <command> <manifest> --json <args>` on this machine: exit code, JSON, text."""
        with self.active():
            result = _runner.invoke(self.fleet.app, [command, str(self.manifest), "--json", *args])
        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError:
            data = {}
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            trace = traceback.format_exception(result.exception)
            output += "".join(trace)  # a crash is the test's failure message, whole
        return result.exit_code, data, output

    def release(self, *args: str) -> tuple[int, dict[str, Any], str]:
        return self.publish("release", *args)

    def environment(self) -> dict[str, str]:
        """This machine's process environment: its own HOME and cache, the Hub double's HTTP
        front as `HF_ENDPOINT`, the token in `HF_TOKEN`; nothing of the test process's Hub or
        publisher settings leaks in. Xet needs a CAS server the double lacks: uploads go by LFS."""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PUBLISHER_", "OLLAMA"))
        }
        env.update(
            HOME=str(self.root / "home"),
            PUBLISHER_CACHE_DIR=str(self.root / "cache"),
            HF_ENDPOINT=self.fleet.hub.http.url,
            HF_TOKEN=self.fleet.token,
            HF_HUB_DISABLE_XET="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            NO_COLOR="1",
        )
        return env

    def spawn(self, command: str, *args: str) -> subprocess.Popen[str]:
        """`publish <command> <manifest> --json <args>` as a separate process on this machine."""
        argv = [sys.executable, "-c", "from publisher.cli import app; app()"]
        return subprocess.Popen(
            [*argv, command, str(self.manifest), "--json", *args],
            cwd=self.root,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(
        self, command: str, *args: str, timeout: float = 300
    ) -> tuple[int, dict[str, Any], str]:
        """`spawn`, then wait: exit code, JSON, text (stdout + stderr)."""
        return finish(self.spawn(command, *args), timeout)

    def status(self) -> tuple[int, dict[tuple[str, str], str], str]:
        code, data, output = self.publish("status")
        rows = {(r["target"], r["tag"]): r["state"] for r in data.get("targets", [])}
        return code, rows, output


class Fleet:
    """The machines of one test and the remotes they share."""

    def __init__(
        self, root: Path, registry: str, hub: Any, *, tags: tuple[str, ...] = LADDER
    ) -> None:
        from publisher.cli import app

        self.app = app
        self.root = root
        self.registry = registry
        self.repository = f"test/converge-{uuid.uuid4().hex[:8]}"
        self.hf_repo = f"{HF_USER}/tiny-GGUF"
        self.hub = hub
        self.token = HF_TOKEN  # the write token wire_hub gives HF_USER
        self.tags = tags
        self.text = manifest_text(registry, self.repository, self.hf_repo, tags)
        self.machines: dict[str, Machine] = {}
        self._ggufs: dict[str, bytes] = {}
        self._renderer = _renderer_dirs()

    def machine(self, name: str, tags: tuple[str, ...] | list[str] = ()) -> Machine:
        root = self.root / name
        (root / "home").mkdir(parents=True)
        cache = root / "cache"
        cache.mkdir()
        for built in self._renderer:  # the compiled template renderer only (see module doc)
            (cache / built.name).symlink_to(built, target_is_directory=True)
        machine = Machine(name, root, self)
        machine.manifest.write_text(self.text, encoding="utf-8")
        machine.add(*tags)
        self.machines[name] = machine
        return machine

    def gguf(self, tag: str, path: Path) -> None:
        """The tag's GGUF (made once, the same bytes on every machine)."""
        if tag not in self._ggufs:
            scratch = self.root / "_made" / f"tiny-{tag}.gguf"
            scratch.parent.mkdir(exist_ok=True)
            write_gemma4_gguf(scratch, file_type=FTYPES[tag], name=f"tiny-{tag}")
            self._ggufs[tag] = scratch.read_bytes()
        path.write_bytes(self._ggufs[tag])

    def gguf_bytes(self, tag: str) -> bytes:
        return self._ggufs[tag]


def finish(process: subprocess.Popen[str], timeout: float = 300) -> tuple[int, dict[str, Any], str]:
    """Wait for a spawned `publish` (killed past `timeout`): exit code, JSON, stdout + stderr."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    try:
        data = json.loads(stdout)
    except json.JSONDecodeError:
        data = {}
    return process.returncode, data, stdout + stderr


def _renderer_dirs() -> list[Path]:
    """The session cache's built template renderer (built now if it is not yet)."""
    from publisher.chat.gorender import binary_path
    from publisher.statefile import cache_dir

    binary_path()
    return sorted(cache_dir().glob("gotmpl-*"))


def before_hub_commits(
    monkeypatch: Any, hook: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    """Call `hook(arguments)` before every `create_commit` a target makes (before the double
    sends it over HTTP), e.g. to run another machine's release in between a read and a commit;
    returns the list of the commits' arguments seen."""
    from doubles.hf_double import FakeHfApi
    from huggingface_hub import HfApi

    seen: list[dict[str, Any]] = []
    original = FakeHfApi.create_commit

    signature = inspect.signature(HfApi.create_commit)

    def create_commit(self: Any, *args: Any, **kwargs: Any) -> Any:
        arguments = dict(signature.bind(self, *args, **kwargs).arguments)
        arguments.pop("self")
        seen.append(arguments)
        hook(arguments)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FakeHfApi, "create_commit", create_commit)
    return seen


def wire_hub(monkeypatch: Any, hub: Any, token: str = HF_TOKEN) -> None:
    """Every machine's Hub target talks to `hub` (reads through the strict in-process double,
    commits over HTTP through the real client) with a write token of HF_USER's."""
    from dataclasses import replace

    import publisher.pipeline.targets as targets
    from publisher.huggingface.target import HuggingFaceTarget

    hub.add_token(token, user=HF_USER)

    def hf_target(release: Any, options: Any) -> Any:
        return HuggingFaceTarget(
            release,
            prune=options.prune,
            create_pr=options.create_pr,
            force=options.force,
            api_factory=hub.api,
            token_provider=lambda: token,
        )

    entry = replace(targets.TARGETS["huggingface"], factory=hf_target)
    monkeypatch.setitem(targets.TARGETS, "huggingface", entry)
