"""What the Hub and Ollama users read about a release: licence ids and texts, lineage that a
re-render keeps right, and the hf.co / local-derivative caveats in card, page and Modelfile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.modelfile_parser import parse_request
from support.release_fixtures import fam_manifest
from typer.testing import CliRunner

from publisher.cli import app
from publisher.errors import ManifestError
from publisher.licenses import BUILTIN_TEXTS, HUB_LICENSES
from publisher.manifest import load
from publisher.render import render_modelfile, render_release, write_rendered
from publisher.render.markers import GENERATED_KEYS, split_front_matter

ROOT = Path(__file__).resolve().parent.parent
V3 = ROOT / "manifests" / "v3.toml"
APACHE = (ROOT / "publisher" / "templates" / "licenses" / "apache-2.0.txt").read_text("utf-8")

OLLAMA = """[ollama]
model = "ns/fam"
latest = "Q4_K_M"
template = "gemma4-tools.gotmpl"
parser = "gemma4"
{ollama_extra}
[huggingface]
repo = "Org/fam-v1-GGUF"
{hf_extra}
[[tags]]
tag = "Q4_K_M"
"""


def fam(tmp_path: Path, *, model: str = "", ollama: str = "", hf: str = "") -> Path:
    text = fam_manifest(OLLAMA.format(ollama_extra=ollama, hf_extra=hf))
    text = text.replace('base_model = "org/base"\n', f'base_model = "org/base"\n{model}')
    path = tmp_path / "fam.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load(path)
    return info.value


# ---------------------------------------------------------------------------------------------
# Licences


def test_the_hub_licence_table_is_the_documented_one() -> None:
    assert len(HUB_LICENSES) == 69  # hub-docs repositories-licenses.md, "region licenses"
    assert HUB_LICENSES["apache-2.0"] == "Apache license 2.0"
    assert {"gemma", "llama2", "unknown", "other", "openrail++"} <= set(HUB_LICENSES)
    for builtin in BUILTIN_TEXTS.values():
        assert builtin.path.is_file()
    assert (
        APACHE.lstrip().startswith("Apache License\n") and "END OF TERMS AND CONDITIONS" in APACHE
    )


def test_an_unknown_licence_id_is_a_manifest_error_naming_the_known_ones(tmp_path: Path) -> None:
    error = load_error(fam(tmp_path, model='license = "Apache 2"\n'))
    message = str(error)
    assert error.field == "model.license" and error.line is not None
    assert "did you mean 'apache-2.0'?" in message
    assert "unknown Hub licence id 'Apache 2'" in message
    assert all(known in message for known in ("apache-2.0", "mit", "gemma", "other"))
    assert "\n" not in message


def test_apache_2_puts_the_full_text_in_every_ollama_licence_layer(tmp_path: Path) -> None:
    release = load(fam(tmp_path, model='license = "apache-2.0"\n'))
    assert release.ollama is not None and release.ollama.license == APACHE
    request = parse_request(render_modelfile(release, "Q4_K_M"))
    assert request["license"] == [APACHE]


def test_a_licence_layer_that_disagrees_with_the_id_is_refused(tmp_path: Path) -> None:
    path = fam(tmp_path, model='license = "apache-2.0"\n', ollama='license = "gemma-terms"\n')
    error = load_error(path)
    assert error.field == "ollama.license"
    assert "[model] license = 'apache-2.0' puts its built-in text" in str(error)
    same = fam(tmp_path, model='license = "apache-2.0"\n', ollama='license = "apache-2.0"\n')
    assert load(same).ollama.license == APACHE  # naming the same built-in text is fine


def test_license_link_and_name_belong_to_other_only(tmp_path: Path) -> None:
    link = 'license_link = "https://example.org/terms"\n'
    error = load_error(fam(tmp_path, model='license = "apache-2.0"\n', hf=link))
    assert error.field == "huggingface.license_link"
    assert "the Hub links its own text for 'apache-2.0'" in str(error)
    error = load_error(fam(tmp_path, model='license = "other"\n', hf=link))
    assert error.field == "model.license" and "needs [huggingface] license_name" in str(error)
    path = fam(tmp_path, model='license = "other"\n', hf=link + 'license_name = "fam-license"\n')
    card = render_release(load(path)).hf_card
    meta = yaml.safe_load(split_front_matter(card)[0])
    assert meta["license"] == "other"
    assert meta["license_name"] == "fam-license"
    assert meta["license_link"] == "https://example.org/terms"
    assert "fam-license (`other`, [full text](https://example.org/terms))." in card


def test_card_and_page_name_the_licence_without_pasting_its_text() -> None:
    rendered = render_release(load(V3))
    for text in (rendered.hf_card, rendered.ollama_page):
        assert (
            "Apache license 2.0 (`apache-2.0`, [full text](https://www.apache.org/licenses/LICENSE-2.0))"
            in text
        )
        assert "`ollama show --license mannix/gemma4-98e:Q4_K_M`" in text
        assert "END OF TERMS AND CONDITIONS" not in text and "Gemma Terms" not in text


# ---------------------------------------------------------------------------------------------
# Lineage and front-matter ownership


def test_base_model_is_the_source_repo_else_the_original_model(tmp_path: Path) -> None:
    with_source = fam(tmp_path, hf='source_repo = "Org/fam-v1"\n')
    card = render_release(load(with_source)).hf_card
    assert yaml.safe_load(split_front_matter(card)[0])["base_model"] == "Org/fam-v1"
    assert "Original model: [org/base](https://huggingface.co/org/base)." in card
    card = render_release(load(fam(tmp_path))).hf_card
    meta = yaml.safe_load(split_front_matter(card)[0])
    assert meta["base_model"] == "org/base" and meta["base_model_relation"] == "quantized"
    assert "GGUF quants of [org/base](https://huggingface.co/org/base)" in card
    assert set(meta) <= GENERATED_KEYS


def test_a_re_render_replaces_the_publishers_keys_and_keeps_hand_added_ones(tmp_path: Path) -> None:
    """The v3 card as the earlier renders wrote it (Google's model as parent, Gemma terms with a
    link) becomes the right one, and a key the owner added survives."""
    out = tmp_path / "build"
    card = out / "huggingface" / "README.md"
    card.parent.mkdir(parents=True)
    old_front = (
        "---\nbase_model: google/gemma-4-26B-A4B-it\nlicense: gemma\n"
        "license_link: https://ai.google.dev/gemma/terms\nbase_model_relation: quantized\n"
        "datasets:\n- owner/calibration\n---\n"
    )
    card.write_text(old_front + "\nHand-written intro.\n", encoding="utf-8")
    write_rendered(render_release(load(V3)), out)
    merged = card.read_text(encoding="utf-8")
    meta = yaml.safe_load(split_front_matter(merged)[0])
    assert meta["base_model"] == "ManniX-ITA/gemma-4-A4B-98e-v3-it"
    assert meta["license"] == "apache-2.0" and "license_link" not in meta
    assert meta["datasets"] == ["owner/calibration"]
    assert "Hand-written intro." in merged


# ---------------------------------------------------------------------------------------------
# hf.co and local-derivative caveats


def test_card_says_hf_co_pulls_parse_no_tool_calls_and_points_to_ollama_com() -> None:
    card = render_release(load(V3)).hf_card
    usage = card[
        card.index("<!-- publisher:begin usage -->") : card.index("<!-- publisher:end usage -->")
    ]
    assert "a Hub repo cannot declare a parser" in usage
    assert "Gemma 4's `call:NAME{…}` tool calls stay in the reply text" in usage
    assert "(`ollama run mannix/gemma4-98e:Q4_K_M`), which carries `PARSER gemma4`" in usage
    assert "with `PARSER gemma4`" not in card  # the repo's side files carry no parser


def test_card_page_and_modelfiles_say_a_derivative_loses_the_template() -> None:
    release = load(V3)
    rendered = render_release(release)
    for text in (rendered.hf_card, rendered.ollama_page):
        assert "`FROM mannix/gemma4-98e:Q4_K_M` in a Modelfile, or `/save`" in text
        assert "Ollama's built-in gemma4 renderer (server/create.go)" in text
        assert "push that image to the registry directly" in text
    for text in rendered.modelfiles.values():
        comments = [line for line in text.splitlines()[:2] if line.startswith("# ")]
        assert len(comments) == 2 and "`ollama create -f` on this file" in comments[1]
        assert "ignores the TEMPLATE below" in comments[1]


def test_no_derivative_caveat_where_ollama_keeps_the_template(tmp_path: Path) -> None:
    path = fam(tmp_path)
    path.write_text(path.read_text().replace('architecture = "gemma4"\n', ""), encoding="utf-8")
    text = path.read_text().replace("experts = 98\n", 'experts = 98\narchitecture = "llama"\n')
    path.write_text(text, encoding="utf-8")
    rendered = render_release(load(path))
    assert "ollama create -f" not in rendered.modelfiles["Q4_K_M"]
    assert "/save" not in rendered.ollama_page and "/save" not in rendered.hf_card


# ---------------------------------------------------------------------------------------------
# Applying the ollama.com page (a person's step)

PASTE = "publish does not upload it; paste it into the model page editor on ollama.com"


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_render_and_release_say_how_to_apply_the_ollama_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    gguf = ["--gguf-dir", str(tmp_path / "none")]
    result = runner.invoke(app, ["render", str(V3), *gguf], terminal_width=300)
    assert result.exit_code == 0, result.output
    page = Path("build") / "v3" / "ollama" / "page.md"
    assert f"ollama.com page: {page} — {PASTE} (https://ollama.com/mannix/gemma4-98e)" in (
        result.output
    )
    args = ["release", str(V3), "--dry-run", "--no-digest", *gguf]
    result = runner.invoke(app, [*args, "--json"])
    summary = json.loads(result.stdout)
    assert summary["ollama_page"]["path"] == str(page)
    assert PASTE in summary["ollama_page"]["apply"] and (tmp_path / page).is_file()
    result = runner.invoke(app, args, terminal_width=300)
    assert f"ollama.com page: {page} — {PASTE}" in result.output
