"""Destinations: one module per target, each implementing `publisher.targets.base.Target`.

`registry_of_targets` maps a manifest table to the factory of its target; a new destination is
its own module plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from publisher.manifest import Release
    from publisher.targets.base import Target


def _ollama(release: Release, options: Any) -> Target:
    """Direct registry push when a registry is named, else the local daemon."""
    if options.ollama_registry or (release.ollama and release.ollama.registry):
        from publisher.ollama.push import OllamaRegistryTarget

        return OllamaRegistryTarget.from_options(release, options)
    from publisher.urls import import_ollama

    import_ollama()  # checks OLLAMA_HOST before the ollama package parses it at import
    from publisher.ollama.daemon import OllamaTarget

    return OllamaTarget.from_options(release, options)


def _huggingface(release: Release, options: Any) -> Target:
    from publisher.huggingface.target import HuggingFaceTarget

    return HuggingFaceTarget(
        release,
        prune=options.prune,
        create_pr=options.create_pr,
        check_hf_co=not getattr(options, "skip_remote_verify", False),
    )


def registry_of_targets() -> dict[str, Callable[[Release, Any], Target]]:
    """Target factories by name, imported lazily so `validate` never loads HTTP clients."""
    return {"ollama": _ollama, "huggingface": _huggingface}
