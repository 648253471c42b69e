"""The manifest loader: merging, path resolution, and one test per class of user error."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from support.release_fixtures import fam_manifest

from publisher.errors import ManifestError, UsageError
from publisher.manifest import load

MINIMAL = fam_manifest(
    """[ollama]
model = "ns/fam"
latest = "Q4_K_M"
parser = "gemma4"
license = "Some licence text, inline."

[ollama.parameters]
temperature = 0.6
stop = ["<turn|>", "<|tool_response>"]

[huggingface]
repo = "Org/fam-v1-GGUF"

[[tags]]
tag = "Q4_K_M"
vram = "≈14 GB"

[[tags]]
tag = "Q6_K"
parameters = { temperature = 0.8 }

[[tags]]
tag = "F16"
targets = ["huggingface"]
""",
    experts_base=128,
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load(path)
    return info.value


def line_of(error: ManifestError) -> str:
    """The text of the line the error points at."""
    assert error.file is not None and error.line is not None, str(error)
    return Path(error.file).read_text(encoding="utf-8").splitlines()[error.line - 1]


def test_minimal_manifest_loads_with_resolved_paths(tmp_path: Path) -> None:
    release = load(write(tmp_path, "m.toml", MINIMAL))
    assert release.model.experts == 98
    assert release.gguf_dir == (tmp_path / "gguf").resolve()
    assert [t.tag for t in release.tags] == ["Q4_K_M", "Q6_K", "F16"]
    assert release.tag("q4_k_m").path == tmp_path.resolve() / "gguf" / "fam-v1-Q4_K_M.gguf"
    assert release.tag("F16").targets == ["huggingface"]
    assert release.ollama is not None and release.ollama.license == "Some licence text, inline."
    assert release.expected_eos_token_id == 106  # gemma4's default


def test_tag_override_merges_in_declaration_order(tmp_path: Path) -> None:
    release = load(write(tmp_path, "m.toml", MINIMAL))
    merged = release.parameters_for(release.tag("Q6_K"))
    assert merged == {"temperature": 0.8, "stop": ["<turn|>", "<|tool_response>"]}
    assert list(merged) == ["temperature", "stop"]
    assert release.parameters_for(release.tag("Q4_K_M"))["temperature"] == 0.6


def test_gguf_dir_precedence_flag_over_env_over_manifest(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, "m.toml", MINIMAL)
    monkeypatch.setenv("PUBLISHER_GGUF_DIR", str(tmp_path / "from-env"))
    assert load(path).gguf_dir == (tmp_path / "from-env").resolve()
    assert load(path, gguf_dir=tmp_path / "flag").gguf_dir == (tmp_path / "flag").resolve()


def test_extends_merges_tables_and_replaces_arrays(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()  # a work tree: a manifest may name any file of it
    (tmp_path / "variants").mkdir()
    write(tmp_path, "base.toml", MINIMAL)
    child = write(
        tmp_path,
        "variants/child.toml",
        """
        extends = "../base.toml"
        [model]
        variant = "v2"
        [ollama.parameters]
        top_p = 0.95
        stop = ["<end>"]
        [[tags]]
        tag = "Q4_K_M"
        """,
    )
    release = load(child)
    assert release.model.variant == "v2"
    assert release.model.title == "Fam v1"  # inherited key of a merged table
    assert release.ollama is not None
    assert release.ollama.parameters == {"temperature": 0.6, "stop": ["<end>"], "top_p": 0.95}
    assert [t.tag for t in release.tags] == ["Q4_K_M"]  # the child's array replaced the base's
    # a relative path is relative to the file that declared it, not to the child
    assert release.gguf_dir == (tmp_path / "gguf").resolve()


def test_builtin_template_and_licence_resolve(tmp_path: Path) -> None:
    text = MINIMAL.replace('license = "Some licence text, inline."', 'license = "gemma-terms"')
    release = load(write(tmp_path, "m.toml", text))
    assert release.ollama is not None and "Gemma Terms of Use" in (release.ollama.license or "")


def test_local_template_file_is_found(tmp_path: Path) -> None:
    (tmp_path / "chat.gotmpl").write_text("{{ .Prompt }}", encoding="utf-8")
    text = MINIMAL.replace('parser = "gemma4"', 'parser = "gemma4"\ntemplate = "chat.gotmpl"')
    release = load(write(tmp_path, "m.toml", text))
    assert release.ollama is not None and release.ollama.template == tmp_path / "chat.gotmpl"


# --- errors: each names the file, the line and the field -----------------------------------


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "m.toml", MINIMAL.replace('family = "fam"', "family = ")))
    assert error.line == 3 and error.column is not None
    assert "TOML syntax error" in str(error) and "m.toml:3:" in str(error)
    assert line_of(error) == "family = "


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    error = error_of(
        write(tmp_path, "m.toml", MINIMAL.replace("temperature = 0.6", "temprature = 0.6"))
    )
    assert error.field == "ollama.parameters.temprature"
    assert "did you mean 'temperature'" in str(error)
    assert line_of(error) == "temprature = 0.6"


def test_unknown_top_level_table(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "m.toml", MINIMAL + "\n[ollamma]\nmodel = 'x'\n"))
    assert error.field == "ollamma" and "did you mean 'ollama'" in str(error)


def test_wrong_type_named_by_dotted_path(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "m.toml", MINIMAL.replace('vram = "≈14 GB"', "vram = 14")))
    assert error.field == "tags[0].vram"
    assert line_of(error) == "vram = 14"
    assert "found 14 (int)" in str(error)


def test_string_number_is_not_coerced(tmp_path: Path) -> None:
    error = error_of(
        write(tmp_path, "m.toml", MINIMAL.replace("temperature = 0.6", 'temperature = "0.6"'))
    )
    assert error.field == "ollama.parameters.temperature"
    assert "expected float" in str(error)


def test_unknown_parameter_in_tag_override(tmp_path: Path) -> None:
    error = error_of(
        write(tmp_path, "m.toml", MINIMAL.replace("{ temperature = 0.8 }", "{ temp = 0.8 }"))
    )
    assert error.field == "tags[1].parameters.temp"
    assert line_of(error) == "parameters = { temp = 0.8 }"


def test_duplicate_tags_point_at_the_second(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "m.toml", MINIMAL + '\n[[tags]]\ntag = "q4_k_m"\n'))
    assert "duplicate tag 'q4_k_m'" in str(error) and "tags[0]" in str(error)
    assert error.field == "tags[3].tag" and line_of(error) == 'tag = "q4_k_m"'


def test_latest_must_be_a_declared_tag(tmp_path: Path) -> None:
    error = error_of(
        write(tmp_path, "m.toml", MINIMAL.replace('latest = "Q4_K_M"', 'latest = "Q5_K_M"'))
    )
    assert error.field == "ollama.latest" and "'Q5_K_M'" in str(error)
    assert line_of(error) == 'latest = "Q5_K_M"'


def test_latest_must_go_to_ollama(tmp_path: Path) -> None:
    error = error_of(
        write(tmp_path, "m.toml", MINIMAL.replace('latest = "Q4_K_M"', 'latest = "F16"'))
    )
    assert "not sent to ollama" in str(error)


@pytest.mark.parametrize(
    "name",
    ["ns/fam:latest", "-bad/fam", "ns/fa m", "a/b/c/d", "ns/" + "x" * 81, "ns//fam"],
)
def test_bad_ollama_model_names(tmp_path: Path, name: str) -> None:
    error = error_of(
        write(tmp_path, "m.toml", MINIMAL.replace('model = "ns/fam"', f'model = "{name}"'))
    )
    assert error.field == "ollama.model"


@pytest.mark.parametrize("tag", ["-Q4", "Q4 K", "Q4:K", "x" * 81])
def test_bad_tag_names(tmp_path: Path, tag: str) -> None:
    error = error_of(write(tmp_path, "m.toml", MINIMAL.replace('tag = "Q6_K"', f'tag = "{tag}"')))
    assert error.field == "tags[1].tag" and "not a valid Ollama tag" in str(error)


@pytest.mark.parametrize("repo", ["no-owner", "a/b/c", "org/bad name", "org/x..y"])
def test_bad_hf_repo_ids(tmp_path: Path, repo: str) -> None:
    error = error_of(write(tmp_path, "m.toml", MINIMAL.replace("Org/fam-v1-GGUF", repo)))
    assert error.field == "huggingface.repo"
    assert "owner/name" in str(error) or "'..'" in str(error)


def test_missing_extends_target(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "m.toml", 'extends = "nowhere.toml"\n' + MINIMAL))
    assert error.field == "extends" and "nowhere.toml" in str(error)
    assert line_of(error) == 'extends = "nowhere.toml"'


def test_circular_extends(tmp_path: Path) -> None:
    write(tmp_path, "a.toml", 'extends = "b.toml"\n' + MINIMAL)
    write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    error = error_of(tmp_path / "a.toml")
    assert "circular extends" in str(error)


def test_benchmark_score_must_be_numeric(tmp_path: Path) -> None:
    text = MINIMAL + '\n[benchmarks]\n[[benchmarks.rows]]\nname = "GPQA"\nscore = "75.25"\n'
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "benchmarks.rows[0].score" and "expected float" in str(error)


def test_template_and_renderer_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "chat.gotmpl").write_text("{{ .Prompt }}", encoding="utf-8")
    text = MINIMAL.replace(
        'parser = "gemma4"', 'parser = "gemma4"\ntemplate = "chat.gotmpl"\nrenderer = "gemma4"'
    )
    error = error_of(write(tmp_path, "m.toml", text))
    assert "Ollama ignores TEMPLATE when a RENDERER is set" in str(error)


def test_missing_template_file_names_the_line(tmp_path: Path) -> None:
    text = MINIMAL.replace('parser = "gemma4"', 'parser = "gemma4"\ntemplate = "nope.gotmpl"')
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "ollama.template" and "nope.gotmpl" in str(error)
    assert line_of(error) == 'template = "nope.gotmpl"'


def test_missing_required_key(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "m.toml", MINIMAL.replace('title = "Fam v1"\n', "")))
    assert error.field == "model.title" and "required" in str(error)


def test_missing_manifest_file(tmp_path: Path) -> None:
    error = error_of(tmp_path / "absent.toml")
    assert "manifest not found" in str(error)


def test_unknown_tag_selection_suggests(tmp_path: Path) -> None:
    release = load(write(tmp_path, "m.toml", MINIMAL))
    with pytest.raises(UsageError, match="did you mean 'Q6_K'"):
        release.select(["Q6_J"])


def test_experts_cannot_exceed_base(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "m.toml", MINIMAL.replace("experts = 98", "experts = 130")))
    assert "cannot exceed experts_base" in str(error)


@pytest.mark.parametrize("variant", ["../../escape", "v 3", ""])
def test_variant_must_be_a_plain_name(tmp_path: Path, variant: str) -> None:
    """The variant names build/<variant>/ and <variant>.lock.json: no paths."""
    error = error_of(
        write(tmp_path, "m.toml", MINIMAL.replace('variant = "v1"', f'variant = "{variant}"'))
    )
    assert error.field == "model.variant"


@pytest.mark.parametrize("file", ["../elsewhere.gguf", "sub/x.gguf", ".."])
def test_tag_file_must_be_a_bare_name(tmp_path: Path, file: str) -> None:
    text = MINIMAL.replace('tag = "Q6_K"', f'tag = "Q6_K"\nfile = "{file}"')
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "tags[1].file" and "file name inside gguf_dir" in str(error)


def test_a_release_needs_at_least_one_tag(tmp_path: Path) -> None:
    head = MINIMAL.split("[[tags]]")[0]
    error = error_of(write(tmp_path, "m.toml", "tags = []\n" + head))
    assert error.field == "tags"


def test_short_licence_text_is_text_but_a_near_miss_of_a_builtin_is_a_typo(tmp_path: Path) -> None:
    text = MINIMAL.replace('license = "Some licence text, inline."', 'license = "MIT"')
    release = load(write(tmp_path, "m.toml", text))
    assert release.ollama is not None and release.ollama.license == "MIT"
    typo = MINIMAL.replace('license = "Some licence text, inline."', 'license = "gemma-term"')
    error = error_of(write(tmp_path, "t.toml", typo))
    assert error.field == "ollama.license" and "gemma-terms" in str(error)


def test_relative_gguf_dir_flag_and_env_are_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "manifests").mkdir()
    path = write(tmp_path, "manifests/m.toml", MINIMAL)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert load(path, gguf_dir="files").gguf_dir == tmp_path.resolve() / "work" / "files"
    monkeypatch.setenv("PUBLISHER_GGUF_DIR", "env-files")
    assert load(path).gguf_dir == tmp_path.resolve() / "work" / "env-files"


@pytest.mark.parametrize("pattern", ["x-{tag}-{quant}.gguf", "x-{tag}-{.gguf", "x-{tag}-{0}.gguf"])
def test_a_file_pattern_with_other_braces_is_an_error(tmp_path: Path, pattern: str) -> None:
    text = MINIMAL.replace('name = "', f'name = "{pattern}"\n#', 1)
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "files.name" and "only {tag}" in str(error)


def test_licence_never_comes_from_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "MYLIC").write_text("text from the current directory")
    path = write(tmp_path, "m.toml", MINIMAL.replace('"Some licence text, inline."', '"MYLIC"'))
    monkeypatch.chdir(elsewhere)
    release = load(path)
    assert release.ollama is not None and release.ollama.license == "MYLIC"


@pytest.mark.parametrize("url", ["ftp://registry", "https://", "https://host/path/x"])
def test_registry_must_be_an_http_url(tmp_path: Path, url: str) -> None:
    text = MINIMAL.replace('model = "ns/fam"', f'model = "ns/fam"\nregistry = "{url}"')
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "ollama.registry"


def test_extra_files_are_bare_names(tmp_path: Path) -> None:
    text = MINIMAL.replace("[huggingface]", '[huggingface]\nextra_files = ["/etc/passwd"]')
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "huggingface.extra_files"


# --- a rule about a whole table names the table's header line ---------------------------------


@pytest.mark.parametrize(
    ("old", "new", "field", "header"),
    [
        (
            'parser = "gemma4"',
            'parser = "gemma4"\nrenderer = "gemma4"\ntemplate = "gemma4.gotmpl"',
            "ollama",
            "[ollama]",
        ),
        ("experts = 98", "experts = 98\nexperts_base = 97", "model", "[model]"),
        (
            "[huggingface]",
            '[recipes."Q*"]\ntensor_types = ["a=q8_0"]\ntensor_type_file = "x"\n[huggingface]',
            "recipes.Q*",
            '[recipes."Q*"]',
        ),
    ],
)
def test_a_table_rule_names_the_table_header(
    tmp_path: Path, old: str, new: str, field: str, header: str
) -> None:
    text = MINIMAL.replace("experts_base = 128\n", "").replace(old, new, 1)
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == field
    assert line_of(error) == header


def test_a_quoted_recipe_key_names_its_line(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "[huggingface]", '[recipes]\n"Q4_*" = { tensor_types = ["bad"] }\n\n[huggingface]'
    )
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "recipes.Q4_*.tensor_types"
    assert line_of(error) == '"Q4_*" = { tensor_types = ["bad"] }'


def test_a_missing_key_of_a_table_array_names_its_header(tmp_path: Path) -> None:
    text = MINIMAL + '\n[benchmarks]\n\n[[benchmarks.rows]]\nname = "x"\nscroe = 1.0\n'
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "benchmarks.rows[0].score"
    assert line_of(error) == "[[benchmarks.rows]]"


def test_a_sub_table_of_a_tag_names_its_line(tmp_path: Path) -> None:
    text = MINIMAL + '\n[[tags]]\ntag = "Q8_0"\n\n[tags.parameters]\ntop_k = "40"\n'
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "tags[3].parameters.top_k"
    assert line_of(error) == 'top_k = "40"'


def test_an_inline_licence_longer_than_a_file_name_is_the_licence_text(tmp_path: Path) -> None:
    # Looking a 300-character line up as a path fails with ENAMETOOLONG, not "no such file".
    paragraph = "Permission is hereby granted, free of charge, to any person. " * 5
    text = MINIMAL.replace('"Some licence text, inline."', f'"{paragraph}"')
    release = load(write(tmp_path, "m.toml", text))
    assert release.ollama is not None and release.ollama.license == paragraph


def test_latest_names_the_tag_rule_as_a_tag_does(tmp_path: Path) -> None:
    error = error_of(
        write(tmp_path, "m.toml", MINIMAL.replace('latest = "Q4_K_M"', 'latest = "-x"'))
    )
    assert error.field == "ollama.latest"
    assert "not a valid Ollama tag: '-x' (letters, digits" in str(error)


def test_an_empty_requires_gets_no_hint_about_a_leading_v(tmp_path: Path) -> None:
    text = MINIMAL.replace('parser = "gemma4"', 'parser = "gemma4"\nrequires = ""')
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "ollama.requires" and "found ''" in str(error)
    assert "leading 'v'" not in str(error)


def test_a_misspelt_recipe_key_gets_a_suggestion(tmp_path: Path) -> None:
    text = MINIMAL.replace("[huggingface]", '[recipes."Q*"]\ntensor_typs = []\n\n[huggingface]')
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "recipes.Q*.tensor_typs"
    assert "did you mean 'tensor_types'" in str(error)
    assert line_of(error) == "tensor_typs = []"


def test_an_empty_extends_is_an_error_not_no_base(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "m.toml", 'extends = ""\n' + MINIMAL))
    assert error.field == "extends" and "found ''" in str(error)
    assert line_of(error) == 'extends = ""'


def test_a_bad_tensor_type_file_names_its_key(tmp_path: Path) -> None:
    (tmp_path / "cd.txt").write_text("ffn_down=q9_z\n", encoding="utf-8")
    text = MINIMAL.replace(
        "[huggingface]", '[recipes."Q*"]\ntensor_type_file = "cd.txt"\n\n[huggingface]'
    )
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "recipes.Q*.tensor_type_file" and "q9_z" in str(error)
    assert line_of(error) == 'tensor_type_file = "cd.txt"'


def test_a_parameter_beyond_float32_names_its_own_line(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, "m.toml", MINIMAL.replace("0.6", "1e39", 1)))
    assert error.field == "ollama.parameters.temperature" and "32-bit float" in str(error)
    assert line_of(error) == "temperature = 1e39"


@pytest.mark.parametrize("base_model", ["", "gemma-4", "a/b/c", "org/base\\n"])
def test_base_model_must_be_a_hub_repo_id(tmp_path: Path, base_model: str) -> None:
    """The card's `base_model` and its link: an empty or malformed id is refused, not published."""
    text = MINIMAL.replace('base_model = "org/base"', f'base_model = "{base_model}"')
    assert text != MINIMAL
    error = error_of(write(tmp_path, "m.toml", text))
    assert error.field == "model.base_model" and "repo id" in str(error)
