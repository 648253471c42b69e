"""Remote verification: the stand-in daemon pushes into Debian's docker-registry, the target reads
each pushed manifest back, skips what is already published, and notices drift."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from doubles.ollama_standin import OllamaStandIn, make_payload
from doubles.reserialising import Reserialising

from publisher.ollama.daemon import OllamaTarget
from publisher.ollama.registry import RegistryClient
from publisher.targets.base import apply_all, plan_all

_names = itertools.count()


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[OllamaStandIn]:
    with OllamaStandIn(tmp_path / "daemon").serve() as app:
        yield app


def _noop(_key: str, _data: dict[str, Any]) -> None:
    pass


def publish(standin: OllamaStandIn, payload: Any, registry: str) -> tuple[Any, list[Any]]:
    t = OllamaTarget(payload.release, host=standin.url, registry=registry)
    t.preflight()
    plan = plan_all(t, payload, online=True)
    return apply_all(t, payload, plan, _noop), plan


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_push_is_read_back_and_a_second_run_sends_nothing(
    standin: OllamaStandIn,
    docker_registry: str,
    tmp_path: Path,
) -> None:
    payload = make_payload(tmp_path, model=f"ns/fam{next(_names)}")
    first, _ = publish(standin, payload, docker_registry)
    assert first.failures == {}
    facts = first.facts["tags"]
    assert facts["latest"]["remote_manifest"] == facts["Q4_K_M"]["remote_manifest"]
    assert facts["Q6_K"]["remote_manifest"] != facts["Q4_K_M"]["remote_manifest"]
    assert first.facts["remote_verify"] == "on"
    pushes, received = len(standin.pushes), standin.bytes_received

    second, plan = publish(standin, payload, docker_registry)
    assert second.failures == {}
    assert {op.action for op in plan} == {"verify"}
    assert all(op.reason.startswith(("already published", "latest already points")) for op in plan)
    assert second.bytes_uploaded == 0 and standin.bytes_received == received
    assert len(standin.pushes) == pushes


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_changed_parameters_are_drift_and_get_republished(
    standin: OllamaStandIn,
    docker_registry: str,
    tmp_path: Path,
) -> None:
    model = f"ns/fam{next(_names)}"
    first, _ = publish(standin, make_payload(tmp_path / "a", model=model), docker_registry)
    assert first.failures == {}
    changed = make_payload(
        tmp_path / "a", model=model, tags={"Q4_K_M": {}, "Q6_K": {"temperature": 0.9}}
    )
    t = OllamaTarget(changed.release, host=standin.url, registry=docker_registry)
    status = {s.tag: s for s in t.status(changed)}
    assert status["Q4_K_M"].state == status["latest"].state == "up-to-date"
    assert status["Q6_K"].state == "drifted" and "params layer" in status["Q6_K"].detail
    plan = plan_all(t, changed, online=True)
    assert {op.tag for op in plan if op.action == "push-tag"} == {"Q6_K"}
    result = apply_all(t, changed, plan, _noop)
    assert result.failures == {}
    assert t.status(changed)[2].state == "up-to-date"


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_registry_manifest_that_differs_fails_the_tag(
    standin: OllamaStandIn,
    docker_registry: str,
    tmp_path: Path,
) -> None:
    model = f"ns/fam{next(_names)}"
    payload = make_payload(tmp_path, model=model, latest=None)
    first, _ = publish(standin, payload, docker_registry)
    assert first.failures == {}
    # someone re-tags Q6_K with Q4_K_M's manifest behind our back
    repo = f"{docker_registry}/v2/{model}/manifests"
    accept = {"Accept": "application/vnd.docker.distribution.manifest.v2+json"}
    body = httpx.get(f"{repo}/Q4_K_M", headers=accept).content
    put = httpx.put(
        f"{repo}/Q6_K",
        content=body,
        headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    assert put.status_code == 201
    t = OllamaTarget(payload.release, host=standin.url, registry=docker_registry)
    status = {s.tag: s for s in t.status(payload)}
    assert status["Q6_K"].state == "drifted"
    assert "model layer" in status["Q6_K"].detail and "params layer" in status["Q6_K"].detail
    assert status["Q4_K_M"].state == "up-to-date"


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_unreachable_registry_stops_preflight_unless_skipped(
    standin: OllamaStandIn, tmp_path: Path
) -> None:
    payload = make_payload(tmp_path, tags={"Q4_K_M": {}})
    t = OllamaTarget(payload.release, host=standin.url, registry="http://127.0.0.1:9")
    with pytest.raises(Exception, match="--skip-remote-verify") as info:
        t.preflight()
    assert getattr(info.value, "exit_code", None) == 3
    OllamaTarget(
        payload.release, host=standin.url, registry="http://127.0.0.1:9", skip_remote_verify=True
    ).preflight()


def test_direct_push_target_parses_each_gguf_header_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan, apply and status each build every tag's image; the GGUF header is read once."""
    from publisher.ollama import push as ollama_registry

    payload = make_payload(tmp_path, model=f"ns/fam{next(_names)}")
    calls: list[Path] = []
    real = ollama_registry.read_header

    def counting(path: Path) -> Any:
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(ollama_registry, "read_header", counting)
    ollama_registry._config_labels.cache_clear()
    t = ollama_registry.OllamaRegistryTarget(payload.release, "http://127.0.0.1:9")
    first = t._tagged(payload)
    second = t._tagged(payload)
    files = [tp.files[0].path for tp in payload.tags if "ollama" in tp.tag.targets]
    assert sorted(calls) == sorted(files) and len(files) >= 2
    assert all(x.image is not None for x in first)
    assert [x.image.manifest_digest for x in first if x.image] == [
        x.image.manifest_digest for x in second if x.image
    ]
    t.client.close()


@pytest.mark.slow
def test_a_registry_that_reserialises_manifests_keeps_ledger_and_skips_honest(
    standin: OllamaStandIn,
    docker_registry: str,
    tmp_path: Path,
) -> None:
    """The registry serves every manifest re-serialised: the ledger keeps the digest it serves
    (tags and latest), `ledger_status` finds them up to date, and a second run skips."""
    payload = make_payload(tmp_path, model=f"ns/fam{next(_names)}")
    t = OllamaTarget(payload.release, host=standin.url, registry=docker_registry)
    reader = t.remote()
    reader.client.close()
    reader.client = RegistryClient(
        docker_registry, reader.repository, insecure=True, transport=Reserialising()
    )
    t.preflight()
    steps: dict[str, dict[str, Any]] = {}
    first = apply_all(t, payload, plan_all(t, payload, online=True), steps.__setitem__)
    assert first.failures == {}
    served = reader.manifest_digest("Q4_K_M")
    assert steps["verify-remote:Q4_K_M"]["manifest_digest"] == served
    assert steps["latest:latest"]["manifest_digest"] == served
    local = first.facts["tags"]["Q4_K_M"]["local_digest"]
    assert local and served != local  # the registry really serves other bytes than were pushed
    rows = t.ledger_status(steps)
    assert {r.tag for r in rows} == {"Q4_K_M", "Q6_K", "latest"}
    assert {r.state for r in rows} == {"up-to-date"}

    plan = plan_all(t, payload, online=True)
    assert {op.action for op in plan} == {"verify"}
    second = apply_all(t, payload, plan, steps.__setitem__)
    assert second.failures == {} and second.bytes_uploaded == 0
    assert {r.state for r in t.ledger_status(steps)} == {"up-to-date"}
    t.close()


def _elsewhere(payload: Any) -> Any:
    """The same release on a machine that holds none of its GGUFs."""
    from dataclasses import replace

    return replace(payload, tags=[replace(tp, files=[]) for tp in payload.tags])


def _move_latest(client: RegistryClient, to: str) -> None:
    body, media = client.manifest_bytes(to) or (b"", "")
    client.put_manifest("latest", body, media)


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_status_of_latest_without_its_gguf_compares_it_with_its_source_daemon(
    standin: OllamaStandIn,
    docker_registry: str,
    tmp_path: Path,
) -> None:
    """Any `latest` is not good enough: on a machine without the source's GGUF, status compares
    the registry's `latest` with the registry's manifest of the source tag (f1 MUST-2)."""
    payload = make_payload(tmp_path, model=f"ns/fam{next(_names)}")
    first, _ = publish(standin, payload, docker_registry)
    assert first.failures == {}
    t = OllamaTarget(payload.release, host=standin.url, registry=docker_registry)
    elsewhere = _elsewhere(payload)
    assert {s.tag: s.state for s in t.status(elsewhere)}["latest"] == "up-to-date"
    _move_latest(t.remote().client, "Q6_K")  # a wrong tag's manifest under latest
    row = {s.tag: s for s in t.status(elsewhere)}["latest"]
    assert row.state == "drifted" and "Q4_K_M" in row.detail
    t.close()


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_status_of_latest_without_its_gguf_compares_it_with_its_source_registry(
    docker_registry: str,
    tmp_path: Path,
) -> None:
    from publisher.ollama.push import OllamaRegistryTarget

    payload = make_payload(tmp_path, model=f"ns/sealed{next(_names)}", renderer=None)
    t = OllamaRegistryTarget(payload.release, docker_registry)
    with t.client:
        assert apply_all(t, payload, plan_all(t, payload, online=True), _noop).ok
        elsewhere = _elsewhere(payload)
        assert {s.tag: s.state for s in t.status(elsewhere)}["latest"] == "up-to-date"
        _move_latest(t.client, "Q6_K")
        row = {s.tag: s for s in t.status(elsewhere)}["latest"]
        assert row.state == "drifted" and "Q4_K_M" in row.detail


def test_latest_re_serialised_is_still_its_source(docker_registry: str) -> None:
    """A registry may store `latest` as other JSON bytes of the source's manifest: the same
    config and layers is the source; another set of layers is not."""
    import hashlib
    import json

    from publisher.ollama.registry import alias_state

    with RegistryClient(docker_registry, f"ns/alias{next(_names)}", insecure=True) as client:
        descriptors = []
        for media, data in (("config", b"{}"), ("model", b"model bytes")):
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            client.upload_blob(data, digest, len(data))
            descriptors.append({"mediaType": media, "digest": digest, "size": len(data)})
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                **descriptors[0],
                "mediaType": "application/vnd.docker.container.image.v1+json",
            },
            "layers": [{**descriptors[1], "mediaType": "application/vnd.ollama.image.model"}],
        }
        client.put_manifest("Q4_K_M", json.dumps(manifest).encode())
        assert alias_state(client, "latest", "Q4_K_M")[0] == "missing"
        client.put_manifest("latest", json.dumps(manifest, indent=2).encode())  # other bytes
        state, detail = alias_state(client, "latest", "Q4_K_M")
        assert state == "up-to-date" and "re-serialised" in detail, detail
        manifest["layers"] = []
        client.put_manifest("latest", json.dumps(manifest, indent=1).encode())
        assert alias_state(client, "latest", "Q4_K_M")[0] == "drifted"
