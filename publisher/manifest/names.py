"""Name rules shared by the manifest and the modules that name things on Ollama and the Hub.

They live apart from the schema because `publish init`, the daemon target and the Hub tags apply
the same rules to names that never pass through a manifest.
"""

from __future__ import annotations

import re

# Ollama's name rules (types/model/name.go): parts start with a letter, digit or "_". Every rule
# is applied with fullmatch: `$` would also match before a trailing newline ("v3\n").
# The patterns are public for the registry's full-name parser (publisher.ollama.registry).
OLLAMA_NAMESPACE_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}"
OLLAMA_MODEL_OR_TAG_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"
_NAMESPACE_RE = re.compile(OLLAMA_NAMESPACE_PATTERN)
_MODEL_OR_TAG_RE = re.compile(OLLAMA_MODEL_OR_TAG_PATTERN)
_HF_PART_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}")
_HOST_RE = re.compile(r"[A-Za-z0-9.-]+(:[0-9]+)?")


def check_ollama_model_name(name: str) -> None:
    """Raise ValueError unless `name` is `[host/][namespace/]model` per Ollama's rules (no tag)."""
    if ":" in name.split("/")[-1]:
        raise ValueError(f"the model name must not carry a tag, found {name!r}")
    parts = name.split("/")
    if len(parts) > 3 or not all(parts):
        raise ValueError(f"expected [host/][namespace/]model, found {name!r}")
    if len(parts) == 3 and not _HOST_RE.fullmatch(parts[0]):
        raise ValueError(f"not a valid registry host: {parts[0]!r}")
    if len(parts) >= 2 and not _NAMESPACE_RE.fullmatch(parts[-2]):
        raise ValueError(
            f"not a valid Ollama namespace: {parts[-2]!r} (letters, digits, '_', '-'; at most 80)"
        )
    if not is_ollama_tag(parts[-1]):
        raise ValueError(
            f"not a valid Ollama model name: {parts[-1]!r} (letters, digits, '_', '.', '-'; "
            "starting with a letter, digit or '_'; at most 80)"
        )
    # Registries store repositories in lower case (OCI distribution names; `ollama push` says
    # "namespace must be lowercase"); an upper-case name is created locally, then 404s on push.
    named = {"namespace": parts[-2]} if len(parts) >= 2 else {}
    for kind, part in {**named, "model name": parts[-1]}.items():
        if part != part.lower():
            raise ValueError(
                f"the Ollama {kind} must be lower case, found {part!r}: registries refuse "
                f"upper-case repository names (use {part.lower()!r})"
            )


def is_ollama_tag(name: str) -> bool:
    """True when `name` parses as the tag part of an Ollama model name (types/model/name.go)."""
    return bool(_MODEL_OR_TAG_RE.fullmatch(name))


def check_ollama_tag(name: str) -> None:
    """Raise ValueError unless `name` is the tag part of an Ollama model name."""
    if not is_ollama_tag(name):
        raise ValueError(
            f"not a valid Ollama tag: {name!r} (letters, digits, '_', '.', '-'; "
            "starting with a letter, digit or '_'; at most 80)"
        )


def check_bare_file_name(name: str) -> None:
    """Raise ValueError unless `name` is a file name inside gguf_dir (no path, no `..`)."""
    if "/" in name or "\\" in name or name in ("", ".", ".."):
        raise ValueError(f"expected a file name inside gguf_dir, found {name!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ValueError(f"a file name cannot hold control characters (a newline?), found {name!r}")


def check_hf_repo_id(repo_id: str) -> None:
    """Raise ValueError unless `repo_id` is `owner/name` as the Hub accepts it."""
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(_HF_PART_RE.fullmatch(p) for p in parts):
        raise ValueError(f"expected a Hugging Face repo id 'owner/name', found {repo_id!r}")
    if any(".." in p or "--" in p or p.endswith(".") for p in parts):
        raise ValueError(f"'..', '--' and a trailing '.' are not allowed in repo ids: {repo_id!r}")
