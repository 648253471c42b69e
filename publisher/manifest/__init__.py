"""The release manifest: a TOML file (optionally `extends` a base) validated into a typed `Release`.

Everything downstream (verify, render, targets) receives these objects and never parses TOML itself.
Errors name the file, the TOML line, the dotted field, what was expected and what was found.

The package re-exports what other modules use; each submodule holds one concern: `names` (name
rules), `schema` (one model per table), `loader` (TOML, `extends`, `load`), `locate` (TOML lines
of errors), `cross_checks` (rules spanning tables), `resolve` and `resolved` (the `Release`).
"""

from publisher.manifest.loader import load, read_merged
from publisher.manifest.names import (
    check_bare_file_name,
    check_hf_repo_id,
    check_ollama_model_name,
    check_ollama_tag,
    is_ollama_tag,
)
from publisher.manifest.resolve import GGUF_DIR_ENV, TEMPLATES_DIR
from publisher.manifest.resolved import OllamaConfig, Release, Tag
from publisher.manifest.schema import (
    BENCHMARK_LIMIT,
    SOURCE_WEIGHTS,
    TARGET_NAMES,
    BenchmarkRow,
    ManifestDocument,
    ParameterValue,
    TargetName,
)

__all__ = [
    "BENCHMARK_LIMIT",
    "GGUF_DIR_ENV",
    "SOURCE_WEIGHTS",
    "TARGET_NAMES",
    "TEMPLATES_DIR",
    "BenchmarkRow",
    "ManifestDocument",
    "OllamaConfig",
    "ParameterValue",
    "Release",
    "Tag",
    "TargetName",
    "check_bare_file_name",
    "check_hf_repo_id",
    "check_ollama_model_name",
    "check_ollama_tag",
    "is_ollama_tag",
    "load",
    "read_merged",
]
