"""Merge a freshly generated card into an existing one, section by marked section.

Generated text sits between `<!-- publisher:begin NAME -->` and `<!-- publisher:end NAME -->`
lines. A merge replaces exactly those sections, keeps every other line of the existing card
verbatim (hand-written text, and marked sections the generator does not produce), inserts a
generated section the existing card lacks next to its neighbour in the generated card, and merges
the YAML front matter key by key (the publisher's keys are regenerated, hand-added keys stay).
Merging the same generated card twice changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from publisher.errors import UsageError
from publisher.urls import import_hub

_MARKER_RE = re.compile(
    r"^[ \t]*<!--[ \t]*publisher:(begin|end)[ \t]+([A-Za-z0-9_.-]+)[ \t]*-->[ \t]*$"
)
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?\r?\n)?---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


class CardMergeError(UsageError):
    """The existing card's markers or front matter cannot be merged without losing text."""


def begin_marker(name: str) -> str:
    """The line that opens section `name`."""
    return f"<!-- publisher:begin {name} -->"


def end_marker(name: str) -> str:
    """The line that closes section `name`."""
    return f"<!-- publisher:end {name} -->"


@dataclass
class _Section:
    name: str
    text: str  # from the begin line through the end line, line endings included


_Segment = str | _Section


def parse_sections(text: str, *, source: str = "card") -> list[_Segment]:
    """Split a card body into plain text and marked sections; bad markers are an error."""
    segments: list[_Segment] = []
    plain: list[str] = []
    current: tuple[str, int, list[str]] | None = None  # name, line number, lines
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        match = _MARKER_RE.match(line.rstrip("\r\n"))
        kind, name = (match.group(1), match.group(2)) if match else (None, None)
        if current is None:
            if kind == "end":
                raise CardMergeError(
                    f"{source}: line {number}: end of section {name!r} without its begin"
                )
            if kind == "begin" and name is not None:
                if name in seen:
                    raise CardMergeError(f"{source}: line {number}: section {name!r} appears twice")
                if plain:
                    segments.append("".join(plain))
                    plain = []
                current = (name, number, [line])
            else:
                plain.append(line)
            continue
        current[2].append(line)
        if kind == "begin":
            raise CardMergeError(
                f"{source}: line {number}: section {name!r} begins inside section "
                f"{current[0]!r} (opened on line {current[1]}); sections do not nest"
            )
        if kind == "end":
            if name != current[0]:
                raise CardMergeError(
                    f"{source}: line {number}: expected the end of section {current[0]!r} "
                    f"(opened on line {current[1]}), found the end of {name!r}"
                )
            segments.append(_Section(current[0], "".join(current[2])))
            seen.add(current[0])
            current = None
    if current is not None:
        raise CardMergeError(
            f"{source}: section {current[0]!r} opened on line {current[1]} is never closed"
        )
    if plain:
        segments.append("".join(plain))
    return segments


def split_front_matter(text: str) -> tuple[str | None, str]:
    """`(yaml, body)`: the front matter block's inside (None without one) and the rest."""
    match = _FRONT_MATTER_RE.match(text)
    if match is None:
        return None, text
    return match.group(1) or "", text[match.end() :]


def _front_matter_data(block: str, source: str) -> dict[str, object]:
    """The front matter as a dict, parsed by huggingface_hub's own card parser."""
    hub = import_hub()
    try:
        return hub.ModelCard(f"---\n{block}---\n").data.to_dict()
    except Exception as exc:  # the Hub's parser raises ValueError / yaml errors
        raise CardMergeError(f"{source}: the YAML front matter cannot be read: {exc}") from None


# The front-matter keys the publisher writes (render/cards.py `front_matter`). An existing card's
# value for one of them is never kept, even when this render leaves the key out: a licence moved
# from `other` to `apache-2.0` must lose its old `license_link`, not keep it as if hand-written.
GENERATED_KEYS = frozenset(
    {
        "base_model",
        "base_model_relation",
        "license",
        "license_name",
        "license_link",
        "pipeline_tag",
        "tags",
        "quantized_by",
    }
)


def merge_front_matter(
    existing: str | None, generated: str | None, *, source: str = "card"
) -> str | None:
    """Generated keys replace existing ones and the publisher's keys are never kept from the
    existing card; keys only a person added are kept."""
    if generated is None:
        return existing
    if existing is None:
        return generated
    merged = _front_matter_data(generated, "generated card")
    for key, value in _front_matter_data(existing, source).items():
        if key not in GENERATED_KEYS:
            merged.setdefault(key, value)
    return import_hub().ModelCardData(**merged).to_yaml() + "\n"


def _separator_before(text: str) -> str:
    """What to add after `text` so the next block starts after one blank line."""
    if not text:
        return ""
    if text.endswith("\n\n"):
        return ""
    return "\n" if text.endswith("\n") else "\n\n"


def _with_newline(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def _insert_missing(out: list[_Segment], generated: list[_Section]) -> None:
    """Place each generated section `out` lacks beside its nearest generated neighbour."""
    order = [section.name for section in generated]
    for index, section in enumerate(generated):
        names = [seg.name for seg in out if isinstance(seg, _Section)]
        if section.name in names:
            continue
        before = next((n for n in reversed(order[:index]) if n in names), None)
        after = next((n for n in order[index + 1 :] if n in names), None)
        block = _Section(section.name, _with_newline(section.text))
        if before is not None:
            at = next(i for i, s in enumerate(out) if isinstance(s, _Section) and s.name == before)
            out[at + 1 : at + 1] = ["\n", block]
        elif after is not None:
            at = next(i for i, s in enumerate(out) if isinstance(s, _Section) and s.name == after)
            out[at:at] = [block, "\n"]
        else:
            body = "".join(s.text if isinstance(s, _Section) else s for s in out)
            out.extend([_separator_before(body), block])


def merge_sections(existing: str, generated: str, *, source: str = "existing card") -> str:
    """The existing card with every generated section replaced or added; all else kept verbatim."""
    if not existing.strip():
        return generated
    existing_yaml, existing_body = split_front_matter(existing)
    generated_yaml, generated_body = split_front_matter(generated)
    fresh = [
        s
        for s in parse_sections(generated_body, source="generated card")
        if isinstance(s, _Section)
    ]
    by_name = {section.name: section for section in fresh}
    out: list[_Segment] = []
    for segment in parse_sections(existing_body, source=source):
        if isinstance(segment, _Section) and segment.name in by_name:
            out.append(_Section(segment.name, _with_newline(by_name[segment.name].text)))
        else:
            out.append(segment)
    _insert_missing(out, fresh)
    body = "".join(s.text if isinstance(s, _Section) else s for s in out)
    yaml_block = merge_front_matter(existing_yaml, generated_yaml, source=source)
    if yaml_block is None:
        return body
    return f"---\n{yaml_block}---\n{body}"
