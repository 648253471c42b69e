"""A whole release world for end-to-end tests: a tiny gemma4 manifest (`tiny t1`: Q4_K_M, Q6_K,
F16) with its GGUFs, a repository on the session's real docker-registry, and the strict Hub
double behind the Hub target.

A fixture module (`world`), registered in tests/conftest.py through `pytest_plugins`:

    from support.release_world import World, runner
    def test_x(world: World): code, data, output = world.run("--dry-run")
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from doubles.hf_double import FakeHub
from typer.testing import CliRunner

import publisher.pipeline.targets as targets
from publisher.cli import app
from publisher.huggingface.target import HuggingFaceTarget
from publisher.ollama.registry import RegistryClient
from support.gguf_factory import write_gemma4_gguf
from support.machines import manifest_head

TOKEN = "hf_release_test_token"
FTYPES = {"Q4_K_M": 15, "Q6_K": 18, "F16": 1}
runner = CliRunner()


@dataclass
class World:
    """One test's release: its manifest, files, registry repository and fake Hub."""

    manifest: Path
    gguf_dir: Path
    registry: str
    repository: str
    hub: FakeHub
    hf_repo: str

    def run(self, *args: str) -> tuple[int, dict[str, Any], str]:
        result = runner.invoke(app, ["release", str(self.manifest), "--json", *args])
        try:
            data = json.loads(result.stdout)
        except json.JSONDecodeError:
            data = {}
        return result.exit_code, data, result.output

    def manifest_digest(self, tag: str) -> str | None:
        with RegistryClient(self.registry, self.repository, insecure=True) as client:
            return client.manifest_digest(tag)

    def hub_files(self) -> dict[str, bytes]:
        return self.hub.files(self.hf_repo) if self.hf_repo in self.hub.repos else {}


def write_manifest(root: Path, registry: str, repository: str, hf_repo: str) -> Path:
    text = (
        manifest_head(registry, repository, hf_repo, variant="t1")
        + """
[[tags]]
tag = "Q4_K_M"
vram = "≈14 GB"

[[tags]]
tag = "Q6_K"
parameters = { temperature = 0.8 }

[[tags]]
tag = "F16"
targets = ["huggingface"]
"""
    )
    path = root / "tiny.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def world(tmp_path: Path, docker_registry: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    repository = f"test/tiny-{uuid.uuid4().hex[:8]}"
    hf_repo = "alice/tiny-GGUF"
    manifest = write_manifest(tmp_path, docker_registry, repository, hf_repo)
    gguf_dir = tmp_path / "gguf"
    gguf_dir.mkdir()
    for tag, ftype in FTYPES.items():
        write_gemma4_gguf(gguf_dir / f"tiny-{tag}.gguf", file_type=ftype)
    hub = FakeHub()
    hub.add_token(TOKEN, user="alice")

    def hf_target(release: Any, options: Any) -> HuggingFaceTarget:
        return HuggingFaceTarget(
            release,
            prune=options.prune,
            create_pr=options.create_pr,
            api_factory=hub.api,
            token_provider=lambda: TOKEN,
        )

    entry = replace(targets.TARGETS["huggingface"], factory=hf_target)
    monkeypatch.setitem(targets.TARGETS, "huggingface", entry)
    monkeypatch.chdir(tmp_path)  # build/ goes here
    yield World(manifest, gguf_dir, docker_registry, repository, hub, hf_repo)
