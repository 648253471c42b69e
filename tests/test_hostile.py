"""Hostile input, swept over every command: special files where a file belongs, a TOML nested
5,000 deep, NaN and infinities, names ending in a newline, NUL bytes, garbage environment
variables and credentials inside URLs.

Each run is the real CLI in its own process — forked from this one after the import, so a run
costs milliseconds, not an interpreter start — killed after a time bound. Each must: finish in
time (no hang), exit with the expected code, print exactly one `error:` line naming the cause,
print no traceback, and write nothing (no rendered output, no ledger; a release's run log may
record the failure). Credentials put in a URL never appear in anything printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.release_fixtures import fam_gguf

from publisher.cli import app

# the session's cache (conftest): the Go renderer is built once for every run, not once per run
SHARED_CACHE = os.environ["PUBLISHER_CACHE_DIR"]
OWN_CACHE = {"PUBLISHER_CACHE_DIR": "cache"}  # relative: the workspace's own digest cache
BOUND = 60.0  # seconds: a run that takes longer is a hang (healthy runs here take ~2 s)
SECRET = "hunter2"  # the password in credentialed URLs: it must never be printed

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
USE_LOCAL_TEMPLATE = ('template = "gemma4-tools.gotmpl"', 'template = "fam.gotmpl"')

# Every command, with the options that keep a healthy run off the network.
COMMANDS: dict[str, list[str]] = {
    "validate": ["validate", "m.toml"],
    "verify": ["verify", "m.toml"],
    "render": ["render", "m.toml"],
    "check-template": ["check-template", "m.toml"],
    "release": ["release", "m.toml", "--dry-run"],
    "status": ["status", "m.toml"],
    "smoke": ["smoke", "m.toml"],
}
ALL = tuple(COMMANDS)


@dataclass
class Case:
    """One hostile input: how to plant it, the commands it reaches, and what they must say."""

    name: str
    plant: Callable[[Path], None]
    commands: tuple[str, ...]
    cause: str  # a word the one error line must contain
    exit: int = 2
    env: dict[str, str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()  # more arguments after the command's own


# ---------------------------------------------------------------------------------------------
# Planting


def _edit(old: str, new: str) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        text = (root / "m.toml").read_text()
        assert old in text, old
        (root / "m.toml").write_text(text.replace(old, new, 1))

    return plant


def _fifo(name: str) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        (root / name).unlink(missing_ok=True)
        os.mkfifo(root / name)

    return plant


def _dev_zero(name: str) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        (root / name).unlink(missing_ok=True)
        (root / name).symlink_to("/dev/zero")

    return plant


def _deep_toml(root: Path) -> None:
    (root / "m.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")


def _deep_tables(root: Path) -> None:
    (root / "m.toml").write_text("[" + ".".join(["t"] * 5000) + "]\nx = 1\n")


def _fifo_base(root: Path) -> None:
    (root / "m.toml").write_text('extends = "base.toml"\n' + (root / "m.toml").read_text())
    os.mkfifo(root / "base.toml")


def _fifo_case_dir(root: Path) -> None:
    (root / "cases").mkdir()
    os.mkfifo(root / "cases" / "x.json")


def _nothing(root: Path) -> None:
    return None


def _no_ggufs(root: Path) -> None:
    shutil.rmtree(root / "gguf")  # check-template then takes --reference as the reference


def _both(*plants: Callable[[Path], None]) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        for step in plants:
            step(root)

    return plant


G = "gguf/fam-v1-Q4_K_M.gguf"
CRED_REGISTRY = f"http://user:{SECRET}@127.0.0.1:5000"
REG = 'latest = "Q4_K_M"'
LOCAL_TEMPLATE = _edit(*USE_LOCAL_TEMPLATE)
READS_GGUF = ("verify", "render", "check-template", "release", "status")
HUB = ("render", "release", "status")  # the commands that reach Hugging Face code
DAEMON = ("smoke", "status", "release")  # the commands that talk to an Ollama daemon

CASES = [
    # Hangs: a file that is not a regular file
    Case("manifest-fifo", _fifo("m.toml"), ALL, "FIFO"),
    Case("manifest-dev-zero", _dev_zero("m.toml"), ALL, "character device"),
    Case("extends-fifo", _fifo_base, ALL, "FIFO"),
    Case("gguf-fifo", _fifo(G), READS_GGUF, "FIFO"),
    Case("gguf-dev-zero", _dev_zero(G), READS_GGUF, "character device"),
    Case("template-fifo", _both(LOCAL_TEMPLATE, _fifo("fam.gotmpl")), ALL, "FIFO"),
    Case("licence-fifo", _fifo("LICENSE.txt"), ALL, "FIFO"),
    Case("ledger-fifo", _fifo("v1.lock.json"), ("status",), "v1.lock.json"),
    Case("template-option-fifo", _fifo("t.fifo"), ("check-template",), "FIFO",
         extra=("--template", "t.fifo")),
    Case("reference-option-dev-zero", _both(_dev_zero("r.jinja"), _no_ggufs), ("check-template",),
         "character device", extra=("--reference", "r.jinja")),
    Case("smoke-cases-fifo", _fifo_case_dir, ("smoke",), "FIFO", extra=("--cases", "cases")),
    Case("digest-cache-fifo", _fifo("cache/digests.json"), ("verify", "render", "release",
         "status"), "digest cache", env=OWN_CACHE),
    # Tracebacks
    Case("toml-5000-deep", _deep_toml, ALL, "nested too deeply"),
    Case("toml-tables-5000-deep", _deep_tables, ALL, "nested deeper"),
    Case("nul-gguf-dir", _edit('gguf_dir = "gguf"', 'gguf_dir = "gg\\u0000uf"'), ALL, "NUL"),
    Case("nul-template", _edit(USE_LOCAL_TEMPLATE[0], 'template = "f\\u0000.gotmpl"'), ALL, "NUL"),
    Case("template-name-too-long", _edit(USE_LOCAL_TEMPLATE[0], f'template = "{"t" * 300}"'), ALL,
         "no file"),
    Case("extends-name-too-long", _edit("[model]", f'extends = "{"b" * 300}"\n[model]'), ALL,
         "does not exist"),
    Case("benchmark-nan", _edit("score = 74.5", "score = nan"), ALL, "finite"),
    Case("benchmark-inf", _edit("reference = 75.25", "reference = -inf"), ALL, "finite"),
    Case("benchmark-1e308", _edit("score = 74.5", "score = 1e308"), ALL, "benchmark figure"),
    Case("hf-endpoint-bad", _nothing, HUB, "HF_ENDPOINT", env={"HF_ENDPOINT": "http://[::1"}),
    Case("hf-endpoint-port", _nothing, HUB, "HF_ENDPOINT", env={"HF_ENDPOINT": "http://h:99999"}),
    Case("hf-endpoint-credentials", _nothing, HUB, "credentials",
         env={"HF_ENDPOINT": f"https://me:{SECRET}@hub.example"}),
    Case("ollama-host-port", _nothing, DAEMON, "OLLAMA_HOST",
         env={"OLLAMA_HOST": "127.0.0.1:99999"}),
    Case("ollama-host-ipv6", _nothing, DAEMON, "OLLAMA_HOST", env={"OLLAMA_HOST": "http://[::1"}),
    Case("ollama-host-credentials", _nothing, DAEMON, "credentials",
         env={"OLLAMA_HOST": f"http://me:{SECRET}@127.0.0.1:1"}),
    Case("smoke-host-malformed", _nothing, ("smoke",), "--host", extra=("--host", "http://[::1")),
    Case("smoke-host-port", _nothing, ("smoke",), "--host", extra=("--host", "localhost:70000")),
    # Silently accepted
    Case("temperature-nan", _edit("temperature = 0.6", "temperature = nan"), ALL, "finite"),
    Case("top-p-inf", _edit("temperature = 0.6", "top_p = inf"), ALL, "finite"),
    Case("tag-parameter-nan", _edit('tag = "Q8_0"', 'tag = "Q8_0"\nparameters = { min_p = nan }'),
         ALL, "finite"),
    Case("temperature-1e308", _edit("temperature = 0.6", "temperature = 1e308"), ALL, "32-bit"),
    Case("variant-newline", _edit('variant = "v1"', 'variant = "v1\\n"'), ALL, "'v1\\n'"),
    Case("model-newline", _edit('model = "me/fam"', 'model = "me/fam\\n"'), ALL, "'fam\\n'"),
    Case("repo-newline", _edit('repo = "Org/fam-v1-GGUF"', 'repo = "Org/fam-v1-GGUF\\n"'),
         ALL, "huggingface.repo"),
    Case("tag-newline", _edit('tag = "Q8_0"', 'tag = "Q8_0\\n"'), ALL, "'Q8_0\\n'"),
    Case("latest-newline", _edit(REG, 'latest = "Q4_K_M\\n"'), ALL, "ollama.latest"),
    Case("related-newline", _edit('repo = "Org/fam-v1-GGUF"\n', 'repo = "Org/fam-v1-GGUF"\n'
         '[[related]]\nvariant = "v2"\nollama = "me/fam-v2\\n"\n'), ALL, "related[0].ollama"),
    Case("key-newline", _edit('tag = "Q8_0"', 'tag = "Q8_0"\n"vr\\nam\\u001b[31m" = "x"'), ALL,
         "unknown key"),
    Case("file-name-newline", _edit('name = "fam-v1-{tag}.gguf"', 'name = "fam-v1-{tag}.gguf\\n"'),
         ALL, "control characters"),
    Case("model-upper-case", _edit('model = "me/fam"', 'model = "me/Fam"'), ALL, "lower case"),
    Case("namespace-upper-case", _edit('model = "me/fam"', 'model = "Me/fam"'), ALL, "lower case"),
    Case("registry-credentials", _edit(REG, f'{REG}\nregistry = "{CRED_REGISTRY}"'), ALL,
         "credentials"),
    Case("registry-option-credentials", _nothing, ("release", "status"), "credentials",
         extra=("--ollama-registry", CRED_REGISTRY)),
    Case("hub-endpoint-key-credentials", _edit('repo = "Org/fam-v1-GGUF"',
         f'repo = "Org/fam-v1-GGUF"\nendpoint = "https://me:{SECRET}@hub.example"'), ALL,
         "credentials"),
]  # fmt: skip

RUNS = [(case, command) for case in CASES for command in case.commands]


# ---------------------------------------------------------------------------------------------
# Running


@dataclass
class Outcome:
    """How one bounded run ended."""

    code: int | None  # None: killed at the bound (a hang)
    stdout: str
    stderr: str
    seconds: float


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A healthy release folder: manifest, template, licence and two tiny GGUFs; the Go renderer
    is built into the shared cache first, so no bounded run pays for a compile."""
    from publisher.chat.gorender import GoUnavailable, binary_path

    with contextlib.suppress(GoUnavailable):  # without Go, check-template says so in one line
        binary_path()
    root = tmp_path_factory.mktemp("pristine")
    (root / "m.toml").write_text(MANIFEST)
    (root / "fam.gotmpl").write_text(TEMPLATE)
    (root / "LICENSE.txt").write_text("Apache-2.0\n")
    fam_gguf(root / "gguf", "Q4_K_M")
    fam_gguf(root / "gguf", "Q8_0", file_type=7)
    (root / "cache").mkdir()
    (root / "home").mkdir()
    return root


@pytest.fixture
def workspace(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "work"
    shutil.copytree(pristine, root, symlinks=True)
    return root


def _env(root: Path, extra: dict[str, str]) -> dict[str, str]:
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
    env.update(extra)
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


def run(root: Path, args: list[str], env: dict[str, str] | None = None) -> Outcome:
    """`publish ARGS` in a forked child, killed after BOUND seconds (an open FIFO blocks forever,
    /dev/zero never ends): a hang fails the run instead of stalling the suite."""
    pipes = [os.pipe(), os.pipe()]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        _child(root, args, _env(root, env or {}), pipes[0][1], pipes[1][1])
    for _, write in pipes:
        os.close(write)
    chunks: dict[int, list[bytes]] = {read: [] for read, _ in pipes}
    open_fds = set(chunks)
    while open_fds and time.monotonic() - start < BOUND:
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


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
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


def _assert_nothing_written(before: dict[str, tuple[int, int]], root: Path) -> None:
    after = _snapshot(root)
    changed = {p for p in after if before.get(p) != after[p] and not _is_run_log(p)}
    assert not changed, f"written: {sorted(changed)}"
    for log in root.glob("build/*/runs/*.json"):
        assert json.loads(log.read_text())["ok"] is False, log


def _assert_one_line(outcome: Outcome, cause: str) -> None:
    assert "Traceback" not in outcome.stderr + outcome.stdout, outcome.stderr
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, outcome.stderr
    assert cause in errors[0], errors[0]
    assert SECRET not in outcome.stdout + outcome.stderr


@pytest.mark.parametrize(("case", "command"), RUNS, ids=[f"{c.name}-{cmd}" for c, cmd in RUNS])
def test_hostile_input_is_refused_in_one_line(case: Case, command: str, workspace: Path) -> None:
    case.plant(workspace)
    before = _snapshot(workspace)
    outcome = run(workspace, [*COMMANDS[command], *case.extra], case.env)
    assert outcome.code is not None, f"hang: still running after {BOUND:.0f} s"
    assert outcome.code == case.exit, outcome.stderr
    _assert_one_line(outcome, case.cause)
    _assert_nothing_written(before, workspace)


# ---------------------------------------------------------------------------------------------
# The healthy baseline, and what a sweep line cannot express


def test_the_pristine_release_is_healthy(workspace: Path) -> None:
    # the sweep's refusals come from the planted input, not from a broken fixture
    assert run(workspace, ["validate", "m.toml"]).code == 0
    outcome = run(workspace, ["verify", "m.toml"])
    assert outcome.code == 0, outcome.stderr


def test_the_real_entry_point_refuses_a_fifo_manifest_in_time(workspace: Path) -> None:
    os.mkfifo(workspace / "f.toml")
    result = subprocess.run(
        [sys.executable, "-c", "from publisher.cli import app; app()", "validate", "f.toml"],
        cwd=workspace,
        env=_env(workspace, {}),
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    assert result.returncode == 2
    _assert_one_line(Outcome(2, result.stdout, result.stderr, 0), "is a FIFO (named pipe)")


def test_a_bad_hf_endpoint_spares_commands_that_do_not_need_the_hub(workspace: Path) -> None:
    # huggingface_hub parses HF_ENDPOINT when imported: --version must not import it
    env = _env(workspace, {"HF_ENDPOINT": "http://[::1"})
    command = [sys.executable, "-c", "from publisher.cli import app; app()", "--version"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=BOUND)
    assert result.returncode == 0 and result.stdout.startswith("publish "), result.stderr
    assert run(workspace, ["validate", "m.toml"], {"HF_ENDPOINT": "http://[::1"}).code == 0


def test_only_the_selected_tags_files_are_read(workspace: Path) -> None:
    _dev_zero("gguf/fam-v1-Q8_0.gguf")(workspace)
    outcome = run(workspace, ["verify", "m.toml", "--tag", "Q4_K_M", "--json"])
    assert outcome.code == 0, outcome.stderr
    outcome = run(workspace, ["release", "m.toml", "--dry-run", "--tag", "Q4_K_M", "--json"])
    assert outcome.code is not None and "Traceback" not in outcome.stderr
    summary = json.loads(outcome.stdout)
    # verified and hashed Q4_K_M only; what stops the toy release later is its chat template
    assert [t["tag"] for t in summary["tags"]] == ["Q4_K_M"]
    steps = {step["name"]: step for step in summary["steps"]}
    assert steps["verify"]["status"] == "ok" and "Q8_0" not in (summary["error"] or "")


def test_an_other_tags_fifo_is_named_not_read(workspace: Path) -> None:
    # same-size twins are compared by digest; a FIFO in another tag's place is never opened
    _fifo("gguf/fam-v1-Q8_0.gguf")(workspace)
    outcome = run(workspace, ["verify", "m.toml", "--tag", "Q4_K_M", "--json"])
    assert outcome.code == 0, outcome.stderr
    (report,) = json.loads(outcome.stdout)
    unique = next(r for r in report["results"] if r["name"] == "digest_unique")
    assert unique["ok"] and "Q8_0" in unique["detail"]


def test_a_gguf_whose_header_failed_is_never_hashed(workspace: Path) -> None:
    (workspace / G).write_bytes(b"GGML" + bytes(4096))
    outcome = run(workspace, ["verify", "m.toml", "--json"], OWN_CACHE)
    assert outcome.code == 1 and "Traceback" not in outcome.stderr
    reports = {r["tag"]: r for r in json.loads(outcome.stdout)}
    assert not reports["Q4_K_M"]["sha256"] and reports["Q8_0"]["sha256"]
    cache = json.loads((workspace / "cache" / "digests.json").read_text())["entries"]
    assert [Path(p).name for p in cache] == ["fam-v1-Q8_0.gguf"]


def test_a_loose_gguf_fifo_is_refused(workspace: Path) -> None:
    _fifo("x.gguf")(workspace)
    outcome = run(workspace, ["verify", "x.gguf", "--tag", "Q4_K_M"])
    assert outcome.code == 2
    _assert_one_line(outcome, "FIFO")


def test_the_ollama_key_as_a_fifo_is_refused(workspace: Path) -> None:
    key = workspace / "home" / ".ollama" / "id_ed25519"
    key.parent.mkdir()
    os.mkfifo(key)
    code = "from publisher.ollama.auth import load_key; load_key()"
    env = _env(workspace, {})
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=BOUND
    )
    assert result.returncode != 0 and "NotARegularFile" in result.stderr
    assert f"{key}: Ollama signing key is a FIFO (named pipe)" in result.stderr


def test_a_newline_variant_creates_no_folder_or_ledger(workspace: Path) -> None:
    _edit('variant = "v1"', 'variant = "v1\\n"')(workspace)
    run(workspace, ["release", "m.toml", "--dry-run"])
    assert not [p for p in workspace.rglob("*") if "\n" in p.name]


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "m\0.toml"],
        ["verify", "m.toml", "--gguf-dir", "gg\0uf"],
        ["render", "m.toml", "--out", "bu\0ild"],
        ["check-template", "--template", "t\0.gotmpl"],
        ["release", "m.toml", "--dry-run", "--out", "b\0"],
        ["smoke", "m.toml", "--cases", "c\0"],
    ],
    ids=["manifest", "gguf-dir", "out", "template", "release-out", "smoke-cases"],
)
def test_a_nul_byte_in_a_command_line_path_is_one_line(args: list[str], workspace: Path) -> None:
    # exec() cannot pass a NUL byte, but a caller of the app in-process (a wrapper) can
    before = _snapshot(workspace)
    outcome = run(workspace, args)
    assert outcome.code == 2, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert "NUL byte" in outcome.stderr or "null byte" in outcome.stderr, outcome.stderr
    _assert_nothing_written(before, workspace)


# ---------------------------------------------------------------------------------------------
# The helpers themselves


def test_open_regular_names_every_kind_of_special_file(tmp_path: Path) -> None:
    import socket

    from publisher.files import NotARegularFile, open_regular, read_text

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    kinds = {"fifo": "a FIFO", "zero": "a character device", "sock": "a socket", ".": "a directory"}
    for name, kind in kinds.items():
        with pytest.raises(NotARegularFile, match=f"ledger is {kind}"):
            open_regular(tmp_path / name, "ledger")
    server.close()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "real").write_text("ok")
    assert read_text(tmp_path / "link") == "ok"  # a symlink to a regular file is fine


def test_redact_strips_userinfo_and_nothing_else() -> None:
    from publisher.urls import redact, redact_data

    text = f"push to http://u:{SECRET}@h:5000/v2/ failed; see https://hf.co/a@b and x@y.z"
    assert redact(text) == "push to http://***@h:5000/v2/ failed; see https://hf.co/a@b and x@y.z"
    nested = {"url": f"https://t:{SECRET}@r", "list": [f"oci://{SECRET}@r"]}
    assert SECRET not in json.dumps(redact_data(nested))


def test_the_ledger_and_console_never_hold_url_userinfo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from publisher import console
    from publisher.ledger import Ledger

    ledger = Ledger(tmp_path / "v1.lock.json", "v1")
    ledger.record("ollama", "push:Q4_K_M", {"registry": f"http://me:{SECRET}@127.0.0.1:5000"})
    assert SECRET not in (tmp_path / "v1.lock.json").read_text()
    console.error(f"cannot reach http://me:{SECRET}@127.0.0.1:5000")
    console.print_json({"registry": f"http://me:{SECRET}@h"})
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err and "http://***@127.0.0.1:5000" in captured.err


def test_numbers_stay_exact_for_any_finite_float() -> None:
    from publisher.render.numbers import format_delta, format_score

    assert format_score(1e308).endswith(".00") and len(format_score(1e308)) == 312
    assert format_delta(1e308, -1e308).startswith("+2")
    with pytest.raises(ValueError, match="finite"):
        format_score(float("nan"))


def test_the_session_environment_is_the_suites_not_the_users() -> None:
    """Issue 22: tests/conftest.py clears what the tool and its libraries read from the shell
    (HF_HUB_OFFLINE alone failed 11 tests) and pins HOME to an empty session folder."""
    from conftest import read_by_the_tool

    leaked = sorted(
        name
        for name in os.environ
        if read_by_the_tool(name) and name not in ("PUBLISHER_CACHE_DIR", "XDG_RUNTIME_DIR")
    )
    assert leaked == []
    assert os.environ["PUBLISHER_CACHE_DIR"] == SHARED_CACHE
    home = Path(os.environ["HOME"])
    assert home.name == "home" and home.parent.name.startswith("publisher-test-session-")
    assert not (home / ".ollama").exists() and not (home / ".cache").exists()
    for name in ("HF_HUB_OFFLINE", "https_proxy", "GOFLAGS", "NO_COLOR", "COLUMNS", "OLLAMA_HOST"):
        assert read_by_the_tool(name), name
