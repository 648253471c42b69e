"""Start-up stays light (issue 23): `publish --version`, `--help` and every command's `--help` load
none of the heavy libraries, and `publish validate` loads pydantic but not gguf-py/numpy, httpx or
the Hub, Ollama and Jinja clients. Each run is a fresh interpreter, so `sys.modules` is the truth.
(`test_cli.py` checks that `--help` still lists every command with its options and example.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# `gguf` is gguf-py's package (its __init__ imports numpy); `gguf.constants` alone is allowed.
HEAVY = ("numpy", "gguf", "httpx", "huggingface_hub", "ollama", "pydantic", "jinja2")

# Runs the CLI in-process for each argument list, then reports what got imported.
PROBE = """
import json, sys
import typer.main
from publisher.cli import app

runs = json.loads(sys.argv[1])
if runs == "every --help":
    group = typer.main.get_command(app)
    names = list(group.commands)  # the names only: builds nothing
    runs = [["--version"], ["--help"]] + [[name, "--help"] for name in names]
codes = []
for argv in runs:
    try:
        app(argv, prog_name="publish")
    except SystemExit as exc:
        codes.append(exc.code)
tops = {name.split(".")[0] for name in sys.modules} - {"gguf"}  # gguf.constants alone is fine
loaded = sorted((tops & set(%r)) | ({"gguf"} & set(sys.modules)))
quant = "publisher.gguf.quant_layout" in sys.modules  # llama.cpp's tables (~30 ms)
print(json.dumps({"codes": codes, "loaded": loaded, "runs": runs, "quant_layout": quant}))
"""


def _probe(runs: object) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), json.dumps(runs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_version_and_the_apps_help_import_no_heavy_module() -> None:
    result = _probe([["--version"], ["--help"]])
    assert result["codes"] == [0, 0]
    assert result["loaded"] == [], f"loaded at start-up: {result['loaded']}"


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_every_commands_help_imports_nothing_heavy_but_typers_own_pydantic() -> None:
    """typer (0.29.2) coerces the app's own `--help` flag, unset (`None`) when only the command's
    `--help` is given, through a pydantic TypeAdapter (typer/core.py `process_value` →
    typer/_coercion.py `build_runtime_param` → typer/_adapters.py line 10): that import is
    typer's, not ours, and no typer option avoids it (bench/README.md)."""
    result = _probe("every --help")
    runs = result["runs"]
    assert isinstance(runs, list) and ["validate", "--help"] in runs and len(runs) >= 10
    assert result["codes"] == [0] * len(runs)
    assert result["loaded"] in ([], ["pydantic"]), f"loaded by --help: {result['loaded']}"


@pytest.mark.parametrize("heavy", HEAVY)
@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_the_probe_sees_a_heavy_import(heavy: str) -> None:
    """The probe is not blind: a module that imports `heavy` at start-up is reported."""
    source = PROBE % (HEAVY,)
    planted = source.replace(
        "from publisher.cli import app", f"import {heavy}\nfrom publisher.cli import app"
    )
    done = subprocess.run(
        [sys.executable, "-c", planted, json.dumps([["--version"]])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert heavy in json.loads(done.stdout.strip().splitlines()[-1])["loaded"]


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_validate_loads_pydantic_but_not_gguf_numpy_or_network_clients() -> None:
    result = _probe([["validate", "manifests/v3.toml"]])
    assert result["codes"] == [0]
    assert result["loaded"] == ["pydantic"], f"validate loaded {result['loaded']}"


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_validate_of_a_manifest_without_recipes_reads_no_quant_tables() -> None:
    """The manifest imports `gguf.quant_layout` (llama.cpp's tables and ggml's constants, ~30 ms
    of a ~0.3 s start) only to check and resolve a declared `[recipes]` entry: v3 declares none."""
    assert "[recipes" not in (ROOT / "manifests/v3.toml").read_text(encoding="utf-8")
    result = _probe([["validate", "manifests/v3.toml"]])
    assert result["codes"] == [0]
    assert result["quant_layout"] is False
