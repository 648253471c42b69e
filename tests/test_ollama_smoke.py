"""`publish smoke` against the strict Ollama stand-in with scripted Gemma 4 outputs.

A good script passes every case; then one failing run per check (leaked control token, no tool
call, wrong arguments, no second call, length stop, parameter drift, a renderer Ollama set by
itself), each asserting the case that fails and the reason it gives.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from doubles.ollama_chat_standin import ChatStandIn, Script
from support.release_fixtures import fam_gguf, fam_manifest
from typer.testing import CliRunner

from publisher.cli import app
from publisher.manifest import load

runner = CliRunner()

# The release after the shared fam head (release_fixtures.fam_manifest).
OLLAMA_SECTIONS = """
[ollama]
model = "test/fam"
latest = "Q4_K_M"
renderer = "gemma4"
parser = "gemma4"

[ollama.parameters]
temperature = 0.6
top_p = 0.95
num_ctx = 8192
stop = ["<turn|>", "<|tool_response>"]

[[tags]]
tag = "Q4_K_M"
targets = ["ollama"]

[[tags]]
tag = "Q8_0"
targets = ["ollama"]
parameters = { temperature = 0.3 }
"""

Q = '<|"|>'


def call(function: str, /, **arguments: Any) -> str:
    """A Gemma 4 call as the model writes it, followed by the hand-back token."""
    body = ",".join(
        f"{k}:{Q}{v}{Q}" if isinstance(v, str) else f"{k}:{json.dumps(v)}"
        for k, v in sorted(arguments.items())
    )
    return f"<|tool_call>call:{function}{{{body}}}<tool_call|><|tool_response>"


GOOD = Script(
    {
        "capital of France": ["The capital of France is Paris.<turn|>"],
        "Red Planet": ["Mars<turn|>"],
        "weather in Paris": [call("get_weather", city="Paris")],
        "weather in Lisbon": [
            call("get_weather", city="Lisbon", unit="celsius"),
            "It is raining lightly in Lisbon: 14 °C with wind at 23 km/h.<turn|>",
        ],
        "Ada Lovelace": [
            call("find_employee", name="Ada Lovelace"),
            call("get_office", employee_id="E-4817"),
            "Ada Lovelace works in Building 7, room 312, in Turin.<turn|>",
        ],
        "three short sentences": [
            "The sea is vast. It covers most of the planet. Its tides follow the moon.<turn|>",
            "A dolphin.<turn|>",
        ],
    }
)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OLLAMA_HOST", raising=False)


@pytest.fixture(scope="module")
def gguf_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The two GGUFs, written once for the module (tests never modify them)."""
    directory = tmp_path_factory.mktemp("gguf")
    fam_gguf(directory, "Q4_K_M", file_type=15)
    fam_gguf(directory, "Q8_0", file_type=7)
    return directory


@pytest.fixture
def manifest(tmp_path: Path, gguf_dir: Path) -> Path:
    path = tmp_path / "fam-v1.toml"
    path.write_text(fam_manifest(OLLAMA_SECTIONS, gguf_dir=gguf_dir), encoding="utf-8")
    return path


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[ChatStandIn]:
    with ChatStandIn(tmp_path / "ollama", GOOD).serve() as app_:
        yield app_  # type: ignore[misc]


def create(daemon: ChatStandIn, manifest: Path, tag: str = "Q4_K_M", **overrides: Any) -> str:
    """Create `test/fam:<tag>` on the stand-in over HTTP, as the manifest says unless overridden."""
    release = load(manifest)
    gguf = release.tag(tag).path
    data = gguf.read_bytes()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=daemon.url, timeout=60) as http:
        assert http.post(f"/api/blobs/{digest}", content=data).status_code == 201
        assert release.ollama is not None
        template = release.ollama.template
        body: dict[str, Any] = {
            "model": f"test/fam:{tag}",
            "files": {gguf.name: digest},
            "template": template.read_text(encoding="utf-8") if template else None,
            "renderer": release.ollama.renderer,
            "parser": release.ollama.parser,
            "parameters": release.parameters_for(release.tag(tag)),
        }
        body.update(overrides)
        body = {k: v for k, v in body.items() if v is not None}
        lines = http.post("/api/create", json=body).text.splitlines()
        assert json.loads(lines[-1]) == {"status": "success"}, lines
    return f"test/fam:{tag}"


def smoke(manifest: Path, daemon: ChatStandIn, *args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["smoke", str(manifest), "--host", daemon.url, "--json", *args])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def cases_of(report: dict[str, Any], tag: str = "Q4_K_M") -> dict[str, dict[str, Any]]:
    entry = next(t for t in report["tags"] if t["tag"] == tag)
    return {case["name"]: case for case in entry["cases"]}


def failing(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Failing cases and the failures of their first failing run (for assertion messages)."""
    return {
        n: next(r["failures"] for r in c["results"] if r["failures"])
        for n, c in cases_of(report).items()
        if not c["ok"]
    }


def only_failure(report: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The single failing case of a run and its first failure."""
    failing = {n: c for n, c in cases_of(report).items() if not c["ok"]}
    assert len(failing) == 1, {n: c["results"][0]["failures"] for n, c in failing.items()}
    name, case = failing.popitem()
    return name, case["results"][0]["failures"][0]


# ---------------------------------------------------------------------------------------------
# passing runs


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_good_model_passes_every_case_with_the_release_parameters(manifest, daemon) -> None:
    create(daemon, manifest)
    code, report = smoke(manifest, daemon)
    assert code == 0 and report["ok"], failing(report)
    cases = cases_of(report)
    assert set(cases) == {
        "show",
        "plain-question",
        "system-one-word",
        "single-tool-call",
        "tool-result-answer",
        "nested-second-call",
        "termination",
    }
    assert all(case["ok"] and case["rate"] == 1.0 for case in cases.values())
    # every chat carried the release's own parameters, the fixed seed and a length cap
    assert daemon.chats and all(
        c["options"]
        == {
            "temperature": 0.6,
            "top_p": 0.95,
            "num_ctx": 8192,
            "stop": ["<turn|>", "<|tool_response>"],
            "num_predict": 1024,
            "seed": 42,
        }
        and c["model"] == "test/fam:Q4_K_M"
        for c in daemon.chats
    )
    # the nested case sent both results back, each under its tool's name, then got the answer
    nested = cases["nested-second-call"]["results"][0]["transcript"]
    assert [m["role"] for m in nested] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "assistant",
    ]
    assert [m.get("tool_name") for m in nested if m["role"] == "tool"] == [
        "find_employee",
        "get_office",
    ]
    assert nested[3]["tool_calls"][0]["function"] == {
        "name": "get_office",
        "arguments": {"employee_id": "E-4817"},
    }
    assert all(m["done_reason"] == "stop" for m in nested if m["role"] == "assistant")


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_correct_tag_with_requires_passes_the_show_check(manifest, daemon) -> None:
    """Issue 22: a daemon that honours `requires` reports it only in show's `requires` field
    (routes.go GetModelInfo; the modelfile has no REQUIRES line). Read through the ollama
    client's ShowResponse, which drops the field, a correct tag failed requires-drift."""
    manifest.write_text(
        manifest.read_text().replace('latest = "Q4_K_M"', 'latest = "Q4_K_M"\nrequires = "0.30.0"')
    )
    create(daemon, manifest, requires="0.30.0")
    shown = httpx.post(f"{daemon.url}/api/show", json={"model": "test/fam:Q4_K_M"}).json()
    assert shown["requires"] == "0.30.0" and "REQUIRES" not in shown["modelfile"]
    code, report = smoke(manifest, daemon)
    assert code == 0 and report["ok"], failing(report)
    assert cases_of(report)["show"]["results"][0]["transcript"][0]["show"]["requires"] == "0.30.0"
    # and a tag created without it is drift, named
    create(daemon, manifest, requires=None)
    code, report = smoke(manifest, daemon)
    assert code == 1
    assert failing(report)["show"][0]["message"] == (
        "requires: Ollama has None, the manifest says '0.30.0'"
    )


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_tag_override_parameters_are_the_ones_sent(manifest, daemon) -> None:
    create(daemon, manifest, "Q8_0")
    code, report = smoke(manifest, daemon, "--tag", "Q8_0")
    assert code == 0, report
    assert {c["options"]["temperature"] for c in daemon.chats} == {0.3}


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_create_makes_a_scratch_tag_and_deletes_it(manifest, daemon) -> None:
    code, report = smoke(manifest, daemon, "--create")
    assert code == 0, report
    assert report["tags"][0]["model"] == "test/fam-smoke:Q4_K_M"
    assert report["tags"][0]["created"] is True
    assert ("POST", "/api/create") in daemon.requests
    assert daemon.models == {}  # deleted afterwards, blobs pruned
    assert not any(daemon.blobs.iterdir())


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_repeat_reports_pass_rates_over_seeds(manifest, daemon) -> None:
    create(daemon, manifest)

    def flaky(request: dict[str, Any]) -> str:  # one seed in three answers at length
        return "Mars Mars Mars<turn|>" if request["options"]["seed"] == 43 else "Mars<turn|>"

    daemon.script = GOOD.replace("Red Planet", [flaky])
    code, report = smoke(manifest, daemon, "--repeat", "3")
    assert code == 1
    case = cases_of(report)["system-one-word"]
    assert (case["passes"], case["runs"], case["rate"]) == (2, 3, 0.6667)
    assert [r["seed"] for r in case["results"]] == [42, 43, 44]
    assert [r["passed"] for r in case["results"]] == [True, False, True]
    assert case["results"][1]["failures"][0]["code"] == "system-ignored"
    assert cases_of(report)["show"]["runs"] == 1  # deterministic: not repeated
    code, report = smoke(manifest, daemon, "--repeat", "3", "--min-pass-rate", "0.6")
    assert code == 0 and report["ok"], failing(report)


# ---------------------------------------------------------------------------------------------
# one failing run per check


@pytest.mark.parametrize(
    ("conversation", "outputs", "case", "code", "words"),
    [
        pytest.param(
            "capital of France",
            ["Paris is the capital.<eos><|turn>user\nThanks"],
            "plain-question",
            "control-token",
            "<eos>",
            id="leaked-control-token",
        ),
        pytest.param(
            "weather in Paris",
            ["I cannot look that up, sorry.<turn|>"],
            "single-tool-call",
            "no-tool-call",
            "expected a call to get_weather",
            id="no-tool-call",
        ),
        pytest.param(
            "weather in Paris",
            [call("get_weather", city=75001, unit="kelvin")],
            "single-tool-call",
            "bad-arguments",
            "arguments.city: expected string, found integer 75001",
            id="wrong-arguments",
        ),
        pytest.param(
            "Ada Lovelace",
            [
                call("find_employee", name="Ada Lovelace"),
                "She works somewhere in the company.<turn|>",
            ],
            "nested-second-call",
            "no-second-call",
            "no second tool call after the first result (expected get_office)",
            id="no-second-call",
        ),
        pytest.param(
            "three short sentences",
            ["The sea " * 1200],
            "termination",
            "length-stop",
            "num_predict 1024",
            id="length-stop",
        ),
        pytest.param(
            "weather in Lisbon",
            [call("get_weather", city="Lisbon"), "The weather there is fine.<turn|>"],
            "tool-result-answer",
            "answer-content",
            "mentions none of ['14', 'rain']",
            id="result-not-used",
        ),
        pytest.param(
            "Red Planet",
            ["The answer is Mars.<turn|>"],
            "system-one-word",
            "system-ignored",
            "4 words where the system prompt allows 1",
            id="system-ignored",
        ),
    ],
)
@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_each_check_fails_its_case_with_the_reason(
    manifest, daemon, conversation, outputs, case, code, words
) -> None:
    create(daemon, manifest)
    daemon.script = GOOD.replace(conversation, outputs)
    exit_code, report = smoke(manifest, daemon)
    assert exit_code == 1 and not report["ok"]
    name, failure = only_failure(report)
    assert (name, failure["code"]) == (case, code)
    assert words in failure["message"]


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_parameter_drift_fails_the_show_case(manifest, daemon) -> None:
    create(
        daemon,
        manifest,
        parameters={
            "temperature": 0.8,
            "top_p": 0.95,
            "num_ctx": 8192,
            "stop": ["<turn|>"],
            "num_predict": 64,
        },
    )
    code, report = smoke(manifest, daemon)
    assert code == 1
    show = cases_of(report)["show"]
    messages = [f["message"] for f in show["results"][0]["failures"]]
    assert {f["code"] for f in show["results"][0]["failures"]} == {"parameter-drift"}
    assert "parameter temperature: Ollama has 0.8, the manifest says 0.6" in messages
    assert any(m.startswith("parameter stop: Ollama has ['<turn|>']") for m in messages)
    assert any(
        m.startswith("parameter num_predict: 64 on Ollama, not in the manifest") for m in messages
    )


@pytest.fixture
def template_manifest(manifest: Path) -> Path:
    """The same release shipping the Go TEMPLATE (+ PARSER) instead of a renderer."""
    text = manifest.read_text().replace('renderer = "gemma4"', 'template = "gemma4-tools.gotmpl"')
    manifest.write_text(text)
    return manifest


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_renderer_set_by_ollama_itself_is_caught(template_manifest, daemon) -> None:
    # TEMPLATE + PARSER, no RENDERER: like Ollama's createModel for a gemma4 GGUF, the stand-in
    # sets renderer gemma4 by itself, so the published template would be ignored.
    create(daemon, template_manifest)
    code, report = smoke(template_manifest, daemon)
    assert code == 1
    failures = cases_of(report)["show"]["results"][0]["failures"]
    assert [f["code"] for f in failures] == ["renderer-drift"]
    assert "Ollama has 'gemma4', the manifest says None" in failures[0]["message"]
    assert "Ollama ignores the TEMPLATE when a renderer is set" in failures[0]["message"]


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_create_refuses_a_template_release_ollama_would_give_its_own_renderer(
    template_manifest, daemon
) -> None:
    # `ollama create` puts its gemma4 renderer on a TEMPLATE + PARSER release: a scratch copy
    # would fail `show` on every run and test Ollama's renderer, so --create refuses up front.
    result = runner.invoke(app, ["smoke", str(template_manifest), "--host", daemon.url, "--create"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "--create Q4_K_M" in message and "renderer=None, parser='gemma4'" in message
    assert "renderer-drift" in message
    assert "ollama pull test/fam:Q4_K_M" in message and "without --create" in message
    assert ("POST", "/api/create") not in daemon.requests
    assert not any(
        method == "POST" and path.startswith("/api/blobs") for method, path in daemon.requests
    )
    assert daemon.models == {}


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_template_is_compared_exactly(template_manifest, daemon) -> None:
    create(daemon, template_manifest)
    stored = next(iter(daemon.models.values()))
    stored.renderer = None  # a daemon that keeps the template in charge
    code, report = smoke(template_manifest, daemon)
    assert code == 0, cases_of(report)["show"]["results"][0]["failures"]
    stored.template = "{{ .Prompt }} {{ .Tools }}\n" + (stored.template or "")
    code, report = smoke(template_manifest, daemon)
    failures = cases_of(report)["show"]["results"][0]["failures"]
    assert code == 1 and [f["code"] for f in failures] == ["template-drift"]
    assert "line 1: Ollama has '{{ .Prompt }} {{ .Tools }}'" in failures[0]["message"]
    assert "gemma4-tools.gotmpl" in failures[0]["message"]


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_without_a_parser_calls_stay_text_and_fail(template_manifest, daemon) -> None:
    """A model whose output is not parsed leaks the call syntax instead of making tool calls.
    It takes tools only through a TEMPLATE that reads .Tools: a renderer without a parser
    offers no tools capability, and Ollama refuses such a chat (routes.go:2610-2613, images.go
    capabilitiesForTemplate)."""
    create(daemon, template_manifest)
    stored = next(iter(daemon.models.values()))
    stored.renderer = None
    stored.parser = None
    code, report = smoke(template_manifest, daemon)
    failing = {
        n: c["results"][0]["failures"][0]["code"]
        for n, c in cases_of(report).items()
        if not c["ok"]
    }
    assert code == 1
    assert failing["single-tool-call"] == "control-token"
    assert failing["nested-second-call"] == "control-token"
    assert failing["show"] == "parser-drift"
    stored.renderer, stored.template = "gemma4", None  # renderer, no parser: no tools at all
    code, report = smoke(template_manifest, daemon)
    failure = cases_of(report)["single-tool-call"]["results"][0]["failures"][0]
    assert failure["code"] == "ollama-error" and "does not support tools" in failure["message"]


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_ollama_refusing_a_chat_fails_the_case_with_its_words(manifest, daemon) -> None:
    create(daemon, manifest)
    daemon.script = Script({k: v for k, v in GOOD.outputs.items() if k != "Ada Lovelace"})
    code, report = smoke(manifest, daemon)
    name, failure = only_failure(report)
    assert code == 1 and (name, failure["code"]) == ("nested-second-call", "ollama-error")
    assert "Ollama answered 500" in failure["message"]


# ---------------------------------------------------------------------------------------------
# the command around it


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_human_report_has_the_table_and_the_failing_transcript(manifest, daemon) -> None:
    create(daemon, manifest)
    daemon.script = GOOD.replace("weather in Paris", ["No idea.<turn|>"])
    result = runner.invoke(app, ["smoke", str(manifest), "--host", daemon.url])
    assert result.exit_code == 1
    assert "single-tool-call" in result.stdout and "FAIL" in result.stdout
    assert "assistant: 'No idea.' [stop]" in result.stdout
    assert "1 smoke case(s) failed: Q4_K_M/single-tool-call" in result.output


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_missing_model_without_create_is_a_usage_error(manifest, daemon) -> None:
    result = runner.invoke(app, ["smoke", str(manifest), "--host", daemon.url])
    assert result.exit_code == 2
    assert "test/fam:Q4_K_M is not on the Ollama" in result.output and "--create" in result.output


def test_unreachable_daemon_exits_3(manifest) -> None:
    result = runner.invoke(app, ["smoke", str(manifest), "--host", "http://127.0.0.1:9"])
    assert result.exit_code == 3 and "not reachable at http://127.0.0.1:9" in result.output


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_extra_cases_dir_adds_a_case(manifest, daemon, tmp_path) -> None:
    extra = tmp_path / "cases"
    extra.mkdir()
    (extra / "greeting.json").write_text(
        json.dumps(
            {
                "name": "greeting",
                "check": "plain",
                "steps": [
                    {"user": "Say hello to Bob."},
                    {"reply": "answer", "contains_any": ["Bob"]},
                ],
            }
        )
    )
    create(daemon, manifest)
    daemon.script = GOOD.replace("hello to Bob", ["Hello, Bob!<turn|>"])
    code, report = smoke(manifest, daemon, "--cases", str(extra))
    assert code == 0 and cases_of(report)["greeting"]["ok"]


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_bad_case_file_names_file_and_field(manifest, daemon, tmp_path) -> None:
    extra = tmp_path / "cases"
    extra.mkdir()
    (extra / "broken.json").write_text(
        json.dumps(
            {
                "name": "broken",
                "check": "tool-call",
                "steps": [{"user": "hi"}, {"reply": "tool_call", "name": "nope"}],
            }
        )
    )
    result = runner.invoke(
        app, ["smoke", str(manifest), "--host", daemon.url, "--cases", str(extra)]
    )
    assert result.exit_code == 2
    assert "broken.json" in result.output and "'nope', not in 'tools'" in result.output


# A daemon's error made to attack the terminal: colour, an OSC title, a forged line, 2,000 chars.
HOSTILE_ERROR = "\x1b[31mbusy\x1b]0;owned\x07 " + "A" * 2000 + "\nerror: forged"


def _assert_one_safe_line(message: str) -> None:
    assert "\x1b" not in message and "\x07" not in message and "owned" not in message
    assert "\n" not in message and "forged" not in message and len(message) < 500


def test_a_daemon_error_reaches_the_console_as_one_safe_line(monkeypatch) -> None:
    """`exc.error` is the daemon's words: through remote_text.server_text, like every server's."""
    from types import SimpleNamespace

    import ollama

    from publisher.commands import smoke as command
    from publisher.errors import TargetUnavailable

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ollama.ResponseError(HOSTILE_ERROR, 500)

    monkeypatch.setattr(ollama.Client, "list", refuse)
    with pytest.raises(TargetUnavailable) as listed:
        command._client("http://127.0.0.1:9")
    _assert_one_safe_line(str(listed.value))
    assert "answered 500: busy AAA" in str(listed.value)
    release = SimpleNamespace(ollama=SimpleNamespace(model="me/fam"))
    client = SimpleNamespace(show=refuse)
    with (
        pytest.raises(TargetUnavailable) as shown,
        command._model(release, SimpleNamespace(tag="Q4_K_M"), "http://127.0.0.1:9", False, client),
    ):
        pass
    _assert_one_safe_line(str(shown.value))
    assert "show me/fam:Q4_K_M: Ollama answered 500: busy AAA" in str(shown.value)
