"""Hostile input aimed at what `publish` writes and reads (issue 21, items 1-5 and 10).

Writing: `render` never deletes a file it did not write, never writes through a link or into a
FIFO, and a kill mid-render leaves the previous card whole. Reading: every manifest key that
names a file stays inside the release's tree, no private key or token becomes content, the Hub
repo's paths are unique and none is the tool's own, symlink loops are one line. `init` writes
values a TOML parser reads back exactly, whatever the folder name or `--base-model` holds.

Each run is the real CLI forked from this process and killed after a bound (test_hostile's
runner). Each refusal must: end in time with exit 2, print exactly one `error:` line naming the
cause, no traceback, change nothing in the workspace nor in a sentinel folder beside it (the
"outside" a hostile path points at), and put no secret in any output or file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from support.forked_cli import (
    BOUND,
    MANIFEST,
    Outcome,
    assert_nothing_written,
    edit,
    run,
    snapshot,
    write_healthy_release,
)

from publisher.errors import ManifestError
from publisher.manifest import load
from publisher.manifest.schema import TABLE_MODELS, path_keys
from publisher.render.outputs import RECORD_NAME, remove_stale
from publisher.scaffold.writer import comment, toml_value

KEY_MARK = "sentinelKEYmaterial0123"
KEY_TEXT = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    f"b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ{KEY_MARK}\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
TOKEN_MARK = "sentinelTokenMaterial"
TOKEN = f"hf_{TOKEN_MARK}0123456789abcd"
SECRETS = (KEY_MARK, TOKEN_MARK)
PASSWD = "root:x:0:0:root:/root:/bin/bash\n"
G = "gguf/fam-v1-Q4_K_M.gguf"


# ---------------------------------------------------------------------------------------------
# The workspace and the sentinel folder beside it


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A healthy release folder (test_hostile's), in `work/`, with `outside/` beside it."""
    top = tmp_path_factory.mktemp("lanes")
    return write_healthy_release(top / "work")


@pytest.fixture
def root(pristine: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(pristine, work, symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "id_ed25519").write_text(KEY_TEXT)
    (outside / "token").write_text(TOKEN + "\n")
    (outside / "passwd").write_text(PASSWD)
    (outside / "page-target.md").write_text("a stranger's page\n")
    (outside / "base.toml").write_text("[checks]\nrequire_chat_template = true\n")
    return work


def _sentinel(root: Path) -> dict[str, bytes]:
    """Every file outside the workspace, with its bytes."""
    outside = root.parent / "outside"
    return {str(p.relative_to(outside)): p.read_bytes() for p in outside.rglob("*") if p.is_file()}


def _secret_files(root: Path) -> set[Path]:
    """The files in the workspace holding a secret (links not followed)."""
    found = set()
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(s.encode() in data for s in SECRETS):
                found.add(path)
    return found


def _assert_no_secret(outcome: Outcome, root: Path, planted: set[Path]) -> None:
    """No secret in what was printed, nor in any file but those planted with one."""
    printed = outcome.stdout + outcome.stderr
    assert not [s for s in SECRETS if s in printed], printed
    assert _secret_files(root) <= planted


def _assert_one_line(outcome: Outcome, cause: str) -> None:
    assert outcome.code is not None, f"hang: still running after {BOUND:.0f} s"
    assert "Traceback" not in outcome.stderr + outcome.stdout, outcome.stderr
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, outcome.stderr
    assert cause in errors[0], errors[0]


# ---------------------------------------------------------------------------------------------
# Planting


def _link(name: str, target: str) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        path.symlink_to(target)

    return plant


def _write(name: str, text: str) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)

    return plant


def _loop(a: str, b: str) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        for name in (a, b):
            with contextlib.suppress(FileNotFoundError):
                (root / name).unlink()
        (root / a).symlink_to(b)
        (root / b).symlink_to(a)

    return plant


def _abs_licence(root: Path) -> None:
    outside = root.parent / "outside"
    edit('license = "LICENSE.txt"', f'license = "{outside / "id_ed25519"}"')(root)


def _abs_extends(root: Path) -> None:
    base = root.parent / "outside" / "base.toml"
    text = (root / "m.toml").read_text()
    (root / "m.toml").write_text(f'extends = "{base}"\n' + text)


def _prepend(line: str) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        (root / "m.toml").write_text(line + "\n" + (root / "m.toml").read_text())

    return plant


def _append(text: str) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        (root / "m.toml").write_text((root / "m.toml").read_text() + text)

    return plant


def _both(*plants: Callable[[Path], None]) -> Callable[[Path], None]:
    def plant(root: Path) -> None:
        for step in plants:
            step(root)

    return plant


def _extra(*names: str) -> Callable[[Path], None]:
    listed = ", ".join(f'"{n}"' for n in names)
    return edit('repo = "Org/fam-v1-GGUF"', f'repo = "Org/fam-v1-GGUF"\nextra_files = [{listed}]')


LOCAL_TEMPLATE = edit('template = "gemma4-tools.gotmpl"', 'template = "fam.gotmpl"')
OUT = "../outside"


@dataclass
class Case:
    """One hostile manifest or file: how to plant it and the word its one error line holds."""

    name: str
    plant: Callable[[Path], None]
    cause: str
    commands: tuple[str, ...] = ("validate", "verify", "render", "release", "status", "smoke")
    extra: tuple[str, ...] = ()


COMMANDS: dict[str, list[str]] = {
    "validate": ["validate", "m.toml"],
    "verify": ["verify", "m.toml"],
    "render": ["render", "m.toml"],
    "check-template": ["check-template", "m.toml"],
    "release": ["release", "m.toml", "--dry-run"],
    "status": ["status", "m.toml"],
    "smoke": ["smoke", "m.toml"],
}
GGUF_DIR_OPTION = ("verify", "render", "release", "status", "smoke")

READING = [
    # item 3: paths stay inside the release's tree, secrets never become content
    Case("licence-escapes", edit('license = "LICENSE.txt"', f'license = "{OUT}/id_ed25519"'),
         "outside this manifest's tree"),
    Case("licence-absolute", _abs_licence, "absolute path"),
    Case("licence-links-out", _link("LICENSE.txt", f"{OUT}/id_ed25519"), "outside this manifest"),
    Case("licence-holds-a-key", _write("LICENSE.txt", KEY_TEXT), "private key"),
    Case("licence-inline-key", edit('license = "LICENSE.txt"', f'license = """{KEY_TEXT}"""'),
         "private key"),
    Case("licence-holds-a-token", _write("LICENSE.txt", f"Apache\n{TOKEN}\n"), "access token"),
    Case("template-escapes", edit('template = "gemma4-tools.gotmpl"',
         'template = "../../../../../../../../../../../../etc/passwd"'), "outside this manifest"),
    Case("template-links-out", _both(LOCAL_TEMPLATE, _link("fam.gotmpl", f"{OUT}/passwd")),
         "outside this manifest"),
    Case("template-holds-a-key", _both(LOCAL_TEMPLATE, _write("fam.gotmpl", KEY_TEXT)),
         "private key"),
    Case("template-builtin-walks-out", edit('template = "gemma4-tools.gotmpl"',
         'template = "../licenses/apache-2.0.txt"'), "no file"),
    Case("tensor-type-file-escapes", _append(f'\n[recipes.Q4_K_M]\ntensor_type_file = '
         f'"{OUT}/passwd"\n'), "outside this manifest"),
    # a map is for CD tags only (a plain tag's layout is llama-quantize's own): a CD tag holds it
    Case("tensor-type-file-holds-a-key", _both(_write("cd.txt", KEY_TEXT), _append(
         '\n[[tags]]\ntag = "CD-Q4_K_M"\n\n[recipes."CD-*"]\ntensor_type_file = "cd.txt"\n')),
         "private key"),
    Case("extends-escapes", _prepend(f'extends = "{OUT}/base.toml"'), "outside this manifest"),
    Case("extends-absolute", _abs_extends, "absolute path"),
    Case("extra-file-links-out", _both(_extra("imatrix.dat"),
         _link("gguf/imatrix.dat", f"../{OUT}/id_ed25519")), "outside gguf_dir"),
    Case("extra-file-holds-a-token", _both(_extra("notes.txt"), _write("gguf/notes.txt", TOKEN)),
         "access token"),
    # item 4: every Hub path unique, none the tool's own
    Case("extra-readme", _extra("README.md"), "model card"),
    Case("extra-readme-case", _extra("readme.MD"), "model card"),
    Case("extra-gitattributes", _extra(".gitattributes"), "LFS rules"),
    Case("extra-template", _extra("template"), "side file"),
    Case("extra-params", _extra("params"), "side file"),
    Case("extra-system", _extra("system"), "side file"),
    Case("extra-eval-results", _extra(".eval_results"), "benchmark results"),
    Case("extra-publisher-records", _extra(".publisher"), "own records"),
    Case("extra-a-gguf", _extra("fam-v1-Q4_K_M.gguf"), "already a path"),
    Case("extra-a-sidecar", _extra("fam-v1-Q8_0.gguf.sha256"), "already a path"),
    Case("extra-a-shard-sidecar", _extra("fam-v1-Q8_0-00001-of-00002.gguf.sha256"), "sidecar"),
    Case("extra-twice", _extra("a.dat", "a.dat"), "already a path"),
    Case("tag-file-readme", edit('tag = "Q8_0"', 'tag = "Q8_0"\nfile = "README.md"'),
         "model card"),
    # item 5: symlink loops are one line
    Case("manifest-loop", _loop("m.toml", "m2.toml"), "symbolic link loop"),
    Case("extends-loop", _both(_loop("b.toml", "c.toml"), _prepend('extends = "b.toml"')),
         "symbolic link loop"),
    Case("gguf-dir-loop", _both(_loop("gl", "gl2"), edit('gguf_dir = "gguf"', 'gguf_dir = "gl"')),
         "symbolic link loop"),
    Case("gguf-dir-option-loop", _loop("gl", "gl2"), "--gguf-dir is a symbolic link loop",
         GGUF_DIR_OPTION, ("--gguf-dir", "gl")),
]  # fmt: skip

RUNS = [(case, command) for case in READING for command in case.commands]


@pytest.mark.parametrize(("case", "command"), RUNS, ids=[f"{c.name}-{cmd}" for c, cmd in RUNS])
@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_hostile_read_is_refused_in_one_line(case: Case, command: str, root: Path) -> None:
    case.plant(root)
    before, sentinel, planted = snapshot(root), _sentinel(root), _secret_files(root)
    outcome = run(root, [*COMMANDS[command], *case.extra])
    _assert_one_line(outcome, case.cause)
    assert outcome.code == 2, outcome.stderr
    assert_nothing_written(before, root)
    assert _sentinel(root) == sentinel
    _assert_no_secret(outcome, root, planted)


def test_the_template_check_refuses_a_key_given_as_its_template(root: Path) -> None:
    (root / "t.gotmpl").write_text(KEY_TEXT)
    planted = _secret_files(root)
    outcome = run(root, ["check-template", "m.toml", "--template", "t.gotmpl"])
    _assert_one_line(outcome, "private key")
    assert outcome.code == 2
    _assert_no_secret(outcome, root, planted)


def test_the_pristine_release_renders(root: Path) -> None:
    # the refusals above come from the planted input, not from a broken fixture
    outcome = run(root, ["render", "m.toml", "--no-digest"])
    assert outcome.code == 0, outcome.stderr
    assert (root / "build" / "v1" / RECORD_NAME).is_file()


def test_a_base_inside_a_git_work_tree_may_sit_in_another_folder(root: Path) -> None:
    # the tree is the work tree when there is one: `manifests/` may extend `../bases/…`
    (root / ".git").mkdir()
    (root / "bases").mkdir()
    (root / "bases" / "b.toml").write_text("[checks]\nrequire_chat_template = true\n")
    (root / "variants").mkdir()
    text = (root / "m.toml").read_text().replace('gguf_dir = "gguf"', 'gguf_dir = "../gguf"')
    text = text.replace('license = "LICENSE.txt"', 'license = "../LICENSE.txt"')
    (root / "variants" / "m.toml").write_text('extends = "../bases/b.toml"\n' + text)
    outcome = run(root, ["validate", "variants/m.toml"])
    assert outcome.code == 0, outcome.stderr


# ---------------------------------------------------------------------------------------------
# Every key that names a file is confined: enumerated from the schema, so none is forgotten

# Keys exempt from the tree rule, with the reason; a new PathKey kind must be added here
EXEMPT = {
    ("files", "gguf_dir"): "the GGUFs may live anywhere (a model store); they are checked as GGUFs",
    ("files", "name"): "a bare file name pattern inside gguf_dir (names.check_bare_file_name)",
    ("tags", "file"): "a bare file name inside gguf_dir (names.check_bare_file_name)",
}
FILE_WORDS = ("file", "dir", "path", "template", "license", "licence", "extends")


def _set(data: dict[str, Any], table: str, key: str, value: Any) -> list[str]:
    """Put `key = value` in the raw manifest at `table`; return the key's location."""
    node: Any = data
    loc: list[str] = []
    for part in table.split(".") if table else []:
        if part == "*":
            node.setdefault("Q4_K_M", {})
            node, part = node["Q4_K_M"], "Q4_K_M"
        else:
            node = node.setdefault(part, {})
        if isinstance(node, list):
            node, part = node[0], f"{part}.0"
        loc += part.split(".")
    node[key] = value
    return [*loc, key]


def test_every_manifest_key_that_names_a_file_is_confined(root: Path) -> None:
    base = tomllib.loads(MANIFEST)
    kinds = {}
    for table, key, marker in path_keys():
        kinds[(table, key)] = marker.kind
        if marker.kind == "tree":
            for value in (f"{OUT}/passwd", str(root.parent / "outside" / "passwd")):
                data = tomllib.loads(MANIFEST)
                if table == "" and key == "extends":
                    text = f"extends = {toml_value(value)}\n" + tomli_w.dumps(base)
                    loc = ["extends"]
                else:
                    loc = _set(data, table, key, value)
                    text = tomli_w.dumps(data)
                (root / "k.toml").write_text(text)
                with pytest.raises(ManifestError) as info:
                    load(root / "k.toml")
                message = str(info.value)
                assert info.value.field is not None and info.value.line is not None, message
                assert info.value.field.replace("[0]", ".0") == ".".join(loc), message
                assert "outside this manifest's tree" in message or "absolute" in message
        elif marker.kind == "beside_gguf":
            (root / "gguf" / "x.dat").symlink_to(root.parent / "outside" / "passwd")
            data = tomllib.loads(MANIFEST)
            _set(data, table, key, ["x.dat"])
            (root / "k.toml").write_text(tomli_w.dumps(data))
            with pytest.raises(ManifestError, match="outside gguf_dir"):
                load(root / "k.toml")
        else:
            assert (table, key) in EXEMPT, (
                f"{table}.{key} ({marker.kind}) is neither confined nor exempt"
            )
    # a key whose name says it names a file, but carries no PathKey, would escape the rule
    for table, model in TABLE_MODELS.items():
        for name in model.model_fields:
            if any(word in name for word in FILE_WORDS) and (table, name) not in kinds:
                assert (table, name) in NOT_FILES, f"{table}.{name}: mark it with PathKey"


# keys whose names sound like files but that hold none, with what they hold
NOT_FILES = {
    ("", "files"): "the [files] table itself",
    ("model", "license"): "a Hub licence id (licenses.HUB_LICENSES)",
    ("huggingface", "license_name"): "the licence's display name on the Hub",
    ("huggingface", "license_link"): "a URL",
    ("checks", "chat_template_sha256"): "a digest",
    ("checks", "require_chat_template"): "a flag",
}


# ---------------------------------------------------------------------------------------------
# Writing: render's outputs


def _render(root: Path, *extra: str) -> Outcome:
    return run(root, ["render", "m.toml", "--no-digest", *extra])


def test_render_never_removes_a_strangers_file(root: Path) -> None:
    strangers = {
        "build/v1/ollama/Q2_K.Modelfile": "FROM elsewhere\n",
        "build/v1/huggingface/.eval_results/mine.yaml": "- mine\n",
        "build/v1/huggingface/system": "my system prompt\n",
    }
    for name, text in strangers.items():
        _write(name, text)(root)
    for _ in range(2):  # without a record, and with the record the first render wrote
        outcome = _render(root)
        assert outcome.code == 0, outcome.stderr
        for name, text in strangers.items():
            assert (root / name).read_text() == text, name


def test_render_removes_only_what_it_wrote_and_nobody_edited(root: Path) -> None:
    assert _render(root).code == 0
    ollama = root / "build" / "v1" / "ollama"
    assert {p.name for p in ollama.glob("*.Modelfile")} == {"Q4_K_M.Modelfile", "Q8_0.Modelfile"}
    edit('[[tags]]\ntag = "Q8_0"\n', "")(root)  # Q8_0 leaves the release
    outcome = _render(root)
    assert outcome.code == 0, outcome.stderr
    assert {p.name for p in ollama.glob("*.Modelfile")} == {"Q4_K_M.Modelfile"}
    # a stale file a person edited is theirs now: kept
    edit('[[tags]]\ntag = "Q4_K_M"\n', '[[tags]]\ntag = "Q4_K_M"\n\n[[tags]]\ntag = "Q8_0"\n')(root)
    assert _render(root).code == 0
    (ollama / "Q8_0.Modelfile").write_text("FROM mine\n")
    edit('[[tags]]\ntag = "Q8_0"\n', "")(root)
    assert _render(root).code == 0
    assert (ollama / "Q8_0.Modelfile").read_text() == "FROM mine\n"


def test_a_recorded_file_behind_a_linked_folder_is_not_removed(tmp_path: Path) -> None:
    """`out/ollama` replaced by a link to a folder holding a file with the recorded bytes (a copy
    of the old outputs, say): a render that writes nothing there must not delete through it."""
    out, theirs = tmp_path / "out", tmp_path / "theirs"
    out.mkdir()
    theirs.mkdir()
    (theirs / "Q8_0.Modelfile").write_text("FROM x\n")
    (out / "ollama").symlink_to(theirs, target_is_directory=True)
    record = {"ollama/Q8_0.Modelfile": hashlib.sha256(b"FROM x\n").hexdigest()}
    assert remove_stale(out, record, set()) == []
    assert (theirs / "Q8_0.Modelfile").read_text() == "FROM x\n"
    (out / "ollama").unlink()  # a real folder: the tool's own stale output goes
    (out / "ollama").mkdir()
    (out / "ollama" / "Q8_0.Modelfile").write_text("FROM x\n")
    assert remove_stale(out, record, set()) == [out / "ollama" / "Q8_0.Modelfile"]


def test_a_forged_record_removes_nothing_outside(root: Path) -> None:
    sentinel = _sentinel(root)
    passwd = hashlib.sha256(PASSWD.encode()).hexdigest()
    mine = root / "build" / "v1" / "ollama" / "Q2_K.Modelfile"
    _write("build/v1/ollama/Q2_K.Modelfile", PASSWD)(root)
    forged = {
        "version": 1,
        "files": {"../../../outside/passwd": passwd, "../../m.toml": passwd, "ollama/x": passwd},
    }
    (root / "build" / "v1" / RECORD_NAME).write_text(tomli_w.dumps({"x": 1}))  # not JSON first
    assert _render(root).code == 0
    (root / "build" / "v1" / RECORD_NAME).write_text(json.dumps(forged))
    assert _render(root).code == 0
    assert _sentinel(root) == sentinel and (root / "m.toml").is_file()
    assert mine.read_text() == PASSWD  # listed under a name a render never writes: kept


WRITES = [
    ("page-links-out", _link("build/v1/ollama/page.md", f"../../../{OUT}/page-target.md"),
     "symbolic link"),
    ("card-links-out", _link("build/v1/huggingface/README.md", f"../../../{OUT}/id_ed25519"),
     "symbolic link"),
    ("card-fifo", lambda r: (r / "build/v1/huggingface").mkdir(parents=True) or
     os.mkfifo(r / "build/v1/huggingface/README.md"), "FIFO"),
    ("modelfile-fifo", lambda r: (r / "build/v1/ollama").mkdir(parents=True) or
     os.mkfifo(r / "build/v1/ollama/Q8_0.Modelfile"), "FIFO"),
    ("modelfile-folder", lambda r: (r / "build/v1/ollama/Q8_0.Modelfile").mkdir(parents=True),
     "directory"),
    ("side-file-links-out", _link("build/v1/huggingface/template", f"../../../{OUT}/passwd"),
     "symbolic link"),
    ("ollama-folder-links-out", _link("build/v1/ollama", f"../../{OUT}"), "not a folder"),
    ("results-folder-links-out", _link("build/v1/huggingface/.eval_results", f"../../../{OUT}"),
     "not a folder"),
    ("record-fifo", lambda r: (r / "build/v1").mkdir(parents=True) or
     os.mkfifo(r / "build/v1" / RECORD_NAME), "FIFO"),
]  # fmt: skip


@pytest.mark.parametrize(("plant", "cause"), [w[1:] for w in WRITES], ids=[w[0] for w in WRITES])
def test_render_refuses_an_output_that_is_not_a_regular_file(
    plant: Callable[[Path], None], cause: str, root: Path
) -> None:
    plant(root)
    before, sentinel, planted = snapshot(root), _sentinel(root), _secret_files(root)
    outcome = _render(root)
    _assert_one_line(outcome, cause)
    assert outcome.code == 2, outcome.stderr
    assert_nothing_written(before, root)
    assert _sentinel(root) == sentinel
    _assert_no_secret(outcome, root, planted)


# ---------------------------------------------------------------------------------------------
# A kill mid-render leaves the previous card whole


def _sigterm_when_changed(watch: Path) -> Callable[[], None]:
    """In the child: a thread sends the process SIGTERM the moment anything in `watch` changes
    (a file truncated, a temp file created), so the kill lands mid-write."""

    def state() -> list[tuple[str, int]]:
        return sorted((p.name, p.stat().st_size) for p in watch.iterdir() if p.is_file())

    def start() -> None:
        first = state()

        def killer() -> None:
            while state() == first:
                time.sleep(0.0002)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=killer, daemon=True).start()

    return start


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_sigterm_mid_render_leaves_the_previous_card_whole(root: Path) -> None:
    assert _render(root).code == 0
    card = root / "build" / "v1" / "huggingface" / "README.md"
    hand = "## Hand-written\n\n" + "A paragraph a person wrote by hand.\n" * 100_000  # ~3.5 MB
    card.write_text(card.read_text() + "\n" + hand)
    previous = card.read_bytes()
    args = ["render", "m.toml", "--no-digest"]
    killed = run(root, args, before=_sigterm_when_changed(card.parent))
    assert killed.code == -signal.SIGTERM, killed.stderr  # killed, not finished
    assert card.read_bytes() == previous
    outcome = _render(root)  # the next render still has the hand-written section to keep
    assert outcome.code == 0, outcome.stderr
    assert hand in card.read_text()


# ---------------------------------------------------------------------------------------------
# `publish init` writes values, never TOML syntax


EVIL = 'org/base"\n[evil]\nx = "1'
NASTY = [
    EVIL,
    "a'''b\"\"\"c",
    "back\\slash\\u0041",
    "tab\there\r\nnew",
    "del\x7fbell\x07nul-free",
    "é ü ☃ 🦙",
    "# not a comment",
    "x = 1\n[[tags]]\ntag = 'Q9'",
]


@pytest.mark.parametrize("value", NASTY)
def test_toml_value_round_trips(value: str) -> None:
    assert tomllib.loads(f"k = {toml_value(value)}\n") == {"k": value}
    assert tomllib.loads(f"k = {toml_value([value, 'x'])}\n") == {"k": [value, "x"]}
    # the same text in a comment stays a comment
    assert tomllib.loads(f"# {comment(value)}\nk = 1\n") == {"k": 1}


def _init(root: Path, folder: str, *extra: str) -> Outcome:
    args = ["init", folder, "--ollama-model", "me/fam", "--hf-repo", "Org/fam-GGUF", *extra]
    return run(root, args)


def test_init_quotes_a_hostile_base_model(root: Path) -> None:
    outcome = _init(root, "gguf", "--base-model", EVIL, "--out", "new.toml")
    assert outcome.code == 0, outcome.stderr
    data = tomllib.loads((root / "new.toml").read_text())
    assert "evil" not in data and data["model"]["base_model"] == EVIL
    assert set(data) == {"model", "checks", "files", "ollama", "huggingface", "tags"}


def test_init_quotes_a_hostile_folder_name(root: Path) -> None:
    name = 'gg\nextends = "x.toml"\n[evil]\nuf'
    (root / "gguf").rename(root / name)
    outcome = _init(root, name, "--base-model", "org/base", "--out", "new.toml")
    assert outcome.code == 0, outcome.stderr
    data = tomllib.loads((root / "new.toml").read_text())
    assert "extends" not in data and "evil" not in data
    assert data["files"]["gguf_dir"] == name
    assert outcome.code == 0 and run(root, ["validate", "new.toml"]).code == 0


def test_init_writes_its_command_line_as_a_comment_only(root: Path) -> None:
    # the first line quotes the command line: a newline in an argument must not end the comment
    args = ["init", "gguf", "--ollama-model", "me/fam", "--hf-repo", "Org/fam-GGUF",
            "--base-model", EVIL, "--out", "new.toml"]  # fmt: skip
    outcome = run(root, args, before=lambda: None)
    assert outcome.code == 0, outcome.stderr
    text = (root / "new.toml").read_text()
    assert text.splitlines()[0].startswith("# Proposed by `publish init gguf") and "\\n" in text
    assert "evil" not in tomllib.loads(text)


def test_init_refuses_a_symlink_loop_at_out_in_one_line(root: Path) -> None:
    _loop("o1", "o2")(root)
    outcome = _init(root, "gguf", "--base-model", "org/base", "--out", "o1/new.toml")
    _assert_one_line(outcome, "symbolic link loop")
    assert outcome.code == 2
    outcome = _init(root, "gguf", "--base-model", "org/base", "--extends", "o1")
    _assert_one_line(outcome, "symbolic link loop")
    assert outcome.code == 2


def test_an_output_gets_the_umask_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    from publisher.render.outputs import write_output

    old = os.umask(0o022)
    try:
        path = write_output(tmp_path / "page.md", "x\n")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644  # an ordinary file, not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["page.md"]


def test_init_force_never_writes_through_a_link_at_out(root: Path) -> None:
    _link("new.toml", f"{OUT}/page-target.md")(root)
    sentinel = _sentinel(root)
    outcome = _init(root, "gguf", "--base-model", "org/base", "--out", "new.toml", "--force")
    _assert_one_line(outcome, "symbolic link")
    assert outcome.code == 2 and _sentinel(root) == sentinel


def test_render_refuses_a_symlink_loop_at_out_in_one_line(root: Path) -> None:
    _loop("o1", "o2")(root)
    before = snapshot(root)
    outcome = _render(root, "--out", "o1")
    _assert_one_line(outcome, "o1")
    assert outcome.code == 2
    assert_nothing_written(before, root)
