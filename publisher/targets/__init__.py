"""Destinations: one module per target, each implementing `publisher.targets.base.Target`.

`TARGETS` is the one table of them: the name a manifest tag's `targets` list uses (the schema's
`TargetName` is built from it), the manifest table that configures it, and a lazy factory. The
pipeline, `status` and `seal` all read it; a new destination is its own module plus one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from publisher.manifest import Release
    from publisher.targets.base import Target, TargetOptions


def _ollama(release: Release, options: TargetOptions) -> Target:
    """Direct registry push when a registry is named, else the local daemon."""
    if options.ollama_registry or (release.ollama and release.ollama.registry):
        from publisher.ollama.push import OllamaRegistryTarget

        return OllamaRegistryTarget.from_options(release, options)
    from publisher.urls import import_ollama

    import_ollama()  # checks OLLAMA_HOST before the ollama package parses it at import
    from publisher.ollama.daemon import OllamaTarget

    return OllamaTarget.from_options(release, options)


def _huggingface(release: Release, options: TargetOptions) -> Target:
    from publisher.huggingface.target import HuggingFaceTarget

    return HuggingFaceTarget.from_options(release, options)


@dataclass(frozen=True)
class TargetEntry:
    """One destination: its name, the manifest table that configures it, how to build it."""

    name: str
    table: str  # `[ollama]`, `[huggingface]`: the attribute of `Release` holding that table
    factory: Callable[[Release, TargetOptions], Target]  # imports the target's module lazily


TARGETS: dict[str, TargetEntry] = {
    "ollama": TargetEntry("ollama", "ollama", _ollama),
    "huggingface": TargetEntry("huggingface", "huggingface", _huggingface),
}
TARGET_NAMES: tuple[str, ...] = tuple(TARGETS)  # the manifest schema's `TargetName` values
