"""The ledger and run log never state what did not happen: faults against the real docker-registry.

Each test runs the real `publish` process against Debian's docker-registry behind a fault proxy
(tests/doubles/fault_proxy.py) that holds or fails the named request; the test kills (SIGKILL) or
interrupts (SIGINT) the process at that moment, runs again, and checks that the ledger and the run
log match what the registry holds. Concurrent runs, bad ledgers and a lock path that is a folder
end the same way: one line, the right exit code, a run log that says the run failed.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from doubles.fault_proxy import FaultProxy, Rule
from support.release_fixtures import fam_gguf, fam_manifest
from typer.testing import CliRunner

from publisher.cli import app
from publisher.ollama.registry import RegistryClient

COMMAND = [sys.executable, "-c", "from publisher.cli import app; app()"]
FTYPES = {"Q4_K_M": 15, "Q6_K": 18}
runner = CliRunner()


@dataclass
class Site:
    """One Ollama-only release published through the fault proxy to the real registry."""

    root: Path
    manifest: Path
    proxy: FaultProxy
    registry: str
    repository: str

    @property
    def ledger(self) -> Path:
        return self.root / "v1.lock.json"

    def args(self, *extra: str) -> list[str]:
        return ["release", str(self.manifest), "--yes", "--json", "--quiet", *extra]

    def start(self, *extra: str) -> subprocess.Popen[str]:
        """`publish release` as its own process (so it can be killed), in the site's folder."""
        return subprocess.Popen(
            [*COMMAND, *self.args(*extra)],
            cwd=self.root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *extra: str) -> tuple[int, dict[str, Any], str]:
        done = subprocess.run(
            [*COMMAND, *self.args(*extra)],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
            timeout=240,
        )
        try:
            data = json.loads(done.stdout)
        except json.JSONDecodeError:
            data = {}
        return done.returncode, data, done.stderr

    def status(self) -> tuple[int, dict[tuple[str, str], str]]:
        done = subprocess.run(
            [*COMMAND, "status", str(self.manifest), "--json"],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
            timeout=240,
        )
        rows = json.loads(done.stdout)["targets"] if done.stdout.strip() else []
        return done.returncode, {(r["target"], r["tag"]): r["state"] for r in rows}

    def digest(self, tag: str) -> str | None:
        """The tag's manifest digest, asked of the registry itself (not through the proxy)."""
        with RegistryClient(self.registry, self.repository, insecure=True) as client:
            return client.manifest_digest(tag)

    def ledger_pushes(self) -> dict[str, str]:
        steps = json.loads(self.ledger.read_text())["targets"].get("ollama", {})
        return {
            key.removeprefix("push:"): entry["manifest_digest"]
            for key, entry in steps.items()
            if key.startswith("push:")
        }

    def run_logs(self) -> list[dict[str, Any]]:
        folder = self.root / "build" / "v1" / "runs"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*-release.json"))]


def write_site(root: Path, registry: str, repository: str) -> Path:
    """The shared tiny `fam v1` release, Ollama only, pushed straight to `registry`."""
    manifest = root / "v1.toml"
    ollama = (
        f'[ollama]\nmodel = "{repository}"\nlatest = "Q4_K_M"\n'
        f'template = "gemma4-tools.gotmpl"\nparser = "gemma4"\nregistry = "{registry}"\n'
    )
    tags = "".join(f'\n[[tags]]\ntag = "{tag}"\ntargets = ["ollama"]\n' for tag in FTYPES)
    root.mkdir(parents=True, exist_ok=True)
    manifest.write_text(fam_manifest(ollama + tags), encoding="utf-8")
    for tag, ftype in FTYPES.items():
        fam_gguf(root / "gguf", tag, file_type=ftype)
    return manifest


@pytest.fixture
def site(tmp_path: Path, docker_registry: str) -> Iterator[Site]:
    repository = f"fault/tiny-{uuid.uuid4().hex[:8]}"
    with FaultProxy(docker_registry) as proxy:
        manifest = write_site(tmp_path / "a", proxy.url, repository)
        yield Site(tmp_path / "a", manifest, proxy, docker_registry, repository)


def wait_held(rule: Rule, proc: subprocess.Popen[str]) -> None:
    """Wait until the proxy holds the rule's request (fail clearly if the run ends first)."""
    for _ in range(2400):
        if rule.held.wait(timeout=0.1):
            return
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended ({proc.returncode}) before the held request: {err}")
    pytest.fail("the held request never came")


def ledger_matches_registry(site: Site) -> None:
    """Every push the ledger records is what the registry holds now."""
    pushes = site.ledger_pushes()
    assert pushes, "nothing recorded"
    for tag, digest in pushes.items():
        assert site.digest(tag) == digest, f"ledger push:{tag} is stale"


@pytest.mark.slow
def test_kill_between_manifest_put_and_read_back_leaves_no_stale_record(site: Site) -> None:
    code, _first, err = site.run()
    assert code == 0, err
    old = site.digest("Q6_K")
    assert site.ledger_pushes()["Q6_K"] == old

    # a rebuilt Q6_K: the next run PUTs a new manifest; kill it before it reads the tag back
    fam_gguf(site.root / "gguf", "Q6_K", file_type=18, name="rebuilt")
    rule = site.proxy.hold("HEAD", r"/manifests/Q6_K$", after=("PUT", r"/manifests/Q6_K$"))
    proc = site.start()
    wait_held(rule, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    rule.release.set()
    new = site.digest("Q6_K")
    assert new not in (None, old)  # the PUT landed
    assert site.ledger_pushes()["Q6_K"] == old  # the killed run could not record it

    killed = site.run_logs()[-1]  # its log, written when it started, never claims success
    assert killed["ok"] is False and killed["finished"] is False
    assert "did not finish" in killed["error"]

    code, states = site.status()  # status compares the ledger's push record with the registry
    assert code == 1 and states[("ledger/ollama", "Q6_K")] == "drifted"
    assert states[("ollama", "Q6_K")] == "up-to-date"

    code, again, err = site.run()
    assert code == 0, err
    actions = {op["tag"]: op["action"] for op in again["ollama"]["operations"]}
    assert actions["Q6_K"] == "skip-tag"  # nothing to push: the registry already has it …
    ledger = json.loads(site.ledger.read_text())
    record = ledger["targets"]["ollama"]["push:Q6_K"]
    assert record["manifest_digest"] == new and record["outcome"] == "already there"  # … recorded
    assert record["bytes_uploaded"] == 0
    ledger_matches_registry(site)
    assert site.run_logs()[-1]["ok"] is True and site.run_logs()[-1]["finished"] is True

    code, states = site.status()
    assert code == 0, states
    assert states[("ledger/ollama", "Q6_K")] == "up-to-date"


@pytest.mark.slow
def test_sigint_during_an_upload_marks_the_run_failed(site: Site) -> None:
    rule = site.proxy.hold("PUT", r"/manifests/Q6_K$")
    proc = site.start()
    wait_held(rule, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)  # a bound for a loaded 2-core machine, not a speed claim
    rule.release.set()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    log = site.run_logs()[-1]
    assert log["ok"] is False and log["finished"] is True
    assert "interrupted" in log["error"]
    # every blob went up before the held manifest PUT: the log counts them all
    uploads = [op for op in log["plan"]["ollama"] if op["action"] == "upload-blob"]
    assert log["bytes_uploaded"] == sum(op["size"] for op in uploads) > 0
    assert site.digest("Q6_K") is None  # the held PUT never reached the registry
    ledger_matches_registry(site)  # Q4_K_M (pushed before the interrupt) is recorded truly
    assert "Q6_K" not in site.ledger_pushes()

    code, _data, err = site.run()  # the next run finishes the job
    assert code == 0, err
    ledger_matches_registry(site)
    assert site.digest("latest") == site.digest("Q4_K_M")


@pytest.mark.slow
def test_two_copies_of_a_manifest_never_publish_the_same_tag_at_once(
    site: Site, tmp_path: Path
) -> None:
    """A copy in another folder has its own variant lock but the same destination lock."""
    copy = write_site(tmp_path / "b", site.proxy.url, site.repository)
    rule = site.proxy.hold("POST", r"/blobs/uploads/$")
    first = site.start()
    try:
        wait_held(rule, first)
        other = subprocess.run(
            [*COMMAND, "release", str(copy), "--yes", "--json", "--quiet"],
            cwd=copy.parent,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert other.returncode == 2, other.stderr
        destination = f"ollama {site.proxy.url.removeprefix('http://')}/{site.repository}"
        line = other.stderr.strip().splitlines()[-1]
        assert f"another publish run holds {destination} (pid {first.pid}" in line
        assert "Traceback" not in other.stderr
        refused = json.loads(other.stdout)
        assert refused["ok"] is False and "another publish run" in refused["error"]
        assert not (copy.parent / "v1.lock.json").exists()  # the refused run recorded nothing
    finally:
        rule.release.set()
    _out, err = first.communicate(timeout=240)
    assert first.returncode == 0, err
    ledger_matches_registry(site)


@pytest.mark.slow
def test_a_failed_tag_still_counts_the_bytes_it_sent(site: Site) -> None:
    site.proxy.fail("PUT", r"/manifests/Q6_K$", 400)  # after its blobs went up
    code, data, err = site.run("--only", "ollama")
    assert code == 1, err
    assert "Q6_K" in data["failures"]["ollama"]
    uploads = [op for op in data["ollama"]["operations"] if op["action"] == "upload-blob"]
    q6 = sum(op["size"] for op in uploads if op["tag"] == "Q6_K")
    assert q6 > 0 and data["bytes_uploaded"] == sum(op["size"] for op in uploads)
    log = site.run_logs()[-1]
    assert log["ok"] is False and log["bytes_uploaded"] == data["bytes_uploaded"]
    ledger_matches_registry(site)


BAD_LEDGERS = {
    "latin-1 bytes": (b'{"schema": 1, "variant": "f\xe9"}', "not UTF-8"),
    "not JSON": (b'{"schema": 1,', "not JSON"),
    "wrong digest type": (
        json.dumps(
            {
                "schema": 1,
                "variant": "v1",
                "targets": {"ollama": {"push:Q4_K_M": {"at": "x", "manifest_digest": 7}}},
            }
        ).encode(),
        "targets.ollama.push:Q4_K_M.manifest_digest: expected string, found 7",
    ),
    "wrong size type": (
        json.dumps(
            {
                "schema": 1,
                "variant": "v1",
                "tags": {"Q6_K": {"at": "x", "files": [{"path": "a", "size": "9"}]}},
            }
        ).encode(),
        "tags.Q6_K.files[0].size: expected int",
    ),
    "tags not a table": (b'{"schema": 1, "variant": "v1", "tags": []}', "tags: expected dict"),
}


@pytest.mark.parametrize("case", sorted(BAD_LEDGERS))
def test_a_bad_ledger_is_one_line_and_left_untouched(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process (no registry needed: the ledger is read before anything remote)."""
    manifest = write_site(tmp_path, "http://127.0.0.1:9", "fault/never")
    content, message = BAD_LEDGERS[case]
    ledger = tmp_path / "v1.lock.json"
    ledger.write_bytes(content)
    monkeypatch.chdir(tmp_path)
    for command in (["release", str(manifest), "--yes"], ["status", str(manifest)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        lines = result.output.strip().splitlines()
        assert any(str(ledger) in line and message in line for line in lines), result.output
        assert "Traceback" not in result.output
    assert ledger.read_bytes() == content  # never rewritten
    log = json.loads(next((tmp_path / "build" / "v1" / "runs").glob("*-release.json")).read_text())
    assert log["ok"] is False and message in log["error"]


def test_a_lock_path_that_is_a_folder_fails_the_run_and_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_site(tmp_path, "http://127.0.0.1:9", "fault/never")
    lock = tmp_path / ".v1.publish.lock"
    lock.mkdir()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["release", str(manifest), "--yes", "--json"])
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert data["ok"] is False and str(lock) in data["error"] and "lock" in data["error"]
    log = json.loads(next((tmp_path / "build" / "v1" / "runs").glob("*-release.json")).read_text())
    assert log["ok"] is False and log["finished"] is True and str(lock) in log["error"]
    assert not (tmp_path / "v1.lock.json").exists()


def test_an_unexpected_crash_marks_the_run_log_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a PublisherError: the run log still says failed, with the reason."""
    import publisher.pipeline.release as release_module

    manifest = write_site(tmp_path, "http://127.0.0.1:9", "fault/never")

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(release_module, "local_steps", crash)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["release", str(manifest), "--yes"])
    assert isinstance(result.exception, RuntimeError)
    log = json.loads(next((tmp_path / "build" / "v1" / "runs").glob("*-release.json")).read_text())
    assert log["ok"] is False and log["error"] == "stopped by RuntimeError: disk on fire"


@pytest.mark.slow
def test_state_files_are_private(site: Site) -> None:
    code, _, err = site.run()
    assert code == 0, err
    cache = Path(os.environ["PUBLISHER_CACHE_DIR"])
    state = [site.ledger, cache / "digests.json", cache / "registry-uploads.json"]
    for path in (*state, *site.root.glob("build/v1/runs/*.json")):
        assert path.stat().st_mode & 0o777 == 0o600, path


def _put_tag(registry: str, repository: str, tag: str, config: bytes) -> str:
    """A minimal image under `tag` in the real registry; its manifest digest."""
    from publisher.ollama.registry import DOCKER_MANIFEST_V2

    digest = "sha256:" + hashlib.sha256(config).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_V2,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": digest,
            "size": len(config),
        },
        "layers": [],
    }
    with RegistryClient(registry, repository, insecure=True) as client:
        client.upload_blob(config, digest, len(config))
        return client.put_manifest(tag, json.dumps(manifest).encode())


def test_daemon_target_compares_its_ledger_section_with_the_registry(
    docker_registry: str, tmp_path: Path
) -> None:
    from doubles.ollama_standin import make_payload

    from publisher.ollama.daemon import OllamaTarget

    repository = f"fault/daemon-{uuid.uuid4().hex[:8]}"
    payload = make_payload(tmp_path, model=repository)
    target = OllamaTarget(
        payload.release, host="http://127.0.0.1:9", registry=docker_registry, insecure=True
    )
    now = _put_tag(docker_registry, repository, "Q4_K_M", b'{"n": 1}')
    other = "sha256:" + "0" * 64
    steps = {
        "verify-remote:Q4_K_M": {"model": target.ref("Q4_K_M"), "manifest_digest": now},
        "latest:latest": {"model": target.ref("latest"), "manifest_digest": now},
        "verify-remote:Q6_K": {"model": target.ref("Q6_K"), "manifest_digest": other},
        "verify-remote:Q8_0": {"model": "elsewhere/other:Q8_0", "manifest_digest": now},  # not ours
        "push:Q4_K_M": {"model": target.ref("Q4_K_M"), "layers": []},  # holds no digest
    }
    states = {row.tag: row.state for row in target.ledger_status(steps)}
    assert states == {"Q4_K_M": "up-to-date", "latest": "missing", "Q6_K": "missing"}
    _put_tag(docker_registry, repository, "Q6_K", b'{"n": 2}')
    rows = {row.tag: row for row in target.ledger_status(steps)}
    assert rows["Q6_K"].state == "drifted" and rows["Q6_K"].target == "ledger/ollama"
    assert "ledger says sha256:000000000000" in rows["Q6_K"].detail


@pytest.mark.slow
def test_an_unwritable_cache_folder_is_one_line_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_site(tmp_path, "http://127.0.0.1:9", "fault/never")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(blocker))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["release", str(manifest), "--yes"])
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert f"cannot create the lock folder {blocker / 'locks'}" in line
    assert "set PUBLISHER_CACHE_DIR" in line
