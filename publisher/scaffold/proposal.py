"""`publish init`'s logic: read every GGUF header in a folder and propose a release manifest.

Each file's tag is proposed from its name's quant label and its measured ftype, and accepted only
when verify's own quant check (`check_quant`) passes it — so the proposal follows whatever rule
verify applies. What the files cannot decide is never guessed: it is written commented out, with
the reason.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.architectures import BUILTIN_PARSER, BUILTIN_TEMPLATE
from publisher.gguf.checks import (
    SHARD_RE,
    CheckResult,
    check_expert_count,
    check_expert_tensors,
    check_file_size,
    check_quant,
    check_split,
    ftype_name,
    tag_files,
)
from publisher.gguf.header import GgufFormatError, GgufHeader, TensorInfo, read_header

# A quant label inside a file name: Q4_K_M, IQ3_XXS, Q8_0, Q6_K_L, CD-Q4_K_M, F16, BF16 ...
_LABEL_RE = re.compile(
    r"(?<![A-Za-z0-9])((?:CD-)?(?:I?Q\d(?:_[A-Za-z0-9]+)*|B?F16|F32))(?![A-Za-z0-9])",
    re.IGNORECASE,
)
_LATEST_CLASS = "Q4_K_M"  # Ollama's own default quant: `latest` goes to the tag of this ftype


@dataclass
class FileSet:
    """One GGUF or one split set in the folder, as read."""

    name: str  # the declared file name: `<stem>.gguf` for a split set
    files: list[Path]
    headers: dict[Path, GgufHeader] = field(default_factory=dict)
    error: str | None = None  # an unreadable header: the set cannot be proposed

    @property
    def first(self) -> GgufHeader | None:
        return self.headers.get(self.files[0])

    @property
    def size(self) -> int:
        return sum(h.file_size for h in self.headers.values())

    def tensors(self) -> list[TensorInfo]:
        """The tensor rows of every shard, in shard order (what verify's checks read)."""
        return [t for p in self.files if p in self.headers for t in self.headers[p].tensors]


@dataclass
class Proposal:
    """A file set with its proposed tag, or the reason no tag could be decided."""

    fileset: FileSet
    tag: str | None = None
    ftype: str | None = None
    from_name: bool = False  # the tag is the file name's own label (not the ftype's fallback)
    reason: str = ""  # why it is commented out (empty when proposed)
    notes: list[str] = field(default_factory=list)

    @property
    def decided(self) -> bool:
        return self.tag is not None and not self.reason


@dataclass
class Facts:
    """What every proposed file agrees on: the release-wide facts of the manifest."""

    architecture: str | None = None
    experts: int | None = None
    expert_used: int | None = None
    context_length: int | None = None
    eos_token_id: int | None = None
    chat_template_sha256: str | None = None
    title: str | None = None
    base_model: str | None = None


# ------------------------------------------------------------------------------------------
# Reading the folder


def scan(folder: Path) -> list[FileSet]:
    """Every GGUF (regular file) in `folder`, split shards grouped into one set each."""
    sets: dict[str, FileSet] = {}
    for path in sorted(folder.glob("*.gguf")):
        if not path.is_file():
            continue
        match = SHARD_RE.fullmatch(path.name)
        name = f"{match['stem']}.gguf" if match else path.name
        if name in sets:
            continue
        files = tag_files(path) if match else [path]
        sets[name] = _read(FileSet(name, files))
    return list(sets.values())


def _read(fileset: FileSet) -> FileSet:
    for path in fileset.files:
        if not path.is_file():
            continue  # a missing shard: the split check says so
        try:
            fileset.headers[path] = read_header(path)
        except GgufFormatError as exc:
            fileset.error = f"{path.name}: byte {exc.offset}: {exc.reason}"
    return fileset


# ------------------------------------------------------------------------------------------
# Proposing tags


def name_label(name: str) -> str | None:
    """The last quant label in a file name (`…-it-CD-Q4_K_M.gguf` → `CD-Q4_K_M`), upper-cased."""
    stem = SHARD_RE.sub(r"\g<stem>", name).removesuffix(".gguf")
    labels = _LABEL_RE.findall(stem)
    return labels[-1].upper() if labels else None


def propose(fileset: FileSet) -> Proposal:
    """The first candidate tag (the name's label, then the ftype) verify's quant check passes."""
    proposal = Proposal(fileset)
    first = fileset.first
    absent = [path.name for path in fileset.files if not path.is_file()]
    if absent:
        proposal.reason = f"incomplete split set: {', '.join(absent)} missing"
        return proposal
    if fileset.error or first is None:
        proposal.reason = f"unreadable: {fileset.error or 'no header'}"
        return proposal
    structural = [check_file_size(fileset.headers)]
    if len(fileset.files) > 1 or "split.count" in first:
        structural.append(check_split(fileset.files, fileset.headers))
    broken = [r for r in structural if not r.ok]
    if broken:
        proposal.reason = "; ".join(f"{r.name}: {r.found}" for r in broken)
        return proposal
    tensors = fileset.tensors()
    raw = first.get("general.file_type")
    proposal.ftype = ftype_name(raw) if isinstance(raw, int) else None
    refused: list[tuple[str, CheckResult]] = []
    for candidate in _candidates(fileset.name, proposal.ftype):
        result, _ = check_quant(candidate, first, tensors)
        if result.ok:
            proposal.tag = candidate
            proposal.from_name = candidate == name_label(fileset.name)
            proposal.notes += [f"the name says {c}: {r.found}" for c, r in refused]
            proposal.notes.append(f"measured: {result.found}")
            return proposal
        refused.append((candidate, result))
    if not refused:
        proposal.reason = "no quant label in the name and no general.file_type in the header"
    else:
        proposal.reason = "verify's quant check passes no candidate: " + "; ".join(
            f"{c}: expected {r.expected}, found {r.found}" for c, r in refused
        )
    return proposal


def _candidates(name: str, ftype: str | None) -> list[str]:
    found = [name_label(name), ftype]
    return list(dict.fromkeys(c for c in found if c))


def release_facts(proposals: list[Proposal]) -> Facts:
    """The facts the proposed files share (the most common value of each, per file set)."""
    headers = [p.fileset.first for p in proposals if p.decided and p.fileset.first is not None]
    arch = _most_common(h.architecture for h in headers)
    facts = Facts(architecture=arch)
    if arch is None:
        return facts
    facts.experts = _most_common(_int(h.get(f"{arch}.expert_count")) for h in headers)
    facts.expert_used = _most_common(_int(h.get(f"{arch}.expert_used_count")) for h in headers)
    facts.context_length = _most_common(_int(h.get(f"{arch}.context_length")) for h in headers)
    facts.eos_token_id = _most_common(_int(h.get("tokenizer.ggml.eos_token_id")) for h in headers)
    facts.chat_template_sha256 = _most_common(template_sha256(h) for h in headers)
    facts.title = _most_common(_str(h.get("general.name")) for h in headers)
    facts.base_model = _most_common(base_model(h) for h in headers)
    return facts


def hold_back_outliers(proposals: list[Proposal], facts: Facts) -> None:
    """Comment out file sets that disagree with the release facts, and duplicate tags (a tag
    the file's own name carries wins over the same tag reached from another file's ftype)."""
    seen: dict[str, str] = {}
    for proposal in sorted(proposals, key=lambda p: not p.from_name):
        if not proposal.decided:
            continue
        header = proposal.fileset.first
        assert header is not None
        reason = _disagreement(proposal, header, facts)
        key = (proposal.tag or "").lower()
        if not reason and key in seen:
            reason = f"tag {proposal.tag} is already proposed for {seen[key]}"
        if reason:
            proposal.reason = reason
        else:
            seen[key] = proposal.fileset.name


def _disagreement(proposal: Proposal, header: GgufHeader, facts: Facts) -> str:
    arch = facts.architecture
    if header.architecture != arch:
        return f"architecture {header.architecture!r}, the other files are {arch!r}"
    if facts.experts is not None:
        for result in (
            check_expert_count(header, arch, facts.experts),
            check_expert_tensors(proposal.fileset.tensors(), facts.experts),
        ):
            if not result.ok:
                return f"{result.name}: expected {result.expected}, found {result.found}"
    sha = template_sha256(header)
    if facts.chat_template_sha256 and sha != facts.chat_template_sha256:
        return f"its embedded chat template differs (sha256 {sha or 'none'})"
    eos = _int(header.get("tokenizer.ggml.eos_token_id"))
    if facts.eos_token_id is not None and eos != facts.eos_token_id:
        return f"eos token id {eos}, the other files carry {facts.eos_token_id}"
    return ""


def choose_latest(proposals: list[Proposal]) -> str | None:
    """The Q4_K_M-class tag: measured ftype Q4_K_M, a plain tag before `_L`, before `CD-`."""
    candidates = [p.tag for p in proposals if p.decided and p.ftype == _LATEST_CLASS and p.tag]
    candidates.sort(key=lambda tag: (tag.upper().startswith("CD-"), tag.upper() != _LATEST_CLASS))
    return candidates[0] if candidates else None


def propose_release(folder: Path) -> tuple[list[Proposal], Facts, str | None]:
    """Every file set in `folder` with its tag (or reason), the shared facts and `latest`."""
    proposals = [propose(fileset) for fileset in scan(folder)]
    facts = release_facts(proposals)
    hold_back_outliers(proposals, facts)
    proposals.sort(key=lambda p: (not p.decided, -p.fileset.size, p.fileset.name))
    return proposals, facts, choose_latest(proposals)


# ------------------------------------------------------------------------------------------
# Small readers


def template_sha256(header: GgufHeader) -> str | None:
    """sha256 of the embedded chat template, as verify's template pin computes it."""
    text = header.get("tokenizer.chat_template")
    if not isinstance(text, str) or not text:
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def base_model(header: GgufHeader) -> str | None:
    """`owner/name` of the first base model the GGUF names (general.base_model.0.*)."""
    url = _str(header.get("general.base_model.0.repo_url"))
    if url:
        match = re.search(r"huggingface\.co/([^/\s]+/[^/\s]+?)/?$", url)
        if match:
            return match.group(1)
    org = _str(header.get("general.base_model.0.organization"))
    name = _str(header.get("general.base_model.0.name"))
    if org and name:
        return f"{org}/{name}".replace(" ", "-")
    return None


def _most_common(values: Iterable[Any]) -> Any:
    counts = Counter(v for v in values if v is not None)
    return counts.most_common(1)[0][0] if counts else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def builtin_template(arch: str | None) -> tuple[str | None, str | None]:
    """The built-in Ollama template and parser for an architecture, if the tool ships them."""
    if arch is None:
        return None, None
    return BUILTIN_TEMPLATE.get(arch), BUILTIN_PARSER.get(arch)
