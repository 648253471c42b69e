"""The Go bridge: built once per source hash, one process per batch, clear errors."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from publisher.chat import gorender
from publisher.digest import default_cache_path


def test_binary_lives_in_a_cache_dir_keyed_by_the_source_hash() -> None:
    binary = gorender.binary_path()
    assert binary.parent.name == f"gotmpl-{gorender.source_hash()}"
    mtime = binary.stat().st_mtime_ns
    assert gorender.binary_path() == binary
    assert binary.stat().st_mtime_ns == mtime  # not rebuilt


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path))
    assert gorender.cache_root() == tmp_path
    monkeypatch.delenv("PUBLISHER_CACHE_DIR")
    assert gorender.cache_root() == default_cache_path().parent  # one cache folder for the tool
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert gorender.cache_root() == tmp_path / "xdg" / "publisher"


def test_missing_go_is_a_usage_error_that_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path))  # nothing built here yet
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("PUBLISHER_GO", raising=False)
    with pytest.raises(gorender.GoUnavailable) as info:
        gorender.render("{{ .Prompt }}", {"prompt": "x"})
    assert info.value.exit_code == 2
    assert "golang-go" in str(info.value) and "PATH" in str(info.value)


def test_execution_error_names_ollama_types() -> None:
    template = "{{ range .Messages }}{{ .Name }}{{ end }}"
    with pytest.raises(gorender.TemplateRenderError) as info:
        gorender.render(template, {"messages": [{"role": "tool", "content": "x"}]})
    assert info.value.stage == "execute"
    assert "can't evaluate field Name" in info.value.detail
    assert "api.Message" in info.value.detail


def test_parse_error_is_reported_per_job_without_stopping_the_batch() -> None:
    results = gorender.render_many("{{ .Prompt ", [{"prompt": "a"}, {"prompt": "b"}])
    assert [r.stage for r in results] == ["parse", "parse"]
    assert "unclosed action" in results[0].error


def test_lint_resolves_fields_statically_with_line_and_column() -> None:
    template = (
        '{{ range $i, $m := .Messages }}\n{{ if eq $m.Role "tool" }}{{ $m.Name }}{{ end }}{{ end }}'
    )
    result = gorender.lint(template)
    assert not result.parse_error
    assert len(result.problems) == 1
    problem = result.problems[0]
    assert problem.where.startswith("2:")
    assert "$m.Name" in problem.message and "ToolName" in problem.message


def test_lint_accepts_every_documented_field() -> None:
    template = (
        "{{ .System }}{{ .Prompt }}{{ .Suffix }}{{ .Response }}{{ .Think }}{{ .ThinkLevel }}"
        "{{ .IsThinkSet }}{{ range .Messages }}{{ .Role }}{{ .Content }}{{ .Thinking }}"
        "{{ .Images }}{{ .ToolName }}{{ .ToolCallID }}{{ range .ToolCalls }}{{ .ID }}"
        "{{ .Function.Index }}{{ .Function.Name }}{{ .Function.Arguments }}{{ end }}{{ end }}"
        "{{ range .Tools }}{{ .Type }}{{ .Function.Name }}{{ .Function.Description }}"
        "{{ .Function.Parameters.Type }}{{ .Function.Parameters.Required }}"
        "{{ range $k, $v := .Function.Parameters.Properties }}{{ $v.Type }}{{ $v.Description }}"
        "{{ $v.Enum }}{{ $v.Items }}{{ $v.Required }}{{ $v.Properties.ToMap }}{{ end }}{{ end }}"
    )
    assert gorender.lint(template).problems == []


def test_a_corpus_renders_with_one_process_start_quickly() -> None:
    gorender.binary_path()
    values = [{"messages": [{"role": "user", "content": f"message {i}"}]} for i in range(300)]
    start = time.perf_counter()
    results = gorender.render_many("{{ range .Messages }}{{ .Content }}{{ end }}", values)
    elapsed = time.perf_counter() - start
    assert [r.output for r in results] == [f"message {i}" for i in range(300)]
    assert elapsed < 5, elapsed


def test_render_cli_mode_prints_the_raw_prompt() -> None:
    import json
    import subprocess

    # No .Messages in the template: Ollama's legacy path fills .Prompt from the user message.
    request = {
        "template": "{{ .Prompt }}!",
        "values": {"messages": [{"role": "user", "content": "hi"}]},
    }
    proc = subprocess.run(
        [str(gorender.binary_path()), "render"],
        input=json.dumps(request).encode(),
        capture_output=True,
        check=False,
        env=dict(os.environ),
    )
    assert proc.returncode == 0 and proc.stdout == b"hi!"


def test_a_cache_dir_that_cannot_be_written_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(blocker))
    monkeypatch.setenv("PUBLISHER_GO", "/bin/true")  # never run: the folder fails first
    with pytest.raises(gorender.UsageError) as info:
        gorender.binary_path()
    message = str(info.value)
    assert info.value.exit_code == 2
    assert f"{blocker}/gotmpl-{gorender.source_hash()} (from $PUBLISHER_CACHE_DIR)" in message
    assert "Not a directory" in message and "set PUBLISHER_CACHE_DIR" in message
