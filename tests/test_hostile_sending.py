"""Hostile input aimed at what the tool sends and prints (issue 21 items 6-9): a registry that
echoes our credentials, sends escape codes, forges `error:` lines, never ends its body or
trickles it; manifest text carrying the card's own markers, or made to break the table, code
block or YAML it lands in.

Each run is the real CLI in a forked child (as in test_hostile.py), killed after a bound: it
must finish in time, exit with the expected code, print exactly one `error:` line and no
traceback, and leave no secret in stdout, stderr, `--json`, the run logs or the ledger.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from doubles.hostile_registry import TOKEN, Hostility, hostile_registry
from support import forked_cli
from support.forked_cli import Outcome
from support.release_fixtures import fam_gguf, fam_manifest

from publisher import http_limits
from publisher.remote_text import redact_credentials, remember_sent, server_text

BOUND = 90.0  # seconds: a run still going after this is a hang

OLLAMA = """\
[ollama]
model = "me/fam"
latest = "Q4_K_M"
template = "gemma4-tools.gotmpl"
parser = "gemma4"
license = "LICENSE.txt"
registry = "{registry}"

[[tags]]
tag = "Q4_K_M"
targets = ["ollama"]
"""


def run(root: Path, args: list[str]) -> Outcome:
    """`publish ARGS` forked in a closed world (patched limits carry over), bounded by BOUND."""
    return forked_cli.run(root, args, bound=BOUND)


def _release(root: Path, registry: str) -> Path:
    """A one-tag Ollama release pushed straight to `registry`, with a signing key in HOME."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "m.toml").write_text(fam_manifest(OLLAMA.format(registry=registry)))
    (root / "LICENSE.txt").write_text("Apache-2.0\n")
    fam_gguf(root / "gguf", "Q4_K_M")
    key = Ed25519PrivateKey.generate()
    (root / "home" / ".ollama").mkdir(parents=True)
    (root / "home" / ".ollama" / "id_ed25519").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    return root


def _secrets(hostility: Hostility) -> list[str]:
    """Every credential the tool sent: the issued token and each signed Authorization, whole
    and its signature alone."""
    found = [TOKEN]
    for header in hostility.seen_authorization:
        value = header.removeprefix("Bearer ")
        found += [value, value.rpartition(":")[2]]
    return [s for s in found if len(s) >= 8]


def _everything(root: Path, outcome: Outcome) -> str:
    """All the tool printed and stored: stdout (with --json), stderr, run logs and ledgers."""
    files = [*root.glob("build/*/runs/*.json"), *root.glob("*.lock.json")]
    return outcome.stdout + outcome.stderr + "".join(p.read_text() for p in files)


def _assert_one_clean_line(outcome: Outcome, code: int, cause: str) -> None:
    assert outcome.code is not None, f"hang: still running after {BOUND:.0f} s"
    assert "Traceback" not in outcome.stderr + outcome.stdout, outcome.stderr
    assert outcome.code == code, outcome.stderr
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, outcome.stderr
    assert cause in errors[0], errors[0]
    assert not any(line.startswith("warning: and") for line in outcome.stderr.splitlines())
    for char in ("\x1b", "\x9b", "\x07", "\r"):
        assert char not in outcome.stdout + outcome.stderr, repr(outcome.stderr)


# ---------------------------------------------------------------------------------------------
# Item 6/7: a hostile registry, through the CLI


@pytest.fixture(scope="module")
def go_renderer_built() -> None:
    """Build the Go template renderer into the shared cache first: no timed run pays for it."""
    from publisher.chat.gorender import GoUnavailable, binary_path

    with contextlib.suppress(GoUnavailable):
        binary_path()


REGISTRY_CASES = [
    # (mode, where, command, exit code, a word of the one error line); a refusal (401/403) is
    # "remote unreachable / credentials" (3), as every registry refusal is
    ("echo", "token", "status", 3, "token request"),
    ("escapes", "token", "status", 3, "token request"),
    ("forged", "token", "release", 3, "token request"),
    ("echo", "manifest", "status", 3, "HTTP 403"),
    ("escapes", "manifest", "release", 3, "HTTP 403"),
    ("forged", "manifest", "status", 3, "HTTP 403"),
    ("endless", "manifest", "status", 3, "HTTP 403"),
    ("endless-ok", "manifest", "status", 3, "larger than"),
    ("endless-ok", "token", "status", 3, "larger than"),
    ("trickle", "manifest", "status", 3, "HTTP 403"),
    ("trickle-ok", "manifest", "release", 3, "too slowly"),
    ("trickle-ok", "token", "status", 3, "too slowly"),
    ("redirect-endless", "manifest", "status", 1, "HTTP 302"),
]
COMMAND = {
    "status": ["status", "m.toml", "--only", "ollama", "--json"],
    "release": ["release", "m.toml", "--only", "ollama", "--json"],
}


@pytest.mark.parametrize(
    ("mode", "at", "command", "code", "cause"),
    REGISTRY_CASES,
    ids=[f"{m}-at-{a}-{c}" for m, a, c, _, _ in REGISTRY_CASES],
)
@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_hostile_registry_is_one_clean_line_with_no_secret(
    go_renderer_built: None,
    mode: str,
    at: str,
    command: str,
    code: int,
    cause: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_limits, "GRACE", 1.0)  # the forked run inherits it: a short grace
    hostility = Hostility(mode, at)
    with hostile_registry(hostility) as url:
        root = _release(tmp_path / "rel", url)
        outcome = run(root, COMMAND[command])
    _assert_one_clean_line(outcome, code, cause)
    assert outcome.seconds < 40, f"took {outcome.seconds:.1f} s"
    assert hostility.seen_authorization, "the registry was never asked"
    stored = _everything(root, outcome)
    for secret in _secrets(hostility):
        assert secret not in stored, f"{secret[:12]}… leaked"
    if command == "release":
        logs = list(root.glob("build/*/runs/*.json"))
        assert logs and all(json.loads(p.read_text())["ok"] is False for p in logs)


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_trickling_body_is_cut_by_the_default_limits_in_bounded_time(
    go_renderer_built: None, tmp_path: Path
) -> None:
    """No patched grace: the shipped limits end a byte-every-2-s body well within the bound."""
    hostility = Hostility("trickle-ok", "manifest")
    with hostile_registry(hostility) as url:
        root = _release(tmp_path / "rel", url)
        outcome = run(root, COMMAND["status"])
    _assert_one_clean_line(outcome, 3, "too slowly")
    assert outcome.seconds < http_limits.GRACE + 20, f"took {outcome.seconds:.1f} s"


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_silent_body_ends_at_the_read_timeout(tmp_path: Path) -> None:
    """Headers, then silence: the client's read timeout ends the request, with no retry loop."""
    from publisher.errors import TargetUnavailable
    from publisher.ollama.auth import AnonymousThenKeyAuth
    from publisher.ollama.registry import RegistryClient

    root = _release(tmp_path / "rel", "http://127.0.0.1:1")
    key = root / "home" / ".ollama" / "id_ed25519"
    with hostile_registry(Hostility("silent-ok")) as url:
        client = RegistryClient(
            url, "me/fam", auth=AnonymousThenKeyAuth(key), insecure=True, timeout=1.0, retries=1
        )
        client.backoff = 0.01
        start = time.monotonic()
        with client, pytest.raises(TargetUnavailable, match="ReadTimeout"):
            client.get_manifest("Q4_K_M")
    assert time.monotonic() - start < 15


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("echo", "HTTP 403"),
        ("forged", "HTTP 403"),
        ("endless-ok", "larger than"),
        ("trickle-ok", "too slowly"),
    ],
)
@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_the_hf_co_read_back_reads_bounded_and_shows_one_clean_line(
    mode: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read-back's GET carries HF_TOKEN: an echo of it, a forged line, an endless or a
    trickling answer end as one clean problem line, in bounded time."""
    import httpx

    from publisher.huggingface.readback import resolve

    monkeypatch.setattr(http_limits, "GRACE", 1.0)
    token = "hf_" + "Q" * 34
    start = time.monotonic()
    with hostile_registry(Hostility(mode)) as url, httpx.Client(timeout=10) as client:
        got = resolve(url, "me/fam", "Q4_K_M", token=token, client=client)
    assert time.monotonic() - start < 20
    assert got.sha256 is None and got.problem is not None and expected in got.problem
    assert token not in got.problem and "Q" * 20 not in got.problem
    assert "\n" not in got.problem and "\x1b" not in got.problem and len(got.problem) < 400


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("trickle-ok", "too slowly"), ("redirect-endless", "HTTP 302"), ("endless-ok", "larger")],
)
@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_the_side_layer_read_is_bounded(
    mode: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A params layer that differs is read to compare it as JSON: a blob trickling a byte every
    2 s, redirecting to itself with endless bodies, or never ending ends in bounded time as a
    differing layer, never a hang (issue 21 item 7)."""
    import httpx

    from publisher.huggingface.readback import Resolution, SideCheck

    monkeypatch.setattr(http_limits, "GRACE", 1.0)
    digest = "sha256:" + "0" * 64
    start = time.monotonic()
    with hostile_registry(Hostility(mode)) as url, httpx.Client(timeout=10) as client:
        check = SideCheck(
            url, "me/fam", {"params": b'{"temperature": 1}'}, token="t", client=client
        )
        problems = check.problems(Resolution("Q4_K_M", sha256="0" * 64, side={"params": digest}))
    assert time.monotonic() - start < 20
    assert len(problems) == 1 and "is not the repo's `params` file" in problems[0]
    assert expected in str(check.blobs[digest])


def test_every_client_has_a_read_timeout() -> None:
    """No client waits for ever on a silent peer: the registry's, the daemon's, the commit's."""
    from publisher.ollama.daemon_api import DaemonAPI
    from publisher.ollama.registry import RegistryClient

    daemon = DaemonAPI("http://127.0.0.1:1", 30.0)
    registry = RegistryClient("http://127.0.0.1:1", "me/fam", insecure=True)
    try:
        assert daemon.http.timeout.read is not None
        assert registry.commit_timeout.read is not None
        assert registry._http.timeout.read is not None
    finally:
        daemon.close()
        registry.close()


# ---------------------------------------------------------------------------------------------
# Item 6: the helper itself


def test_server_text_is_one_bounded_line_without_credentials() -> None:
    remember_sent("Bearer short-but-sent-0001")
    text = (
        "denied\x1b[31m for Authorization: Bearer short-but-sent-0001\r\nerror: forged\x07 "
        '{"authorization": "AAAAC3NzaC1lZDI1NTE5AAAAIabc:c2lnbmF0dXJlc2lnbmF0dXJl"} '
        "hf_abcdefghijklmnopqrstuvwxyzABCD token short-but-sent-0001\u2028next\u202eevil"
    )
    line = server_text(text + "x" * 5000)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\x07" not in line
    assert "\u2028" not in line and "\u202e" not in line
    assert "short-but-sent-0001" not in line
    assert "c2lnbmF0dXJl" not in line and "hf_abcdefghij" not in line
    assert len(line) <= 300 and line.endswith("…")
    assert line.startswith("denied for Authorization: ***")


def test_the_console_sinks_redact_what_was_sent(capsys: pytest.CaptureFixture[str]) -> None:
    from publisher import console

    remember_sent("sent-token-value-42")
    console.error("the server said: sent-token-value-42")
    console.print_json({"detail": "Bearer sent-token-value-42"})
    captured = capsys.readouterr()
    assert "sent-token-value-42" not in captured.out + captured.err
    assert redact_credentials("plain text stays") == "plain text stays"


def test_short_values_and_ordinary_words_are_left_alone() -> None:
    remember_sent("abc")  # too short to be a credential: never redacted
    assert server_text("abc: Bearer challenge for realm") == "abc: Bearer challenge for realm"


# ---------------------------------------------------------------------------------------------
# Items 8/9: manifest text that would break what it lands in, refused at load naming the field

TEXT_MANIFEST = """\
[model]
family = "fam"
variant = "v1"
title = "Fam v1"
base_model = "org/base"
experts = 98
summary = "A small test release."
pick_for = "tests"

[files]
gguf_dir = "gguf"
name = "fam-v1-{tag}.gguf"

[ollama]
model = "me/fam"
latest = "Q4_K_M"
template = "gemma4-tools.gotmpl"
parser = "gemma4"

[huggingface]
repo = "Org/fam-v1-GGUF"

[[tags]]
tag = "Q4_K_M"
vram = "8 GB"
note = "size-conscious"

[benchmarks]
setup = "GGUF Q4_K_M via llama.cpp"
reference_label = "BF16 reference"

[[benchmarks.rows]]
name = "GPQA"
reference = 75.25
score = 74.5
"""
MARKER = "<!-- publisher:end header -->"
TEXT_CASES = [
    # (name, old text, new text, the field the one error line must name)
    ("marker-summary", 'summary = "A small', f'summary = "{MARKER} A small', "model.summary"),
    ("marker-pick_for", 'pick_for = "tests"', f'pick_for = "{MARKER}"', "model.pick_for"),
    (
        "marker-setup",
        'setup = "GGUF Q4_K_M via llama.cpp"',
        f'setup = """\nGGUF Q4_K_M via llama.cpp\n{MARKER}\n"""',
        "benchmarks.setup",
    ),
    ("marker-note", 'note = "size-conscious"', f'note = "{MARKER}"', "tags[0].note"),
    (
        "marker-begin-spaced",
        'summary = "A small',
        'summary = "<!--  PUBLISHER:begin files --> A small',
        "model.summary",
    ),
    ("parser-shape", 'parser = "gemma4"', 'parser = "gemma5 # nope"', "ollama.parser"),
    (
        "renderer-shape",
        'parser = "gemma4"',
        'parser = "gemma4"\nrenderer = "Gemma4\\nSYSTEM x"',
        "ollama.renderer",
    ),
    (
        "note-breaks-the-shell-block",
        'note = "size-conscious"',
        'note = "fast\\n```\\nrm -rf /\\n```"',
        "tags[0].note",
    ),
    ("vram-newline", 'vram = "8 GB"', 'vram = "8 GB\\n| x |"', "tags[0].vram"),
    ("title-newline", 'title = "Fam v1"', 'title = "Fam\\n# evil"', "model.title"),
    (
        "label-newline",
        'reference_label = "BF16 reference"',
        'reference_label = "BF16\\r\\n| x |"',
        "benchmarks.reference_label",
    ),
    ("row-name-escape", 'name = "GPQA"', 'name = "GPQA\\u001b[2J"', "benchmarks.rows[0].name"),
    (
        "license-link-javascript",
        'repo = "Org/fam-v1-GGUF"',
        'repo = "Org/fam-v1-GGUF"\nlicense_link = "javascript:alert(1)"',
        "huggingface.license_link",
    ),
    (
        "license-link-breaks-markdown",
        'repo = "Org/fam-v1-GGUF"',
        'repo = "Org/fam-v1-GGUF"\nlicense_link = "https://e.com/a)[x](https://evil"',
        "huggingface.license_link",
    ),
    (
        "license-name-multiline",
        'repo = "Org/fam-v1-GGUF"',
        'repo = "Org/fam-v1-GGUF"\nlicense_name = "mine\\nlicense: mit"',
        "huggingface.license_name",
    ),
]


def _text_release(root: Path, old: str = "", new: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    assert old in TEXT_MANIFEST
    (root / "m.toml").write_text(TEXT_MANIFEST.replace(old, new, 1))
    fam_gguf(root / "gguf", "Q4_K_M")
    (root / "home").mkdir()
    return root


def test_the_text_release_is_healthy(tmp_path: Path) -> None:
    outcome = run(_text_release(tmp_path / "rel"), ["validate", "m.toml"])
    assert outcome.code == 0, outcome.stderr


@pytest.mark.parametrize(
    ("name", "old", "new", "field"), TEXT_CASES, ids=[c[0] for c in TEXT_CASES]
)
@pytest.mark.parametrize("command", ["validate", "render"])
def test_text_that_breaks_where_it_lands_is_refused_naming_the_field(
    name: str, old: str, new: str, field: str, command: str, tmp_path: Path
) -> None:
    root = _text_release(tmp_path / "rel", old, new)
    outcome = run(root, [command, "m.toml"])
    _assert_one_clean_line(outcome, 2, field)
    assert "m.toml:" in outcome.stderr  # the TOML line is named too
    assert not (root / "build").exists(), "nothing may be rendered"


def _loaded(tmp_path: Path) -> Any:
    from publisher.manifest import load

    root = _text_release(tmp_path / "rel")
    return load(root / "m.toml")


def _shell_block(page: str) -> list[str]:
    lines = page.splitlines()
    start = lines.index("```sh")
    end = lines.index("```", start + 1)
    return lines[start + 1 : end]


def test_a_note_that_got_past_load_cannot_add_a_line_to_the_pull_block(tmp_path: Path) -> None:
    """Defence in depth: even a note no loader checked (built in code) renders as one comment
    line; the block holds only comments and `ollama pull` lines, and one fence closes it."""
    from publisher.render.page import render_page

    release = _loaded(tmp_path)
    evil = "fast\n```\nrm -rf /\n```\r\u2028rm -rf ~"
    tags = [release.tags[0].model_copy(update={"note": evil, "vram": "8 GB`|"})]
    page = render_page(release.model_copy(update={"tags": tags}))
    block = _shell_block(page)
    assert all(line.startswith(("# ", "ollama pull ")) for line in block), block
    assert [line for line in block if line.startswith("ollama pull")] == [
        "ollama pull me/fam:Q4_K_M"
    ]
    assert page.count("```") == 2
    assert not any(line.strip().startswith("rm -rf") for line in page.splitlines())


def test_table_cells_keep_their_row_whatever_the_text(tmp_path: Path) -> None:
    from publisher.render.env import cell, code_line

    assert cell("a | b\nc\r\n| d") == "a \\| b c \\| d"
    assert code_line("x\n```\ny`") == "x ''' y'"
    release = _loaded(tmp_path)
    tags = [release.tags[0].model_copy(update={"note": "one | two\n| three |", "vram": "8|GB"})]
    from publisher.render.rendered import render_release

    card = render_release(release.model_copy(update={"tags": tags})).hf_card
    row = next(line for line in card.splitlines() if "fam-v1-Q4_K_M.gguf](" in line)
    assert row.count(" | ") == 7, row  # 8 cells: the note's and the VRAM's pipes are escaped
    assert "one \\| two \\| three \\|" in row and "8\\|GB" in row


def test_every_free_text_key_refuses_the_marker(tmp_path: Path) -> None:
    """No string anywhere in the manifest may carry the marker: a key added later is covered."""
    from publisher.errors import UsageError
    from publisher.manifest import load

    root = _text_release(tmp_path / "rel")
    text = (root / "m.toml").read_text()
    (root / "m.toml").write_text(
        text.replace(
            '[huggingface]\nrepo = "Org/fam-v1-GGUF"',
            f'[huggingface]\nrepo = "Org/fam-v1-GGUF"\nquantized_by = "x {MARKER}"',
        )
    )
    with pytest.raises(UsageError, match=r"huggingface\.quantized_by.*section marker"):
        load(root / "m.toml")
