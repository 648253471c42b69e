"""Release checks on GGUF files: each a named result saying what was expected and what was found.

Covers the failures the prior scripts shipped: wrong expert counts hidden behind correct metadata,
a quant that is not the tag's, a drifting chat template or eos id, truncated files, incomplete
split sets, and CD tiers byte-identical to their plain twins (digest uniqueness).
"""

from __future__ import annotations

import glob
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.architectures import DEFAULT_EOS
from publisher.digest import DigestCache, sha256_file, sha256_files
from publisher.errors import CheckFailed
from publisher.files import NotARegularFile, is_regular
from publisher.gguf.header import GgufFormatError, GgufHeader, TensorInfo, read_header
from publisher.gguf.quant_check import (  # re-exported: the quant rule lives in quant_check
    QuantSpec,
    UnknownQuantTag,
    check_quant,
    expected_quant,
    ftype_name,
)
from publisher.gguf.quant_layout import Recipe
from publisher.gguf.results import CheckResult

__all__ = [
    "CheckResult",
    "Expectations",
    "QuantSpec",
    "TagReport",
    "UnknownQuantTag",
    "check_quant",
    "expected_quant",
    "ftype_name",
    "tag_files",
    "verify_files",
    "verify_release",
    "verify_tag",
]

if TYPE_CHECKING:
    from publisher.manifest import Release

SHARD_RE = re.compile(r"^(?P<stem>.+)-(?P<k>\d{5})-of-(?P<n>\d{5})\.gguf$")
_EXPERT_RE = re.compile(
    r"^blk\.(?P<layer>\d+)\."
    r"(?P<kind>ffn_gate_inp\.(?:weight|bias)"
    r"|ffn_(?:gate_up|gate|up|down)_exps\.(?:weight|scale|bias))$"
)


# ------------------------------------------------------------------------------------------
# Results


@dataclass
class TagReport:
    """Everything verify found about one tag's file (or split set).

    A verified tag has this one source and four shapes derived from it, each for one reader:
    - `render.facts.TagFacts`: what the card and page print (size, quant, file digests), with
      "unknown" when there is no report — render works without GGUFs and reads reports
      duck-typed, since render sits below gguf;
    - `targets.base.TagPayload`: what a target sends — the manifest's tag, its files as
      measured (`LocalFile`: path, size, sha256), the rendered Modelfile and chat settings;
    - `pipeline.run.tag_json`: the tag in `publish release --json`, the tags table and the
      ledger's `tags.<tag>` record (one JSON for the three, so they cannot disagree);
    - `ledger._Tag`: the schema that ledger record is validated with when read back.
    `to_dict` is verify's own `--json`, with every check's result.
    """

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
# Split sets


def tag_files(tag: Any) -> list[Path]:
    """Every file of a tag: [path], or all shards `<stem>-0000k-of-0000n.gguf` of a split set.

    `tag` is a Path/str or anything with a `.path` (a manifest Tag). A declared single-file name
    that is absent but exists as a split set (`<stem>-00001-of-*.gguf`) resolves to its shards.
    Shards are listed whether or not they exist; the split check reports the missing ones.
    """
    path = Path(getattr(tag, "path", tag))
    match = SHARD_RE.fullmatch(path.name)
    if match is None and not path.exists() and path.suffix == ".gguf":
        pattern = f"{glob.escape(path.stem)}-00001-of-[0-9][0-9][0-9][0-9][0-9].gguf"
        found = sorted(path.parent.glob(pattern))
        if len(found) == 1:
            path, match = found[0], SHARD_RE.fullmatch(found[0].name)
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
        match = _EXPERT_RE.fullmatch(tensor.name)
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


def check_tag(
    tag: str, files: Sequence[Path], exp: Expectations, *, recipe: Recipe | None = None
) -> TagReport:
    """Header checks for one tag's file(s); no hashing (see `attach_digests`). `recipe`: the
    llama-quantize options the manifest declares for the tag (CD maps, `_L` embedding types)."""
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
    quant, report.quant = check_quant(tag, first, tensors, recipe=recipe)
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
    report.expert_axes = sorted({t.shape[-1] for t in tensors if _EXPERT_RE.fullmatch(t.name)})
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

    A tag whose header failed is never hashed (its bytes are not a GGUF worth a digest).
    `others` are (tag, files) of tags not reported on: those of the same total size as a hashed
    tag are hashed too (cheap once cached) so a tag is unique against the whole release, not just
    the tags selected this run; a byte-identical twin has the same size, so no other file is read.
    """
    hashed = [report for report in reports if _hashable(report)]
    paths = [p for report in hashed for p in report.files if p.exists()]
    try:
        digests = sha256_files(paths, cache, progress=progress)
    except CheckFailed as exc:
        for report in hashed:
            report.results.append(CheckResult("sha256", False, "readable file", str(exc)))
        return
    owners: dict[str, list[str]] = {}
    for report in hashed:
        report.sha256 = {p.name: digests[p] for p in report.files if p in digests}
        owners.setdefault(_digest_key(report), []).append(report.tag)
    sizes = {report.size for report in hashed}
    other_keys, unreadable = _other_digests(others, sizes, cache, progress)
    for tag, key in other_keys.items():
        owners.setdefault(key, []).append(tag)
    for report in hashed:
        report.results.append(_digest_unique(report, owners[_digest_key(report)], unreadable))


def _hashable(report: TagReport) -> bool:
    """Present and with a readable header: only then are a tag's bytes worth hashing."""
    header = report.result("format")
    return not report.missing and header is not None and header.ok


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
    others: Sequence[tuple[str, Sequence[Path]]],
    sizes: set[int],
    cache: DigestCache | None,
    progress: bool,
) -> tuple[dict[str, str], list[str]]:
    """The digest key of each present tag in `others` whose size is in `sizes` (the only ones
    that can be twins), and the tags that could not be read (special files are never opened)."""
    present = [(tag, [p for p in files if p.exists()]) for tag, files in others if files]
    present = [(tag, files) for tag, files in present if files]
    unreadable = [tag for tag, files in present if not all(is_regular(p) for p in files)]
    present = [
        (tag, files)
        for tag, files in present
        if tag not in unreadable and sum(p.stat().st_size for p in files) in sizes
    ]
    paths = [p for _, files in present for p in files]
    if not paths:
        return {}, unreadable
    try:
        digests = sha256_files(paths, cache, progress=progress)
    except (CheckFailed, NotARegularFile):  # one unreadable: hash the rest one by one
        digests = {}
        for path in dict.fromkeys(paths):
            try:
                digests[path] = sha256_file(path, cache)
            except (CheckFailed, NotARegularFile):
                continue
        if cache is not None:
            cache.save()
    keys = {
        tag: ",".join(digests[p] for p in files)
        for tag, files in present
        if all(p in digests for p in files)
    }
    return keys, unreadable + [tag for tag, _ in present if tag not in keys]


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
    reports = [check_tag(t.tag, tag_files(t), exp, recipe=t.recipe) for t in selected]
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
