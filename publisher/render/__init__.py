"""Rendering: Modelfiles per tag, the Hugging Face card and side files, the ollama.com page.

Everything is rendered in memory from the manifest (and, when GGUFs are present, verify's
measured facts) by `render_release`, then written by `write_rendered`.
"""

from publisher.render.markers import CardMergeError, merge_sections
from publisher.render.modelfile import render_modelfile
from publisher.render.rendered import RenderedRelease, render_release, write_rendered

__all__ = [
    "CardMergeError",
    "RenderedRelease",
    "merge_sections",
    "render_modelfile",
    "render_release",
    "write_rendered",
]
