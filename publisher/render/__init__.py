"""Rendering: Modelfiles per tag, the Hugging Face card and side files, the ollama.com page.

Everything is rendered in memory from the manifest (and, when GGUFs are present, verify's
measured facts) by `render_release`, then written by `write_rendered`.

The package's names are loaded on first use (PEP 562): importing a light module of this room
(`hub_labels`, `numbers`, `markers`) must not pull jinja2 in through this `__init__` — `publish
validate` reads the Hub's label rule and nothing else of rendering.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from publisher.render.markers import CardMergeError, merge_sections
    from publisher.render.modelfile import render_modelfile
    from publisher.render.rendered import RenderedRelease, render_release, write_rendered

_HOMES = {
    "CardMergeError": "publisher.render.markers",
    "merge_sections": "publisher.render.markers",
    "render_modelfile": "publisher.render.modelfile",
    "RenderedRelease": "publisher.render.rendered",
    "render_release": "publisher.render.rendered",
    "write_rendered": "publisher.render.rendered",
}

__all__ = [
    "CardMergeError",
    "RenderedRelease",
    "merge_sections",
    "render_modelfile",
    "render_release",
    "write_rendered",
]


def __getattr__(name: str) -> Any:
    """The package's public names, each imported from its module when first asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(home), name)
