"""Turning the validated document into a `Release`: the GGUF directory chosen, file names and
recipes per tag, the template and licence files found and read (through `publisher.files`).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from publisher.errors import ManifestError, UsageError
from publisher.files import (
    NotARegularFile,
    SymlinkLoop,
    check_regular,
    exists,
    read_bytes,
    real_path,
)
from publisher.licenses import builtin_text
from publisher.manifest.confine import tree_of
from publisher.manifest.cross_checks import recipe_key
from publisher.manifest.locate import located
from publisher.manifest.resolved import OllamaConfig, Release, Tag
from publisher.manifest.schema import ManifestDocument, Ollama, QuantRecipe
from publisher.secret_text import SecretInText, refuse_secret, refuse_secret_file

if TYPE_CHECKING:
    from publisher.gguf.quant_layout import Recipe
    from publisher.manifest.source import Source

TEMPLATES_DIR = Path(__file__).parent.parent / "templates"
GGUF_DIR_ENV = "PUBLISHER_GGUF_DIR"


def resolve(
    document: ManifestDocument, chain: list[Source], gguf_dir: str | Path | None
) -> Release:
    """Turn the validated document into a Release: absolute paths, licence text read.

    Release, Tag and OllamaConfig are assembled from parts the document already validated
    (`model_construct`): building their validators too cost every `publish` start-up ~0.02 s."""
    top = chain[-1]
    root = top.path.parent
    # --gguf-dir and PUBLISHER_GGUF_DIR are typed by a person in a shell: relative to the current
    # directory. The manifest's own gguf_dir was anchored to its file by _anchor_paths.
    override = gguf_dir or os.environ.get(GGUF_DIR_ENV)
    chosen = Path(override) if override else root / document.files.gguf_dir
    source = None if not override else "--gguf-dir" if gguf_dir else GGUF_DIR_ENV
    directory = _gguf_dir(chosen.expanduser(), source, chain)
    tags = []
    for spec in document.tags:
        file = spec.file or document.files.name.format(tag=spec.tag)
        tags.append(
            Tag.model_construct(
                tag=spec.tag,
                file=file,
                path=directory / file,
                kind=spec.kind,
                vram=spec.vram,
                note=spec.note,
                parameters=spec.parameters,
                targets=spec.targets,
                recipe=_recipe_for(spec.tag, document.recipes, chain),
            )
        )
    ollama = (
        _resolve_ollama(document.ollama, document.model.license, chain) if document.ollama else None
    )
    if document.huggingface is not None:
        _check_extra_files(document.huggingface.extra_files, directory, chain)
    return Release.model_construct(
        source=top.path,
        root=root,
        model=document.model,
        files=document.files,
        gguf_dir=directory,
        checks=document.checks,
        ollama=ollama,
        huggingface=document.huggingface,
        tags=tags,
        benchmarks=document.benchmarks,
        related=document.related,
    )


def _gguf_dir(chosen: Path, option: str | None, chain: list[Source]) -> Path:
    """The GGUF folder resolved; a symlink loop is one line naming where the folder came from
    (`option`: --gguf-dir or the environment variable; None: the manifest's key)."""
    try:
        return real_path(chosen, option or "files.gguf_dir")
    except SymlinkLoop as exc:
        if option:
            raise
        raise located(str(exc), ["files", "gguf_dir"], chain) from None


def _check_extra_files(names: list[str], directory: Path, chain: list[Source]) -> None:
    """An extra file is uploaded as it is: it must not be a link out of gguf_dir (or out of the
    manifest's tree) and must hold no private key or token. A missing one is left to the Hub
    plan, which names it."""
    allowed = (directory, tree_of(chain[-1].path))
    for index, name in enumerate(names):
        loc = ["huggingface", "extra_files", str(index)]
        path = directory / name
        if not os.path.lexists(path):
            continue
        try:
            real = real_path(path, "huggingface.extra_files")
            if not any(real == root or real.is_relative_to(root) for root in allowed):
                raise located(
                    f"{path} is a link to {real}, outside gguf_dir {directory}: an extra file "
                    "is uploaded as it is, so it must be a file of this release",
                    loc,
                    chain,
                )
            refuse_secret_file(path, "huggingface.extra_files")
        except UsageError as exc:
            if isinstance(exc, ManifestError):
                raise
            raise located(str(exc), loc, chain) from None


def _recipe_for(tag: str, recipes: dict[str, QuantRecipe], chain: list[Source]) -> Recipe | None:
    """The tag's `[recipes]` entry (its own name first, then the first glob matching it), with
    the tensor-type file read."""
    key = recipe_key(tag, recipes)
    if key is None:
        return None
    from publisher.gguf.quant_layout import Recipe, parse_tensor_type_file  # llama.cpp's tables

    spec = recipes[key]
    patterns = spec.tensor_types
    if spec.tensor_type_file:
        field = f"recipes.{key}.tensor_type_file"
        text = _read_text(Path(spec.tensor_type_file), chain, field)
        try:
            patterns = parse_tensor_type_file(text)
            return Recipe.parse(patterns, spec.token_embedding_type, spec.output_tensor_type)
        except ValueError as exc:
            loc = ["recipes", key, "tensor_type_file"]
            raise located(f"{spec.tensor_type_file}: {exc}", loc, chain) from None
    return Recipe.parse(patterns, spec.token_embedding_type, spec.output_tensor_type)


def _resolve_ollama(section: Ollama, license_id: str | None, chain: list[Source]) -> OllamaConfig:
    """Find the template file and the LICENSE text: `[ollama] license` (a path, a built-in name
    or the text), else the built-in text of `[model] license`; the two must not disagree."""
    template = None
    if section.template:
        template = _find_file(section.template, TEMPLATES_DIR / "ollama", chain, "ollama.template")
    implied = builtin_text(license_id)
    license_text = _license_text(section.license, chain) if section.license else implied
    try:  # text written inline goes in every Modelfile, page and card too
        refuse_secret(license_text or "", "ollama.license")
    except SecretInText as exc:
        raise located(str(exc), ["ollama", "license"], chain) from None
    if implied is not None and license_text != implied:
        raise located(
            f"[model] license = {license_id!r} puts its built-in text in every tag's LICENSE "
            "layer, and this is another text: remove ollama.license, or set [model] license "
            "to the id of this licence",
            ["ollama", "license"],
            chain,
        )
    return OllamaConfig.model_construct(
        model=section.model,
        latest=section.latest,
        template=template,
        renderer=section.renderer,
        parser=section.parser,
        license=license_text,
        system=section.system,
        parameters=section.parameters,
        registry=section.registry,
        requires=section.requires,
    )


def _builtins(value: str, builtin_dir: Path, *suffixes: str) -> list[Path]:
    """Where `value` would be a built-in: only a bare name, so `../..` never walks out of the
    package's folder."""
    if "/" in value or "\\" in value or value in ("", ".", ".."):
        return []
    return [builtin_dir / f"{value}{suffix}" for suffix in ("", *suffixes)]


def _find_file(value: str, builtin_dir: Path, chain: list[Source], field: str) -> Path:
    """A file the manifest names: as a path (anchored and confined by the loader) or a built-in
    of the package; its text must hold no secret (it is embedded and uploaded)."""
    for candidate in (Path(value), *_builtins(value, builtin_dir)):
        if candidate.is_absolute() and exists(candidate):
            _regular(candidate, chain, field)
            _read_text(candidate, chain, field)  # the secret check, and a readable UTF-8 file
            return real_path(candidate, field)
    builtins = sorted(p.name for p in builtin_dir.glob("*") if p.is_file())
    raise located(
        f"no file {value!r}: expected a path relative to the manifest or one of the built-ins "
        f"({', '.join(builtins) or 'none'})",
        field.split("."),
        chain,
    )


def _license_text(value: str, chain: list[Source]) -> str:
    """`license` is a path, a built-in licence name, or the licence text itself."""
    builtin_dir = TEMPLATES_DIR / "licenses"
    for candidate in (Path(value), *_builtins(value, builtin_dir, ".txt")):
        # relative values were anchored to the manifest already: never the current directory
        if "\n" not in value and len(value) < 256 and candidate.is_absolute() and exists(candidate):
            return _read_text(candidate, chain, "ollama.license")
    builtins = [p.stem for p in builtin_dir.glob("*.txt")]
    looks_like_a_path = "/" in value or value.endswith((".txt", ".md"))
    if looks_like_a_path or difflib.get_close_matches(value, builtins, n=1, cutoff=0.75):
        # A path or a near-miss of a built-in name is a typo, not a licence text like "MIT".
        _find_file(value, builtin_dir, chain, "ollama.license")
    return value


def _regular(path: Path, chain: list[Source], field: str) -> None:
    """A file the manifest names must be a regular file (a FIFO or device would hang a reader)."""
    try:
        check_regular(path, field)
    except NotARegularFile as exc:
        raise located(
            f"{path} is {exc.kind}, not a regular file", field.split("."), chain
        ) from None


def _read_text(path: Path, chain: list[Source], field: str) -> str:
    """A file the manifest names, as UTF-8 text; unreadable files are manifest errors."""
    try:
        text = read_bytes(path, field).decode("utf-8")
        refuse_secret(text, f"{path}: {field}")
        return text
    except SecretInText as exc:
        raise located(str(exc), field.split("."), chain) from None
    except NotARegularFile as exc:
        raise located(
            f"{path} is {exc.kind}, not a regular file", field.split("."), chain
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise located(f"cannot read {path}: {exc}", field.split("."), chain) from None
