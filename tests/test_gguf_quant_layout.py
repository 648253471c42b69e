"""The quant check against real llama-quantize output (tests/fixtures/quant_layouts/).

The layouts were written by llama-quantize built from the llama-cpp-python 0.3.36 sdist
(ggml-org/llama.cpp@0c1e57098) on a 30-layer, 98-expert gemma4 F16 model with an importance
matrix: the whole v3 ladder plus Q8_0, Q2_K, IQ2_M/S/XS and two CD recipes given as
`--tensor-type` patterns. tests/make_quant_fixtures.py regenerates them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from gguf import GGMLQuantizationType as T
from support.quant_fixtures import facts, layout, model, recipe_of, rows, tags, write_layout_gguf
from support.release_fixtures import fam_manifest, huggingface_tags

from publisher.gguf import quant_check
from publisher.gguf.checks import Expectations, check_tag, verify_release, verify_tag
from publisher.gguf.header import read_header
from publisher.gguf.quant_check import effective_recipe, expected_quant
from publisher.gguf.quant_layout import Recipe, fallback, predict, use_more_bits
from publisher.manifest import load

V3_LADDER = [
    "Q6_K_L", "Q6_K", "Q5_K_L", "Q5_K_M", "Q5_K_S", "Q4_K_L", "Q4_K_M", "Q4_K_S", "IQ4_NL",
    "IQ4_XS", "Q3_K_XL", "Q3_K_L", "Q3_K_M", "IQ3_M", "Q3_K_S", "IQ3_XS", "IQ3_XXS", "CD-Q6_K",
    "CD-Q5_K_M", "CD-Q4_K_M", "CD-Q3_K_L", "CD-Q3_K_M", "F16",
]  # fmt: skip
EXTRA = ["Q8_0", "Q2_K", "IQ2_M", "IQ2_S", "IQ2_XS"]


def test_every_tier_has_a_real_layout() -> None:
    assert set(V3_LADDER + EXTRA) <= set(tags())
    assert model()["metadata"]["gemma4.expert_count"] == 98


# ------------------------------------------------------------------------------------------
# the prediction equals what llama-quantize wrote


@pytest.mark.parametrize("tag", V3_LADDER + EXTRA)
def test_prediction_equals_the_real_layout(tag: str) -> None:
    real = layout(tag)
    prediction = predict(real["file_type"], rows(), facts(tag), recipe_of(tag))
    sources = {name: kind for name, _, kind in model()["tensors"]}
    wrong = []
    for name, found in real["types"].items():
        predicted = prediction.primary(name) or T[sources[name]]  # None: copied as it was
        if predicted.name != found:
            wrong.append(f"{name}: predicted {predicted.name}, llama-quantize wrote {found}")
    assert wrong == []


def test_the_real_layouts_show_the_rules_the_issue_found() -> None:
    # IQ3_XS: fused gate_up experts are FFN_GATE by name -> IQ3_XXS in layers 3..25
    iq3_xs = layout("IQ3_XS")["types"]
    gate_up = [iq3_xs[f"blk.{i}.ffn_gate_up_exps.weight"] for i in range(30)]
    assert gate_up == ["IQ3_S"] * 3 + ["IQ3_XXS"] * 23 + ["IQ3_S"] * 4
    # 32-wide down experts fall back: Q6_K -> Q8_0, Q5_K -> Q5_1, Q4_K -> Q5_0, IQ -> IQ4_NL
    assert layout("Q6_K")["types"]["blk.10.ffn_down_exps.weight"] == "Q8_0"
    assert layout("Q5_K_S")["types"]["blk.10.ffn_down_exps.weight"] == "Q5_1"
    assert layout("Q4_K_S")["types"]["blk.10.ffn_down_exps.weight"] == "Q5_0"
    assert layout("IQ4_XS")["types"]["blk.10.ffn_down_exps.weight"] == "IQ4_NL"
    embd = {t: layout(t)["types"]["token_embd.weight"] for t in ("Q6_K", "IQ3_XXS", "Q6_K_L")}
    assert embd == {"Q6_K": "Q6_K", "IQ3_XXS": "Q5_K", "Q6_K_L": "Q8_0"}


def test_use_more_bits_and_version_drift_are_data() -> None:
    more = [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29]
    assert [i for i in range(30) if use_more_bits(i, 30)] == more
    assert fallback(T.Q3_K, 704) == (T.Q4_0, T.IQ4_NL)  # pinned, then older llama.cpp
    assert fallback(T.Q6_K, 704) == (T.Q8_0,) and fallback(T.Q6_K, 2816) == (T.Q6_K,)
    assert fallback(T.Q4_K, 48) == (T.F16,)  # not even a 32-block type fits


# ------------------------------------------------------------------------------------------
# verify accepts each real layout under its true tag


def _recipes_toml() -> str:
    """[recipes] for the CD tiers: recipe A per family glob, recipe B per tag."""
    a, b = recipe_of("CD-Q4_K_M"), recipe_of("CD-Q3_K_L")
    lines = ['[recipes."CD-Q[456]_K*"]', 'token_embedding_type = "q8_0"', "tensor_types = ["]
    lines += [f"  '{p}={k.name.lower()}'," for p, k in a.tensor_types] + ["]"]
    for tag in ("CD-Q3_K_L", "CD-Q3_K_M"):
        lines += [f'[recipes."{tag}"]', 'tensor_type_file = "cd-b.txt"']
    assert b.token_embedding_type is None
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fam release with every real layout as its tag's file, CD recipes declared."""
    root = tmp_path_factory.mktemp("ladder")
    (root / "gguf").mkdir()
    for tag in V3_LADDER + EXTRA:
        write_layout_gguf(root / "gguf" / f"fam-v1-{tag}.gguf", tag)
    b = recipe_of("CD-Q3_K_L")
    (root / "cd-b.txt").write_text("\n".join(f"{p}={k.name}" for p, k in b.tensor_types) + "\n")
    text = fam_manifest(huggingface_tags(*V3_LADDER, *EXTRA) + "\n" + _recipes_toml())
    (root / "fam.toml").write_text(text)
    return root / "fam.toml"


@pytest.mark.slow
def test_verify_accepts_every_real_layout_under_its_true_tag(ladder: Path) -> None:
    release = load(ladder)
    assert release.tag("CD-Q4_K_M").recipe == recipe_of("CD-Q4_K_M")
    assert release.tag("CD-Q3_K_M").recipe == recipe_of("CD-Q3_K_M")
    reports = verify_release(release, digest=False)
    failed = {r.tag: [str(f) for f in r.failures] for r in reports if not r.ok}
    assert failed == {}
    measured = {r.tag: r.result("quant").measured for r in reports}
    assert measured["Q4_K_M"]["predicted"] == measured["Q4_K_M"]["actual"]
    assert measured["CD-Q4_K_M"]["deviating_layers"] == list(range(30))


@pytest.mark.parametrize("tag", ["CD-Q4_K_M", "CD-Q3_K_L", "CD-Q5_K_M"])
def test_a_cd_file_passes_without_a_declared_recipe(tmp_path: Path, tag: str) -> None:
    path = write_layout_gguf(tmp_path / "cd.gguf", tag)
    report = verify_tag(path, tag=tag, experts=98, digest=False)
    assert report.ok, [str(f) for f in report.failures]
    assert "layers deviating from plain" in report.result("quant").found


# ------------------------------------------------------------------------------------------
# mislabels are refused, naming the tensors


def _quant_failure(tmp_path: Path, real: str, claimed: str) -> str:
    """verify a file with `real`'s layout under the tag `claimed`; the quant failure text."""
    path = write_layout_gguf(tmp_path / f"{real}-as-{claimed}.gguf", real)
    report = verify_tag(path, tag=claimed, experts=98, digest=False)
    failures = report.failures
    assert [f.name for f in failures] == ["quant"], [str(f) for f in failures]
    return failures[0].found


@pytest.mark.parametrize(("real", "claimed"), [("Q4_K_M", "CD-Q4_K_M"), ("Q5_K_M", "CD-Q5_K_M")])
def test_plain_file_labelled_cd_is_refused(tmp_path: Path, real: str, claimed: str) -> None:
    found = _quant_failure(tmp_path, real, claimed)
    assert found == f"identical to plain {real}: the CD map was not applied"


@pytest.mark.parametrize(("real", "claimed"), [("CD-Q4_K_M", "Q4_K_M"), ("CD-Q3_K_L", "Q3_K_L")])
def test_cd_file_labelled_plain_is_refused(tmp_path: Path, real: str, claimed: str) -> None:
    found = _quant_failure(tmp_path, real, claimed)
    assert "tensor(s) differ: token_embd.weight is Q8_0, expected Q6_K" in found
    assert "blk.0.attn_k.weight is Q5_K" in found


def test_cd_file_with_another_recipe_is_refused(tmp_path: Path) -> None:
    path = write_layout_gguf(tmp_path / "b.gguf", "CD-Q3_K_L")
    report = check_tag("CD-Q3_K_L", [path], Expectations(experts=98), recipe=recipe_of("CD-Q4_K_M"))
    quant = report.result("quant")
    assert not quant.ok and "token_embd.weight" not in quant.found
    assert "blk.0.ffn_gate_up_exps.weight is Q4_K, expected Q6_K" in quant.found


@pytest.mark.parametrize(
    ("tag", "with_recipe", "predictions"),
    [("Q4_K_M", False, 1), ("Q6_K_L", False, 1), ("CD-Q4_K_M", False, 1), ("CD-Q4_K_M", True, 2)],
)
def test_check_quant_predicts_each_layout_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tag: str, with_recipe: bool, predictions: int
) -> None:
    """The plain layout is the expected one unless a recipe changes it: only a CD tag with a
    recipe needs both (init asks check_quant for several candidates per file)."""
    path = write_layout_gguf(tmp_path / "f.gguf", tag)
    header = read_header(path)
    calls: list[object] = []

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return predict(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(quant_check, "predict", counting)
    recipe = recipe_of(tag) if with_recipe else None
    result, _ = quant_check.check_quant(tag, header, header.tensors, recipe=recipe)
    assert result.ok, result.found
    assert len(calls) == predictions


def test_q6_k_l_labelled_q6_k_is_refused(tmp_path: Path) -> None:
    found = _quant_failure(tmp_path, "Q6_K_L", "Q6_K")
    assert found == "1 tensor(s) differ: token_embd.weight is Q8_0, expected Q6_K"


def test_q4_k_m_labelled_q4_k_l_is_refused(tmp_path: Path) -> None:
    found = _quant_failure(tmp_path, "Q4_K_M", "Q4_K_L")
    assert found == "1 tensor(s) differ: token_embd.weight is Q6_K, expected Q8_0"


def test_q4_k_s_labelled_q4_k_m_is_refused(tmp_path: Path) -> None:
    found = _quant_failure(tmp_path, "Q4_K_S", "Q4_K_M")
    assert found.startswith("general.file_type Q4_K_S (14); ")
    assert "blk.0.attn_v.weight is Q5_K, expected Q6_K" in found


def test_q5_k_m_labelled_q5_k_s_is_refused(tmp_path: Path) -> None:
    found = _quant_failure(tmp_path, "Q5_K_M", "Q5_K_S")
    assert found.startswith("general.file_type Q5_K_M (17); ")
    assert "blk.0.attn_v.weight is Q6_K, expected Q5_K" in found


def test_l_tier_with_a_declared_embedding_type(tmp_path: Path) -> None:
    spec = expected_quant("Q6_K_L")
    declared = effective_recipe(spec, Recipe.parse(token_embedding_type="q6_k"))
    assert declared is not None and declared.token_embedding_type == T.Q6_K
    assert declared.output_tensor_type == T.Q8_0


# ------------------------------------------------------------------------------------------
# [recipes] in the manifest: bad entries are one-line manifest errors


@pytest.mark.parametrize(
    ("recipe", "message"),
    [
        ("tensor_types = ['attn_q=q9_k']", "'q9_k' is not a ggml type"),
        ("tensor_types = ['attn_(q=q5_k']", "bad regular expression"),
        ("tensor_types = ['attn_q']", "is not PATTERN=TYPE"),
        ("token_embedding_type = 'q8'", "'q8' is not a ggml type"),
        ("tensor_types = ['a=q5_k']\ntensor_type_file = 'm.txt'", "not both"),
        ("tensor_type_file = 'absent.txt'", "cannot read"),
        ("tensor_types = ['a=q5_k']\ntensor_typs = []", "tensor_typs"),
    ],
)
def test_bad_recipe_is_a_manifest_error(tmp_path: Path, recipe: str, message: str) -> None:
    from publisher.errors import ManifestError

    text = fam_manifest(huggingface_tags("CD-Q4_K_M")) + f'\n[recipes."CD-*"]\n{recipe}\n'
    (tmp_path / "fam.toml").write_text(text)
    with pytest.raises(ManifestError) as info:
        load(tmp_path / "fam.toml")
    assert message in str(info.value) and "fam.toml" in str(info.value)


def test_recipe_matching_no_tag_is_a_manifest_error(tmp_path: Path) -> None:
    from publisher.errors import ManifestError

    text = fam_manifest(huggingface_tags("Q4_K_M")) + '\n[recipes."CD-*"]\ntensor_types = []\n'
    (tmp_path / "fam.toml").write_text(text)
    with pytest.raises(ManifestError, match="'CD-\\*' matches no declared tag"):
        load(tmp_path / "fam.toml")
