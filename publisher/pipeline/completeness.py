"""Is the release as a whole published? The remotes say, for the tags this run did not publish.

A run publishes its own selection; the release is complete when every manifest tag is on every
target it goes to, whichever machine put it there. The tags this run published are known; the
others are read from the remotes (each target's `status`, read-only, with no local GGUF needed:
a tag whose manifest or file the remote holds is published).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from publisher.manifest import Release, Tag
from publisher.targets import registry_of_targets
from publisher.targets.base import ReleasePayload, TagPayload, TagStatus

if TYPE_CHECKING:
    from publisher.pipeline.release import ReleaseOptions


def unpublished_tags(release: Release, options: ReleaseOptions, published: set[str]) -> list[str]:
    """The manifest tags (manifest order) not yet published on every target they go to."""
    rest = [tag for tag in release.tags if tag.tag not in published]
    if not rest:
        return []
    rows = remote_rows(release, options, rest)
    up = {(row.target, row.tag) for row in rows if row.state == "up-to-date"}
    return [tag.tag for tag in rest if not all((t, tag.tag) in up for t in tag.targets)]


def remote_rows(release: Release, options: ReleaseOptions, tags: list[Tag]) -> list[TagStatus]:
    """Each target's status of `tags`, read from the remote alone (no local file is used)."""
    factories = registry_of_targets()
    payload = ReleasePayload(release=release, tags=[absent_payload(release, t) for t in tags])
    names = {tag.tag for tag in tags}
    rows: list[TagStatus] = []
    for name in ("ollama", "huggingface"):
        if getattr(release, name) is None or not any(name in t.targets for t in tags):
            continue
        target = factories[name](release, options)
        rows.extend(row for row in target.status(payload) if row.tag in names)
    return rows


def absent_payload(release: Release, tag: Tag) -> TagPayload:
    """A tag as a machine without its GGUF knows it: the manifest's facts, no local file."""
    ollama = release.ollama
    return TagPayload(
        tag=tag,
        files=[],
        parameters=release.parameters_for(tag),
        modelfile="",
        template=None,
        renderer=ollama.renderer if ollama else None,
        parser=ollama.parser if ollama else None,
        license=ollama.license if ollama else None,
        system=ollama.system if ollama else None,
    )
