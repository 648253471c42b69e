"""The facts cards and pages share, composed from the manifest (and measured facts) only.

Everything here is derived: a value the manifest does not give is left out, never made up.
"""

from __future__ import annotations

from dataclasses import dataclass

from publisher.huggingface.labels import hub_tags
from publisher.licenses import BUILTIN_TEXTS, OTHER, full_name
from publisher.manifest import Release, Tag
from publisher.render import numbers
from publisher.render.env import TEMPLATES_DIR
from publisher.render.facts import UNKNOWN_FACTS, TagFacts
from publisher.render.modelfile import parameter_lines

HF_URL = "https://huggingface.co"
OLLAMA_URL = "https://ollama.com"
FULL_PRECISION = {"F32", "F16", "BF16"}

# What the product's built-in Go templates are, in the words a model page uses.
BUILTIN_TEMPLATE_NOTES = {
    "gemma4-tools.gotmpl": "the Gemma 4 chat template with tool-use support and a 2nd-turn "
    "workaround for nested function calls",
}


def hf_link(repo: str) -> str:
    """A markdown link to a Hub repo."""
    return f"[{repo}]({HF_URL}/{repo})"


def ollama_link(model: str) -> str:
    """A markdown link to an ollama.com model."""
    return f"[{model}]({OLLAMA_URL}/{model})"


def summary_line(release: Release) -> str:
    """`20.8B parameters · 98 experts (30 dropped) · <drop map>`, from what the manifest gives."""
    model = release.model
    parts = []
    if model.parameters:
        parts.append(f"{model.parameters} parameters")
    experts = f"{model.experts} experts"
    if model.experts_base is not None and model.experts_base > model.experts:
        experts += f" ({model.experts_base - model.experts} dropped)"
    parts.append(experts)
    if model.drop_map:
        parts.append(model.drop_map)
    return " · ".join(parts)


def ladder_note(tags: list[Tag]) -> str:
    """The ladder in one line: `Q6_K_L → IQ3_XXS (17 tiers) + 5 ContribDynamic CD-* … + F16`."""
    plain = [t.tag for t in tags if t.kind == "standard" and t.tag.upper() not in FULL_PRECISION]
    dynamic = [t.tag for t in tags if t.kind == "contrib-dynamic"]
    full = [t.tag for t in tags if t.kind == "standard" and t.tag.upper() in FULL_PRECISION]
    parts = []
    if len(plain) > 1:
        parts.append(f"{plain[0]} → {plain[-1]} ({len(plain)} tiers)")
    elif plain:
        parts.append(plain[0])
    if dynamic:
        parts.append(
            f"{len(dynamic)} ContribDynamic CD-* per-layer quant{'s' * (len(dynamic) > 1)}"
        )
    parts.extend(full)
    return " + ".join(parts)


@dataclass(frozen=True)
class FormatRow:
    """One row of the formats table."""

    format: str
    repo: str
    notes: str


def format_rows(release: Release, *, here: str) -> list[FormatRow]:
    """The GGUF repo and the BF16 source repo, when the manifest names them."""
    rows = []
    hf = release.huggingface
    if hf is not None:
        hf_tags = [t for t in release.tags if "huggingface" in t.targets]
        rows.append(
            FormatRow(f"GGUF ({here}llama.cpp / ollama)", hf_link(hf.repo), ladder_note(hf_tags))
        )
        if hf.source_repo:
            size = f"{release.model.parameters} " if release.model.parameters else ""
            rows.append(
                FormatRow(
                    "BF16 source weights",
                    hf_link(hf.source_repo),
                    f"{size}BF16; the weights these quants were made from.",
                )
            )
    return rows


@dataclass(frozen=True)
class PickLine:
    """`Pick <variant> for: <text>` with where to get that variant."""

    variant: str
    text: str
    current: bool
    ollama: str | None
    huggingface: str | None


def pick_lines(release: Release) -> list[PickLine]:
    """The family's variants and what each is for, this release first if it says so itself."""
    lines = []
    variants = {r.variant for r in release.related}
    if release.model.pick_for and release.model.variant not in variants:
        lines.append(
            PickLine(
                release.model.variant,
                release.model.pick_for,
                True,
                release.ollama.model if release.ollama else None,
                release.huggingface.repo if release.huggingface else None,
            )
        )
    for related in release.related:
        current = related.variant == release.model.variant
        text = related.pick_for or (release.model.pick_for if current else "")
        if text:
            lines.append(
                PickLine(related.variant, text, current, related.ollama, related.huggingface)
            )
    return lines


@dataclass(frozen=True)
class BenchmarkLine:
    """One benchmark row, formatted."""

    label: str
    reference: str
    score: str
    delta: str


def benchmark_label(name: str, n: int | None, mode: str | None, precision: str | None) -> str:
    """`GPQA Diamond (198, flex)`, `HumanEval-164 chat (BF16)`: the name and what qualifies it."""
    qualifiers = [str(n) if n is not None else None, mode, precision]
    inside = ", ".join(q for q in qualifiers if q)
    return f"{name} ({inside})" if inside else name


def benchmark_table(release: Release) -> dict[str, object] | None:
    """Headers, rows and notes of the benchmark table; None when the manifest has no rows."""
    bench = release.benchmarks
    if bench is None or not bench.rows:
        return None
    reference_short = bench.reference_label.removesuffix(" reference").removesuffix(" ref")
    return {
        "setup": bench.setup.strip(),
        "reading": bench.reading.strip(),
        "reference_label": bench.reference_label,
        "score_label": bench.score_label or release.model.variant,
        "delta_label": f"Δ ({release.model.variant} − {reference_short})",
        "rows": [
            BenchmarkLine(
                benchmark_label(row.name, row.n, row.mode, row.precision),
                numbers.format_score(row.reference),
                numbers.format_score(row.score),
                numbers.format_delta(row.score, row.reference),
            )
            for row in bench.rows
        ],
    }


def template_note(release: Release) -> str | None:
    """How prompts are built: the built-in template's description, a custom file, a renderer."""
    ollama = release.ollama
    if ollama is None:
        return None
    if ollama.renderer:
        return f"Ollama's built-in `{ollama.renderer}` renderer"
    if ollama.template is None:
        return None
    if ollama.template.parent == (TEMPLATES_DIR / "ollama").resolve():
        known = BUILTIN_TEMPLATE_NOTES.get(ollama.template.name)
        if known:
            return known
    return f"the chat template `{ollama.template.name}`"


def release_parameter_lines(release: Release) -> list[str]:
    """The release-wide PARAMETER lines exactly as every Modelfile spells them."""
    if release.ollama is None:
        return []
    return [
        f"PARAMETER {name} {value}"
        for name, value in parameter_lines(release, dict(release.ollama.parameters))
    ]


def overridden_tags(release: Release) -> list[Tag]:
    """Ollama tags whose parameters differ from the release-wide ones."""
    return [t for t in release.tags if t.parameters and "ollama" in t.targets]


@dataclass(frozen=True)
class FileRow:
    """One row of the HF files table."""

    tag: str
    files: list[str]
    hf_tag: str | None  # what follows `ollama run hf.co/<repo>:` to reach this file
    quant: str
    size: str
    sha256: list[str]
    vram: str
    notes: str
    published: bool = True  # False: a tier still to come (listed, never linked)


def tag_notes(tag: Tag) -> str:
    """The manifest's note, or what the kind of tag means when there is none."""
    if tag.note:
        return tag.note
    if tag.kind == "contrib-dynamic":
        return "ContribDynamic per-layer mixed quant"
    return ""


def file_rows(
    release: Release, facts: dict[str, TagFacts], published: set[str] | None = None
) -> list[FileRow]:
    """The Hub's tags with measured size/digest/quant when known, the hf.co tag that reaches each
    file, manifest VRAM and notes. `published` (the seal: tags the repo holds) leaves every
    other row unlinked; None (a local render) links every row."""
    rows = []
    reach = {entry.tag: entry.hf_tag for entry in hub_tags(release, facts)}
    for tag in release.tags:
        if "huggingface" not in tag.targets:
            continue
        fact = facts.get(tag.tag, UNKNOWN_FACTS)
        names = [f.name for f in fact.files if f.name] or [tag.file]
        digests = [f"`{f.sha256}`" for f in fact.files if f.sha256]
        rows.append(
            FileRow(
                tag=tag.tag,
                files=names,
                hf_tag=reach.get(tag.tag),
                quant=fact.quant or numbers.UNKNOWN,
                size=numbers.format_size(fact.size),
                sha256=digests or [numbers.UNKNOWN],
                vram=tag.vram or numbers.UNKNOWN,
                notes=tag_notes(tag),
                published=published is None or tag.tag in published,
            )
        )
    return rows


def pull_comment(tag: Tag) -> str | None:
    """`size-conscious (≈8 GB VRAM) — minimal quality loss`: the note with the VRAM figure."""
    vram = f"({tag.vram} VRAM)" if tag.vram else ""
    note = tag.note or ""
    if note and vram:
        head, dash, rest = note.partition(" — ")
        return f"{head} {vram}{' — ' + rest if dash else ''}"
    return note or vram or None


def pull_tags(release: Release) -> list[tuple[Tag, str | None]]:
    """`latest` first, then every Ollama tag the manifest annotates, each with its comment."""
    if release.ollama is None:
        return []
    tags = [t for t in release.tags if "ollama" in t.targets]
    latest = release.ollama.latest
    chosen = [t for t in tags if latest and t.tag.lower() == latest.lower()]
    chosen += [t for t in tags if (t.vram or t.note) and t not in chosen]
    return [(t, pull_comment(t)) for t in chosen]


def default_tag(release: Release, target: str) -> Tag | None:
    """The tag examples use: `latest` if it goes to `target`, else the first that does."""
    tags = [t for t in release.tags if target in t.targets]
    latest = release.ollama.latest if release.ollama else None
    for tag in tags:
        if latest and tag.tag.lower() == latest.lower():
            return tag
    return tags[0] if tags else None


def license_paragraph(release: Release) -> str | None:
    """The licence in a sentence or two: its name and Hub id, where its full text is, and that
    the Ollama tags carry it; the manifest's own text whole when it gives no Hub id."""
    license_id = release.model.license
    text = release.ollama.license if release.ollama else None
    if license_id is None:
        return text.strip() if text else None
    hf = release.huggingface
    name, url = full_name(license_id), None
    if license_id in BUILTIN_TEXTS:
        url = BUILTIN_TEXTS[license_id].url
    elif license_id == OTHER and hf is not None:
        name, url = hf.license_name or name, hf.license_link
    where = f", [full text]({url})" if url else ""
    lines = [f"{name} (`{license_id}`{where})."]
    tag = default_tag(release, "ollama")
    if text and release.ollama is not None and tag is not None:
        lines.append(
            "Every Ollama tag carries the full text as its LICENSE "
            f"(`ollama show --license {release.ollama.model}:{tag.tag}`)."
        )
    return " ".join(lines)
