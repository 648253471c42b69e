"""What a local Ollama daemon says about a model: version, `/api/show` parameters and Modelfile.

The daemon target compares this with what the manifest meant; smoke reads the same fields. The
value syntax is Go's (`%#v`, strconv.Quote), as server/routes.go and server/images.go print it.
"""

from __future__ import annotations

import re
from typing import Any

from publisher.targets.base import TagPayload

LIST_PARAMETERS = frozenset({"stop"})


def parse_version(text: str) -> tuple[int, int, int] | None:
    """`0.20.1-rc0` → (0, 20, 1); None when the daemon reports something else."""
    match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", text.strip())
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _go_unquote(text: str) -> str:
    """Decode a Go `%#v` string literal (strconv.Quote syntax) back to its value."""
    body = text[1:-1]
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        kind = body[i + 1] if i + 1 < len(body) else ""
        if kind in _GO_ESCAPES:
            out.append(_GO_ESCAPES[kind])
            i += 2
        elif kind == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        elif kind == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif kind == "U":
            out.append(chr(int(body[i + 2 : i + 10], 16)))
            i += 10
        else:  # \\ \" \'
            out.append(kind)
            i += 2
    return "".join(out)


def _go_value(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return _go_unquote(text)
    if text in ("true", "false"):
        return text == "true"
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "e" not in text and "." not in text else number


def parse_show_parameters(text: str) -> dict[str, Any]:
    """The `parameters` text of /api/show (`%-30s %#v` lines, one per stop value) as a dict."""
    params: dict[str, Any] = {}
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        key, _, raw = line.strip().partition(" ")
        value = _go_value(raw.strip())
        if key in LIST_PARAMETERS:
            params.setdefault(key, []).append(value)
        elif key in params:  # a repeated scalar: keep every value, a comparison will flag it
            prior = params[key]
            params[key] = [*prior, value] if isinstance(prior, list) else [prior, value]
        else:
            params[key] = value
    return params


def _same_value(got: Any, want: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(_same_value(g, w) for g, w in zip(got, want, strict=True))
        )
    if isinstance(want, int | float):
        return isinstance(got, int | float) and float(got) == float(want)
    return bool(got == want)


def _short(text: str | None, limit: int = 60) -> str:
    if text is None:
        return "nothing"
    flat = text.replace("\n", "\\n")
    return repr(flat if len(flat) <= limit else flat[:limit] + "…") + f" ({len(text)} chars)"


_COMMAND_RE = re.compile(r"[ \t]*([A-Za-z]+)[ \t]+")


def modelfile_directives(modelfile: str) -> dict[str, str]:
    """SYSTEM / RENDERER / PARSER of a Modelfile as `ollama show` writes it (server/images.go
    `Model.String`: FROM, TEMPLATE, SYSTEM, RENDERER, PARSER, PARAMETER, LICENSE, MESSAGE — never
    REQUIRES, which only show's `requires` field carries).

    Values are bare to the end of the line, or quoted with `"` or `\"\"\"` across lines (Ollama's
    `quote`), so a TEMPLATE block is skipped whole and never mistaken for directives.
    """
    found: dict[str, str] = {}
    text, position = modelfile or "", 0
    while position < len(text):
        line_end = text.find("\n", position)
        line_end = len(text) if line_end < 0 else line_end
        command = _COMMAND_RE.match(text, position, line_end)
        if command is None:  # a comment, a blank line
            position = line_end + 1
            continue
        value, position = _modelfile_value(text, command.end(), line_end)
        if command.group(1).lower() in ("system", "renderer", "parser"):
            found[command.group(1).lower()] = value
    return found


def _modelfile_value(text: str, start: int, line_end: int) -> tuple[str, int]:
    """One value from `start`: quoted (possibly across lines) or to the end of the line."""
    for quote in ('"""', '"'):
        if text.startswith(quote, start):
            close = text.find(quote, start + len(quote))
            if close >= 0:
                after = text.find("\n", close)
                return text[start + len(quote) : close], len(text) if after < 0 else after + 1
    return text[start:line_end].strip(), line_end + 1


def compare_show(
    show: dict[str, Any],
    payload: TagPayload,
    *,
    architecture: str,
    experts: int,
    requires: str | None = None,
) -> list[str]:
    """Differences between what /api/show reports and what the payload meant (empty = equal).

    `requires` (the manifest's REQUIRES) is compared with show's `requires` field, which every
    daemon that takes it in /api/create reports (v0.14.0+); the modelfile has no REQUIRES line."""
    problems: list[str] = []
    got = parse_show_parameters(show.get("parameters") or "")
    want = payload.parameters
    for key in got.keys() - want.keys():
        problems.append(
            f"parameter {key} = {got[key]!r} is not in the manifest (Ollama added it by itself)"
        )
    for key in want.keys() - got.keys():
        problems.append(f"parameter {key} = {want[key]!r} is missing")
    for key in want.keys() & got.keys():
        if not _same_value(got[key], want[key]):
            problems.append(f"parameter {key} is {got[key]!r}, the manifest says {want[key]!r}")
    if payload.template is not None and (show.get("template") or "") != payload.template:
        problems.append(
            f"template differs: daemon has {_short(show.get('template'))}, rendered "
            f"{_short(payload.template)}"
        )
    # /api/show leaves its renderer/parser fields empty (server/routes.go): the truth is in the
    # RENDERER/PARSER lines of the modelfile it writes (server/images.go).
    directives = modelfile_directives(show.get("modelfile") or "")
    for field_name in ("renderer", "parser"):
        have = show.get(field_name) or directives.get(field_name) or None
        meant = getattr(payload, field_name) or None
        if have != meant:
            hint = ""
            if field_name == "renderer" and have and payload.template:
                hint = " — Ollama ignores the TEMPLATE when a renderer is set"
            problems.append(f"{field_name} is {have!r}, declared {meant!r}{hint}")
    have_requires = show.get("requires") or None
    if have_requires != (requires or None):
        problems.append(f"requires is {have_requires!r}, declared {requires!r}")
    if (show.get("system") or None) != (payload.system or None):
        problems.append(
            f"system differs: daemon has {_short(show.get('system'))}, "
            f"manifest {_short(payload.system)}"
        )
    if payload.license and (show.get("license") or "") != payload.license:
        problems.append(
            f"license differs: daemon has {_short(show.get('license'))}, "
            f"manifest {_short(payload.license)}"
        )
    info = show.get("model_info") or {}
    key = f"{architecture}.expert_count"
    if info.get(key) != experts:
        problems.append(f"{key} is {info.get(key)!r}, the release declares {experts}")
    return problems
