"""The quant check: a file's tensor types are what llama-quantize writes for its tag.

A tag names an ftype (Q4_K_M), an ftype with Q8_0 embeddings (Q6_K_L, Q3_K_XL) or a per-layer
ContribDynamic mix on an ftype (CD-Q4_K_M). The rule is the prediction of `quant_layout` for that
ftype plus the deviations the tag declares, compared tensor by tensor — never a bits-per-weight
heuristic (docs/llama-quant-facts.md):

- plain tag: exactly the prediction (with the manifest's recipe, if it declares one);
- `_L` / `_XL`: the prediction with token_embd and output at the declared type (Q8_0 by default);
- `CD-*` with a recipe (`--tensor-type` patterns): exactly the prediction with the recipe;
  without one: the file must differ from the plain prediction in the per-layer expert tensors
  (a CD tier laid out like its plain twin was built without its map).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from publisher.gguf.ggml_constants import GGMLQuantizationType, LlamaFileType
from publisher.gguf.header import GgufHeader, TensorInfo
from publisher.gguf.quant_layout import (
    DEFAULT_TYPE,
    LLAMA_CPP_SOURCE,
    LayoutError,
    ModelFacts,
    Prediction,
    Recipe,
    predict,
)
from publisher.gguf.results import CheckResult

T = GGMLQuantizationType

_FTYPES: dict[str, LlamaFileType] = {
    member.name.removeprefix("MOSTLY_"): member
    for member in LlamaFileType
    if member.name.startswith("MOSTLY_")
}
_FTYPES["F32"] = LlamaFileType.ALL_F32
_ALIASES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}  # llama-quantize's aliases
# ContribDynamic tiers whose name is not an ftype: the base ftype the scripts build them on
_CD_BASES = {"IQ4_K_M": "Q5_K_M"}
_EXPERT_WEIGHT_RE = re.compile(r"^blk\.(\d+)\.ffn_\w+_exps\.weight$")
_LAYER_RE = re.compile(r"^blk\.(\d+)\.")
_SHOWN = 5  # differing tensors named in the one-line result


class UnknownQuantTag(ValueError):
    """A tag name that does not say which quant its file must be (never guessed)."""


@dataclass(frozen=True)
class QuantSpec:
    """What a tag's name promises about its file's quantization."""

    tag: str
    ftype: LlamaFileType  # general.file_type the file must carry
    q8_embeddings: bool = False  # _L / _XL: token_embd (and output) at the declared type
    contrib_dynamic: bool = False  # CD-: a per-layer map on top of the ftype

    @property
    def ftype_name(self) -> str:
        """The ftype as people write it (Q4_K_M, F16)."""
        return ftype_name(self.ftype)

    def describe(self) -> str:
        """The expectation in words."""
        text = f"ftype {self.ftype_name} ({int(self.ftype)}), llama-quantize's layout"
        if self.q8_embeddings:
            text += " with token_embd/output at the declared type"
        if self.contrib_dynamic:
            text += " + the CD map"
        return text


def ftype_name(ftype: int) -> str:
    """`Q4_K_M` for 15; `ftype 99` for an unknown value."""
    try:
        member = LlamaFileType(ftype)
    except ValueError:
        return f"ftype {ftype}"
    return "F32" if member == LlamaFileType.ALL_F32 else member.name.removeprefix("MOSTLY_")


def _plain_ftype(name: str) -> LlamaFileType | None:
    name = _ALIASES.get(name, name)
    member = _FTYPES.get(name)
    return member if member is not None and member in DEFAULT_TYPE else None


def expected_quant(tag: str) -> QuantSpec:
    """The quantization a tag promises; raises UnknownQuantTag for names that promise nothing.

    Plain tags (Q4_K_M, IQ3_M, Q8_0, F16, BF16) are llama ftypes. `_L`/`_XL` tags (Q6_K_L,
    Q3_K_XL) are their base ftype (`Q5_K_L` → Q5_K_M, `Q3_K_XL` → Q3_K_M) with Q8_0 embeddings.
    `CD-` tags are per-layer mixes on the ftype of the name without `CD-`.
    """
    name = tag.strip().upper()
    if name.startswith("CD-"):
        base = _CD_BASES.get(name[3:], name[3:])
        ftype = _plain_ftype(base)
        if ftype is None:
            raise UnknownQuantTag(
                f"tag {tag!r}: {tag.strip()[3:]!r} after 'CD-' is not a llama quant type"
            )
        return QuantSpec(tag, ftype, contrib_dynamic=True)
    ftype = _plain_ftype(name)
    if ftype is not None:
        return QuantSpec(tag, ftype)
    for suffix in ("_XL", "_L"):
        if name.endswith(suffix):
            base = name.removesuffix(suffix)
            ftype = _plain_ftype(base) or _plain_ftype(base + "_M")
            if ftype is not None:
                return QuantSpec(tag, ftype, q8_embeddings=True)
    raise UnknownQuantTag(
        f"tag {tag!r} names no known quant: expected a llama ftype (Q4_K_M, IQ4_XS, Q8_0, F16), "
        "an _L/_XL variant (Q6_K_L, Q3_K_XL) or a CD- tier (CD-Q4_K_M)"
    )


def effective_recipe(spec: QuantSpec, recipe: Recipe | None) -> Recipe | None:
    """The recipe the tag's file must follow; None for a CD tag without a declared map."""
    if spec.q8_embeddings:
        recipe = recipe or Recipe()
        return replace(
            recipe,
            token_embedding_type=recipe.token_embedding_type or T.Q8_0,
            output_tensor_type=recipe.output_tensor_type or T.Q8_0,
        )
    if spec.contrib_dynamic and (recipe is None or recipe.empty):
        return None
    return recipe or Recipe()


# ------------------------------------------------------------------------------------------
# Comparing a file with a prediction


@dataclass(frozen=True)
class Difference:
    """One tensor whose type is not the predicted one."""

    tensor: str
    found: GGMLQuantizationType
    expected: str

    def __str__(self) -> str:
        return f"{self.tensor} is {self.found.name}, expected {self.expected}"


def differences(prediction: Prediction, tensors: Sequence[TensorInfo]) -> list[Difference]:
    """The tensors whose type the prediction does not accept, in llama-quantize's order."""
    found = {t.name: t.type for t in tensors}
    return [
        Difference(name, found[name], prediction.expected(name))
        for name in prediction.types
        if not prediction.accepts(name, found[name])
    ]


def type_counts(
    prediction: Prediction, tensors: Sequence[TensorInfo]
) -> tuple[dict[str, int], dict[str, int]]:
    """Predicted and found tensor counts per type, over the tensors llama-quantize quantizes
    (where versions differ, the prediction counts the accepted type the file has)."""
    predicted: Counter[str] = Counter()
    actual: Counter[str] = Counter()
    for tensor in tensors:
        primary = prediction.primary(tensor.name)
        if primary is None:
            continue
        ok = prediction.accepts(tensor.name, tensor.type)
        predicted[(tensor.type if ok else primary).name] += 1
        actual[tensor.type.name] += 1
    return dict(predicted.most_common()), dict(actual.most_common())


def layer_ranges(layers: Sequence[int]) -> str:
    """`0–3, 26–29` for [0, 1, 2, 3, 26, 27, 28, 29]."""
    runs: list[list[int]] = []
    for layer in sorted(set(layers)):
        if runs and layer == runs[-1][-1] + 1:
            runs[-1].append(layer)
        else:
            runs.append([layer])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _layers(diffs: Sequence[Difference]) -> list[int]:
    return sorted({int(m.group(1)) for d in diffs if (m := _LAYER_RE.match(d.tensor))})


def _shown(diffs: Sequence[Difference]) -> str:
    text = "; ".join(str(d) for d in diffs[:_SHOWN])
    return text + (f"; … {len(diffs) - _SHOWN} more" if len(diffs) > _SHOWN else "")


# ------------------------------------------------------------------------------------------
# The check


def check_quant(
    tag: str,
    header: GgufHeader,
    tensors: Sequence[TensorInfo],
    *,
    recipe: Recipe | None = None,
) -> tuple[CheckResult, str | None]:
    """The file's quantization is the one its tag names (with the manifest's `recipe`, if any);
    returns the result (its `measured` carries counts and deviating layers) and the ftype found."""
    raw = header.get("general.file_type")
    raw = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    found_name = ftype_name(raw) if raw is not None else None
    try:
        spec = expected_quant(tag)
    except UnknownQuantTag as exc:
        return CheckResult("quant", False, "a tag naming a known quant", tag, str(exc)), found_name
    facts = ModelFacts.from_metadata(header.kv)
    wanted = effective_recipe(spec, recipe)
    try:
        expected = predict(spec.ftype, tensors, facts, wanted or Recipe())
        plain = expected  # the plain layout too, unless a recipe changes it (a CD tag needs it)
        if spec.contrib_dynamic and wanted is not None and not wanted.empty:
            plain = predict(spec.ftype, tensors, facts)
    except LayoutError as exc:
        return CheckResult("quant", False, spec.describe(), str(exc)), found_name
    problems: list[str] = []
    if raw is None:
        problems.append("general.file_type absent")
    elif raw != spec.ftype:
        problems.append(f"general.file_type {found_name} ({raw})")
    diffs = differences(expected, tensors)
    from_plain = differences(plain, tensors) if spec.contrib_dynamic else []
    if wanted is not None and diffs:
        problems.append(f"{len(diffs)} tensor(s) differ: {_shown(diffs)}")
    if wanted is None and not any(_EXPERT_WEIGHT_RE.fullmatch(d.tensor) for d in from_plain):
        where = f" in every expert tensor (differs in {_shown(from_plain)})" if from_plain else ""
        problems.append(f"identical to plain {spec.ftype_name}{where}: the CD map was not applied")
    predicted, actual = type_counts(expected, tensors)
    measured: dict[str, Any] = {
        "ftype": found_name,
        "file_type": raw,
        "rule": _rule(spec, wanted),
        "imatrix": facts.has_imatrix,
        "llama_cpp": LLAMA_CPP_SOURCE,
        "predicted": predicted,
        "actual": actual,
        "differing": [
            {"tensor": d.tensor, "found": d.found.name, "expected": d.expected} for d in diffs
        ][:20],
        "differing_count": len(diffs),
    }
    if spec.contrib_dynamic:
        measured["deviating_layers"] = _layers(from_plain)
        measured["deviating_tensors"] = len(from_plain)
    found = "; ".join(problems) if problems else _summary(measured)
    expectation = _expectation(spec, wanted)
    return CheckResult("quant", not problems, expectation, found, measured=measured), found_name


def _rule(spec: QuantSpec, wanted: Recipe | None) -> str:
    if wanted is None:
        return f"CD without a declared recipe: must differ from plain {spec.ftype_name} in experts"
    if wanted.empty:
        return f"plain {spec.ftype_name} prediction"
    return f"{spec.ftype_name} prediction with {wanted.describe()}"


def _expectation(spec: QuantSpec, wanted: Recipe | None) -> str:
    return f"ftype {spec.ftype_name} ({int(spec.ftype)}), {_rule(spec, wanted)}"


def _summary(measured: dict[str, Any]) -> str:
    """The passing result in words: what was compared and the layout found."""
    counts = ", ".join(f"{kind} {n}" for kind, n in measured["actual"].items())
    text = f"ftype {measured['ftype']}, {counts}"
    if "deviating_layers" in measured:
        text += f"; layers deviating from plain: {layer_ranges(measured['deviating_layers'])}"
    return text
