"""The table of destinations, each a module implementing `publisher.targets.base.Target`.

`TARGETS` is the one table of them: the name a manifest tag's `targets` list uses, the manifest
table that configures it, and a lazy factory. The pipeline, `status` and `seal` read it; the
manifest (the lowest room, which may import no feature) keeps the names alone,
`publisher.manifest.schema.TARGET_NAMES`, and this table is checked against them at import. A new
destination is its own module, one row here and its name there. It is a feature (it names every
destination), so it lives here and not in `publisher/targets/`, the interface every destination
imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from publisher.manifest import TARGET_NAMES

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
if tuple(TARGETS) != TARGET_NAMES:  # one list of names: the schema's and this table's
    raise ImportError(f"TARGETS {tuple(TARGETS)} != manifest TARGET_NAMES {TARGET_NAMES}")
