"""OllamaTarget against the strict daemon stand-in: order, read-back, faults, bounded disk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from doubles.ollama_standin import Fault, OllamaStandIn, make_payload

from publisher.errors import TargetUnavailable, UsageError
from publisher.ollama.daemon import OllamaTarget
from publisher.ollama.daemon_steps import TagState
from publisher.ollama.show import compare_show, parse_show_parameters
from publisher.targets.base import ApplyResult, ReleasePayload, apply_all, plan_all


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[OllamaStandIn]:
    with OllamaStandIn(tmp_path / "daemon").serve() as app:
        yield app


class Recorder:
    """Collects ledger records in order."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, key: str, data: dict[str, Any]) -> None:
        self.steps.append((key, data))

    @property
    def keys(self) -> list[str]:
        return [k for k, _ in self.steps]


def target(standin: OllamaStandIn, payload: ReleasePayload, **kw: Any) -> OllamaTarget:
    kw.setdefault("skip_remote_verify", True)
    return OllamaTarget(payload.release, host=standin.url, **kw)


def run(
    t: OllamaTarget, payload: ReleasePayload, *, unchecked: bool = False
) -> tuple[ApplyResult, Recorder]:
    t.preflight()
    # unchecked: bypass plan's refusal to prove the read-back catches the same thing by itself
    plan = t._plan(payload, online=True) if unchecked else plan_all(t, payload, online=True)
    rec = Recorder()
    return apply_all(t, payload, plan, rec), rec


def gguf_bytes(payload: ReleasePayload) -> int:
    return sum(f.size for p in payload.tags for f in p.files)


# ---- the happy path ---------------------------------------------------------------------------


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_publishes_every_tag_in_order_and_leaves_the_store_empty(
    standin: OllamaStandIn, tmp_path: Path
) -> None:
    payload = make_payload(tmp_path)
    result, rec = run(target(standin, payload), payload)

    assert result.failures == {}
    assert result.bytes_uploaded == gguf_bytes(payload) == standin.bytes_received
    pushed = [p["model"] for p in standin.pushes]
    assert pushed == ["ns/fam:Q4_K_M", "ns/fam:Q6_K", "ns/fam:latest"]  # latest: the seal
    # latest carries exactly the source's manifest
    by_model = {p["model"]: p for p in standin.pushes}
    assert by_model["ns/fam:latest"]["manifest"] == by_model["ns/fam:Q4_K_M"]["manifest"]
    # bounded disk: nothing this run created is left, and no blob either
    assert standin.models == {}
    assert list(standin.blobs.iterdir()) == []
    assert result.facts["local_store_bytes_left"] == 0
    q4 = payload.payload("Q4_K_M").files[0].size
    q6 = payload.payload("Q6_K").files[0].size
    # one GGUF at a time, plus latest's source: kept until the seal copies it (no re-upload)
    assert result.facts["local_store_peak_bytes"] == q4 + q6
    # the ledger: each finished step, in order, latest after its source's push
    keys = rec.keys
    assert keys.index("push:Q4_K_M") < keys.index("latest:latest") < keys.index("delete:Q4_K_M")
    assert "create:Q6_K" in keys and "verify-local:Q6_K" in keys
    sha = payload.payload("Q4_K_M").files[0].sha256
    assert f"blob:Q4_K_M:{sha}" in keys
    assert result.facts["remote_verify"] == "skipped"


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_create_sends_exactly_the_payload_parameters(
    standin: OllamaStandIn, tmp_path: Path
) -> None:
    payload = make_payload(tmp_path)
    result, _ = run(target(standin, payload, keep_local=True), payload)
    assert result.failures == {}
    q6 = standin.find("ns/fam:Q6_K")
    assert q6 is not None
    assert q6.parameters == {**payload.payload("Q6_K").parameters}
    assert q6.parameters["temperature"] == 0.8  # the tag override, not normalised
    assert (q6.renderer, q6.parser) == ("gemma4", "gemma4")
    assert q6.licenses == ["Some licence text, inline."]
    # keep_local: nothing deleted, latest present too
    assert standin.find("ns/fam:latest") is not None


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_second_run_of_unchanged_release_sends_zero_blob_bytes(
    standin: OllamaStandIn, tmp_path: Path
) -> None:
    payload = make_payload(tmp_path)
    first, _ = run(target(standin, payload, keep_local=True), payload)
    assert first.failures == {} and first.bytes_uploaded == gguf_bytes(payload)
    received = standin.bytes_received

    t = target(standin, payload, keep_local=True)
    plan = plan_all(t, payload, online=True)
    assert [op for op in plan if op.action == "upload-blob"] == []
    assert {op.subject for op in plan if op.action == "skip-blob"} == {
        f.digest for p in payload.tags for f in p.files
    }
    second = apply_all(t, payload, plan, Recorder())
    assert second.failures == {}
    assert second.bytes_uploaded == 0
    assert standin.bytes_received == received


def test_offline_plan_assumes_nothing_and_lists_every_step(tmp_path: Path) -> None:
    payload = make_payload(tmp_path)
    t = OllamaTarget(payload.release, host="http://127.0.0.1:9", skip_remote_verify=True)
    plan = plan_all(t, payload, online=False)
    actions = [(op.action, op.tag) for op in plan]
    assert actions[:4] == [
        ("upload-blob", "Q4_K_M"),
        ("create-tag", "Q4_K_M"),
        ("verify", "Q4_K_M"),
        ("push-tag", "Q4_K_M"),
    ]
    seal = [(op.action, op.tag) for op in plan if op.kind == "seal"]
    assert seal[0] == ("move-latest", "latest")  # after every tag's own work
    assert actions.index(("push-tag", "Q6_K")) < actions.index(("move-latest", "latest"))
    assert actions.index(("delete-local", "latest")) < actions.index(("delete-local", "Q4_K_M"))
    assert sum(op.size for op in plan if op.action == "upload-blob") == gguf_bytes(payload)


# ---- what read-back must catch ------------------------------------------------------------------


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_template_with_parser_only_is_caught_because_ollama_adds_a_renderer(
    standin: OllamaStandIn, tmp_path: Path
) -> None:
    payload = make_payload(
        tmp_path, renderer=None, template="{{ .Prompt }}<turn|>", tags={"Q4_K_M": {}}
    )
    t = target(standin, payload)
    with pytest.raises(UsageError, match="the TEMPLATE would be ignored"):
        plan_all(t, payload, online=False)
    result, _ = run(t, payload, unchecked=True)
    line = result.failures["Q4_K_M"]
    assert "renderer is 'gemma4', declared None" in line
    assert "ignores the TEMPLATE" in line
    assert result.failures["latest"] == "not moved: its source Q4_K_M failed"
    assert standin.pushes == []  # a mismatch never reaches the registry
    assert standin.models == {}  # and what was created is cleaned up


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_stop_added_by_ollama_is_caught(standin: OllamaStandIn, tmp_path: Path) -> None:
    payload = make_payload(
        tmp_path,
        renderer=None,
        parser=None,
        template="{{ .Prompt }}",
        parameters={"temperature": 0.6},
        tags={"Q4_K_M": {}},
        latest=None,
    )
    result, _ = run(target(standin, payload), payload, unchecked=True)
    line = result.failures["Q4_K_M"]
    assert "parameter stop = ['<turn|>'] is not in the manifest (Ollama added it" in line
    assert "parser is 'gemma4', declared None" in line


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_expert_count_is_checked(standin: OllamaStandIn, tmp_path: Path) -> None:
    payload = make_payload(tmp_path, gguf_experts=128, tags={"Q4_K_M": {}}, latest=None)
    result, _ = run(target(standin, payload), payload)
    assert "gemma4.expert_count is 128, the release declares 98" in result.failures["Q4_K_M"]
    assert standin.pushes == []


def test_parse_show_parameters_reads_go_formatting() -> None:
    text = "\n".join(
        [
            f"{'num_ctx':<30} 1.048576e+06",
            f'{"stop":<30} "<turn|>"',
            f'{"stop":<30} "say \\"hi\\"\\n"',
            f"{'temperature':<30} 0.6",
            f"{'use_mmap':<30} false",
            f"{'top_k':<30} 40",
        ]
    )
    assert parse_show_parameters(text) == {
        "num_ctx": 1048576.0,
        "stop": ["<turn|>", 'say "hi"\n'],
        "temperature": 0.6,
        "use_mmap": False,
        "top_k": 40,
    }


def test_compare_show_flags_type_and_value_differences(tmp_path: Path) -> None:
    payload = make_payload(tmp_path, tags={"Q4_K_M": {}}, latest=None)
    tp = payload.payload("Q4_K_M")
    show = {
        "parameters": "\n".join(
            [
                f"{'temperature':<30} 0.7",
                f"{'top_p':<30} 0.95",
                f"{'num_ctx':<30} 256000",
                f'{"stop":<30} "<turn|>"',
            ]
        ),
        "renderer": "gemma4",
        "parser": "gemma4",
        "license": tp.license,
        "model_info": {"gemma4.expert_count": 98},
    }
    problems = compare_show(show, tp, architecture="gemma4", experts=98)
    assert sorted(problems) == [
        "parameter stop is ['<turn|>'], the manifest says ['<turn|>', '<|tool_response>']",
        "parameter temperature is 0.7, the manifest says 0.6",
    ]
    # REQUIRES: show's `requires` field (v0.14.0+) against the manifest's
    assert "requires is None, declared '0.30.0'" in compare_show(
        show, tp, architecture="gemma4", experts=98, requires="0.30.0"
    )
    show["requires"] = "0.30.0"
    assert not any(
        p.startswith("requires")
        for p in compare_show(show, tp, architecture="gemma4", experts=98, requires="0.30.0")
    )


# ---- faults: one clear line per tag, the run goes on ---------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault("push_error", match="Q4_K_M", after=1), "push: the daemon reported: max retries"),
        (Fault("push_500", match="Q4_K_M"), "push: the daemon reported: max retries"),
        (Fault("push_truncate", match="Q4_K_M"), "push: stream ended with 'pushing "),
        (
            Fault("create_error", match="Q4_K_M", message="boom"),
            "create: the daemon reported: boom",
        ),
    ],
)
@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_failing_tag_is_reported_and_the_others_go_on(
    standin: OllamaStandIn, tmp_path: Path, fault: Fault, expected: str
) -> None:
    payload = make_payload(tmp_path)
    standin.inject(fault)
    result, rec = run(target(standin, payload), payload)
    assert set(result.failures) == {"Q4_K_M", "latest"}
    assert result.failures["Q4_K_M"].startswith(expected), result.failures["Q4_K_M"]
    assert "\n" not in result.failures["Q4_K_M"]
    assert "push:Q6_K" in rec.keys and "push:Q4_K_M" not in rec.keys
    assert [p["model"] for p in standin.pushes] == ["ns/fam:Q6_K"]
    assert standin.models == {}  # the failed tag's local model is deleted too


def test_connection_reset_mid_upload(standin: OllamaStandIn, tmp_path: Path) -> None:
    payload = make_payload(tmp_path, latest=None)
    sha = payload.payload("Q6_K").files[0].sha256
    standin.inject(Fault("upload_reset", match=sha, after=1))
    result, _ = run(target(standin, payload), payload)
    assert set(result.failures) == {"Q6_K"}
    assert result.failures["Q6_K"].startswith("upload of fam-Q6_K.gguf failed after")
    assert [p["model"] for p in standin.pushes] == ["ns/fam:Q4_K_M"]
    # the bytes the failed upload sent count: the total is what went over the wire
    sent = int(
        result.failures["Q6_K"].removeprefix("upload of fam-Q6_K.gguf failed after ").split()[0]
    )
    assert sent > 0
    assert result.bytes_uploaded == payload.payload("Q4_K_M").files[0].size + sent


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_models_this_run_did_not_create_are_never_touched(
    standin: OllamaStandIn, tmp_path: Path
) -> None:
    payload = make_payload(tmp_path, tags={"Q4_K_M": {}}, latest=None)
    other = payload.payload("Q4_K_M").files[0]
    with httpx.Client(base_url=standin.url) as http:
        http.post(f"/api/blobs/{other.digest}", content=other.path.read_bytes())
        lines = http.post(
            "/api/create", json={"model": "someone/else:v1", "files": {"m.gguf": other.digest}}
        ).text
    assert '"success"' in lines
    result, _ = run(target(standin, payload), payload)
    assert result.failures == {}
    assert standin.find("someone/else:v1") is not None
    assert standin.blob_path(other.digest).exists()  # still referenced by their model


# ---- preflight ----------------------------------------------------------------------------


def test_preflight_unreachable_daemon_says_what_to_do(tmp_path: Path) -> None:
    payload = make_payload(tmp_path, tags={"Q4_K_M": {}})
    t = OllamaTarget(payload.release, host="http://127.0.0.1:9", skip_remote_verify=True)
    with pytest.raises(TargetUnavailable) as info:
        t.preflight()
    message = str(info.value)
    assert "not reachable at http://127.0.0.1:9" in message
    assert "ollama serve" in message and "signed with the key of the user running" in message
    assert info.value.exit_code == 3


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_preflight_refuses_a_daemon_too_old_for_renderer_and_gemma4(tmp_path: Path) -> None:
    payload = make_payload(tmp_path, tags={"Q4_K_M": {}})
    for version, needed in (("0.11.4", "0.12.0"), ("0.19.9", "0.20.0")):
        with OllamaStandIn(tmp_path / version, version=version).serve() as old:
            t = OllamaTarget(payload.release, host=old.url, skip_remote_verify=True)
            with pytest.raises(TargetUnavailable, match=f"needs v{needed} or newer"):
                t.preflight()


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_preflight_wants_a_namespace_for_ollama_com(standin: OllamaStandIn, tmp_path: Path) -> None:
    payload = make_payload(tmp_path, model="fam", tags={"Q4_K_M": {}})
    t = OllamaTarget(payload.release, host=standin.url, skip_remote_verify=True)
    with pytest.raises(TargetUnavailable, match="has no namespace"):
        t.preflight()


# ---- the stand-in is strict ---------------------------------------------------------------


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_standin_is_strict(standin: OllamaStandIn, tmp_path: Path) -> None:
    payload = make_payload(tmp_path, tags={"Q4_K_M": {}})
    f = payload.payload("Q4_K_M").files[0]
    data = f.path.read_bytes()
    wrong = "sha256:" + hashlib.sha256(b"x").hexdigest()
    with httpx.Client(base_url=standin.url) as http:
        assert http.post(f"/api/blobs/{wrong}", content=data).status_code == 400
        assert http.head(f"/api/blobs/{f.digest}").status_code == 404
        unknown_blob = http.post("/api/create", json={"model": "a/b:c", "files": {"m": f.digest}})
        assert "no such file" in unknown_blob.text
        assert http.post(f"/api/blobs/{f.digest}", content=data).status_code == 201
        base = {"model": "a/b:c", "files": {"m.gguf": f.digest}}
        cases = [
            ({**base, "parameters": {"temprature": 0.6}}, "unknown parameter 'temprature'"),
            ({**base, "parameters": {"num_ctx": "4096"}}, "invalid type for parameter 'num_ctx'"),
            ({**base, "parameters": {"stop": "<turn|>"}}, "invalid type for parameter 'stop'"),
            ({**base, "parameters": {"use_mmap": 1}}, "invalid type for parameter 'use_mmap'"),
            ({**base, "model": "a/-b:c"}, "invalid model name"),
            ({**base, "renderer": 5}, "renderer: expected a string"),
            ({**base, "modelfile": "FROM x"}, "unknown fields"),
        ]
        for body, message in cases:
            resp = http.post("/api/create", json=body)
            assert resp.status_code == 400 and message in resp.json()["error"], body
        pushed = http.post("/api/push", json={"model": "a/missing:c"}).text
        assert '"error"' in pushed and "success" not in pushed
        assert http.request("DELETE", "/api/delete", json={"model": "a/b:c"}).status_code == 404


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_standin_drains_only_the_unread_body(standin: OllamaStandIn) -> None:
    """A handler that read all, part or none of a body is answered at once, on one connection."""
    from doubles.ollama_standin import Request, Response

    def first_piece(request: Request) -> Response:
        return Response.json({"first": next(request.iter_body(size=3)).decode()})

    standin.route("POST", "/test/echo", lambda r: Response.json({"got": r.json()}))
    standin.route("POST", "/test/first", first_piece)
    standin.route("POST", "/test/ignore", lambda r: Response.json({"ignored": True}))

    def chunks() -> Iterator[bytes]:
        yield b"abc"  # the handler stops exactly at this chunk's end
        yield b"defghij"

    with httpx.Client(base_url=standin.url, timeout=5) as http:
        assert http.post("/test/echo", json={"a": 1}).json() == {"got": {"a": 1}}
        assert http.post("/test/first", content=b"abcdefghij").json() == {"first": "abc"}
        assert http.post("/test/first", content=chunks()).json() == {"first": "abc"}
        assert http.post("/test/ignore", content=chunks()).json() == {"ignored": True}
        assert http.post("/test/echo", json={"b": 2}).json() == {"got": {"b": 2}}
    assert [path for _, path in standin.requests][-1] == "/test/echo"


def test_read_back_of_a_non_json_show_reply_is_one_failed_step(tmp_path: Path) -> None:
    """/api/show answering 200 with a non-object body fails the step, with no traceback."""
    from publisher.ollama.daemon_api import StepFailed

    payload = make_payload(tmp_path)
    t = OllamaTarget(payload.release, host="http://127.0.0.1:9", skip_remote_verify=True)
    bodies = iter([b"<html>proxy error</html>", b"[1, 2]"])
    t.api.http = httpx.Client(
        base_url="http://127.0.0.1:9",
        transport=httpx.MockTransport(lambda request: httpx.Response(200, content=next(bodies))),
    )
    tp = payload.tags[0]
    with pytest.raises(StepFailed, match="non-JSON: '<html>proxy error</html>'"):
        t.steps.read_back(tp, t.ref(tp.tag.tag))
    with pytest.raises(StepFailed, match="answered list, not an object"):
        t.steps.read_back(tp, t.ref(tp.tag.tag))
    t.api.http.close()


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_an_already_published_tag_is_recorded_with_the_registry_digest(
    standin: OllamaStandIn, tmp_path: Path
) -> None:
    """A skip records what the plan found in the registry, under the key a push's check uses,
    so the ledger never keeps an older push's digest."""
    payload = make_payload(tmp_path)
    t = target(standin, payload)
    digest = "sha256:" + "d" * 64
    plan = [
        t._op("verify", "Q4_K_M", "already published", details={"manifest_digest": digest}),
        t._op(
            "verify",
            "latest",
            "latest already points at Q4_K_M",
            details={"source": "Q4_K_M", "manifest_digest": digest},
        ),
    ]
    rec = Recorder()
    result = apply_all(t, payload, plan, rec)
    assert result.failures == {} and result.bytes_uploaded == 0
    steps = dict(rec.steps)
    assert steps["verify-remote:Q4_K_M"]["manifest_digest"] == digest
    assert steps["latest:latest"] == {**steps["latest:latest"], "manifest_digest": digest}
    assert steps["latest:latest"]["source"] == "Q4_K_M"
    assert steps["verify-remote:Q4_K_M"]["model"] == t.ref("Q4_K_M")


def test_requires_goes_to_create_and_is_read_back(standin: OllamaStandIn, tmp_path: Path) -> None:
    payload = make_payload(tmp_path, tags={"Q4_K_M": {}}, latest=None, requires="0.30.0")
    result, _ = run(target(standin, payload, keep_local=True), payload)
    assert result.failures == {}
    model = next(iter(standin.models.values()))
    assert model.requires == "0.30.0"  # /api/create got it; the read-back compared it
    assert json.loads(standin.blob_path(model.config.digest).read_bytes())["requires"] == "0.30.0"


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_bytes_a_create_uploads_count_when_the_create_then_fails(
    standin: OllamaStandIn, tmp_path: Path
) -> None:
    """The daemon pruned a blob between plan (skip-blob) and create: create uploads it again,
    then fails; the bytes that went over the wire still count (the report totals the wire)."""
    payload = make_payload(tmp_path, tags={"Q4_K_M": {}}, latest=None)
    gguf = payload.payload("Q4_K_M").files[0]
    with httpx.Client(base_url=standin.url) as http:
        http.post(f"/api/blobs/{gguf.digest}", content=gguf.path.read_bytes()).raise_for_status()
    t = target(standin, payload)
    t.preflight()
    plan = plan_all(t, payload, online=True)
    assert plan[0].action == "skip-blob"
    standin.blob_path(gguf.digest).unlink()  # pruned by the daemon before apply
    before = standin.bytes_received
    standin.inject(Fault("create_error", match="Q4_K_M"))
    result = apply_all(t, payload, plan, Recorder())
    assert set(result.failures) == {"Q4_K_M"}
    assert standin.bytes_received - before == gguf.size
    assert result.bytes_uploaded == gguf.size


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_the_stand_ins_show_is_built_as_ollama_builds_it(
    standin: OllamaStandIn, tmp_path: Path
) -> None:
    """Issue 22: /api/show as routes.go GetModelInfo fills ShowResponse (doubles/ollama_show.py
    has the field list): `requires` only as its own field, never a REQUIRES line (images.go
    Model.String); renderer/parser only as modelfile lines; omitempty fields left out; the
    default TEMPLATE `{{ .Prompt }}` when the model has none; tensors listed."""
    payload = make_payload(tmp_path, tags={"Q4_K_M": {}}, requires="0.30.0")
    t = target(standin, payload)
    t.preflight()
    ref = t.ref("Q4_K_M")
    t.steps.create(payload.payload("Q4_K_M"), ref, TagState())
    show = t.api.show(ref)
    t.close()
    assert show["requires"] == "0.30.0"
    assert "REQUIRES" not in show["modelfile"]
    assert "renderer" not in show and "parser" not in show and "system" not in show
    head = '# Modelfile generated by "ollama show"\n# To build a new Modelfile based on this, '
    assert show["modelfile"].startswith(head + "replace FROM with:\n# FROM ns/fam:Q4_K_M\n\nFROM ")
    commands = [line.split(" ", 1)[0] for line in show["modelfile"].splitlines()[4:]]
    assert commands[:4] == ["FROM", "TEMPLATE", "RENDERER", "PARSER"]
    assert set(commands[4:]) == {"PARAMETER", "LICENSE"}
    assert "\nTEMPLATE {{ .Prompt }}\n" in show["modelfile"] and show["template"] == "{{ .Prompt }}"
    assert "PARAMETER stop <turn|>\n" in show["modelfile"]
    assert "general.name" not in show["model_info"]
    assert "tokenizer.chat_template" not in show["model_info"]
    assert show["tensors"] and {"name", "type", "shape"} == set(show["tensors"][0])
    assert show["capabilities"] == ["completion", "tools", "thinking"]  # the gemma4 parser's


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_plan_all_reads_the_daemon_and_registry_once_and_warns_once(
    standin: OllamaStandIn, docker_registry: str, tmp_path: Path, capsys: Any
) -> None:
    """plan_tags and plan_seal are two views of one plan: a run reads each tag's registry
    manifest once, and a partial run says once that `latest` is not among its tags."""
    from dataclasses import replace

    payload = make_payload(tmp_path)
    partial = replace(payload, tags=[tp for tp in payload.tags if tp.tag.tag == "Q6_K"])
    t = OllamaTarget(payload.release, host=standin.url, registry=docker_registry)
    reader, checked = t.remote(), []
    check = reader.check

    def counted(tp: Any, tag: str | None = None) -> Any:
        checked.append(tag or tp.tag.tag)
        return check(tp, tag)

    reader.check = counted  # type: ignore[method-assign]
    plan_all(t, partial, online=True)
    assert checked == ["Q6_K"]
    assert capsys.readouterr().err.count("is not among this run's Ollama tags") == 1
    t.plan_seal(partial, online=True)  # a seal alone plans afresh
    assert checked == ["Q6_K", "Q6_K"]
    t.close()
