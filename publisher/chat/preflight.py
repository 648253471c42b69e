"""The template pre-flight of a release: check the manifest's Ollama TEMPLATE (with its RENDERER,
PARSER and stop tokens) before anything is published, plus the parity report when a reference
chat template is at hand."""

from __future__ import annotations

from pathlib import Path

import publisher.chat.parity as parity
from publisher.chat.checks import TemplateFailure, TemplateReport, check_template
from publisher.chat.corpus import load_corpus
from publisher.chat.parity import read_template
from publisher.manifest import Release


def _stop(release: Release) -> list[str]:
    assert release.ollama is not None
    value = release.ollama.parameters.get("stop", [])
    return [value] if isinstance(value, str) else [str(v) for v in value]  # type: ignore[union-attr]


def check_file(
    template: Path, *, reference: Path | None = None, with_parity: bool = True
) -> TemplateReport:
    """Check a template file on its own (no manifest: no RENDERER/PARSER/stop lint)."""
    text = read_template(template, "--template")
    corpus = load_corpus()
    report = check_template(text, label=str(template), corpus=corpus)
    if with_parity:
        _add_parity(report, None, reference, corpus)
    return report


def check_release_template(
    release: Release,
    *,
    template: Path | None = None,
    reference: Path | None = None,
    with_parity: bool = True,
) -> TemplateReport:
    """Pre-flight for `publish release`: `.ok` gates the publish, `.messages` say why not.

    Uses `release.ollama.template` (or `template`), `renderer`, `parser` and
    `parameters["stop"]`; parity against the GGUF's chat template, else `reference`.
    """
    if release.ollama is None:
        report = TemplateReport(template="(none)")
        report.notes.append("the release does not publish to Ollama: no template to check")
        return report
    ollama = release.ollama
    path = template or ollama.template
    if path is None:
        report = TemplateReport(template="(none)")
        if ollama.renderer:
            report.notes.append(f"uses Ollama's built-in renderer {ollama.renderer!r}: no TEMPLATE")
        else:
            report.failures.append(
                TemplateFailure(
                    "template",
                    f"{release.source}: [ollama] sets neither template nor renderer, so Ollama "
                    "would choose its own (renderer gemma4 and an extra `stop <turn|>`)",
                )
            )
        return report
    corpus = load_corpus()
    report = check_template(
        read_template(path, "template"),
        label=str(path),
        renderer=ollama.renderer,
        parser=ollama.parser,
        stop=_stop(release),
        modelfile=True,
        corpus=corpus,
    )
    if with_parity:
        _add_parity(report, release, reference, corpus)
    return report


def _add_parity(
    report: TemplateReport, release: Release | None, reference: Path | None, corpus: list
) -> None:  # type: ignore[type-arg]
    found = parity.load_reference(release, reference)
    if found is None:
        report.notes.append(
            "no reference chat template (no GGUF present, no --reference): parity not checked"
        )
        return
    text, source = found
    report.reference = source
    report.parity = parity.compare(report.renders, text, corpus)
