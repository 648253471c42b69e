"""Rules that span tables, checked once the document is valid table by table: unique tags,
`latest` among them, every target configured, licence fields, benchmark rows, recipe globs.
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING

from publisher.licenses import OTHER
from publisher.manifest.locate import located
from publisher.manifest.schema import SOURCE_WEIGHTS, ManifestDocument

if TYPE_CHECKING:
    from publisher.errors import ManifestError
    from publisher.manifest.loader import Source


def cross_check(document: ManifestDocument, chain: list[Source]) -> None:
    """Rules that span tables: unique tags, `latest` among them, every target configured."""

    def fail(message: str, loc: list[str]) -> ManifestError:
        return located(message, loc, chain)

    seen: dict[str, int] = {}
    for index, spec in enumerate(document.tags):
        key = spec.tag.lower()  # Ollama matches names case-insensitively
        if key in seen:
            raise fail(
                f"duplicate tag {spec.tag!r}: already declared as tags[{seen[key]}]",
                ["tags", str(index), "tag"],
            )
        seen[key] = index
        for target in spec.targets:
            if getattr(document, target) is None:
                raise fail(
                    f"tag {spec.tag!r} goes to {target} but the manifest has no [{target}] table",
                    ["tags", str(index), "targets"],
                )
    _check_license(document, chain)
    _check_hub_paths(document, chain)
    _check_measured_on(document, seen, chain)
    for key in document.recipes:
        if not any(fnmatch.fnmatchcase(t.tag.upper(), key.upper()) for t in document.tags):
            raise fail(f"{key!r} matches no declared tag", ["recipes", key])
    latest = document.ollama.latest if document.ollama else None
    if latest is None:
        return
    if latest.lower() not in seen:
        raise fail(
            f"expected one of the declared tags ({', '.join(t.tag for t in document.tags)}), "
            f"found {latest!r}",
            ["ollama", "latest"],
        )
    spec = document.tags[seen[latest.lower()]]
    if "ollama" not in spec.targets:
        raise fail(f"{spec.tag!r} is a tag that is not sent to ollama", ["ollama", "latest"])


def _check_measured_on(
    document: ManifestDocument, tags: dict[str, int], chain: list[Source]
) -> None:
    """A benchmark row's `measured_on` names a declared tag or the source weights, and a row
    for the Hub has its dataset, task and what was measured."""
    rows = document.benchmarks.rows if document.benchmarks else []
    for index, row in enumerate(rows):
        loc = ["benchmarks", "rows", str(index)]
        value = row.measured_on
        if value is not None and value != SOURCE_WEIGHTS and value.lower() not in tags:
            raise located(
                f"expected one of the declared tags or {SOURCE_WEIGHTS!r}, found {value!r}",
                [*loc, "measured_on"],
                chain,
            )
        if (row.hub_dataset is None) != (row.task_id is None):
            key = "task_id" if row.task_id is not None else "hub_dataset"
            raise located(
                "hub_dataset and task_id go together: the Hub reads a result by dataset and task",
                [*loc, key],
                chain,
            )
        if row.hub_dataset is not None and value is None:
            raise located(
                "a row with hub_dataset needs measured_on: a tag of this release (the file that "
                f'was scored) or "{SOURCE_WEIGHTS}" (the source weights)',
                [*loc, "hub_dataset"],
                chain,
            )


def _check_license(document: ManifestDocument, chain: list[Source]) -> None:
    """`license_name` and `license_link` go with `license = "other"` only, as the Hub wants."""
    hf = document.huggingface
    if hf is None:
        return
    license_id = document.model.license
    if license_id == OTHER and not hf.license_name:
        raise located(
            'license = "other" needs [huggingface] license_name (the Hub shows it, and the '
            "licence text must be in the repo, e.g. as a LICENSE in extra_files)",
            ["model", "license"],
            chain,
        )
    for key in ("license_name", "license_link"):
        if getattr(hf, key) is not None and license_id != OTHER:
            reason = (
                f"the Hub links its own text for {license_id!r}"
                if license_id
                else "[model] license is not set"
            )
            raise located(
                f'{key} is only for [model] license = "other" ({reason}): remove {key}',
                ["huggingface", key],
                chain,
            )


# Paths of the Hub repo the tool itself writes (issue 21, item 4): the card, the LFS rules, the
# side files `ollama run hf.co/…` reads, the benchmark results and the tool's own records.
RESERVED_HUB_PATHS = {
    "README.md": "the model card",
    ".gitattributes": "the repo's LFS rules",
    "template": "a side file Ollama reads",
    "params": "a side file Ollama reads",
    "system": "a side file Ollama reads",
    ".eval_results": "the folder of the Hub's benchmark results",
    ".publisher": "the folder of the tool's own records",
}
_SHARD = re.compile(r"(?P<stem>.+)-\d{5}-of-\d{5}\.gguf")


def _gguf_stem(name: str) -> str:
    """The name a GGUF's split shards start with (`x.gguf` -> `x`)."""
    return name[: -len(".gguf")] if name.endswith(".gguf") else name


def _check_hub_paths(document: ManifestDocument, chain: list[Source]) -> None:
    """Every path the Hub repo gets is unique and none is one the tool writes itself: a tag's
    GGUF (and its `.sha256` sidecar, and its shards') and each extra file."""
    if document.huggingface is None:
        return
    claimed: dict[str, str] = {}  # casefolded repo path -> the field that put it there
    ggufs: set[str] = set()

    def claim(path: str, loc: list[str], what: str) -> None:
        reserved = next((k for k in RESERVED_HUB_PATHS if k.casefold() == path.casefold()), None)
        if reserved is not None:
            raise located(
                f"{path!r} would be uploaded over {RESERVED_HUB_PATHS[reserved]} "
                f"({reserved}), which the tool writes itself: rename the file",
                loc,
                chain,
            )
        owner = claimed.get(path.casefold())
        if owner is not None:
            raise located(
                f"{path!r} is already a path of the Hub repo ({owner}): every uploaded file "
                "needs its own name",
                loc,
                chain,
            )
        claimed[path.casefold()] = what

    for index, spec in enumerate(document.tags):
        if "huggingface" not in spec.targets:
            continue
        name = spec.file or document.files.name.format(tag=spec.tag)
        loc = ["tags", str(index), "file"] if spec.file else ["files", "name"]
        claim(name, loc, f"tag {spec.tag}'s GGUF")
        claim(f"{name}.sha256", loc, f"tag {spec.tag}'s .sha256 sidecar")
        ggufs.add(_gguf_stem(name).casefold())
    for index, name in enumerate(document.huggingface.extra_files):
        loc = ["huggingface", "extra_files", str(index)]
        base = name[: -len(".sha256")] if name.endswith(".sha256") else name
        shard = _SHARD.fullmatch(base)
        if shard and shard.group("stem").casefold() in ggufs:
            what = "a .sha256 sidecar" if base != name else "a shard"
            raise located(
                f"{name!r} is {what} of a tag's GGUF, which the tool uploads itself: rename it",
                loc,
                chain,
            )
        claim(name, loc, f"huggingface.extra_files[{index}]")
