"""Which of the manifest's tags one run publishes: named (`--tag`), here (`--present`), or a
deterministic share of them (`--shard I/N`) for a CI matrix or a Kubernetes Indexed Job.

The shard rule is round-robin in manifest order: the tag at position k (0-based, as the
manifest lists `[[tags]]`) belongs to shard `k mod N`, and shard I (0-based, so a Kubernetes
`$JOB_COMPLETION_INDEX` is used as it is) takes the tags whose k mod N = I. N shards cover every
tag exactly once; a ladder listed by size spreads its large and small files over the shards;
a shard with no tag (N larger than the ladder) publishes nothing and is not an error. Adding a
tag in the middle of the manifest moves later tags to other shards — every tag still belongs to
exactly one, so a matrix over 0..N-1 still covers the release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from publisher.errors import UsageError
from publisher.gguf.checks import tag_files
from publisher.manifest import Release, Tag

_SHARD = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0 ≤ index < count)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`I/N` as the command line gives it; anything else is a usage error naming it."""
        match = _SHARD.fullmatch(text.strip())
        expected = "I/N with 0 ≤ I < N, e.g. 0/4 (I is 0-based: a Kubernetes $JOB_COMPLETION_INDEX)"
        if match is None:
            raise UsageError(f"--shard: expected {expected}, found {text!r}")
        index, count = int(match[1]), int(match[2])
        if count < 1 or index >= count:
            raise UsageError(f"--shard: expected {expected}, found {text!r}")
        return cls(index, count)

    def holds(self, position: int) -> bool:
        """Whether the tag at `position` (0-based, manifest order) is in this shard."""
        return position % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass
class Selection:
    """The tags this run publishes, and every other manifest tag with why it is left out."""

    tags: list[Tag]
    left_out: dict[str, str] = field(default_factory=dict)  # tag -> why not in this run
    shard: Shard | None = None
    present: bool = False

    @property
    def partial(self) -> bool:
        """True when some manifest tag is not in this run (the seal still covers all of them)."""
        return bool(self.left_out)

    def to_json(self) -> dict[str, Any]:
        return {
            "shard": str(self.shard) if self.shard else None,
            "present": self.present,
            "tags": [tag.tag for tag in self.tags],
            "left_out": dict(self.left_out),
        }


def select(
    release: Release,
    names: list[str] | tuple[str, ...] = (),
    *,
    shard: Shard | None = None,
    present: bool = False,
) -> Selection:
    """The tags of this run: `--tag` names (all when none), then the shard, then those here."""
    if names and shard is not None:
        raise UsageError(
            "--tag and --shard both choose the tags of a run: name tags, or split the manifest's "
            "tags with --shard I/N, not both"
        )
    chosen = release.select(list(names) or None)
    named = {tag.tag for tag in chosen}
    left_out = {tag.tag: "not named with --tag" for tag in release.tags if tag.tag not in named}
    if shard is not None:
        kept = []
        for position, tag in enumerate(release.tags):
            if shard.holds(position):
                kept.append(tag)
            else:
                left_out[tag.tag] = f"in shard {position % shard.count}/{shard.count}"
        chosen = kept
    if present:
        here = []
        for tag in chosen:
            absent = absent_files(tag)
            if absent:
                left_out[tag.tag] = absent
            else:
                here.append(tag)
        chosen = here
    return Selection(chosen, left_out, shard, present)


def absent_files(tag: Tag) -> str:
    """Why the tag's GGUF is not here ("" when every file of it is): the first missing file,
    or how many shards of a split set are missing."""
    files = tag_files(tag)
    missing = [path for path in files if not path.is_file()]
    if not missing:
        return ""
    if len(files) == 1:
        return f"GGUF not here ({files[0]})"
    return f"{len(missing)} of {len(files)} shards not here (first: {missing[0]})"
