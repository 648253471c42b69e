"""Parity of a Go TEMPLATE with the model's reference Jinja chat template, per conversation:
identical, or a unified diff — so every intended deviation (the tool-turn workaround) is visible."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path

from publisher.chat import reference
from publisher.chat.checks import ParityEntry
from publisher.chat.corpus import Conversation
from publisher.errors import UsageError
from publisher.files import read_bytes
from publisher.gguf.checks import tag_files
from publisher.gguf.header import read_header
from publisher.manifest import Release
from publisher.secret_text import refuse_secret


def read_template(path: Path, what: str) -> str:
    """A template file's text; unreadable or non-UTF-8 is a usage error naming `what` and path."""
    try:
        text = read_bytes(path, what).decode("utf-8")
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{what} {path}: not UTF-8 text (byte {exc.start}: {exc.reason}); "
            "save the template as UTF-8"
        ) from None
    refuse_secret(text, f"{what} {path}")  # the check echoes template text in its findings
    return text


def _lines(prompt: str) -> list[str]:
    # Break after every turn marker too, so a diff points at the turn that differs.
    marked = prompt.replace("<turn|>", "<turn|>\u2063").replace("\u2063\n", "\n\u2063")
    return marked.split("\u2063")


def diff(reference_prompt: str, template_prompt: str, name: str) -> str:
    """A unified diff, reference first; empty when identical."""
    if reference_prompt == template_prompt:
        return ""
    ref = [line.replace("\n", "\\n") + "\n" for line in _lines(reference_prompt)]
    ours = [line.replace("\n", "\\n") + "\n" for line in _lines(template_prompt)]
    return "".join(difflib.unified_diff(ref, ours, f"reference/{name}", f"template/{name}", n=1))


def compare(
    renders: dict[str, str], reference_text: str, corpus: Sequence[Conversation]
) -> list[ParityEntry]:
    """Render each conversation with the reference and compare with the template's render."""
    entries: list[ParityEntry] = []
    for conv in corpus:
        if conv.name not in renders:
            continue
        expected = reference.render(reference_text, conv.__dict__)
        delta = diff(expected, renders[conv.name], conv.name)
        entries.append(ParityEntry(conv.name, identical=not delta, diff=delta))
    return entries


def reference_from_gguf(release: Release) -> tuple[str, str] | None:
    """`tokenizer.chat_template` of the first GGUF of the release that exists on disk."""
    for tag in release.tags:
        first = tag_files(tag)[0]
        if first.exists():
            value = read_header(first).get("tokenizer.chat_template")
            if isinstance(value, str) and value:
                return value, f"{first.name}: tokenizer.chat_template"
    return None


def load_reference(release: Release | None, reference_path: Path | None) -> tuple[str, str] | None:
    """The reference Jinja: from a GGUF when one is present, else --reference FILE, else None."""
    if release is not None:
        found = reference_from_gguf(release)
        if found:
            return found
    if reference_path is not None:
        return read_template(reference_path, "--reference"), str(reference_path)
    return None
