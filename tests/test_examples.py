"""The runner examples in docs/examples/ are valid for the tools that run them, and the README
quotes them as they are: the GitHub Actions workflow against check-jsonschema's vendored
GitHub workflow schema, the Kubernetes Jobs against kubernetes-validate's (strict: an unknown
field fails). Each check is also shown to fail on a broken copy, so a pass means something."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "docs" / "examples"
WORKFLOW = EXAMPLES / "publish-matrix.yml"
JOBS = EXAMPLES / "publish-indexed-job.yaml"
BIN = Path(sys.executable).parent


def _tool(name: str) -> Path:
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed: pip install -e '.[test]'")
    return path


def check_workflow(path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(_tool("check-jsonschema")), "--builtin-schema", "vendor.github-workflows"]
    return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120)


def check_jobs(path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(_tool("kubernetes-validate")), "--strict", "--kubernetes-version", "1.31"]
    return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=120)


def test_the_workflow_is_a_valid_github_actions_workflow() -> None:
    result = check_workflow(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_shards_the_manifest_and_seals_after_every_shard() -> None:
    import yaml

    workflow = yaml.safe_load(WORKFLOW.read_text())
    publish, seal = workflow["jobs"]["publish"], workflow["jobs"]["seal"]
    shards = publish["strategy"]["matrix"]["shard"]
    assert shards == list(range(len(shards)))  # 0-based, every index once
    run = " ".join(step.get("run", "") for step in publish["steps"])
    assert f"--shard ${{{{ matrix.shard }}}}/{len(shards)}" in run and "--present" in run
    assert seal["needs"] == "publish" and "!cancelled()" in seal["if"]
    assert any("publish seal" in step.get("run", "") for step in seal["steps"])


def test_a_broken_workflow_fails_the_check(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-latest", "run-on: ubuntu"))
    assert check_workflow(broken).returncode != 0


def test_the_kubernetes_jobs_are_valid() -> None:
    result = check_jobs(JOBS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == 2, result.stdout


def test_the_indexed_job_passes_its_index_as_the_shard() -> None:
    import yaml

    job, seal = list(yaml.safe_load_all(JOBS.read_text()))
    assert job["spec"]["completionMode"] == "Indexed"
    args = " ".join(job["spec"]["template"]["spec"]["containers"][0]["args"])
    assert f'--shard "$JOB_COMPLETION_INDEX/{job["spec"]["completions"]}"' in args
    assert seal["spec"]["template"]["spec"]["containers"][0]["command"][:2] == ["publish", "seal"]


def _volume_of(pod: dict, container: dict, path: str) -> dict:
    """The volume `path` lies on in `container` (the longest mount path that holds it), which
    must not be mounted read-only."""
    mounts = {m["mountPath"].rstrip("/"): m for m in container["volumeMounts"]}
    where = max((p for p in mounts if path == p or path.startswith(p + "/")), key=len)
    assert not mounts[where].get("readOnly"), where
    return next(v for v in pod["volumes"] if v["name"] == mounts[where]["name"])


def test_every_job_runs_where_it_can_write() -> None:
    """A run writes beside its manifest (ledger, lock) and in its working directory (build/):
    a ConfigMap mount is read-only, so each Job's manifest and workingDir must be on a writable
    emptyDir, filled by an init container from the ConfigMap (f1 MUST-3)."""
    import yaml

    for job in yaml.safe_load_all(JOBS.read_text()):
        pod = job["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        line = " ".join([*container["command"], *container.get("args", [])]).split()
        manifest = next(word for word in line if word.endswith(".toml"))
        assert "emptyDir" in _volume_of(pod, container, manifest), manifest
        assert "emptyDir" in _volume_of(pod, container, container["workingDir"])
        (init,) = pod["initContainers"]
        folder = manifest.rsplit("/", 1)[0]
        assert "emptyDir" in _volume_of(pod, init, folder)  # the copy lands where the run reads
        assert f"{folder}/" in " ".join(init["command"])


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("completions: 4", "completions: four"),
        ("backoffLimitPerIndex: 2", "backoffLimitPerIndx: 2"),  # an unknown field (strict)
    ],
)
def test_a_broken_job_fails_the_check(tmp_path: Path, old: str, new: str) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(JOBS.read_text().replace(old, new))
    assert check_jobs(broken).returncode != 0


@pytest.mark.parametrize("path", [WORKFLOW, JOBS], ids=lambda p: p.name)
def test_the_readme_quotes_the_example_as_it_is(path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    body = path.read_text().split("\n---\n")[0]  # the Indexed Job; the seal Job is linked
    assert f"docs/examples/{path.name}" in readme
    assert body.strip() in readme, f"README's copy of {path.name} differs from the file"
