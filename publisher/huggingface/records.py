"""The facts record of one tag, committed in the same commit as the tag's GGUF(s) and sidecars.

`.publisher/tags/<TAG>.json`: `{schema, tag, files: [{path, size, sha256}], quant, experts,
architecture, tool_version}` — what verify measured on the machine that had the files, so the
seal on any machine can print it. No secret, no local path: file names only. The seal believes
a record only when the Hub's own LFS sha256 and size of each named file agree (huggingface/seal.py).
"""

from __future__ import annotations

import json

from publisher import __version__
from publisher.manifest import Release
from publisher.targets.base import TagPayload

RECORDS_DIR = ".publisher/tags"
RECORD_SCHEMA = 1


def record_path(tag: str) -> str:
    """Where the facts record of one tag lives in the repo."""
    return f"{RECORDS_DIR}/{tag}.json"


def facts_record(release: Release, tp: TagPayload) -> bytes | None:
    """The facts of one tag's files. None when a file was not hashed (nothing to vouch for)."""
    if not tp.files or any(f.sha256 is None for f in tp.files):
        return None
    data = {
        "schema": RECORD_SCHEMA,
        "tag": tp.tag.tag,
        "files": [{"path": f.path.name, "size": f.size, "sha256": f.sha256} for f in tp.files],
        "quant": tp.quant,
        "experts": tp.experts,
        "architecture": release.model.architecture,
        "tool_version": __version__,
    }
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")
