"""Ollama Modelfiles per tag, spelt so Ollama's parser (parser/parser.go) reads back every value.

The parser has no escapes: a value runs to the end of the line, `"…"`/`\"\"\"…\"\"\"` may span
lines, surrounding whitespace is trimmed, and runes that are not printable are dropped. So a value
is written bare when that is exact, in triple quotes when it spans lines, starts with a quote or
has surrounding whitespace, and refused when no spelling survives (it contains `\"\"\"`, or a
control character other than newline and tab).
"""

from __future__ import annotations

import os
from pathlib import Path

from publisher.errors import UsageError
from publisher.files import read_bytes
from publisher.manifest import ParameterValue, Release, Tag
from publisher.render.caveats import modelfile_note
from publisher.render.env import render
from publisher.secret_text import refuse_secret

TRIPLE = '"""'
MODELFILE_TEMPLATE = "modelfile.j2"


def _where(release: Release, field: str) -> str:
    return f"{release.source}: {field}"


def check_value(value: str, *, where: str) -> None:
    """Raise UsageError unless Ollama's Modelfile parser can carry `value` unchanged."""
    if TRIPLE in value:
        raise UsageError(
            f"{where}: the value contains '\"\"\"', which ends a Modelfile value early (Ollama's "
            "parser has no escape for it); remove or change those quotes"
        )
    for index, char in enumerate(value):
        if not (char.isprintable() or char in "\n\r\t"):
            raise UsageError(
                f"{where}: the value contains the control character U+{ord(char):04X} at offset "
                f"{index}; Ollama's Modelfile parser drops such characters, so it cannot "
                "round-trip"
            )


def quote(value: str, *, where: str) -> str:
    """The Modelfile spelling of `value`: bare when exact, else in triple quotes; never lossy."""
    check_value(value, where=where)
    if value == "":
        return '""'
    multiline = "\n" in value or "\r" in value
    if multiline or value != value.strip() or value.startswith('"'):
        return f"{TRIPLE}{value}{TRIPLE}"
    return value


def parameter_text(value: int | float | bool | str) -> str:
    """One parameter value as Ollama's FormatParams parses it (Go strconv spellings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def parameter_lines(
    release: Release, parameters: dict[str, ParameterValue], *, tag: Tag | None = None
) -> list[tuple[str, str]]:
    """`(name, spelt value)` per PARAMETER line, in declaration order; one line per list item."""
    lines: list[tuple[str, str]] = []
    for name, value in parameters.items():
        overridden = tag is not None and name in tag.parameters
        table = f"tags[{tag.tag}].parameters" if overridden and tag else "ollama.parameters"
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            suffix = f"[{index}]" if isinstance(value, list) else ""
            where = _where(release, f"{table}.{name}{suffix}")
            text = parameter_text(item)
            if "\n" in text or "\r" in text:
                raise UsageError(f"{where}: a parameter value must be one line, found {text!r}")
            lines.append((name, quote(text, where=where)))
    return lines


def from_value(gguf_path: Path, relative_to: Path | None) -> str:
    """The FROM path: absolute, or relative to the Modelfile's directory (`./` when local)."""
    if relative_to is None:
        return str(gguf_path.absolute())
    relative = os.path.relpath(gguf_path.absolute(), Path(relative_to).absolute())
    # A bare name that is not a file is read by Ollama as a model name; `~` would be expanded.
    return relative if relative.startswith("..") else f"./{relative}"


def template_text(release: Release) -> str | None:
    """The Go chat template's text exactly as in its file, or None when the release has none."""
    if release.ollama is None or release.ollama.template is None:
        return None
    try:
        text = read_bytes(release.ollama.template, "ollama.template").decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"{_where(release, 'ollama.template')}: cannot read {release.ollama.template}: {exc}"
        ) from None
    refuse_secret(text, f"{release.ollama.template}: ollama.template")  # it is embedded
    return text


def render_modelfile(
    release: Release,
    tag: Tag | str,
    *,
    gguf_path: Path | None = None,
    relative_to: Path | None = None,
) -> str:
    """The Modelfile of one tag: FROM, TEMPLATE or RENDERER, PARSER, PARAMETERs, SYSTEM, LICENSE.

    `gguf_path` defaults to the tag's file; `relative_to` (the Modelfile's directory) makes FROM
    relative to it, else FROM is absolute.
    """
    ollama = release.ollama
    if ollama is None:
        raise UsageError(f"{release.source}: the manifest has no [ollama] table to render from")
    resolved = release.tag(tag) if isinstance(tag, str) else tag
    if ollama.template is not None and ollama.renderer:
        raise UsageError(
            f"{_where(release, 'ollama')}: both template and renderer are set; Ollama ignores "
            "TEMPLATE when a RENDERER is set, so a Modelfile with both would publish a template "
            "nobody uses. Keep one."
        )
    template = template_text(release)
    context = {
        "header": f"{ollama.model}:{resolved.tag} — generated by `publish render` from "
        f"{release.source.name}; edit the manifest, not this file.",
        "caveat": modelfile_note(release),
        "from_": quote(
            from_value(gguf_path or resolved.path, relative_to),
            where=_where(release, f"tags[{resolved.tag}].file"),
        ),
        "template": None
        if template is None
        else quote(template, where=_where(release, f"ollama.template ({ollama.template})")),
        "renderer": _optional(release, "renderer", ollama.renderer),
        "parser": _optional(release, "parser", ollama.parser),
        "requires": _optional(release, "requires", ollama.requires),
        "parameters": parameter_lines(release, release.parameters_for(resolved), tag=resolved),
        "system": _optional(release, "system", ollama.system),
        "license": _optional(release, "license", ollama.license),
    }
    return render(MODELFILE_TEMPLATE, **context)


def _optional(release: Release, name: str, value: str | None) -> str | None:
    """A quoted optional value; empty counts as absent."""
    if not value:
        return None
    return quote(value, where=_where(release, f"ollama.{name}"))
