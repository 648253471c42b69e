"""What manifest text may hold, given where it lands (issue 21 items 8-9).

Free text goes into the card, the Ollama page, table cells, a shell block and YAML. What the
renderer can escape it escapes (publisher/render/env.py: `cell`, `code_line`; YAML goes through a
dumper); what it cannot make safe is refused here, at load, naming the field:

- the card's own section markers (`<!-- publisher:…`, publisher/render/markers.py) anywhere: a
  card holding one is split on it, and every later merge fails naming no manifest field;
- line breaks and control characters in a value that is one line where it lands (a title, a
  table cell, a tag's note in the page's `ollama pull` block, a licence name);
- Ollama parser/renderer names of any other shape than Ollama's own;
- a licence link that is not a plain http(s) URL, or that would end its Markdown link.
"""

from __future__ import annotations

import re
import unicodedata

from publisher.urls import check_url

MARKER_RE = re.compile(r"<!--\s*publisher\s*:", re.IGNORECASE)
# Ollama's parser and renderer names: lower-case words of letters and digits joined by '-' or
# '.' — "gemma4", "qwen3-coder", "qwen3.5", "glm-4.7", "olmo3-32b-think", "deepseek3.1"
# (ollama/ollama model/parsers/parsers.go `ParserForName`, model/renderers/renderer.go
# `rendererForName`, read at commit 008a6cae; the list grows with every release, the shape holds)
OLLAMA_HANDLER_RE = re.compile(r"[a-z0-9]+(?:[.-][a-z0-9]+)*")
MAX_HANDLER = 64
_LINK_BREAKERS = "()<>[]`\"'\\"


def refuse_markers(value: object) -> None:
    """ValueError if any string in `value` holds the card's section marker text."""
    if isinstance(value, str):
        if MARKER_RE.search(value):
            raise ValueError(
                "must not contain the card's section marker text '<!-- publisher:' — the card "
                "is split on it, so the section would break; reword it"
            )
    elif isinstance(value, (list, tuple)):
        for item in value:
            refuse_markers(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_markers(key)
            refuse_markers(item)


def check_one_line(value: str | None) -> str | None:
    """`value` unless it holds a line break or another control or format character."""
    if value is None:
        return None
    bad = next(
        (c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs")), None
    )
    if bad is not None:
        raise ValueError(
            f"expected one line of text (it lands in a table cell, a heading or a shell "
            f"comment), found {bad!r} in {value[:60]!r}"
        )
    return value


def check_handler_name(value: str | None) -> str | None:
    """An Ollama parser/renderer name: the shape of Ollama's own (OLLAMA_HANDLER_RE)."""
    if value is not None and (len(value) > MAX_HANDLER or not OLLAMA_HANDLER_RE.fullmatch(value)):
        raise ValueError(
            "expected an Ollama parser/renderer name: lower-case letters and digits joined by "
            f"'-' or '.', like 'gemma4' or 'qwen3-coder' (at most {MAX_HANDLER}), found {value!r}"
        )
    return value


def check_link(value: str | None) -> str | None:
    """A plain http(s) URL that cannot end the Markdown link it is written into."""
    if value is None:
        return None
    check_url(
        value,
        expected="an http(s) URL",
        credentials_go="link a public page",
        path_allowed=True,
    )
    bad = next((c for c in value if c in _LINK_BREAKERS), None)
    if bad is not None:
        raise ValueError(f"expected an http(s) URL without {bad!r} (it ends a Markdown link)")
    return value
