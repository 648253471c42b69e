"""Reading a pushed Ollama image back from its registry and comparing it with the payload.

The daemon target pushes through `ollama push`, then asks the registry itself: success means the
registry holds the manifest, config and layers the manifest meant, not that the stream said so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from publisher.errors import PublisherError, TargetUnavailable
from publisher.targets.base import LocalFile, TagPayload

if TYPE_CHECKING:
    from publisher.manifest import Release


@dataclass
class RemoteCheck:
    """How one tag stands on the registry."""

    state: str  # up-to-date | missing | drifted
    detail: str = ""
    manifest_digest: str | None = None


class RemoteReader:
    """Reads pushed manifests back from the registry and compares them with the payload."""

    def __init__(self, base_url: str, repository: str, *, insecure: bool, release: Release):
        from publisher.ollama.auth import AnonymousThenKeyAuth
        from publisher.ollama.registry import RegistryClient

        self.base_url = base_url
        self.repository = repository
        self.release = release
        self.client = RegistryClient(
            base_url, repository, auth=AnonymousThenKeyAuth(), insecure=insecure, retries=2
        )

    def close(self) -> None:
        """Close the registry connection pool."""
        self.client.close()

    def reachable(self) -> str | None:
        """None when the registry answers (any HTTP reply), else why it cannot be read."""
        try:
            self.client.manifest_digest("latest")
        except TargetUnavailable as exc:
            return str(exc)
        except PublisherError:
            return None  # it answered, with something other than a manifest or a 404
        return None

    def check(self, payload: TagPayload, tag: str | None = None) -> RemoteCheck:
        """Compare the registry's manifest of `tag` (default: the payload's) with the payload."""
        from publisher.ollama.image import MEDIA_CONFIG, ImageInputs, build_image

        got = self.client.get_manifest(tag or payload.tag.tag)
        if got is None:
            return RemoteCheck("missing", "no manifest in the registry")
        manifest, digest = got
        first = payload.files[0]
        image = build_image(
            ImageInputs(
                gguf_path=first.path,
                gguf_sha256=first.sha256 or "",
                gguf_size=first.size,
                model_family=self.release.model.architecture,
                model_type=self.release.model.parameters or "",
                file_type=payload.tag.tag,
                template=payload.template,
                params=payload.parameters,
                license=payload.license,
                system=payload.system,
                renderer=payload.renderer,
                parser=payload.parser,
            )
        )
        problems = _layer_differences(manifest, image.layers, payload.files)
        config = manifest.get("config") or {}
        if config.get("mediaType") != MEDIA_CONFIG or not config.get("digest"):
            problems.append(f"config descriptor is {config!r}")
        else:
            problems += self._config_problems(str(config["digest"]), payload)
        if problems:
            return RemoteCheck("drifted", "; ".join(problems), digest)
        return RemoteCheck("up-to-date", f"manifest {digest}", digest)

    def _config_problems(self, digest: str, payload: TagPayload) -> list[str]:
        try:
            config = json.loads(self.client.get_blob(digest))
        except ValueError:
            return [f"config blob {digest} is not JSON"]
        problems = []
        for key in ("renderer", "parser"):  # Ollama reads both from the config blob only
            have, meant = config.get(key) or None, getattr(payload, key) or None
            if have != meant:
                problems.append(f"config {key} is {have!r}, declared {meant!r}")
        requires = self.release.ollama.requires if self.release.ollama else None
        if (config.get("requires") or None) != requires:
            problems.append(f"config requires is {config.get('requires')!r}, declared {requires!r}")
        if config.get("model_family") != self.release.model.architecture:
            problems.append(
                f"config model_family is {config.get('model_family')!r}, "
                f"expected {self.release.model.architecture!r}"
            )
        return problems

    def manifest_digest(self, tag: str) -> str | None:
        """The digest `tag` points to, or None."""
        got = self.client.get_manifest(tag)
        return got[1] if got else None


def _layer_differences(
    manifest: dict[str, Any], expected: Any, files: list[LocalFile]
) -> list[str]:
    """Layers by media type (digest, size), config excluded; the model layer = the GGUF(s)."""
    from publisher.ollama.image import MEDIA_MODEL, index_layers

    have = index_layers(manifest.get("layers"))
    want = index_layers([x.descriptor() for x in expected])
    want[MEDIA_MODEL] = sorted((f.digest or "", f.size) for f in files)
    problems = []
    for media in sorted(set(have) | set(want)):
        if have.get(media, []) != want.get(media, []):
            short = media.rsplit(".", 1)[-1]
            problems.append(
                f"{short} layer: registry has {_descs(have.get(media))}, "
                f"expected {_descs(want.get(media))}"
            )
    return problems


def _descs(entries: list[tuple[str, int]] | None) -> str:
    return ", ".join(f"{d[:19]}… ({s} B)" for d, s in entries) if entries else "none"
