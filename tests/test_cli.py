"""The `publish` command line as a user meets it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.release_fixtures import V3_SEED_PARAMETERS
from typer.testing import CliRunner

from publisher import __version__
from publisher.cli import app

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = [ROOT / "manifests" / f"{name}.toml" for name in ("v3", "v4", "v5-coder")]
runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


COMMANDS = [
    "release", "validate", "verify", "check-template", "render", "status", "init", "smoke"
]  # fmt: skip


def test_help_lists_every_command_with_a_description_and_an_example() -> None:
    result = runner.invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    listed = {line.split()[1] for line in result.output.splitlines() if line.startswith("│ ")}
    assert set(COMMANDS) <= listed
    for command in COMMANDS:
        assert f"publish {command} " in result.output  # its example, in the app's epilog
        sub = runner.invoke(app, [command, "--help"], terminal_width=200)
        assert sub.exit_code == 0 and f"Example: publish {command} " in sub.output


def test_command_help_shows_an_example() -> None:
    result = runner.invoke(app, ["validate", "--help"])
    assert result.exit_code == 0 and "Example: publish validate manifests/v3.toml" in result.output


def test_validate_all_three_release_manifests() -> None:
    result = runner.invoke(app, ["validate", "--json", *map(str, MANIFESTS)])
    assert result.exit_code == 0, result.output
    summaries = json.loads(result.stdout)
    assert [s["variant"] for s in summaries] == ["v3", "v4", "v5-coder"]
    v3 = summaries[0]
    assert v3["ollama_model"] == "mannix/gemma4-98e" and v3["latest"] == "Q4_K_M"
    assert v3["huggingface_repo"] == "ManniX-ITA/gemma-4-A4B-98e-v3-it-GGUF"
    assert {"Q4_K_M", "Q5_K_M", "Q6_K", "CD-Q3_K_M", "F16"} <= set(v3["tags"])
    assert summaries[1]["ollama_model"] == "mannix/gemma4-98e-v4"
    assert summaries[2]["ollama_model"] == "mannix/gemma4-98e-v5-coder"
    # 5 CD-X/X pairs share a Hub quant label and Q4_K_L/Q5_K_L have none: 12 of 23 files
    assert len(v3["warnings"]) == 12
    assert all(w.startswith("v3.toml: tag ") for w in v3["warnings"])


def test_validate_warns_where_an_hf_co_tag_would_not_resolve() -> None:
    result = runner.invoke(app, ["validate", str(MANIFESTS[0])], terminal_width=400)
    assert result.exit_code == 0, result.output
    assert (
        "warning: v3.toml: tag CD-Q6_K: the Hub reads gemma-4-A4B-98e-v3-it-CD-Q6_K.gguf as Q6_K, "
        "like the file of Q6_K: hf.co/ManniX-ITA/gemma-4-A4B-98e-v3-it-GGUF:Q6_K may reach either; "
        "use hf.co/ManniX-ITA/gemma-4-A4B-98e-v3-it-GGUF:gemma-4-A4B-98e-v3-it-CD-Q6_K.gguf "
        "(the card lists it)"
    ) in result.output
    assert "tag Q4_K_L: the Hub reads no quant label from gemma-4-A4B-98e-v3-it-Q4_K_L.gguf" in (
        result.output
    )
    assert "tag Q6_K_L:" not in result.output and "tag F16:" not in result.output


def test_v3_manifest_carries_the_seed_page_facts() -> None:
    from publisher.manifest import load

    release = load(MANIFESTS[0])
    assert release.ollama is not None
    assert release.ollama.parameters == V3_SEED_PARAMETERS
    assert release.tag("Q4_K_M").vram == "≈14 GB" and release.tag("Q6_K").vram == "≈17 GB"
    assert release.tag("CD-Q3_K_M").vram == "≈8 GB"
    assert release.tag("CD-Q3_K_M").kind == "contrib-dynamic"
    assert release.tag("F16").targets == ["huggingface"]
    assert release.benchmarks is not None
    assert [(r.reference, r.score) for r in release.benchmarks.rows] == [
        (75.25, 75.25),
        (76.83, 73.78),
        (89.60, 85.60),
    ]
    # only the page's VRAM figures exist: nothing invented for the other tags
    assert {t.tag for t in release.tags if t.vram} == {"Q4_K_M", "Q6_K", "CD-Q3_K_M"}


def test_bad_manifest_exits_2_with_location_and_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(MANIFESTS[0].read_text().replace("extends = ", 'extends = "x"\n#'))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:4: extends:" in result.output and "Traceback" not in result.output


def test_console_script_exit_code_for_user_error(tmp_path: Path) -> None:
    """The installed entry point itself, as a user runs it (not the in-process runner)."""
    broken = tmp_path / "broken.toml"
    broken.write_text("[model\n")
    proc = subprocess.run(
        [sys.executable, "-c", "from publisher.cli import app; app()", "validate", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert f"{broken}:1:" in proc.stderr and "TOML syntax error" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [["validate"], ["nosuchcommand"]])
def test_bad_usage_exits_2(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 2


def test_release_accepts_quiet_after_the_command(tmp_path: Path, monkeypatch) -> None:
    """`publish release M --dry-run --quiet`, as CI scripts write it: no step lines on stderr."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["release", str(MANIFESTS[0]), "--dry-run", "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["variant"] == "v3"
    assert "• load" not in result.stderr


def test_messages_with_brackets_are_printed_as_written(tmp_path: Path) -> None:
    """Manifest text such as `[huggingface]` or `[/x]` is data, not console markup."""
    bad = tmp_path / "m.toml"
    base = MANIFESTS[0].parent / "gemma4-98e.base.toml"
    (tmp_path / base.name).write_text(base.read_text())  # a base inside the manifest's folder
    text = MANIFESTS[0].read_text()
    text = text.replace("[huggingface]\nrepo", '[huggingface]\n"[/oops]" = 1\nrepo')
    bad.write_text(text)
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "unknown key '[/oops]'" in result.output


def test_file_system_errors_are_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder.toml"
    folder.mkdir()
    result = runner.invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert str(folder) in result.output
