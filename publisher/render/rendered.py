"""Render a whole release in memory, then write it to a build folder (`build/<variant>/`).

Layout written by `write_rendered`:
  ollama/<TAG>.Modelfile        one per tag sent to Ollama
  ollama/page.md                the ollama.com page
  huggingface/README.md         the model card (merged over an existing one, markers kept)
  huggingface/template|params|system   the repo's side files for `ollama run hf.co/…`
  huggingface/.eval_results/*.yaml     benchmark results the Hub reads (rows measured on its files)
  .publisher-outputs.json       what this render wrote (the next one removes only those files)

Every file is written atomically and never through a link (`publisher.render.outputs`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.errors import UsageError
from publisher.files import read_bytes
from publisher.manifest import Release
from publisher.render.cards import render_card
from publisher.render.eval_results import EVAL_RESULTS_DIR, eval_results
from publisher.render.facts import TagFacts, facts_by_tag
from publisher.render.markers import merge_sections
from publisher.render.modelfile import render_modelfile
from publisher.render.outputs import (
    check_output_dir,
    check_output_path,
    read_record,
    remove_stale,
    write_output,
    write_record,
)
from publisher.render.page import render_page
from publisher.render.sidefiles import hf_side_files, override_warnings
from publisher.secret_text import refuse_secret

OLLAMA_DIR = "ollama"
HF_DIR = "huggingface"
CARD_NAME = "README.md"
PAGE_NAME = "page.md"
MODELFILE_SUFFIX = ".Modelfile"


@dataclass(frozen=True)
class RenderedRelease:
    """Everything `render` produces, in memory; None/empty where the release has no such target."""

    variant: str
    modelfiles: dict[str, str]  # tag -> Modelfile text (tags sent to Ollama)
    hf_card: str | None  # README.md; None without [huggingface]
    hf_side_files: dict[str, str]  # "template", "params", "system" (each only when present)
    ollama_page: str | None  # None without [ollama]
    facts: dict[str, TagFacts] = field(default_factory=dict)
    hf_eval_results: dict[str, str] = field(default_factory=dict)  # .eval_results/… -> YAML
    warnings: list[str] = field(default_factory=list)

    @property
    def hf_files(self) -> dict[str, str]:
        """The Hub repo's rendered files by path in the repo: README.md, the side files and the
        benchmark results."""
        files = {**self.hf_side_files, **self.hf_eval_results}
        if self.hf_card is not None:
            files[CARD_NAME] = self.hf_card
        return files


def render_release(
    release: Release,
    reports: Iterable[Any] | None = None,
    *,
    modelfile_dir: Path | None = None,
) -> RenderedRelease:
    """Render every artifact of `release`; `reports` (verify's TagReports) fill measured values.

    `modelfile_dir` makes each Modelfile's FROM relative to that directory (else absolute).
    """
    facts = facts_by_tag(reports)
    modelfiles: dict[str, str] = {}
    page = None
    if release.ollama is not None:
        for tag in release.tags:
            if "ollama" in tag.targets:
                modelfiles[tag.tag] = render_modelfile(release, tag, relative_to=modelfile_dir)
        page = render_page(release)
    card = render_card(release, facts) if release.huggingface is not None else None
    return RenderedRelease(
        variant=release.model.variant,
        modelfiles=modelfiles,
        hf_card=card,
        hf_side_files=hf_side_files(release),
        ollama_page=page,
        facts=facts,
        warnings=override_warnings(release),
        hf_eval_results=eval_results(release) if release.huggingface is not None else {},
    )


def _read_existing(path: Path) -> str | None:
    """The card a person may have edited, to merge into; a link or FIFO there is refused first
    (check_output_path), so the merge never reads — and uploads — a file elsewhere."""
    check_output_path(path, "existing card")
    try:
        text = read_bytes(path, "existing card").decode("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the existing card to merge into: {exc}") from None
    refuse_secret(text, f"{path}: the existing card")
    return text


def write_rendered(
    rendered: RenderedRelease, out_dir: Path, *, existing_card_merge: bool = True
) -> list[Path]:
    """Write the rendered files under `out_dir`; an existing README.md is merged, not replaced."""
    out_dir = Path(out_dir)
    check_out_dir(out_dir)
    try:
        return _write_all(rendered, out_dir, existing_card_merge)
    except OSError as exc:
        raise UsageError(
            f"cannot write the rendered files under {out_dir}: "
            f"{exc.filename or out_dir}: {exc.strerror or exc}"
        ) from None


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder that is a file (or under one) before anything is measured."""
    for path in (out_dir, *out_dir.parents):
        if path.exists():
            if not path.is_dir():
                raise UsageError(
                    f"cannot write the rendered files under {out_dir}: {path} is a file, not a "
                    "folder; choose another output folder"
                )
            return


def _planned(rendered: RenderedRelease, out_dir: Path, merge: bool) -> dict[Path, str]:
    """Every file this render writes, path -> text (the card merged over the existing one)."""
    ollama_dir, hf_dir = out_dir / OLLAMA_DIR, out_dir / HF_DIR
    files: dict[Path, str] = {}
    if rendered.ollama_page is not None:
        for tag, text in rendered.modelfiles.items():
            files[ollama_dir / f"{tag}{MODELFILE_SUFFIX}"] = text
        files[ollama_dir / PAGE_NAME] = rendered.ollama_page
    if rendered.hf_card is not None:
        for directory in (hf_dir, hf_dir / EVAL_RESULTS_DIR):
            check_output_dir(directory)
        card = rendered.hf_card
        existing = _read_existing(hf_dir / CARD_NAME) if merge else None
        if existing is not None:
            card = merge_sections(existing, card, source=str(hf_dir / CARD_NAME))
        files[hf_dir / CARD_NAME] = card
        for name, text in {**rendered.hf_side_files, **rendered.hf_eval_results}.items():
            files[hf_dir / name] = text
    return files


def _write_all(rendered: RenderedRelease, out_dir: Path, existing_card_merge: bool) -> list[Path]:
    """Check every output path first (nothing is written when one is refused), write each
    atomically, remove what the last render wrote and this one does not, record what was
    written."""
    files = _planned(rendered, out_dir, existing_card_merge)
    for path in files:
        check_output_dir(path.parent)
        check_output_path(path)
    record = read_record(out_dir)
    written = [write_output(path, text) for path, text in files.items()]
    produced = {path.relative_to(out_dir).as_posix() for path in files}
    remove_stale(out_dir, record, produced)
    write_record(out_dir, written, files)
    return written
