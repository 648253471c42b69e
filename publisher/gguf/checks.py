"""Release checks on GGUF files: each a named result saying what was expected and what was found.

Covers the failures the prior scripts shipped: wrong expert counts hidden behind correct metadata,
a quant that is not the tag's, a drifting chat template or eos id, truncated files, incomplete
split sets, and CD tiers byte-identical to their plain twins (digest uniqueness).
"""

from __future__ import annotations

import glob
import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

from publisher.architectures import DEFAULT_EOS
from publisher.digest import DigestCache, sha256_file, sha256_files
from publisher.errors import CheckFailed
from publisher.gguf.header import GgufFormatError, GgufHeader, TensorInfo, read_header

if TYPE_CHECKING:
    from publisher.manifest import Release

T = GGMLQuantizationType

SHARD_RE = re.compile(r"^(?P<stem>.+)-(?P<k>\d{5})-of-(?P<n>\d{5})\.gguf$")
_EXPERT_RE = re.compile(
    r"^blk\.(?P<layer>\d+)\."
    r"(?P<kind>ffn_gate_inp\.(?:weight|bias)"
    r"|ffn_(?:gate_up|gate|up|down)_exps\.(?:weight|scale|bias))$"
)
_ATTN_RE = re.compile(r"^blk\.\d+\.attn_(?:q|k|v|output|qkv)\.weight$")
_EXPS_WEIGHT_RE = re.compile(r"^blk\.\d+\.ffn_\w+_exps\.weight$")


# ------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class CheckResult:
    """One named check: passed or not, with the expected and the found value in words."""

    name: str
    ok: bool
    expected: str
    found: str
    detail: str = ""

    def __str__(self) -> str:
        text = f"{self.name}: expected {self.expected}, found {self.found}"
        return f"{text} ({self.detail})" if self.detail else text

    def to_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {
            "name": self.name,
            "ok": self.ok,
            "expected": self.expected,
            "found": self.found,
            "detail": self.detail,
        }


@dataclass
class TagReport:
    """Everything verify found about one tag's file (or split set)."""

    tag: str
    files: list[Path]
    size: int = 0
    quant: str | None = None  # llama ftype name found, e.g. "Q4_K_M"
    experts: int | None = None  # the tensors' one expert count (metadata when no tensors)
    expert_axes: list[int] = field(default_factory=list)  # distinct counts on the expert tensors
    expert_count_metadata: int | None = None  # `{arch}.expert_count` as the header says
    sha256: dict[str, str] = field(default_factory=dict)  # file name -> hex digest
    results: list[CheckResult] = field(default_factory=list)
    missing: bool = False

    @property
    def status(self) -> str:
        """ "missing" (file absent), "ok" or "failed"."""
        if self.missing:
            return "missing"
        return "ok" if self.ok else "failed"

    @property
    def ok(self) -> bool:
        """True when the file exists and every check passed."""
        return not self.missing and all(result.ok for result in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        """The checks that failed."""
        return [result for result in self.results if not result.ok]

    def result(self, name: str) -> CheckResult | None:
        """The result of the check called `name`, if it ran."""
        return next((r for r in self.results if r.name == name), None)

    @property
    def experts_label(self) -> str:
        """The verify table's experts: what the tensors carry ("98/128" when they disagree),
        with the metadata count beside it when that says something else."""
        meta = self.expert_count_metadata
        axes = self.expert_axes
        tensors = "/".join(str(n) for n in axes) or "—"
        if axes == [meta] or (not axes and meta is None):
            return tensors
        return f"{tensors} (meta {meta if meta is not None else '—'})"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for --json."""
        return {
            "tag": self.tag,
            "status": self.status,
            "files": [str(path) for path in self.files],
            "size": self.size,
            "quant": self.quant,
            "experts": self.experts,
            "expert_axes": list(self.expert_axes),
            "expert_count_metadata": self.expert_count_metadata,
            "sha256": dict(self.sha256),
            "results": [result.to_dict() for result in self.results],
        }


@dataclass(frozen=True)
class Expectations:
    """What every file of a release must carry (from the manifest or the command line)."""

    arch: str = "gemma4"
    experts: int | None = None  # None: the tensors must agree with the metadata
    eos_token_id: int | None = None  # None: the architecture's default, if it has one
    chat_template_sha256: str | None = None
    require_chat_template: bool = True

    @property
    def eos(self) -> int | None:
        """The eos id to require."""
        if self.eos_token_id is not None:
            return self.eos_token_id
        return DEFAULT_EOS.get(self.arch)


# ------------------------------------------------------------------------------------------
# Tag -> expected quant


_FTYPES: dict[str, LlamaFileType] = {
    member.name.removeprefix("MOSTLY_"): member
    for member in LlamaFileType
    if member.name.startswith("MOSTLY_")
}
_FTYPES["F32"] = LlamaFileType.ALL_F32
_ALIASES = {"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}  # llama-quantize's aliases
# ContribDynamic tiers whose name is not an ftype: the base ftype the scripts build them on
_CD_BASES = {"IQ4_K_M": "Q5_K_M"}
# llama ftype -> the ggml type llama-quantize gives the bulk of the weights (its default_type)
_MAIN_TYPE: dict[LlamaFileType, GGMLQuantizationType] = {
    LlamaFileType.ALL_F32: T.F32,
    LlamaFileType.MOSTLY_F16: T.F16,
    LlamaFileType.MOSTLY_BF16: T.BF16,
    LlamaFileType.MOSTLY_Q4_0: T.Q4_0,
    LlamaFileType.MOSTLY_Q4_1: T.Q4_1,
    LlamaFileType.MOSTLY_Q5_0: T.Q5_0,
    LlamaFileType.MOSTLY_Q5_1: T.Q5_1,
    LlamaFileType.MOSTLY_Q8_0: T.Q8_0,
    LlamaFileType.MOSTLY_Q2_K: T.Q2_K,
    LlamaFileType.MOSTLY_Q2_K_S: T.Q2_K,
    LlamaFileType.MOSTLY_Q3_K_S: T.Q3_K,
    LlamaFileType.MOSTLY_Q3_K_M: T.Q3_K,
    LlamaFileType.MOSTLY_Q3_K_L: T.Q3_K,
    LlamaFileType.MOSTLY_Q4_K_S: T.Q4_K,
    LlamaFileType.MOSTLY_Q4_K_M: T.Q4_K,
    LlamaFileType.MOSTLY_Q5_K_S: T.Q5_K,
    LlamaFileType.MOSTLY_Q5_K_M: T.Q5_K,
    LlamaFileType.MOSTLY_Q6_K: T.Q6_K,
    LlamaFileType.MOSTLY_IQ2_XXS: T.IQ2_XXS,
    LlamaFileType.MOSTLY_IQ2_XS: T.IQ2_XS,
    LlamaFileType.MOSTLY_IQ2_S: T.IQ2_XS,
    LlamaFileType.MOSTLY_IQ2_M: T.IQ2_S,
    LlamaFileType.MOSTLY_IQ3_XXS: T.IQ3_XXS,
    LlamaFileType.MOSTLY_IQ3_XS: T.IQ3_S,
    LlamaFileType.MOSTLY_IQ3_S: T.IQ3_S,
    LlamaFileType.MOSTLY_IQ3_M: T.IQ3_S,
    LlamaFileType.MOSTLY_IQ1_S: T.IQ1_S,
    LlamaFileType.MOSTLY_IQ1_M: T.IQ1_M,
    LlamaFileType.MOSTLY_IQ4_NL: T.IQ4_NL,
    LlamaFileType.MOSTLY_IQ4_XS: T.IQ4_XS,
}


class UnknownQuantTag(ValueError):
    """A tag name that does not say which quant its file must be (never guessed)."""


@dataclass(frozen=True)
class QuantSpec:
    """What a tag's name promises about its file's quantization."""

    tag: str
    ftype: LlamaFileType  # general.file_type the file must carry
    main_type: GGMLQuantizationType | None  # dominant type of the large tensors (None: mixed)
    q8_embeddings: bool = False  # _L / _XL: token_embd (and output) in Q8_0
    contrib_dynamic: bool = False  # CD-: experts at least as many bits as attention

    @property
    def ftype_name(self) -> str:
        """The ftype as people write it (Q4_K_M, F16)."""
        return ftype_name(self.ftype)

    def describe(self) -> str:
        """The expectation in words."""
        text = f"ftype {self.ftype_name} ({int(self.ftype)})"
        if self.main_type is not None:
            text += f", large tensors mostly {self.main_type.name}"
        if self.q8_embeddings:
            text += ", token_embd/output in Q8_0"
        if self.contrib_dynamic:
            text += ", expert tensors ≥ attention bits per weight"
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
    return member if member is not None and member in _MAIN_TYPE else None


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
        return QuantSpec(tag, ftype, None, contrib_dynamic=True)
    ftype = _plain_ftype(name)
    if ftype is not None:
        return QuantSpec(tag, ftype, _MAIN_TYPE[ftype])
    for suffix in ("_XL", "_L"):
        if name.endswith(suffix):
            base = name.removesuffix(suffix)
            ftype = _plain_ftype(base) or _plain_ftype(base + "_M")
            if ftype is not None:
                return QuantSpec(tag, ftype, _MAIN_TYPE[ftype], q8_embeddings=True)
    raise UnknownQuantTag(
        f"tag {tag!r} names no known quant: expected a llama ftype (Q4_K_M, IQ4_XS, Q8_0, F16), "
        "an _L/_XL variant (Q6_K_L, Q3_K_XL) or a CD- tier (CD-Q4_K_M)"
    )


# ------------------------------------------------------------------------------------------
# Split sets


def tag_files(tag: Any) -> list[Path]:
    """Every file of a tag: [path], or all shards `<stem>-0000k-of-0000n.gguf` of a split set.

    `tag` is a Path/str or anything with a `.path` (a manifest Tag). A declared single-file name
    that is absent but exists as a split set (`<stem>-00001-of-*.gguf`) resolves to its shards.
    Shards are listed whether or not they exist; the split check reports the missing ones.
    """
    path = Path(getattr(tag, "path", tag))
    match = SHARD_RE.match(path.name)
    if match is None and not path.exists() and path.suffix == ".gguf":
        pattern = f"{glob.escape(path.stem)}-00001-of-[0-9][0-9][0-9][0-9][0-9].gguf"
        found = sorted(path.parent.glob(pattern))
        if len(found) == 1:
            path, match = found[0], SHARD_RE.match(found[0].name)
    if match is None or int(match["n"]) < 1:
        return [path]
    n = int(match["n"])
    return [path.with_name(f"{match['stem']}-{k:05d}-of-{n:05d}.gguf") for k in range(1, n + 1)]


def check_split(files: Sequence[Path], headers: dict[Path, GgufHeader]) -> CheckResult:
    """Every shard present, split.no/split.count consistent, tensor total = split.tensors.count."""
    n = len(files)
    problems: list[str] = []
    missing = [path.name for path in files if not path.exists()]
    if missing:
        problems.append(f"missing shard(s) {', '.join(missing)}")
    first = headers.get(files[0])
    if first is not None and n > 1:
        count = first.get("split.count")
        if count != n:
            problems.append(f"split.count is {count!r} in {files[0].name}, the names say {n}")
    for index, path in enumerate(files):
        header = headers.get(path)
        if header is None or n == 1:
            continue
        number = header.get("split.no")
        if number != index:
            problems.append(f"{path.name} has split.no {number!r}, expected {index}")
    total = sum(len(h.tensors) for h in headers.values())
    declared = first.get("split.tensors.count") if first is not None else None
    if not missing and declared is not None and declared != total:
        problems.append(f"split.tensors.count is {declared}, the shards hold {total} tensors")
    single_count = first.get("split.count") if first is not None and n == 1 else None
    if isinstance(single_count, int) and single_count != 1:
        problems.append(
            f"{files[0].name} says split.count {first.get('split.count')} but is not named "
            "as a shard"
        )
    return CheckResult(
        "split",
        not problems,
        expected=f"{n} shard(s), consistent split.* keys",
        found="; ".join(problems) or f"{n} shard(s), {total} tensors",
    )


# ------------------------------------------------------------------------------------------
# Individual checks


def check_architecture(header: GgufHeader, arch: str) -> CheckResult:
    """general.architecture equals the expected one."""
    found = header.get("general.architecture")
    return CheckResult("architecture", found == arch, expected=arch, found=repr(found))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_expert_count(header: GgufHeader, arch: str, experts: int | None) -> CheckResult:
    """`{arch}.expert_count` equals the expected count (or is present when none is pinned)."""
    key = f"{arch}.expert_count"
    found = _int(header.get(key))
    ok = found is not None and found >= 1 and (experts is None or found == experts)
    return CheckResult(
        "expert_count",
        ok,
        expected=f"{key} = {experts}" if experts is not None else f"{key} present",
        found=f"{key} = {found}" if found is not None else f"{key} {_absent(header, key)}",
    )


def check_expert_used_count(header: GgufHeader, arch: str) -> CheckResult:
    """`{arch}.expert_used_count` is at least 1 and at most the expert count."""
    key = f"{arch}.expert_used_count"
    used = _int(header.get(key))
    count = _int(header.get(f"{arch}.expert_count"))
    ok = used is not None and count is not None and 1 <= used <= count
    return CheckResult(
        "expert_used_count",
        ok,
        expected=f"1 ≤ {key} ≤ {count if count is not None else 'expert_count'}",
        found=f"{key} = {used}" if used is not None else f"{key} {_absent(header, key)}",
    )


def _absent(header: GgufHeader, key: str) -> str:
    return "absent" if key not in header else f"not an integer ({header.get(key)!r})"


def check_expert_tensors(tensors: Sequence[TensorInfo], experts: int | None) -> CheckResult:
    """Every expert tensor of every MoE layer carries the expert count on its last ne axis."""
    layers: dict[int, dict[str, TensorInfo]] = {}
    for tensor in tensors:
        match = _EXPERT_RE.match(tensor.name)
        if match:
            layers.setdefault(int(match["layer"]), {})[match["kind"]] = tensor
    if not layers:
        return CheckResult(
            "expert_tensors", False, "MoE layers with expert tensors", "no expert tensors"
        )
    wrong: list[str] = []
    incomplete: list[str] = []
    for layer, kinds in sorted(layers.items()):
        for tensor in kinds.values():
            if experts is not None and tensor.shape[-1] != experts:
                wrong.append(f"{tensor.name} has {tensor.shape[-1]} (shape {list(tensor.shape)})")
        fused = "ffn_gate_up_exps.weight" in kinds
        split = "ffn_gate_exps.weight" in kinds and "ffn_up_exps.weight" in kinds
        needed = ["ffn_gate_inp.weight", "ffn_down_exps.weight"]
        lacking = [k for k in needed if k not in kinds]
        if not (fused or split):
            lacking.append("ffn_gate_up_exps.weight (or ffn_gate_exps + ffn_up_exps)")
        if lacking:
            incomplete.append(f"layer {layer} lacks {', '.join(lacking)}")
    counted = sorted({t.shape[-1] for kinds in layers.values() for t in kinds.values()})
    problems = wrong + incomplete
    expected = f"{experts if experts is not None else 'the same count'} on the expert axis of "
    expected += "every expert tensor"
    if experts is None and len(counted) > 1:
        problems.insert(0, f"the expert axes disagree: {counted}")
    found = f"{len(layers)} MoE layers, all {counted[0]}" if len(counted) == 1 else str(counted)
    if problems:
        shown = problems[:6] + ([f"… and {len(problems) - 6} more"] if len(problems) > 6 else [])
        found = "; ".join(shown)
    return CheckResult("expert_tensors", not problems, expected=expected, found=found)


def _large(tensors: Iterable[TensorInfo]) -> list[TensorInfo]:
    """The weight matrices that carry a quant: ≥2-D weights, not embeddings, router or norms."""
    skip = {"token_embd.weight", "output.weight"}
    return [
        t
        for t in tensors
        if len(t.shape) >= 2
        and t.name.endswith(".weight")
        and t.name not in skip
        and "ffn_gate_inp" not in t.name
        and "_norm" not in t.name
    ]


def dominant_type(tensors: Iterable[TensorInfo]) -> tuple[GGMLQuantizationType | None, float]:
    """The ggml type holding the most weights of the large tensors, and its share of them."""
    weights: dict[GGMLQuantizationType, int] = {}
    for tensor in _large(tensors):
        weights[tensor.type] = weights.get(tensor.type, 0) + tensor.n_elements
    if not weights:
        return None, 0.0
    top = max(weights, key=lambda key: weights[key])
    return top, weights[top] / sum(weights.values())


def _bpw(tensors: Iterable[TensorInfo]) -> float | None:
    bits = elements = 0
    for tensor in tensors:
        block, size = GGML_QUANT_SIZES[tensor.type]
        bits += tensor.n_elements // block * size * 8
        elements += tensor.n_elements
    return bits / elements if elements else None


def check_quant(
    tag: str, header: GgufHeader, tensors: Sequence[TensorInfo]
) -> tuple[CheckResult, str | None]:
    """The file's quantization is the one its tag names; returns the result and the ftype found."""
    raw = _int(header.get("general.file_type"))
    found_name = ftype_name(raw) if raw is not None else None
    try:
        spec = expected_quant(tag)
    except UnknownQuantTag as exc:
        return CheckResult("quant", False, "a tag naming a known quant", tag, str(exc)), found_name
    problems: list[str] = []
    if raw is None:
        problems.append("general.file_type absent")
    elif raw != spec.ftype:
        problems.append(f"general.file_type {found_name} ({raw})")
    main, share = dominant_type(tensors)
    notes = [f"ftype {found_name} ({raw})" if raw is not None else "no ftype"]
    if main is not None:
        notes.append(f"large tensors {share:.0%} {main.name}")
    if spec.main_type is not None and main is not None and main != spec.main_type:
        problems.append(
            f"large tensors mostly {main.name} ({share:.0%}), not {spec.main_type.name}"
        )
    if spec.q8_embeddings:
        problems += _q8_embedding_problems(tensors)
    if spec.contrib_dynamic:
        experts = _bpw(t for t in tensors if _EXPS_WEIGHT_RE.match(t.name))
        attention = _bpw(t for t in tensors if _ATTN_RE.match(t.name))
        if experts is None or attention is None:
            problems.append("no expert or attention tensors to compare")
        else:
            notes.append(f"experts {experts:.2f} bpw, attention {attention:.2f} bpw")
            if experts < attention:
                problems.append(
                    f"expert tensors {experts:.2f} bpw < attention {attention:.2f} bpw "
                    "(the CD map was not applied?)"
                )
    found = "; ".join(problems) if problems else ", ".join(notes)
    return CheckResult("quant", not problems, spec.describe(), found), found_name


def _q8_embeddings_types(tensors: Sequence[TensorInfo]) -> dict[str, GGMLQuantizationType]:
    wanted = ("token_embd.weight", "output.weight")
    return {t.name: t.type for t in tensors if t.name in wanted}


def _q8_embedding_problems(tensors: Sequence[TensorInfo]) -> list[str]:
    types = _q8_embeddings_types(tensors)
    if "token_embd.weight" not in types:
        return ["token_embd.weight absent"]
    return [f"{name} is {kind.name}" for name, kind in types.items() if kind != T.Q8_0]


def check_chat_template(header: GgufHeader, exp: Expectations) -> list[CheckResult]:
    """tokenizer.chat_template present, and equal to the pinned sha256 when one is pinned."""
    template = header.get("tokenizer.chat_template")
    results: list[CheckResult] = []
    present = isinstance(template, str) and bool(template)
    if exp.require_chat_template or exp.chat_template_sha256:
        found = f"{len(template.encode('utf-8', 'surrogateescape'))} bytes" if present else "absent"
        results.append(
            CheckResult("chat_template", present, "tokenizer.chat_template present", found)
        )
    if exp.chat_template_sha256:
        digest = (
            hashlib.sha256(template.encode("utf-8", "surrogateescape")).hexdigest()
            if present
            else None
        )
        results.append(
            CheckResult(
                "chat_template_sha256",
                digest == exp.chat_template_sha256,
                expected=exp.chat_template_sha256,
                found=digest or "no template",
            )
        )
    return results


def check_eos(header: GgufHeader, expected: int) -> CheckResult:
    """tokenizer.ggml.eos_token_id equals the expected id (106, <turn|>, for gemma4)."""
    found = _int(header.get("tokenizer.ggml.eos_token_id"))
    want_text = header.token(expected)
    text = header.token(found) if found is not None else None
    return CheckResult(
        "eos_token_id",
        found == expected,
        expected=f"{expected}" + (f" ({want_text})" if want_text else ""),
        found=(f"{found}" + (f" ({text})" if text else "")) if found is not None else "absent",
    )


def check_bos_policy(header: GgufHeader, arch: str) -> CheckResult | None:
    """For gemma4: the template's leading `<bos>` ends up exactly once in Ollama's prompt.

    Ollama's llama-server path strips one leading literal `<bos>` only when
    `tokenizer.ggml.pre` or `tokenizer.ggml.model` is "gemma4" (llm/llama_server.go
    `tokenizerAddsBOS`), and llama.cpp adds its own BOS for a gemma4 vocabulary, which it
    recognises by `tokenizer.ggml.model`. Neither key "gemma4": the `<bos>` is kept and the
    runtime adds another (double); only `pre` "gemma4" on another vocabulary without
    `add_bos_token`: the `<bos>` is stripped and nothing adds one (none). None for other archs.
    """
    if arch != "gemma4":
        return None
    pre, model = header.get("tokenizer.ggml.pre"), header.get("tokenizer.ggml.model")
    add_bos = header.get("tokenizer.ggml.add_bos_token") is True
    found = f"tokenizer.ggml.pre = {pre!r}, tokenizer.ggml.model = {model!r}"
    expected = 'tokenizer.ggml.model = "gemma4" (or tokenizer.ggml.pre = "gemma4")'
    if model == "gemma4":
        return CheckResult("bos_policy", True, expected, found)
    if pre == "gemma4":
        detail = (
            ""
            if add_bos
            else (
                "no <bos>: Ollama strips the template's <bos> (tokenizer.ggml.pre is 'gemma4') but "
                "llama.cpp adds none for this tokenizer.ggml.model without add_bos_token"
            )
        )
        return CheckResult("bos_policy", add_bos, expected, found, detail)
    detail = (
        "double <bos>: Ollama strips the template's leading <bos> only when tokenizer.ggml.pre "
        "or tokenizer.ggml.model is 'gemma4', and the runtime adds its own"
    )
    return CheckResult("bos_policy", False, expected, found, detail)


def check_file_size(headers: dict[Path, GgufHeader]) -> CheckResult:
    """No file is shorter than its data start plus the extent of its last tensor."""
    short = [
        f"{h.path.name} is {h.file_size} bytes, needs {h.min_file_size}"
        for h in headers.values()
        if h.truncated
    ]
    need = sum(h.min_file_size for h in headers.values())
    return CheckResult(
        "file_size",
        not short,
        expected=f"≥ {need} bytes (data start + last tensor end)",
        found="; ".join(short) or "complete",
        detail="truncated" if short else "",
    )


# ------------------------------------------------------------------------------------------
# Per tag and per release


def check_tag(tag: str, files: Sequence[Path], exp: Expectations) -> TagReport:
    """Header checks for one tag's file(s); no hashing (see `attach_digests`)."""
    files = list(files)
    report = TagReport(tag=tag, files=files)
    if not files[0].exists():
        report.missing = True
        report.results.append(CheckResult("file_present", False, str(files[0]), "no such file"))
        return report
    present = [path for path in files if path.exists()]
    report.size = sum(path.stat().st_size for path in present)
    headers: dict[Path, GgufHeader] = {}
    errors: list[str] = []
    for path in present:
        try:
            headers[path] = read_header(path)
        except GgufFormatError as exc:
            errors.append(f"{exc.path.name}: byte {exc.offset}: {exc.reason}")
    first = headers.get(files[0])
    version = f"GGUF v{first.version}" if first else "unreadable"
    report.results.append(
        CheckResult(
            "format", not errors, "GGUF v2/v3 readable header", "; ".join(errors) or version
        )
    )
    if len(files) > 1 or (first is not None and "split.count" in first):
        report.results.append(check_split(files, headers))
    if first is None:
        return report
    tensors = [tensor for path in files if path in headers for tensor in headers[path].tensors]
    arch = exp.arch
    quant, report.quant = check_quant(tag, first, tensors)
    report.results += [
        check_architecture(first, arch),
        check_expert_count(first, arch, exp.experts),
        check_expert_used_count(first, arch),
        check_expert_tensors(
            tensors,
            exp.experts if exp.experts is not None else _int(first.get(f"{arch}.expert_count")),
        ),
        quant,
        *check_chat_template(first, exp),
    ]
    if exp.eos is not None:
        report.results.append(check_eos(first, exp.eos))
    bos = check_bos_policy(first, arch)
    if bos is not None:
        report.results.append(bos)
    report.results.append(check_file_size(headers))
    report.expert_axes = sorted({t.shape[-1] for t in tensors if _EXPERT_RE.match(t.name)})
    report.expert_count_metadata = _int(first.get(f"{arch}.expert_count"))
    # one count on the tensors is the count; none: the metadata's; several: no one count
    axes = report.expert_axes
    report.experts = axes[0] if len(axes) == 1 else None if axes else report.expert_count_metadata
    return report


def attach_digests(
    reports: Sequence[TagReport],
    *,
    others: Sequence[tuple[str, Sequence[Path]]] = (),
    cache: DigestCache | None = None,
    progress: bool = True,
) -> None:
    """Hash every present file of every report (in parallel, through the cache) and add
    the `sha256` and `digest_unique` results: no two tags may share a digest.

    `others` are (tag, files) of tags not reported on: they are hashed too (cheap once cached)
    so a tag is unique against the whole release, not just the tags selected this run.
    """
    paths = [p for report in reports if not report.missing for p in report.files if p.exists()]
    try:
        digests = sha256_files(paths, cache, progress=progress)
    except CheckFailed as exc:
        for report in reports:
            report.results.append(CheckResult("sha256", False, "readable file", str(exc)))
        return
    owners: dict[str, list[str]] = {}
    for report in reports:
        if report.missing:
            continue
        report.sha256 = {p.name: digests[p] for p in report.files if p in digests}
        owners.setdefault(_digest_key(report), []).append(report.tag)
    other_keys, unreadable = _other_digests(others, cache, progress)
    for tag, key in other_keys.items():
        owners.setdefault(key, []).append(tag)
    for report in reports:
        if not report.missing:
            report.results.append(_digest_unique(report, owners[_digest_key(report)], unreadable))


def _digest_key(report: TagReport) -> str:
    """The digests of a tag's present files, in order: equal keys are byte-identical tags."""
    return ",".join(report.sha256[p.name] for p in report.files if p.name in report.sha256)


def _digest_unique(
    report: TagReport, owners: Sequence[str], unreadable: Sequence[str]
) -> CheckResult:
    """The `digest_unique` result of one tag, given every tag that has its digest."""
    twins = [tag for tag in owners if tag != report.tag]
    found = f"identical to {', '.join(twins)}" if twins else "unique"
    detail = "a CD tier identical to its plain twin?" if twins else ""
    if unreadable:
        note = f"not compared with {', '.join(unreadable)} (unreadable)"
        detail = f"{detail}; {note}" if detail else note
    return CheckResult(
        "digest_unique", not twins, expected="a sha256 no other tag has", found=found, detail=detail
    )


def _other_digests(
    others: Sequence[tuple[str, Sequence[Path]]], cache: DigestCache | None, progress: bool
) -> tuple[dict[str, str], list[str]]:
    """The digest key of each present tag in `others`, and the tags that could not be read."""
    present = [(tag, [p for p in files if p.exists()]) for tag, files in others if files]
    present = [(tag, files) for tag, files in present if files]
    paths = [p for _, files in present for p in files]
    if not paths:
        return {}, []
    try:
        digests = sha256_files(paths, cache, progress=progress)
    except CheckFailed:  # one unreadable file: hash the rest one by one, skip what fails
        digests = {}
        for path in dict.fromkeys(paths):
            try:
                digests[path] = sha256_file(path, cache)
            except CheckFailed:
                continue
        if cache is not None:
            cache.save()
    keys = {
        tag: ",".join(digests[p] for p in files)
        for tag, files in present
        if all(p in digests for p in files)
    }
    return keys, [tag for tag, _ in present if tag not in keys]


def verify_tag(
    path: str | Path | Sequence[str | Path],
    *,
    tag: str,
    arch: str = "gemma4",
    experts: int | None = None,
    eos_token_id: int | None = None,
    chat_template_sha256: str | None = None,
    require_chat_template: bool = True,
    digest: bool = True,
    cache: DigestCache | None = None,
    progress: bool = True,
) -> TagReport:
    """Verify one loose file (or split set) against explicit expectations."""
    exp = Expectations(arch, experts, eos_token_id, chat_template_sha256, require_chat_template)
    return verify_files([(tag, path)], exp, digest=digest, cache=cache, progress=progress)[0]


def verify_files(
    items: Sequence[tuple[str, str | Path | Sequence[str | Path]]],
    exp: Expectations,
    *,
    digest: bool = True,
    cache: DigestCache | None = None,
    progress: bool = True,
) -> list[TagReport]:
    """Verify several (tag, file) pairs against the same expectations; digests across all."""
    reports = []
    for tag, where in items:
        files = tag_files(where) if isinstance(where, (str, Path)) else [Path(p) for p in where]
        reports.append(check_tag(tag, files, exp))
    if digest:
        attach_digests(
            reports, cache=cache if cache is not None else DigestCache(), progress=progress
        )
    return reports


def release_expectations(release: Release) -> Expectations:
    """The expectations a manifest declares for every GGUF of the release."""
    return Expectations(
        arch=release.model.architecture,
        experts=release.model.experts,
        eos_token_id=release.expected_eos_token_id,
        chat_template_sha256=release.checks.chat_template_sha256,
        require_chat_template=release.checks.require_chat_template,
    )


def verify_release(
    release: Release,
    tags: Sequence[str] | None = None,
    *,
    digest: bool = True,
    cache: DigestCache | None = None,
    progress: bool = True,
    unique_across_release: bool = True,
) -> list[TagReport]:
    """Verify the release's tags (all, or those named); a missing GGUF is a "missing" report.

    With digests, each selected tag must also differ from every other present tag of the
    release (hashed through the cache, not reported); `unique_across_release=False` compares
    the selected tags only (a scratch copy of one tag needs no ladder-wide check).
    """
    selected = release.select(list(tags) if tags else None)
    exp = release_expectations(release)
    reports = [check_tag(tag.tag, tag_files(tag), exp) for tag in selected]
    if digest:
        chosen = {tag.tag for tag in selected}
        others = [
            (tag.tag, tag_files(tag))
            for tag in release.tags
            if unique_across_release and tag.tag not in chosen
        ]
        attach_digests(
            reports,
            others=others,
            cache=cache if cache is not None else DigestCache(),
            progress=progress,
        )
    return reports
