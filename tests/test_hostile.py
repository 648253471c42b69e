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
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.forked_cli import (
    BOUND,
    SHARED_CACHE,
    Outcome,
    assert_nothing_written,
    closed_world,
    edit,
    run,
    snapshot,
    write_healthy_release,
)

OWN_CACHE = {"PUBLISHER_CACHE_DIR": "cache"}  # relative: the workspace's own digest cache
SECRET = "hunter2"  # the password in credentialed URLs: it must never be printed

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
LOCAL_TEMPLATE = edit(*USE_LOCAL_TEMPLATE)
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
    Case("nul-gguf-dir", edit('gguf_dir = "gguf"', 'gguf_dir = "gg\\u0000uf"'), ALL, "NUL"),
    Case("nul-template", edit(USE_LOCAL_TEMPLATE[0], 'template = "f\\u0000.gotmpl"'), ALL, "NUL"),
    Case("template-name-too-long", edit(USE_LOCAL_TEMPLATE[0], f'template = "{"t" * 300}"'), ALL,
         "no file"),
    Case("extends-name-too-long", edit("[model]", f'extends = "{"b" * 300}"\n[model]'), ALL,
         "does not exist"),
    Case("benchmark-nan", edit("score = 74.5", "score = nan"), ALL, "finite"),
    Case("benchmark-inf", edit("reference = 75.25", "reference = -inf"), ALL, "finite"),
    Case("benchmark-1e308", edit("score = 74.5", "score = 1e308"), ALL, "benchmark figure"),
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
    Case("temperature-nan", edit("temperature = 0.6", "temperature = nan"), ALL, "finite"),
    Case("top-p-inf", edit("temperature = 0.6", "top_p = inf"), ALL, "finite"),
    Case("tag-parameter-nan", edit('tag = "Q8_0"', 'tag = "Q8_0"\nparameters = { min_p = nan }'),
         ALL, "finite"),
    Case("temperature-1e308", edit("temperature = 0.6", "temperature = 1e308"), ALL, "32-bit"),
    Case("variant-newline", edit('variant = "v1"', 'variant = "v1\\n"'), ALL, "'v1\\n'"),
    Case("model-newline", edit('model = "me/fam"', 'model = "me/fam\\n"'), ALL, "'fam\\n'"),
    Case("repo-newline", edit('repo = "Org/fam-v1-GGUF"', 'repo = "Org/fam-v1-GGUF\\n"'),
         ALL, "huggingface.repo"),
    Case("tag-newline", edit('tag = "Q8_0"', 'tag = "Q8_0\\n"'), ALL, "'Q8_0\\n'"),
    Case("latest-newline", edit(REG, 'latest = "Q4_K_M\\n"'), ALL, "ollama.latest"),
    Case("related-newline", edit('repo = "Org/fam-v1-GGUF"\n', 'repo = "Org/fam-v1-GGUF"\n'
         '[[related]]\nvariant = "v2"\nollama = "me/fam-v2\\n"\n'), ALL, "related[0].ollama"),
    Case("key-newline", edit('tag = "Q8_0"', 'tag = "Q8_0"\n"vr\\nam\\u001b[31m" = "x"'), ALL,
         "unknown key"),
    Case("file-name-newline", edit('name = "fam-v1-{tag}.gguf"', 'name = "fam-v1-{tag}.gguf\\n"'),
         ALL, "control characters"),
    Case("model-upper-case", edit('model = "me/fam"', 'model = "me/Fam"'), ALL, "lower case"),
    Case("namespace-upper-case", edit('model = "me/fam"', 'model = "Me/fam"'), ALL, "lower case"),
    Case("registry-credentials", edit(REG, f'{REG}\nregistry = "{CRED_REGISTRY}"'), ALL,
         "credentials"),
    Case("registry-option-credentials", _nothing, ("release", "status"), "credentials",
         extra=("--ollama-registry", CRED_REGISTRY)),
    Case("hub-endpoint-key-credentials", edit('repo = "Org/fam-v1-GGUF"',
         f'repo = "Org/fam-v1-GGUF"\nendpoint = "https://me:{SECRET}@hub.example"'), ALL,
         "credentials"),
]  # fmt: skip

RUNS = [(case, command) for case in CASES for command in case.commands]


# ---------------------------------------------------------------------------------------------
# Running


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A healthy release folder: manifest, template, licence and two tiny GGUFs; the Go renderer
    is built into the shared cache first, so no bounded run pays for a compile."""
    from publisher.chat.gorender import GoUnavailable, binary_path

    with contextlib.suppress(GoUnavailable):  # without Go, check-template says so in one line
        binary_path()
    root = write_healthy_release(tmp_path_factory.mktemp("pristine"))
    (root / "cache").mkdir()
    return root


@pytest.fixture
def workspace(pristine: Path, tmp_path: Path) -> Path:
    root = tmp_path / "work"
    shutil.copytree(pristine, root, symlinks=True)
    return root


def _assert_one_line(outcome: Outcome, cause: str) -> None:
    assert "Traceback" not in outcome.stderr + outcome.stdout, outcome.stderr
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, outcome.stderr
    assert cause in errors[0], errors[0]
    assert SECRET not in outcome.stdout + outcome.stderr


@pytest.mark.parametrize(("case", "command"), RUNS, ids=[f"{c.name}-{cmd}" for c, cmd in RUNS])
@pytest.mark.slow
def test_hostile_input_is_refused_in_one_line(case: Case, command: str, workspace: Path) -> None:
    case.plant(workspace)
    before = snapshot(workspace)
    outcome = run(workspace, [*COMMANDS[command], *case.extra], case.env)
    assert outcome.code is not None, f"hang: still running after {BOUND:.0f} s"
    assert outcome.code == case.exit, outcome.stderr
    _assert_one_line(outcome, case.cause)
    assert_nothing_written(before, workspace)


# ---------------------------------------------------------------------------------------------
# The healthy baseline, and what a sweep line cannot express


def test_the_pristine_release_is_healthy(workspace: Path) -> None:
    # the sweep's refusals come from the planted input, not from a broken fixture
    assert run(workspace, ["validate", "m.toml"]).code == 0
    outcome = run(workspace, ["verify", "m.toml"])
    assert outcome.code == 0, outcome.stderr


@pytest.mark.slow
def test_the_real_entry_point_refuses_a_fifo_manifest_in_time(workspace: Path) -> None:
    os.mkfifo(workspace / "f.toml")
    result = subprocess.run(
        [sys.executable, "-c", "from publisher.cli import app; app()", "validate", "f.toml"],
        cwd=workspace,
        env=closed_world(workspace, {}),
        capture_output=True,
        text=True,
        timeout=BOUND,
    )
    assert result.returncode == 2
    _assert_one_line(Outcome(2, result.stdout, result.stderr, 0), "is a FIFO (named pipe)")


@pytest.mark.slow
def test_a_bad_hf_endpoint_spares_commands_that_do_not_need_the_hub(workspace: Path) -> None:
    # huggingface_hub parses HF_ENDPOINT when imported: --version must not import it
    env = closed_world(workspace, {"HF_ENDPOINT": "http://[::1"})
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
    env = closed_world(workspace, {})
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=BOUND
    )
    assert result.returncode != 0 and "NotARegularFile" in result.stderr
    assert f"{key}: Ollama signing key is a FIFO (named pipe)" in result.stderr


def test_a_newline_variant_creates_no_folder_or_ledger(workspace: Path) -> None:
    edit('variant = "v1"', 'variant = "v1\\n"')(workspace)
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
    before = snapshot(workspace)
    outcome = run(workspace, args)
    assert outcome.code == 2, outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert "NUL byte" in outcome.stderr or "null byte" in outcome.stderr, outcome.stderr
    assert_nothing_written(before, workspace)


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
    from support.session_env import read_by_the_tool

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
