"""Paths in a manifest stay inside the release: its git work tree, or its folder when it is in
none (issue 21, item 3).

A licence path pointing at `~/.ollama/id_ed25519` put a private key in every Modelfile, page and
card; `template = "../../../../etc/passwd"` became a Hub side file. So every key the schema marks
as naming a file (`schema.path_keys`) is anchored to the file that declared it, then resolved
through its symlinks, and refused (exit 2, naming the key and its TOML line) when it is absolute
or lands outside that file's tree. Built-ins of the package (a template or licence name) are
bare names and never looked up as paths here; `gguf_dir` and the GGUFs are exempt (they are
checked as GGUFs); extra files beside the GGUFs are checked where gguf_dir is known (`resolve`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from publisher.errors import ManifestError
from publisher.field_errors import dotted
from publisher.files import SymlinkLoop, exists, real_path
from publisher.manifest.locate import located
from publisher.manifest.schema import EXTENDS_KEY, PathKey, path_keys

if TYPE_CHECKING:
    from publisher.manifest.loader import Source

_PATH_LIMIT = 4096  # longer, or with a newline, a licence value is its text, never a path


def tree_of(manifest: Path) -> Path:
    """The folder a manifest's paths must stay in: the nearest folder above it holding `.git`
    (a work tree; `.git` is a file in a linked worktree or submodule), else its own folder.
    `manifest` is already resolved, so the tree is a real path too."""
    folder = manifest.parent
    for candidate in (folder, *folder.parents):
        if os.path.lexists(candidate / ".git"):
            return candidate
    return folder


def _inside(path: Path, tree: Path) -> bool:
    return path == tree or path.is_relative_to(tree)


def could_be_path(value: str) -> bool:
    """False for a value that can only be a licence's text (several lines, or very long)."""
    return "\n" not in value and "\r" not in value and len(value) < _PATH_LIMIT


def confined(source: Source, loc: list[str], value: str, marker: PathKey) -> str:
    """`value` anchored to `source`'s folder and checked to resolve inside its tree; returned
    unchanged when it may name a built-in (or be a text) and no such file is there."""
    if not could_be_path(value):
        if marker.builtin:
            return value
        raise located(f"expected a path, found a value of {len(value)} characters", loc, [source])
    tree = tree_of(source.path)
    if Path(value).is_absolute():
        raise located(
            f"expected a path relative to the manifest, inside {tree}; found the absolute path "
            f"{value!r} (a manifest names only files of its own release)",
            loc,
            [source],
        )
    candidate = source.path.parent / value
    if marker.builtin and not (exists(candidate) or os.path.lexists(candidate)):
        return value  # a built-in name, or the licence's text
    try:
        real = real_path(candidate, dotted(loc))
    except SymlinkLoop as exc:
        raise located(str(exc), loc, [source]) from None
    if not _inside(real, tree):
        raise located(
            f"{value!r} resolves to {real}, outside this manifest's tree {tree}: a manifest names "
            "only files of its own release (its git work tree, or its folder when it is in none)",
            loc,
            [source],
        )
    return str(candidate)


def _slots(
    node: Any, parts: list[str], loc: list[str]
) -> Iterator[tuple[dict[str, Any], list[str]]]:
    """Every table at the dotted `parts` of the raw TOML (`*`: each entry of a table; an array
    of tables: each element), with its location."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _slots(item, parts, [*loc, str(index)])
        return
    if not isinstance(node, dict):
        return
    if not parts:
        yield node, loc
        return
    head, rest = parts[0], parts[1:]
    items = node.items() if head == "*" else [(head, node.get(head))]
    for name, child in items:
        yield from _slots(child, rest, [*loc, str(name)])


def anchor_paths(source: Source) -> None:
    """Make every file key of `source` relative to the file that declared it, confined to its
    tree (gguf_dir: anchored, exempt), before the chain is merged."""
    for table, key, marker in path_keys():
        if table == "" and key == "extends":
            continue  # read (and confined) by the loader as it walks the chain
        if marker.kind not in ("tree", "gguf_dir"):
            continue
        parts = table.split(".") if table else []
        for slot, loc in _slots(source.data, parts, []):
            value = slot.get(key)
            if not isinstance(value, str):
                continue
            if marker.kind == "gguf_dir":
                slot[key] = str(source.path.parent / value)
            else:
                slot[key] = confined(source, [*loc, key], value, marker)


def extends_target(source: Source, value: str) -> Path:
    """The resolved base manifest `source` extends, confined to `source`'s tree."""
    anchored = confined(source, ["extends"], value, EXTENDS_KEY)
    try:
        return real_path(anchored, "extends")
    except SymlinkLoop as exc:  # confined() resolved it already; a loop made meanwhile
        raise ManifestError(str(exc), file=str(source.path), field="extends") from None
