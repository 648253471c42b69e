"""`publish init`'s output: the proposed manifest as commented TOML a person reads and edits.

Every value says where it came from; paths are relative to the written file; with a base
(`--extends`) the keys the base already sets to the same value are left to it; tags that could
not be decided close the file, commented out, each with its reason.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from publisher.architectures import FORCED_DEFAULTS
from publisher.errors import UsageError
from publisher.files import real_path
from publisher.ollama.registry import DEFAULT_HOST
from publisher.render.numbers import format_size
from publisher.scaffold.proposal import Facts, Proposal, builtin_template

_COMMENT_COLUMN = 34
Entry = tuple[str, Any, str]  # key, value (None: written commented out), comment


@dataclass
class InitRequest:
    """What the command line said: the folder, the names, where the manifest goes."""

    folder: Path
    out: Path
    ollama_model: str
    hf_repo: str
    variant: str
    family: str
    base_model: str | None = None
    extends: Path | None = None
    base: dict[str, Any] = field(default_factory=dict)  # the merged base manifest, if any
    command: str = ""


def toml_value(value: Any) -> str:
    """A TOML literal for a str, int, float, bool or list of those, quoted by tomli-w's rules
    (a quote, a newline or a control character in a value stays inside its string)."""
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        _check_utf8(value)
    return tomli_w.dumps({"v": value}).removeprefix("v = ").removesuffix("\n")


def _check_utf8(text: str) -> None:
    """A name that is not UTF-8 (a folder name's stray bytes, decoded by Python as surrogates)
    cannot be written to a TOML file: say so rather than fail writing it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{text!r} is not UTF-8 text: a TOML manifest cannot hold it") from None


# TOML allows no control character but tab in a comment; a newline would end it early
_COMMENT_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029\ud800-\udfff]")


def comment(text: str) -> str:
    """`text` made safe inside a `#` comment: a newline or control character in a file name or
    a command line is shown escaped (`\\n`), never allowed to end the comment and start TOML."""
    return _COMMENT_UNSAFE.sub(lambda m: repr(m.group())[1:-1], text)


def _line(key: str, value: Any, note: str = "") -> str:
    text = f"{key} = {toml_value(value)}" if value is not None else f"# {key} = …"
    if note:
        text = f"{text.ljust(_COMMENT_COLUMN - 1)} # {comment(note)}"
    return text


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(real_path(path), real_path(start))).as_posix()


def name_pattern(proposals: list[Proposal]) -> str:
    """The `[files] name` most decided tags fit exactly (`<prefix>{tag}<suffix>`)."""
    pairs: Counter[tuple[str, str]] = Counter()
    for proposal in proposals:
        name, tag = proposal.fileset.name, proposal.tag or ""
        index = name.rfind(tag) if proposal.decided else -1
        prefix, suffix = name[:index], name[index + len(tag) :]
        if index >= 0 and not any(c in prefix + suffix for c in "{}/\\"):
            pairs[(prefix, suffix)] += 1
    if not pairs:
        return "{tag}.gguf"
    prefix, suffix = pairs.most_common(1)[0][0]
    return f"{prefix}{{tag}}{suffix}"


def _sections(
    request: InitRequest, facts: Facts, pattern: str, latest: str | None
) -> dict[str, list[Entry]]:
    """The tables of the manifest, each entry with the comment saying where it came from."""
    out_dir = request.out.parent
    arch = facts.architecture
    template, parser = builtin_template(arch)
    ctx_key = f"{arch}.context_length"
    return {
        "model": [
            ("family", request.family, ""),
            ("variant", request.variant, "names build/<variant>/ and the ledger"),
            ("title", facts.title or request.variant, "general.name" if facts.title else ""),
            ("base_model", *_base_model(request, facts)),
            ("architecture", arch, "general.architecture"),
            ("experts", facts.experts, f"{arch}.expert_count; verify checks every expert tensor"),
            ("experts_base", None, "the unpruned model's expert count, if these are pruned"),
        ],
        "checks": [
            ("eos_token_id", facts.eos_token_id, "tokenizer.ggml.eos_token_id"),
            ("chat_template_sha256", facts.chat_template_sha256, "the embedded chat template"),
            ("require_chat_template", facts.chat_template_sha256 is not None, ""),
        ],
        "files": [
            ("gguf_dir", _relative(request.folder, out_dir), "relative to this file"),
            ("name", pattern, "tags whose file does not fit say `file =`"),
        ],
        "ollama": [
            ("model", request.ollama_model, ""),
            ("latest", latest, "the Q4_K_M-class tag" if latest else "none Ollama can take"),
            ("template", template, "built-in" if template else "none built in for this arch"),
            ("parser", parser, "Ollama's tool-call parser" if parser else ""),
            ("registry", *_registry(request, arch, template)),
        ],
        "ollama.parameters": [
            ("num_ctx", facts.context_length, f"{ctx_key}; lower it to save memory"),
        ],
        "huggingface": [("repo", request.hf_repo, "")],
    }


def _registry(request: InitRequest, arch: str | None, template: str | None) -> tuple[Any, str]:
    """Direct push when `ollama create` would ignore the template (it forces its own renderer
    on these architectures: docs/design-notes.md, note 2); otherwise the local daemon."""
    if template and arch in FORCED_DEFAULTS and request.ollama_model.count("/") == 1:
        return f"https://{DEFAULT_HOST}", "`ollama create` would ignore the template (experimental)"
    return None, "push straight to a registry instead of the local daemon"


def _base_model(request: InitRequest, facts: Facts) -> tuple[str | None, str]:
    """`--base-model`, else what the GGUFs name, else the base manifest's; with none of them the
    manifest could not validate (the card's lineage would be empty), so init asks for it."""
    if request.base_model:
        return request.base_model, ""
    if facts.base_model:
        return facts.base_model, "general.base_model.0"
    inherited = request.base.get("model", {})
    if isinstance(inherited, dict) and inherited.get("base_model"):
        return None, "from the base manifest"
    raise UsageError(
        f"{request.folder}: the GGUFs do not name the model they derive from "
        "(general.base_model.0.*): pass --base-model OWNER/NAME (its Hugging Face repo id)"
    )


def _from_base(request: InitRequest, table: str, key: str, value: Any) -> bool:
    """True when the base already sets `table.key` to `value` (paths compared resolved)."""
    section: Any = request.base
    for part in table.split("."):
        section = section.get(part, {}) if isinstance(section, dict) else {}
    if not isinstance(section, dict) or key not in section:
        return False
    if table == "files" and key == "gguf_dir":
        return Path(str(section[key])).resolve() == request.folder.resolve()
    return bool(section[key] == value)


def _table_lines(request: InitRequest, table: str, entries: list[Entry]) -> list[str]:
    lines = [
        _line(key, value, note)
        for key, value, note in entries
        if not (value is not None and _from_base(request, table, key, value))
    ]
    return [f"[{table}]", *lines, ""] if lines else []


def _tag_lines(proposal: Proposal, pattern: str, *, direct_push: bool) -> list[str]:
    fileset = proposal.fileset
    size = format_size(fileset.size)
    shards = f", {len(fileset.files)} shards" if len(fileset.files) > 1 else ""
    lines = ["[[tags]]", _line("tag", proposal.tag, f"{size}{shards}")]
    if pattern.format(tag=proposal.tag) != fileset.name:
        lines.append(_line("file", fileset.name))
    if shards and direct_push:
        lines.append(_line("targets", ["huggingface"], "a direct push cannot carry shards"))
        lines.append("# (merge it with llama-gguf-split --merge to send it to Ollama too)")
    lines += [f"# {comment(note)}" for note in proposal.notes]
    return [*lines, ""]


def _held_back_lines(proposal: Proposal) -> list[str]:
    tag = proposal.tag or "?"
    return [
        f"# {comment(proposal.fileset.name)}: {comment(proposal.reason)}",
        "# [[tags]]",
        f"# tag = {toml_value(tag)}",
        f"# file = {toml_value(proposal.fileset.name)}",
        "",
    ]


def render_manifest(
    request: InitRequest, proposals: list[Proposal], facts: Facts, latest: str | None
) -> str:
    """The whole manifest text."""
    decided = [p for p in proposals if p.decided]
    held = [p for p in proposals if not p.decided]
    pattern = name_pattern(decided)
    folder = _relative(request.folder, request.out.parent)
    lines = [
        f"# Proposed by `{comment(request.command)}`",
        f"# from {len(proposals)} GGUF file set(s) in {comment(folder)}: {len(decided)} tag(s) "
        "proposed, "
        f"{len(held)} left commented out with the reason.",
        "# Each tag passed verify's quant check on its file. Read every value, then:",
        f"#   publish validate {comment(request.out.name)} && publish verify "
        f"{comment(request.out.name)}",
        "",
    ]
    if request.extends is not None:
        lines += [
            _line("extends", _relative(request.extends, request.out.parent), "keys it sets are"),
            "# left to it when this folder says the same",
            "",
        ]
    template, _ = builtin_template(facts.architecture)
    direct_push = _registry(request, facts.architecture, template)[0] is not None
    if direct_push and any(len(p.fileset.files) > 1 for p in decided if p.tag == latest):
        latest = None  # a split set goes to the Hub only: `latest` cannot point at it
    sections = _sections(request, facts, pattern, latest)
    for table, entries in sections.items():
        lines += _table_lines(request, table, entries)
    for proposal in decided:
        lines += _tag_lines(proposal, pattern, direct_push=direct_push)
    if held:
        lines += ["# Not decided from the files — fix by hand and uncomment:", ""]
        for proposal in held:
            lines += _held_back_lines(proposal)
    return "\n".join(lines).rstrip("\n") + "\n"
