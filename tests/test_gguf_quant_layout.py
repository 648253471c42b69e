"""The quant check against real llama-quantize output (tests/fixtures/quant_layouts/).

The layouts were written by llama-quantize built from the llama-cpp-python 0.3.36 sdist
(ggml-org/llama.cpp@0c1e57098) on a 30-layer, 98-expert gemma4 F16 model with an importance
matrix: the whole v3 ladder plus Q8_0, Q2_K, IQ2_M/S/XS and two CD recipes given as
`--tensor-type` patterns. tests/make_quant_fixtures.py regenerates them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gguf import GGMLQuantizationType as T
from support.quant_fixtures import (
    LAYOUTS,
    facts,
    layout,
    model,
    recipe_of,
    rows,
    tags,
    write_layout_gguf,
)
from support.release_fixtures import fam_manifest, huggingface_tags

from publisher.gguf import quant_check
from publisher.gguf.checks import Expectations, check_tag, verify_release, verify_tag
from publisher.gguf.header import read_header
from publisher.gguf.quant_check import effective_recipe, expected_quant
from publisher.gguf.quant_history import LEGACY_FALLBACK_ARCHS, OverrideRule
from publisher.gguf.quant_layout import ModelFacts, Recipe, fallback, predict, use_more_bits
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
    assert fallback(T.Q3_K, 704) == (T.Q4_0,)  # gemma4: only builds with tensor_type_fallback
    assert fallback(T.Q3_K, 704, legacy=True) == (T.Q4_0, T.IQ4_NL)  # pinned, then older builds
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
    [
        ("Q4_K_M", False, 1),
        ("Q6_K_L", False, 1),
        ("CD-Q4_K_M", False, 1),
        ("CD-Q4_K_M", True, 2),
        ("CD-Q5_K_M", True, 3),
    ],
)
def test_check_quant_predicts_each_layout_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tag: str, with_recipe: bool, predictions: int
) -> None:
    """The plain layout is the expected one unless a recipe changes it: only a CD tag with a
    recipe needs both, and a third when the two --tensor-type rules can disagree on the recipe
    (CD-Q5_K_M's q5_k patterns) (init asks check_quant for several candidates per file)."""
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


@pytest.mark.parametrize(
    ("recipe", "field"),
    [
        ("tensor_types = ['attn_v=q8_0']", "tensor_types"),
        ("tensor_type_file = 'cd.txt'", "tensor_type_file"),
    ],
)
@pytest.mark.parametrize("plain", ["Q4_K_M", "Q6_K_L"])
def test_a_tensor_type_map_on_a_plain_tag_is_refused(
    tmp_path: Path, recipe: str, field: str, plain: str
) -> None:
    """A made-up pattern would make the prediction follow any file: a plain tag (and an _L
    tier) is held to llama-quantize's own layout, so a map reaching it is a manifest error."""
    from publisher.errors import ManifestError

    (tmp_path / "cd.txt").write_text("attn_v=q8_0\n")
    text = fam_manifest(huggingface_tags("CD-Q4_K_M", plain)) + f'\n[recipes."*"]\n{recipe}\n'
    (tmp_path / "fam.toml").write_text(text)
    with pytest.raises(ManifestError) as info:
        load(tmp_path / "fam.toml")
    error = info.value
    assert error.field == f"recipes.*.{field}"
    assert f"found it applying to {plain!r}" in str(error) and "only for CD-* tags" in str(error)
    assert error.line is not None
    assert text.splitlines()[error.line - 1] == recipe


def test_plain_tags_keep_embedding_types_and_their_own_entry(tmp_path: Path) -> None:
    """Embedding types stay declarable on any tag, and a tag's own entry beats a map's glob."""
    text = fam_manifest(huggingface_tags("CD-Q4_K_M", "Q6_K_L", "Q4_K_M"))
    text += "\n[recipes.Q6_K_L]\ntoken_embedding_type = 'q6_k'\n[recipes.Q4_K_M]\n"
    text += "\n[recipes.\"*\"]\ntensor_types = ['attn_v=q8_0']\n"
    (tmp_path / "fam.toml").write_text(text)
    release = load(tmp_path / "fam.toml")
    assert release.tag("Q6_K_L").recipe == Recipe.parse(token_embedding_type="q6_k")
    assert release.tag("Q4_K_M").recipe == Recipe()
    assert release.tag("CD-Q4_K_M").recipe == Recipe.parse(["attn_v=q8_0"])


# ------------------------------------------------------------------------------------------
# make_quant_fixtures.py --diff: the port against a llama-quantize's layouts (no build here)


def _diff(capsys: pytest.CaptureFixture[str], folder: Path, *tags: str) -> tuple[int, str]:
    import make_quant_fixtures

    code = make_quant_fixtures.main(["--diff", "--layouts", str(folder), *tags])
    return code, capsys.readouterr().out


def test_diff_mode_agrees_with_the_pinned_layouts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _diff(capsys, LAYOUTS, "Q4_K_M", "CD-Q5_K_M", "CD-Q4_K_M")
    assert code == 0
    assert out.splitlines() == [
        "Q4_K_M: = port",
        "CD-Q5_K_M: = port (--tensor-type rule: pattern-wins)",
        "CD-Q4_K_M: = port (--tensor-type rule: pattern-wins or default-skipped)",
    ]


def test_diff_mode_prints_the_tensors_a_newer_llama_cpp_types_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A layout as a drifted llama-quantize might write it: the differing tensors are named
    with both types and the exit status says the port needs work."""
    for name in ("model.json", "Q4_K_M.json"):
        (tmp_path / name).write_text((LAYOUTS / name).read_text())
    drifted = layout("Q4_K_M") | {"types": dict(layout("Q4_K_M")["types"])}
    drifted["types"]["blk.3.attn_v.weight"] = "Q8_0"
    (tmp_path / "Q4_K_M.json").write_text(json.dumps(drifted))
    code, out = _diff(capsys, tmp_path)
    assert code == 1
    assert out.splitlines() == [
        "Q4_K_M: 1 tensor(s) differ from the port (pattern-wins)",
        "  blk.3.attn_v.weight: port Q4_K, llama-quantize Q8_0",
    ]


# ------------------------------------------------------------------------------------------
# the IQ4_NL row fallback of builds before tensor_type_fallback: never on gemma4


def _as_legacy_fallback(tag: str) -> dict[str, str]:
    """`tag`'s real layout with every Q4_0 row fallback written IQ4_NL, as llama.cpp before
    tensor_type_fallback (llama-cpp-python 0.3.16) did for Q2_K/Q3_K rows."""
    return {n: "IQ4_NL" if t == "Q4_0" else t for n, t in layout(tag)["types"].items()}


@pytest.mark.parametrize(("tag", "count"), [("Q2_K", 60), ("Q3_K_S", 60), ("IQ2_XS", 3)])
def test_the_legacy_iq4_nl_fallback_is_refused_on_gemma4(
    tmp_path: Path, tag: str, count: int
) -> None:
    """No build that loads gemma4 (2026-04-02 on) writes IQ4_NL for a Q2_K/Q3_K row."""
    types = _as_legacy_fallback(tag)
    path = write_layout_gguf(tmp_path / "legacy.gguf", tag, types=types)
    report = verify_tag(path, tag=tag, experts=98, digest=False)
    assert [f.name for f in report.failures] == ["quant"]
    found = report.failures[0].found
    assert found.startswith(f"{count} tensor(s) differ: blk.0.")
    assert "is IQ4_NL, expected Q4_0" in found and "or IQ4_NL" not in found


def test_the_legacy_fallback_stays_accepted_where_older_builds_could_load_the_model() -> None:
    """The same layout is still a correct file of an architecture pre-refactor builds loaded."""
    tag = "Q2_K"
    older = ModelFacts(**{**vars(facts(tag)), "arch": "qwen3moe"})
    assert older.legacy_fallback and not facts(tag).legacy_fallback
    prediction = predict(layout(tag)["file_type"], rows(), older)
    legacy = _as_legacy_fallback(tag)
    assert [n for n, t in legacy.items() if t != layout(tag)["types"][n]]  # something to test
    assert all(prediction.accepts(n, T[t]) for n, t in legacy.items() if prediction.types[n])
    assert prediction.expected("blk.0.ffn_down_exps.weight") == "Q4_0 or IQ4_NL"
    assert "gemma4" not in LEGACY_FALLBACK_ARCHS


# ------------------------------------------------------------------------------------------
# the two --tensor-type generations: llama-quantize of llama-cpp-python 0.3.21 (llama.cpp
# f53577432, April 2026: a pattern of the ftype's default type is skipped) and 0.3.36 (the pin)

APRIL = LAYOUTS / "0.3.21"


def _april(tag: str) -> dict[str, Any]:
    return json.loads((APRIL / f"{tag}.json").read_text())


def _april_tags() -> list[str]:
    return sorted(p.stem for p in APRIL.glob("*.json") if p.stem != "model")


def test_the_two_generations_differ_only_where_the_rule_says() -> None:
    """Real output: on CD-Q5_K_M (attention pinned at q5_k, Q5_K_M's default) the April build
    leaves attn_v to the mixture — Q6_K in its 13 use_more_bits layers — the pinned one does
    not; every other tier both wrote is the same."""
    april_model = json.loads((APRIL / "model.json").read_text())
    assert "f53577432" in april_model["source"]
    assert april_model["tensors"] == model()["tensors"]
    assert {"CD-Q5_K_M", "CD-Q4_K_M", "CD-Q3_K_L"} <= set(_april_tags())
    old, new = _april("CD-Q5_K_M")["types"], layout("CD-Q5_K_M")["types"]
    attn_v = [name for name in new if name.endswith("attn_v.weight")]
    assert len(attn_v) == 25 and {new[name] for name in attn_v} == {"Q5_K"}
    changed = [name for name in new if old[name] != new[name]]
    assert changed == [name for name in attn_v if old[name] == "Q6_K"] and len(changed) == 13
    same = [tag for tag in _april_tags() if tag != "CD-Q5_K_M"]
    assert [t for t in same if _april(t)["types"] != layout(t)["types"]] == []


@pytest.mark.parametrize("tag", _april_tags())
def test_the_april_rule_predicts_the_april_layouts(tag: str) -> None:
    real = _april(tag)
    assert real["args"] == layout(tag)["args"]
    rule = OverrideRule.DEFAULT_SKIPPED
    prediction = predict(real["file_type"], rows(), facts(tag), recipe_of(tag), rule)
    sources = {name: kind for name, _, kind in model()["tensors"]}
    wrong = [
        f"{name}: predicted {predicted.name}, llama-quantize wrote {found}"
        for name, found in real["types"].items()
        if (predicted := prediction.primary(name) or T[sources[name]]).name != found
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("generation", "matched"), [("0.3.21", "default-skipped"), ("0.3.36", "pattern-wins")]
)
def test_a_recipe_tier_of_either_generation_passes_and_says_which(
    tmp_path: Path, generation: str, matched: str
) -> None:
    types = _april("CD-Q5_K_M")["types"] if generation == "0.3.21" else None
    path = write_layout_gguf(tmp_path / "cd.gguf", "CD-Q5_K_M", types=types)
    recipe = recipe_of("CD-Q5_K_M")
    report = check_tag("CD-Q5_K_M", [path], Expectations(experts=98), recipe=recipe)
    quant = report.result("quant")
    assert quant.ok, quant.found
    rule = OverrideRule(matched)
    assert quant.measured["tensor_type_rule"] == {"matched": matched, "builds": rule.builds}
    assert quant.found.endswith(f"; --tensor-type applied as by {rule.builds}")


def test_a_recipe_whose_rules_agree_reports_either(tmp_path: Path) -> None:
    path = write_layout_gguf(tmp_path / "cd.gguf", "CD-Q6_K")
    report = check_tag("CD-Q6_K", [path], Expectations(experts=98), recipe=recipe_of("CD-Q6_K"))
    quant = report.result("quant")
    assert quant.ok and quant.measured["tensor_type_rule"]["matched"] == "either"
    assert "--tensor-type applied" not in quant.found


def test_a_mix_of_the_two_generations_is_refused(tmp_path: Path) -> None:
    """One build writes one whole layout: a file with one attn_v of each rule is no build's."""
    types = dict(layout("CD-Q5_K_M")["types"]) | {"blk.0.attn_v.weight": "Q6_K"}
    path = write_layout_gguf(tmp_path / "mix.gguf", "CD-Q5_K_M", types=types)
    recipe = recipe_of("CD-Q5_K_M")
    quant = check_tag("CD-Q5_K_M", [path], Expectations(experts=98), recipe=recipe).result("quant")
    assert not quant.ok
    builds = OverrideRule.DEFAULT_SKIPPED.builds
    assert quant.found == (
        "1 tensor(s) differ: blk.0.attn_v.weight is Q6_K, expected Q5_K"
        f" (as {builds} apply --tensor-type: 12 differ)"
    )
    assert quant.measured["tensor_type_rule"]["matched"] is None


def test_verify_names_the_generation_a_cd_file_matched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from publisher.cli import app

    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "gguf").mkdir()
    gguf = tmp_path / "gguf" / "fam-v1-CD-Q5_K_M.gguf"
    write_layout_gguf(gguf, "CD-Q5_K_M", types=_april("CD-Q5_K_M")["types"])
    patterns = ", ".join(f"'{p}={k.name.lower()}'" for p, k in recipe_of("CD-Q5_K_M").tensor_types)
    recipe = f'[recipes."CD-*"]\ntoken_embedding_type = "q8_0"\ntensor_types = [{patterns}]\n'
    (tmp_path / "fam.toml").write_text(fam_manifest(huggingface_tags("CD-Q5_K_M")) + recipe)
    result = CliRunner().invoke(app, ["verify", str(tmp_path / "fam.toml"), "--json"])
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    (quant,) = [r for r in report["results"] if r["name"] == "quant"]
    assert quant["measured"]["tensor_type_rule"]["matched"] == "default-skipped"
    monkeypatch.setenv("COLUMNS", "400")  # the table's cell on one line
    table = CliRunner().invoke(app, ["verify", str(tmp_path / "fam.toml")])
    assert table.exit_code == 0, table.output
    assert f"--tensor-type applied as by {OverrideRule.DEFAULT_SKIPPED.builds}" in table.stdout
