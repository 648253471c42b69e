"""Modelfiles read back by a parser written from Ollama's rules give the manifest's exact values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.modelfile_parser import parse, parse_request
from support.release_fixtures import V3_SEED_PARAMETER_LINES, V3_SEED_PARAMETERS

from publisher.errors import UsageError
from publisher.manifest import Release, load
from publisher.render import render_modelfile
from publisher.render.sidefiles import hf_side_files

ROOT = Path(__file__).resolve().parent.parent
V3 = ROOT / "manifests" / "v3.toml"


def toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def small_release(
    tmp_path: Path,
    *,
    template: str = "{{ .Prompt }}",
    system: str | None = None,
    stop: list[str] | None = None,
    tag_parameters: str = "",
    ollama_extra: str = "",
) -> Release:
    """A one-tag release with its own template file, written to `tmp_path`."""
    (tmp_path / "chat.gotmpl").write_text(template, encoding="utf-8")
    lines = [
        "[model]",
        'family = "toy"',
        'variant = "t1"',
        'title = "Toy"',
        'base_model = "org/base"',
        "experts = 4",
        "[files]",
        'gguf_dir = "gguf"',
        'name = "toy-{tag}.gguf"',
        "[ollama]",
        'model = "me/toy"',
        'template = "chat.gotmpl"',
        'parser = "gemma4"',
        'license = "Some licence text, one line."',
    ]
    if system is not None:
        lines.append(f"system = {toml_string(system)}")
    lines.append(ollama_extra)
    lines += ["[ollama.parameters]", "temperature = 0.6", "num_ctx = 4096", "use_mmap = false"]
    stops = stop if stop is not None else ["<turn|>"]
    lines.append("stop = [" + ", ".join(toml_string(s) for s in stops) + "]")
    lines += ["[[tags]]", 'tag = "Q4_K_M"', 'targets = ["ollama"]', tag_parameters]
    manifest = tmp_path / "toy.toml"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load(manifest)


@pytest.mark.slow
def test_every_v3_tag_round_trips_exactly() -> None:
    release = load(V3)
    template = release.ollama.template.read_text(encoding="utf-8")
    ollama_tags = [t for t in release.tags if "ollama" in t.targets]
    assert len(ollama_tags) == 22  # F16 goes to the Hub only
    for tag in ollama_tags:
        request = parse_request(render_modelfile(release, tag))
        assert request["from"] == str(tag.path)
        assert request["template"] == template
        assert request["parser"] == "gemma4"
        assert "renderer" not in request and "system" not in request
        assert request["license"] == [release.ollama.license]
        assert request["parameters"] == release.parameters_for(tag)


def test_v3_modelfile_carries_the_seed_parameters_in_order() -> None:
    text = render_modelfile(load(V3), "Q4_K_M")
    lines = [line for line in text.splitlines() if line.startswith("PARAMETER ")]
    assert lines == V3_SEED_PARAMETER_LINES
    order = [
        line.split()[0]
        for line in text.splitlines()
        if line.split()[:1]
        and line.split()[0] in {"FROM", "TEMPLATE", "PARSER", "PARAMETER", "LICENSE"}
    ]
    assert order[0] == "FROM" and order[1] == "TEMPLATE" and order[2] == "PARSER"
    assert order[-1] == "LICENSE"


def test_tag_override_merges_in_declaration_order(tmp_path: Path) -> None:
    release = small_release(tmp_path, tag_parameters="parameters = { temperature = 0.8 }")
    text = render_modelfile(release, "Q4_K_M")
    params = [line for line in text.splitlines() if line.startswith("PARAMETER")]
    assert params == [
        "PARAMETER temperature 0.8",
        "PARAMETER num_ctx 4096",
        "PARAMETER use_mmap false",
        "PARAMETER stop <turn|>",
    ]
    assert parse_request(text)["parameters"] == {
        "temperature": 0.8,
        "num_ctx": 4096,
        "use_mmap": False,
        "stop": ["<turn|>"],
    }


@pytest.mark.parametrize(
    "system",
    [
        "  leading and trailing spaces  ",
        '"starts with a quote',
        '"',
        'ends with a quote"',
        'line one\nline two ends with a quote"\n\tindented line\n',
        "\nstarts and ends with newlines\n",
        'a "quoted" word and <|"|> tokens',
        "ünïcödé — “curly” ≈ 14 GB",
    ],
)
def test_awkward_system_prompts_round_trip(tmp_path: Path, system: str) -> None:
    release = small_release(tmp_path, system=system)
    assert parse_request(render_modelfile(release, "Q4_K_M"))["system"] == system


def test_awkward_stop_values_and_templates_round_trip(tmp_path: Path) -> None:
    stops = ['<|"|>', " leading space", "trailing space ", '"', "#not-a-comment", "a b"]
    template = '{{- if .System }}"{{ .System }}"\n\t{{ end }}{{ range .Messages }}x{{ end }}"'
    release = small_release(tmp_path, stop=stops, template=template)
    request = parse_request(render_modelfile(release, "Q4_K_M"))
    assert request["parameters"]["stop"] == stops
    assert request["template"] == template


def test_triple_quotes_cannot_round_trip_and_are_refused(tmp_path: Path) -> None:
    release = small_release(tmp_path, system='say """hi"""')
    with pytest.raises(UsageError, match=r"ollama\.system.*'\"\"\"'"):
        render_modelfile(release, "Q4_K_M")
    release = small_release(tmp_path, template='{{ .Prompt }}"""')
    with pytest.raises(UsageError, match=r"ollama\.template"):
        render_modelfile(release, "Q4_K_M")


def test_control_characters_are_refused(tmp_path: Path) -> None:
    release = small_release(tmp_path, stop=["bell\x07"])
    with pytest.raises(UsageError, match=r"ollama\.parameters\.stop\[0\].*U\+0007"):
        render_modelfile(release, "Q4_K_M")


def test_renderer_and_template_together_are_refused(tmp_path: Path) -> None:
    release = small_release(tmp_path)
    both = release.model_copy(
        update={"ollama": release.ollama.model_copy(update={"renderer": "gemma4"})}
    )
    with pytest.raises(UsageError, match="Ollama ignores TEMPLATE when a RENDERER is set"):
        render_modelfile(both, "Q4_K_M")


def test_renderer_alone_gives_renderer_and_no_template(tmp_path: Path) -> None:
    release = small_release(tmp_path)
    renderer_only = release.model_copy(
        update={
            "ollama": release.ollama.model_copy(update={"renderer": "gemma4", "template": None})
        }
    )
    text = render_modelfile(renderer_only, "Q4_K_M")
    commands = [c.name for c in parse(text)]
    assert "renderer" in commands and "template" not in commands
    assert parse_request(text)["renderer"] == "gemma4"


def test_renderer_release_ships_no_template_side_file() -> None:
    release = load(V3)
    renderer_only = release.model_copy(
        update={
            "ollama": release.ollama.model_copy(update={"renderer": "gemma4", "template": None})
        }
    )
    assert sorted(hf_side_files(renderer_only)) == ["params"]
    assert sorted(hf_side_files(release)) == ["params", "template"]


def test_from_relative_to_the_modelfile_resolves_to_the_gguf(tmp_path: Path) -> None:
    release = small_release(tmp_path)
    tag = release.tag("Q4_K_M")
    here = tmp_path / "build" / "t1" / "ollama"
    value = parse_request(render_modelfile(release, tag, relative_to=here))["from"]
    assert value == "../../../gguf/toy-Q4_K_M.gguf"
    assert (here / value).resolve() == tag.path
    local = parse_request(render_modelfile(release, tag, relative_to=tag.path.parent))["from"]
    assert local == "./toy-Q4_K_M.gguf"  # never a bare name Ollama would read as a model name


def test_explicit_gguf_path_wins(tmp_path: Path) -> None:
    release = small_release(tmp_path)
    other = tmp_path / "elsewhere" / "file.gguf"
    assert parse_request(render_modelfile(release, "Q4_K_M", gguf_path=other))["from"] == str(other)


def test_release_without_ollama_table_is_a_usage_error(tmp_path: Path) -> None:
    release = small_release(tmp_path)
    with pytest.raises(UsageError, match=r"no \[ollama\] table"):
        render_modelfile(release.model_copy(update={"ollama": None}), "Q4_K_M")


def test_unknown_tag_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no tag 'Q9'"):
        render_modelfile(small_release(tmp_path), "Q9")


def test_side_files_carry_template_params_and_system(tmp_path: Path) -> None:
    release = load(V3)
    files = hf_side_files(release)
    assert files["template"] == release.ollama.template.read_text(encoding="utf-8")
    assert json.loads(files["params"]) == V3_SEED_PARAMETERS
    assert list(json.loads(files["params"])) == list(release.ollama.parameters)
    assert "system" not in files


def test_requires_is_rendered_and_read_back_by_ollamas_parser(tmp_path: Path) -> None:
    release = small_release(tmp_path, ollama_extra='requires = "0.30.0"')
    text = render_modelfile(release, "Q4_K_M")
    assert "\nREQUIRES 0.30.0\n" in text
    assert parse_request(text)["requires"] == "0.30.0"
    (tmp_path / "none").mkdir()
    assert "REQUIRES" not in render_modelfile(small_release(tmp_path / "none"), "Q4_K_M")


@pytest.mark.parametrize(
    ("value", "hint"),
    [("v0.30.0", "without the leading 'v'"), ("0.30", "MAJOR.MINOR.PATCH"), ("1.02.3", "0.30.0")],
)
def test_requires_must_be_semver_without_v(tmp_path: Path, value: str, hint: str) -> None:
    from publisher.errors import ManifestError

    with pytest.raises(ManifestError, match=r"ollama\.requires") as info:
        small_release(tmp_path, ollama_extra=f'requires = "{value}"')
    assert hint in str(info.value) and value in str(info.value)
