"""Is the release as a whole published? The remotes say, for the tags this run did not publish.

A run publishes its own selection; the release is complete when every manifest tag is on every
target it goes to, whichever machine put it there. The tags this run published are known; the
others are read from the remotes through each target's `remote_tags` (read-only, no local GGUF
needed), for every target the manifest declares — `--only` narrows what a run publishes, not
what "complete" means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from publisher.manifest import Release
from publisher.pipeline.targets import TARGETS

if TYPE_CHECKING:
    from publisher.targets.base import TargetOptions


def unpublished_tags(release: Release, options: TargetOptions, published: set[str]) -> list[str]:
    """The manifest tags (manifest order) not yet published on every target they go to."""
    rest = [tag for tag in release.tags if tag.tag not in published]
    if not rest:
        return []
    held: set[tuple[str, str]] = set()  # (target, tag) the remote holds
    for name, entry in TARGETS.items():
        if getattr(release, entry.table) is None or not any(name in t.targets for t in rest):
            continue
        target = entry.factory(release, options)
        held |= {(name, row.tag) for row in target.remote_tags() if row.published}
    return [tag.tag for tag in rest if not all((t, tag.tag) in held for t in tag.targets)]
