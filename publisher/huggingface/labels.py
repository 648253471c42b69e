"""Which `ollama run hf.co/<repo>:<tag>` reaches each file of a release, as the Hub reads names.

The Hub labels a GGUF by its file name, and Ollama's `hf.co/<repo>:<tag>` resolves `<tag>`
against those labels (case-insensitive) or against a full file name (hub-docs
`docs/hub/ollama.md`, "Custom Quantization"). Tags are declared in the manifest, never parsed
from names — but the Hub parses them, so a `CD-Q4_K_M` file reads as `Q4_K_M` and a `Q4_K_L`
file reads as nothing. This module says, per tag, what the Hub reads and which hf.co tag
reaches the file for sure.

The rule and the list are facts read in huggingface.js `packages/tasks/src/gguf.ts`
(main at fe42e680, 2026-08-21; the file last changed in 22d0f2ab, 2026-08-04):
`GGMLFileQuantizationType` names plus the file-name alias `MXFP4`, joined into
`GGUF_QUANT_RE = (?<prefix>UD-)?(?<quant>NAME|NAME|…)(_(?<sizeVariation>[A-Z]+))?`, and
`parseGGUFQuantLabel` returns the LAST whole match in the upper-cased name.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from publisher.manifest import Release, is_ollama_tag

if TYPE_CHECKING:  # the render package imports this module: no cycle at run time
    from publisher.render.facts import TagFacts

# `GGMLFileQuantizationType`, in its declaration order (the order the regex alternation tries
# them: the first name that matches at a position wins, as in JavaScript and Python alike).
GGUF_FILE_QUANT_TYPES: tuple[str, ...] = (
    "F32", "F16", "Q4_0", "Q4_1", "Q4_1_SOME_F16", "Q4_2", "Q4_3", "Q8_0", "Q5_0", "Q5_1",
    "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
    "IQ2_XXS", "IQ2_XS", "Q2_K_S", "IQ3_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ3_M",
    "IQ2_S", "IQ2_M", "IQ4_XS", "IQ1_M", "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0",
    "TQ2_0", "MXFP4_MOE", "NVFP4", "Q1_0", "Q2_0",
    # unsloth's names, "not officially a scheme enum value in GGUF, but only here for naming"
    "Q2_K_XL", "Q3_K_XL", "Q4_K_XL", "Q5_K_XL", "Q6_K_XL", "Q8_K_XL",
)  # fmt: skip
# `GGUF_QUANT_FILENAME_ALIASES`: appended last, so `MXFP4_MOE` still wins the alternation.
GGUF_QUANT_FILENAME_ALIASES: tuple[str, ...] = ("MXFP4",)

GGUF_QUANT_RE = re.compile(
    "(?P<prefix>UD-)?"
    f"(?P<quant>{'|'.join(GGUF_FILE_QUANT_TYPES + GGUF_QUANT_FILENAME_ALIASES)})"
    "(_(?P<sizeVariation>[A-Z]+))?"
)


def quant_label(file_name: str) -> str | None:
    """The Hub's quant label of a GGUF file name (`parseGGUFQuantLabel`), None when it has none."""
    matches = [m.group(0) for m in GGUF_QUANT_RE.finditer(file_name.upper())]
    return matches[-1] if matches else None


@dataclass(frozen=True)
class HubTag:
    """What the Hub reads from one tag's file and the hf.co tag that reaches that file."""

    tag: str  # the manifest's tag
    file: str  # the file name on the Hub (the first shard of a split set)
    label: str | None  # the Hub's quant label of `file`
    # every tag whose file carries `label`, this one included, in manifest order; one tuple shared
    # by the whole group (empty without a label), so n tags with one label cost n, not n²
    same_label: tuple[str, ...]
    hf_tag: str | None  # what to put after `hf.co/<repo>:`; None when nothing reaches it

    @property
    def shared_with(self) -> tuple[str, ...]:
        """The other tags whose files carry the same label (the group's size: not for a loop)."""
        return tuple(self.others())

    def others(self, limit: int | None = None) -> list[str]:
        """Up to `limit` of the other tags with the same label, without walking the whole group."""
        return list(islice((t for t in self.same_label if t != self.tag), limit))

    @property
    def label_resolves(self) -> bool:
        """The label alone reaches this file: it exists and no other file of the repo has it."""
        return self.label is not None and len(self.same_label) == 1


def _hf_tag(file: str, label: str | None, shared: bool) -> str | None:
    """The label when it names this file alone, else the file name when Ollama can parse it."""
    if label is not None and not shared:
        return label
    return file if is_ollama_tag(file) else None


def hub_tags(release: Release, facts: dict[str, TagFacts] | None = None) -> list[HubTag]:
    """One entry per tag sent to the Hub, with measured file names when `facts` has them."""
    names: dict[str, str] = {}
    for tag in release.tags:
        if "huggingface" not in tag.targets:
            continue
        known = (facts or {}).get(tag.tag)
        measured = [f.name for f in (known.files if known else ()) if f.name]
        names[tag.tag] = sorted(measured)[0] if measured else tag.file
    labels = {tag: quant_label(name) for tag, name in names.items()}
    groups: dict[str, list[str]] = defaultdict(list)  # label -> its tags: one pass, not n per tag
    for tag, label in labels.items():
        if label is not None:
            groups[label].append(tag)
    same = {label: tuple(tags) for label, tags in groups.items()}
    entries = []
    for tag, name in names.items():
        label = labels[tag]
        group = same[label] if label is not None else ()
        entries.append(HubTag(tag, name, label, group, _hf_tag(name, label, len(group) > 1)))
    return entries


_NAMED = 5  # other tags a warning names; the rest are counted, so each line stays short


def _some(entry: HubTag) -> str:
    """The other tags with the entry's label: a few by name, then how many more."""
    named = entry.others(_NAMED)
    more = len(entry.same_label) - 1 - len(named)
    return ", ".join(named) + (f" and {more:,} more" if more else "")


def hub_tag_warnings(entries: Iterable[HubTag], repo: str) -> list[str]:
    """One line per tag whose quant label does not reach its file by itself."""
    lines = []
    for entry in entries:
        if entry.label_resolves:
            continue
        if entry.label is None:
            problem = f"the Hub reads no quant label from {entry.file}"
        else:
            problem = (
                f"the Hub reads {entry.file} as {entry.label}, like the file of "
                f"{_some(entry)}: hf.co/{repo}:{entry.label} may reach either"
            )
        if entry.hf_tag is None:
            reach = "and its file name is not a valid Ollama tag, so no hf.co tag reaches it"
        else:
            reach = f"use hf.co/{repo}:{entry.hf_tag} (the card lists it)"
        lines.append(f"tag {entry.tag}: {problem}; {reach}")
    return lines
