"""`publish init`: from a folder of GGUFs to a commented manifest that validates."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from publisher import console
from publisher.errors import ManifestError, UsageError
from publisher.files import real_path

if TYPE_CHECKING:
    from publisher.manifest import Release
    from publisher.scaffold.proposal import Proposal
    from publisher.scaffold.writer import InitRequest


def init(
    folder: Annotated[Path, typer.Argument(help="Folder of the GGUF files.", metavar="DIR")],
    ollama_model: Annotated[
        str, typer.Option("--ollama-model", help="Ollama model, NAMESPACE/NAME.")
    ],
    hf_repo: Annotated[str, typer.Option("--hf-repo", help="Hugging Face repo, OWNER/NAME.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Manifest to write (default ./<variant>.toml).")
    ] = None,
    extends: Annotated[
        Path | None, typer.Option("--extends", help="A base manifest this one extends.")
    ] = None,
    variant: Annotated[
        str | None, typer.Option("--variant", help="Variant name (default: the Ollama NAME).")
    ] = None,
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="HF id of the model they derive from.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Read every GGUF header in DIR and write a manifest proposing one tag per file (set)."""
    from publisher.scaffold.proposal import propose_release
    from publisher.scaffold.writer import render_manifest

    request = _request(folder, ollama_model, hf_repo, out, extends, variant, base_model)
    if request.out.exists() and not force:
        raise UsageError(f"{request.out} exists: pass --force to overwrite it")
    proposals, facts, latest = propose_release(request.folder)
    if not proposals:
        raise UsageError(f"{request.folder}: no .gguf files in this folder")
    text = render_manifest(request, proposals, facts, latest)
    _write(request.out, text, force=force)
    release, problem = _validated(request.out)
    if release is not None:  # what the file says (a split set, for one, cannot be `latest`)
        latest = release.ollama.latest if release.ollama else None
    result = _summary(request, proposals, latest, problem)
    if json_output:
        console.print_json(result)
    else:
        _print_summary(result)


def _request(
    folder: Path,
    ollama_model: str,
    hf_repo: str,
    out: Path | None,
    extends: Path | None,
    variant: str | None,
    base_model: str | None,
) -> InitRequest:
    """Check the command line and make the request: bad input is one line, exit 2."""
    from publisher.manifest import check_hf_repo_id, check_ollama_model_name, read_merged
    from publisher.scaffold.writer import InitRequest

    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder (expected the folder of the GGUF files)")
    for check, flag, value in (
        (check_ollama_model_name, "--ollama-model", ollama_model),
        (check_hf_repo_id, "--hf-repo", hf_repo),
    ):
        try:
            check(value)
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from None
    if "/" not in ollama_model:
        raise UsageError(f"--ollama-model: expected NAMESPACE/NAME, found {ollama_model!r}")
    if out is not None:
        real_path(out.parent, "--out's folder")  # a symlink loop: one line, not a traceback
    name = ollama_model.split("/")[-1].split(":")[0]
    chosen = variant or name
    base = read_merged(extends) if extends is not None else {}
    return InitRequest(
        folder=folder,
        out=out or Path(f"{chosen}.toml"),
        ollama_model=ollama_model,
        hf_repo=hf_repo,
        variant=chosen,
        family=name,
        base_model=base_model,
        extends=extends,
        base=base,
        command=shlex.join(["publish", "init", *sys.argv[2:]]),
    )


def _write(path: Path, text: str, *, force: bool) -> None:
    """Create the file (`x`: never clobber a file that appeared meanwhile) or replace it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not force:
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(text)
        except FileExistsError:
            raise UsageError(f"{path} exists: pass --force to overwrite it") from None
        return
    from publisher.render.outputs import write_output

    write_output(path, text)  # atomic, never through a link or into a FIFO at --out


def _validated(path: Path) -> tuple[Release | None, str | None]:
    """The written file as `publish validate` loads it, or what it would say about it."""
    from publisher.manifest import load

    try:
        return load(path), None
    except (ManifestError, UsageError) as exc:
        return None, str(exc)


def _summary(
    request: InitRequest, proposals: list[Proposal], latest: str | None, problem: str | None
) -> dict[str, Any]:
    return {
        "manifest": str(request.out),
        "valid": problem is None,
        "problem": problem,
        "latest": latest,
        "tags": [
            {
                "tag": p.tag,
                "file": p.fileset.name,
                "files": [str(f) for f in p.fileset.files],
                "size": p.fileset.size,
                "ftype": p.ftype,
                "proposed": p.decided,
                "reason": p.reason or None,
                "notes": p.notes,
            }
            for p in proposals
        ],
    }


def _print_summary(result: dict[str, Any]) -> None:
    tags = result["tags"]
    proposed = [t["tag"] for t in tags if t["proposed"]]
    held = [t for t in tags if not t["proposed"]]
    console.out.print(
        f"wrote {result['manifest']}: {len(proposed)} tag(s) proposed"
        + (f", latest = {result['latest']}" if result["latest"] else ", no Q4_K_M-class latest")
    )
    if proposed:
        console.out.print("  " + " ".join(proposed), soft_wrap=True)
    for item in held:
        console.out.print(f"  commented out: {item['file']}: {item['reason']}", soft_wrap=True)
    if result["valid"]:
        console.out.print(f"next: publish verify {result['manifest']}")
    else:
        console.warn(f"the manifest needs editing before it validates: {result['problem']}")
