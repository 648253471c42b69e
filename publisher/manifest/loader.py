"""Reading a manifest: its TOML and the bases it `extends`, merged with paths anchored to the
file that wrote them, then validated, cross-checked and resolved by `load`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from publisher.errors import ManifestError
from publisher.files import NulInPath, exists, real_path
from publisher.manifest.confine import anchor_paths, extends_target
from publisher.manifest.cross_checks import cross_check
from publisher.manifest.locate import locate, manifest_error
from publisher.manifest.resolve import GGUF_DIR_ENV, resolve
from publisher.manifest.resolved import Release
from publisher.manifest.schema import ManifestDocument
from publisher.manifest.source import Source


def read_chain(path: Path) -> list[Source]:
    """The manifest and every base it extends, base first; cycles and missing bases are errors."""
    chain: list[Source] = []
    seen: list[Path] = []
    current: Path | None = real_path(path, "manifest")
    child: Source | None = None
    while current is not None:
        if current in seen:
            cycle = " -> ".join(str(p) for p in [*seen, current])
            raise ManifestError(f"circular extends: {cycle}", file=str(seen[-1]), field="extends")
        if child is not None and not exists(current):
            raise ManifestError(
                f"extends names {current}, which does not exist",
                file=str(child.path),
                line=locate(child.text, ["extends"]),
                field="extends",
            )
        source = Source(current)
        seen.append(current)
        chain.append(source)
        base = source.data.pop("extends", None)
        if base is not None and not (isinstance(base, str) and base):
            found = repr(base) if isinstance(base, str) else type(base).__name__
            raise ManifestError(
                f"expected the path of a base manifest, found {found}",
                file=str(current),
                line=locate(source.text, ["extends"]),
                field="extends",
            )
        current = extends_target(source, base) if base else None
        child = source
    return list(reversed(chain))


def _deep_merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; arrays and scalars of the child replace the base's."""
    merged = dict(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_chain(chain: list[Source]) -> dict[str, Any]:
    """The chain's data merged base first, each file's relative paths anchored to it."""
    merged: dict[str, Any] = {}
    for source in chain:
        anchor_paths(source)
        merged = _deep_merge(merged, source.data)
    return merged


def read_merged(path: str | Path) -> dict[str, Any]:
    """A manifest and its bases merged but not validated (a base alone is not a release)."""
    return merge_chain(read_chain(Path(path)))


def load(path: str | Path, *, gguf_dir: str | Path | None = None) -> Release:
    """Load, merge and validate a manifest; `gguf_dir` (from --gguf-dir) beats the environment."""
    for value, what in (
        (path, "manifest"),
        (gguf_dir, "--gguf-dir"),
        (os.environ.get(GGUF_DIR_ENV), GGUF_DIR_ENV),
    ):
        if value is not None and "\0" in str(value):
            raise NulInPath(value, what)
    manifest_path = Path(path)
    chain = read_chain(manifest_path)
    merged = merge_chain(chain)
    try:
        document = ManifestDocument.model_validate(merged)
    except ValidationError as exc:
        raise manifest_error(exc, chain) from None
    cross_check(document, chain)
    return resolve(document, chain, gguf_dir)
