"""The one jinja2 environment for the product's own templates (Modelfile, HF card, Ollama page).

StrictUndefined turns a misspelt variable into an error instead of an empty string; autoescape
is off because the outputs are markdown and Modelfiles, not HTML; trailing newlines are kept so
a rendered file ends exactly as its template does. Manifest text goes through the filter of
where it lands: `cell` in a table, `code_line` in a code block (issue 21 item 9).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jinja2

from publisher.remote_text import one_line
from publisher.render import numbers

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


@cache
def environment() -> jinja2.Environment:
    """The shared environment, built once, with the number filters every template uses."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["score"] = numbers.format_score
    env.filters["size"] = numbers.format_size
    env.filters["cell"] = cell
    env.filters["code_line"] = code_line
    env.globals["UNKNOWN"] = numbers.UNKNOWN
    return env


def cell(value: object) -> str:
    """Text for a Markdown table cell: one line, and a `|` that cannot end the cell."""
    return one_line(str(value)).replace("|", "\\|")


def code_line(value: object) -> str:
    """Text for one line of a fenced code block: no line break (the block must never gain a
    line) and no backtick (no fence can open or close)."""
    return one_line(str(value)).replace("`", "'")


def render(template_name: str, **context: object) -> str:
    """Render one of the product's templates with `context`."""
    return environment().get_template(template_name).render(**context)
