"""The Hub package's import rule: no publisher module imports huggingface_hub when it is loaded.

huggingface_hub reads HF_ENDPOINT at import and dies on a broken one, so it is imported only
through `publisher.urls.import_hub()` after the endpoint is checked; `publish --version` and
`publish validate` must work whatever HF_ENDPOINT holds (tests/test_hostile.py runs those)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import importlib, pkgutil, sys
import publisher
for module in pkgutil.walk_packages(publisher.__path__, "publisher."):
    importlib.import_module(module.name)
    if "huggingface_hub" in sys.modules:
        sys.exit(f"importing {module.name} imported huggingface_hub")
print("ok")
"""


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_no_publisher_module_imports_huggingface_hub_when_loaded():
    env = {**os.environ, "HF_ENDPOINT": "http://[::1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
