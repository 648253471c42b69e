"""The test session's isolation from the user's shell (issue 22 item 2): tests/conftest.py clears
what huggingface_hub reads before any plugin imports it, and reads `-m` itself for live runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants as hub_constants
import pytest
from support.session_env import markexpr_from, selects_live

ROOT = Path(__file__).resolve().parent.parent


def test_huggingface_hub_froze_the_defaults_not_the_shell() -> None:
    """huggingface_hub reads HF_* once, when first imported (by conftest's plugins): by then the
    session must have cleared them."""
    assert hub_constants.HF_HUB_OFFLINE is False
    assert hub_constants.ENDPOINT == "https://huggingface.co"
    assert "hostile" not in str(hub_constants.HF_HOME)


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_hostile_shell_does_not_reach_the_library() -> None:
    """The probe above, in a session started under HF_HUB_OFFLINE=1 and a dead HF_ENDPOINT."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": "http://127.0.0.1:9",
        "HF_HOME": "/nonexistent/hostile",
        "HF_TOKEN_PATH": "/nonexistent/hostile/token",
    }
    env.pop("PYTEST_ADDOPTS", None)
    probe = f"{Path(__file__).name}::test_huggingface_hub_froze_the_defaults_not_the_shell"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"tests/{probe}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


@pytest.mark.parametrize(
    ("argv", "addopts", "expected"),
    [
        ([], "", ""),
        (["-q", "tests/x.py"], "", ""),
        (["-m", "live"], "", "live"),
        (["-mlive"], "", "live"),
        (["-m=live and not slow"], "", "live and not slow"),
        ([], "-m 'live and slow'", "live and slow"),
        (["-m", "not live"], "-m live", "not live"),  # the command line comes last and wins
        (["-m", "live", "-m", "slow"], "", "slow"),
        (["-k", "live", "--markers"], "", ""),
        (["--", "-m", "live"], "", ""),
        (["-m"], "", ""),
    ],
)
def test_the_mark_expression_is_read_as_pytest_reads_it(
    argv: list[str], addopts: str, expected: str
) -> None:
    assert markexpr_from(argv, addopts) == expected


def test_only_an_expression_selecting_live_keeps_the_live_variables() -> None:
    assert selects_live(markexpr_from(["-m", "live"]))
    assert not selects_live(markexpr_from(["-m", "not live"]))
    assert not selects_live(markexpr_from([]))
