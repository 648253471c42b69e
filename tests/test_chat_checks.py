"""Each check catches a deliberately broken template; the release pre-flight and the
`publish check-template` command report them with exit codes 0/1/2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from publisher.chat.checks import TemplateReport, check_template
from publisher.chat.preflight import check_release_template
from publisher.cli import app
from publisher.errors import UsageError
from publisher.manifest import TEMPLATES_DIR, load

GOOD = (TEMPLATES_DIR / "ollama" / "gemma4-tools.gotmpl").read_text()
STOP = ["<turn|>", "<|tool_response>"]
ROOT = Path(__file__).parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "templates" / "gemma4-large.chat_template.jinja"


def broken(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new)


def checks_of(report: TemplateReport) -> set[str]:
    return {f.check for f in report.failures}


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_name_field_is_caught_statically_and_when_a_tool_result_renders() -> None:
    text = broken("$name := $m.ToolName", "$name := $m.Name")
    report = check_template(text, parser="gemma4", stop=STOP)
    assert {"fields", "render"} <= checks_of(report)
    field = next(f for f in report.failures if f.check == "fields")
    assert "$m.Name" in field.message and "api.Message" in field.message
    rendered = [f for f in report.failures if f.check == "render"]
    # Only conversations with a tool result fail, each named, each with the prompt so far.
    assert {f.conversation for f in rendered} == {
        "05-one-call",
        "06-call-result-answer",
        "07-nested-second-turn",
        "08-nested-answered",
        "09-parallel-calls",
        "10-rich-arguments",
        "12-json-tool-result",
        "13-thinking-on",
    }
    assert all("<tool_call|><turn|>" in f.excerpt for f in rendered)


def test_syntax_error_stops_before_rendering() -> None:
    report = check_template(GOOD + "{{ if .Tools }}", parser="gemma4", stop=STOP)
    assert checks_of(report) == {"syntax"}
    assert not report.renders


def test_missing_generation_prompt_is_caught_for_user_and_tool_endings() -> None:
    text = broken('{{- if ne $lastRole "assistant" }}<|turn>model', "{{- if false }}<|turn>model")
    report = check_template(text, parser="gemma4", stop=STOP)
    failing = {f.conversation for f in report.failures if f.check == "generation-prompt"}
    assert {"01-plain", "05-one-call", "07-nested-second-turn"} <= failing
    assert all(
        "<|turn>model" in f.message for f in report.failures if f.check == "generation-prompt"
    )


def test_dropped_tool_results_are_caught() -> None:
    line = next(
        ln for ln in GOOD.splitlines() if ln.startswith("<|turn>user{{") and "tool_response" in ln
    )
    report = check_template(broken(line, ""), parser="gemma4", stop=STOP)
    missing = [f for f in report.failures if f.check in ("content", "tool-result")]
    assert {f.conversation for f in missing} >= {
        "05-one-call",
        "09-parallel-calls",
        "12-json-tool-result",
    }
    assert any("sunny, 21 C" in f.message for f in missing)


def test_tool_result_outside_a_response_block_is_caught() -> None:
    text = broken(
        '<|tool_response>response:{{ $name }}{value:<|"|>{{ $m.Content }}<|"|>}<tool_response|>',
        "{{ $m.Content }}",
    )
    report = check_template(text, parser="gemma4", stop=["<turn|>"])
    assert "tool-result" in checks_of(report)


def test_renderer_with_template_is_caught() -> None:
    report = check_template(GOOD, renderer="gemma4", parser="gemma4", stop=STOP)
    assert "renderer+template" in checks_of(report)
    assert "ignores the TEMPLATE" in report.messages[0]


def test_stop_token_the_template_never_produces() -> None:
    report = check_template(GOOD, parser="gemma4", stop=[*STOP, "<|im_end|>"])
    assert checks_of(report) == {"stop"}
    assert "<|im_end|>" in report.messages[0]


def test_tool_template_without_parser() -> None:
    report = check_template(GOOD, parser=None, stop=STOP, modelfile=True)
    assert checks_of(report) == {"parser"}


def test_unbalanced_turns_are_caught() -> None:
    text = broken(
        '<|turn>user{{ "\\n" }}{{ $m.Content }}<turn|>', '<|turn>user{{ "\\n" }}{{ $m.Content }}'
    )
    report = check_template(text, parser="gemma4", stop=STOP)
    assert "turns" in checks_of(report)


def test_release_preflight_on_the_v3_manifest_passes() -> None:
    release = load(ROOT / "manifests" / "v3.toml")
    report = check_release_template(release, reference=REFERENCE if REFERENCE.is_file() else None)
    assert report.ok, report.messages
    assert report.template.endswith("gemma4-tools.gotmpl")


def test_release_preflight_reads_the_reference_from_a_gguf(tmp_path: Path) -> None:
    from support.gguf_factory import write_gemma4_gguf

    shutil.copytree(ROOT / "manifests", tmp_path / "manifests")
    release = load(tmp_path / "manifests" / "v3.toml", gguf_dir=tmp_path)
    write_gemma4_gguf(
        release.tags[0].path, chat_template="{{ bos_token }}REF{{ messages[0]['content'] }}"
    )
    report = check_release_template(release)
    assert report.reference and "tokenizer.chat_template" in report.reference
    plain = next(p for p in report.parity if p.conversation == "01-plain")
    assert not plain.identical and "-<bos>REFHello! Who are you?" in plain.diff


def test_release_preflight_with_a_broken_template_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gotmpl"
    bad.write_text(broken("$name := $m.ToolName", "$name := $m.Name"))
    report = check_release_template(load(ROOT / "manifests" / "v3.toml"), template=bad)
    assert not report.ok and any(".Name" in m for m in report.messages)


runner = CliRunner()


def test_cli_exit_codes(tmp_path: Path) -> None:
    manifest = str(ROOT / "manifests" / "v3.toml")
    ok = runner.invoke(app, ["check-template", manifest, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True

    bad = tmp_path / "bad.gotmpl"
    bad.write_text(GOOD + "{{ if .Tools }}")
    failed = runner.invoke(app, ["check-template", "--template", str(bad)])
    assert failed.exit_code == 1
    assert "syntax" in failed.stdout

    usage = runner.invoke(app, ["check-template"])
    assert usage.exit_code == 2

    missing = runner.invoke(app, ["check-template", "--template", str(tmp_path / "nope")])
    assert missing.exit_code == 2


@pytest.mark.skipif(not REFERENCE.is_file(), reason="shared reference templates not present")
def test_cli_parity_report_with_reference_file() -> None:
    result = runner.invoke(
        app,
        [
            "check-template",
            "--template",
            str(TEMPLATES_DIR / "ollama" / "gemma4-tools.gotmpl"),
            "--reference",
            str(REFERENCE),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "01-plain: identical" in result.stdout
    assert "07-nested-second-turn: differs" in result.stdout


def test_a_template_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.gotmpl"
    bad.write_bytes(GOOD.encode() + "{{/* café */}}".encode("latin-1"))
    with pytest.raises(UsageError) as info:
        check_release_template(load(ROOT / "manifests" / "v3.toml"), template=bad)
    assert f"template {bad}: not UTF-8 text" in str(info.value)
    result = runner.invoke(app, ["check-template", "--template", str(bad)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "not UTF-8 text" in " ".join(result.output.split())


def test_a_check_starts_the_go_renderer_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from publisher.chat import gorender

    calls: list[int] = []
    real = gorender.run_batch

    def counting(jobs):  # type: ignore[no-untyped-def]
        calls.append(len(jobs))
        return real(jobs)

    monkeypatch.setattr(gorender, "run_batch", counting)
    report = check_template(GOOD, parser="gemma4", stop=STOP)
    assert report.ok and report.renders
    assert len(calls) == 1  # lint and every conversation's render in one process
    assert calls[0] == len(report.renders) + 1


def test_a_reference_that_is_not_utf8_is_a_usage_error(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.jinja"
    bad.write_bytes("{{ 'café' }}".encode("latin-1"))
    template = str(TEMPLATES_DIR / "ollama" / "gemma4-tools.gotmpl")
    result = runner.invoke(app, ["check-template", "--template", template, "--reference", str(bad)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"--reference {bad}: not UTF-8 text" in " ".join(result.output.split())
