"""hf.co as Ollama sees it: the /v2 registry route of the strict double, resolved by
`publisher.huggingface.readback` — tags to files by the Hub's label rule, collisions, names
without a label, file-name tags, private repos."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from doubles import hub_http
from doubles.hf_double import (
    REPO,
    TOKEN,
    FakeHub,
    Records,
    new_hub,
    payload,
    release_with_files,
    target,
)
from doubles.hub_http import NO_SUCH_TAG, hub_quant_label, resolve_tag
from support.go_program import needs_go

import publisher.pipeline.targets as targets
from publisher.huggingface.readback import MANIFEST_ACCEPT, SETTLE, read_back, resolve
from publisher.targets.base import Operation, TargetOptions, apply_all, plan_all

# huggingface_hub's own LFS PUT passes `data=` to httpx2, which warns: not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")

REFERENCE = Path(__file__).parents[2] / "shared" / "reference" / "templates"
STEM = "gemma-4-A4B-98e-v3-it"
LADDER = {  # this release's kind of names: CD-X collides with X, Q4_K_L reads as no label
    f"{STEM}-Q4_K_M.gguf": b"GGUF q4km",
    f"{STEM}-CD-Q4_K_M.gguf": b"GGUF cd-q4km",
    f"{STEM}-Q6_K.gguf": b"GGUF q6k",
    f"{STEM}-Q6_K_L.gguf": b"GGUF q6kl",
    f"{STEM}-Q4_K_L.gguf": b"GGUF q4kl",
    "template": b"{{ .Prompt }}",
    "params": b'{"temperature": 0.6}\n',
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    made = new_hub()
    made.seed(REPO, LADDER, private=False)
    made.serve()
    yield made
    made.http.close()


def test_every_file_name_is_a_tag_that_reaches_that_file(hub):
    expected = {name: sha(data) for name, data in LADDER.items() if name.endswith(".gguf")}
    assert read_back(hub.http.url, REPO, expected).ok


def test_quant_labels_resolve_case_insensitively(hub):
    with httpx.Client() as client:
        found = resolve(hub.http.url, REPO, "q6_k", client=client)
    assert found.problem is None and found.sha256 == sha(LADDER[f"{STEM}-Q6_K.gguf"])
    assert found.size == len(LADDER[f"{STEM}-Q6_K.gguf"])
    assert read_back(hub.http.url, REPO, {"Q6_K_L": sha(LADDER[f"{STEM}-Q6_K_L.gguf"])}).ok


def test_a_shared_label_reaches_one_file_and_the_other_is_reported(hub):
    expected = {"Q4_K_M": sha(LADDER[f"{STEM}-Q4_K_M.gguf"])}
    verdict = read_back(hub.http.url, REPO, expected)
    assert list(verdict.failures) == ["Q4_K_M"] and verdict.warnings == []
    assert sha(LADDER[f"{STEM}-CD-Q4_K_M.gguf"]) in verdict.failures["Q4_K_M"]  # CD-Q4_K_M won


def test_a_name_without_a_hub_label_has_no_quant_tag(hub):
    verdict = read_back(hub.http.url, REPO, {"Q4_K_L": sha(LADDER[f"{STEM}-Q4_K_L.gguf"])})
    assert "does not resolve (HTTP 400" in verdict.failures["Q4_K_L"]
    assert NO_SUCH_TAG[:40] in verdict.failures["Q4_K_L"]


def test_the_manifest_is_what_ollama_pulls(hub):
    """Ollama's request (Accept header) gets a Docker v2 manifest: the GGUF as the model layer,
    the repo's template and params as their layers, every blob fetchable by digest."""
    url = f"{hub.http.url}/v2/{REPO}/manifests/Q6_K"
    with httpx.Client() as client:
        response = client.get(url, headers={"Accept": MANIFEST_ACCEPT})
        manifest = response.json()
        kinds = {layer["mediaType"]: layer["digest"] for layer in manifest["layers"]}
        template = client.get(
            f"{hub.http.url}/v2/{REPO}/blobs/{kinds['application/vnd.ollama.image.template']}"
        )
    assert response.headers["Content-Type"] == MANIFEST_ACCEPT
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == MANIFEST_ACCEPT
    assert kinds["application/vnd.ollama.image.model"] == "sha256:" + sha(
        LADDER[f"{STEM}-Q6_K.gguf"]
    )
    assert "application/vnd.ollama.image.params" in kinds
    assert template.content == LADDER["template"]


def test_a_private_repo_needs_the_token(hub):
    hub.seed("acme/secret-GGUF", {"x-Q8_0.gguf": b"GGUF q8"}, private=True)
    expected = {"Q8_0": sha(b"GGUF q8")}
    closed = read_back(hub.http.url, "acme/secret-GGUF", expected)
    assert closed.failures == {} and "HTTP 401" in closed.warnings[0]  # could not ask: a warning
    assert read_back(hub.http.url, "acme/secret-GGUF", expected, token=TOKEN).ok


def test_an_unreachable_hub_is_one_line_not_a_traceback():
    verdict = read_back("http://127.0.0.1:9", REPO, {"Q4_K_M": "0" * 64})
    assert verdict.warnings[0].startswith(f"hf.co/{REPO}:Q4_K_M could not be checked: cannot")


# --- the Hub's label rule, as the double keeps it (huggingface.js gguf.ts) ----------------------


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("Llama-3.2-3B-Instruct-IQ3_M.gguf", "IQ3_M"),  # bartowski
        ("Llama-3.2-3B-Instruct-Q4_K_L.gguf", None),  # bartowski's _L: no Q4_K in the enum
        ("Qwen2.5-7B-Instruct-Q6_K_L.gguf", "Q6_K_L"),  # Q6_K then a size variation
        ("Qwen3-30B-A3B-UD-Q4_K_XL.gguf", "UD-Q4_K_XL"),  # unsloth dynamic
        ("gemma-3-27b-it-BF16.gguf", "BF16"),
        ("model-f16.gguf", "F16"),  # upper-cased first
        (f"{STEM}-CD-Q4_K_M.gguf", "Q4_K_M"),  # CD-X reads as X
        ("Q8_0-model-Q4_0.gguf", "Q4_0"),  # the last match wins
        ("big-Q8_0-00001-of-00003.gguf", "Q8_0"),  # shards carry their file's label
    ],
)
def test_hub_label_rule(name, label):
    assert hub_quant_label(name) == label


def test_latest_is_q4_k_m_and_full_names_beat_labels():
    paths = ["a-Q8_0.gguf", "b-Q4_K_M.gguf", "template"]
    assert resolve_tag(paths, "latest") == "b-Q4_K_M.gguf"
    assert resolve_tag(paths, "a-Q8_0.gguf") == "a-Q8_0.gguf"
    assert resolve_tag(paths, "Q5_K_M") is None


# --- the release's read-back: what `ollama run hf.co/<repo>:<file name>` pulls -----------------


@pytest.fixture
def served(monkeypatch) -> Iterator[FakeHub]:
    """A double on loopback that the target's endpoint (HF_ENDPOINT) names."""
    made = new_hub()
    made.serve()
    monkeypatch.setenv("HF_ENDPOINT", made.http.url)
    yield made
    made.http.close()


def publish(tmp_path, hub: FakeHub, **kw):
    release = release_with_files(tmp_path, ("Q4_K_M", "Q6_K"))
    tgt, sleeps = target(release, hub, check_hf_co=True, **kw)
    data = payload(release)
    return release, apply_all(tgt, data, plan_all(tgt, data, online=True), Records()), sleeps


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_release_reads_back_each_file_name_tag_through_hf_co(tmp_path, served):
    release, result, sleeps = publish(tmp_path, served)
    assert result.ok, result.failures
    for tag in release.tags:
        assert ("GET", f"/v2/{REPO}/manifests/{tag.path.name}") in served.http.requests
    assert sleeps == []


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_file_name_tag_reaching_other_bytes_fails_its_tag(tmp_path, served, monkeypatch):
    """As if the Hub resolved Q6_K's file name to the Q4_K_M file: asked three times (the route
    may lag behind the commit), then the tag fails with both sha256s named."""
    real = hub_http.resolve_tag
    monkeypatch.setattr(
        hub_http,
        "resolve_tag",
        lambda paths, tag: real(paths, "Q4_K_M") if "Q6_K" in tag else real(paths, tag),
    )
    release, result, sleeps = publish(tmp_path, served)
    q4 = sha(release.tag("Q4_K_M").path.read_bytes())
    assert (
        f"hf.co/{REPO}:{release.tag('Q6_K').path.name} reaches sha256 {q4}"
        in (result.failures["Q6_K"])
    )
    # the quant label reaches the file alone in this release, so it is checked as well
    assert f"hf.co/{REPO}:Q6_K reaches sha256 {q4}" in result.failures["Q6_K"]
    assert "Q4_K_M" not in result.failures
    assert sleeps == [SETTLE, SETTLE]


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_an_hf_co_answer_echoing_the_token_is_redacted(tmp_path, served, monkeypatch, capsys):
    """The route's error text goes into the failure line (ledger, run log, screen) and its
    warnings to the screen: a server or proxy that echoes the Authorization header must not
    carry the token there, as no other Hub error line does."""
    monkeypatch.setattr(hub_http, "NO_SUCH_TAG", f"no such tag (Authorization: Bearer {TOKEN})")
    real = hub_http.resolve_tag
    monkeypatch.setattr(
        hub_http, "resolve_tag", lambda paths, tag: None if "Q6_K" in tag else real(paths, tag)
    )
    _, result, _ = publish(tmp_path, served)
    assert "does not resolve" in result.failures["Q6_K"]
    assert TOKEN not in result.failures["Q6_K"] and "Bearer ***" in result.failures["Q6_K"]
    assert TOKEN not in capsys.readouterr().err


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_a_hub_without_the_route_is_a_warning_not_a_failure(tmp_path, served, capsys):
    served.fail("manifest", 404, times=2)
    _, result, _ = publish(tmp_path, served)
    assert result.ok, result.failures
    assert "could not be checked: HTTP 404" in capsys.readouterr().err


def test_skip_remote_verify_skips_the_hf_co_read_back(tmp_path):
    release = release_with_files(tmp_path, ("Q4_K_M",))
    made = targets.TARGETS["huggingface"].factory(release, TargetOptions())
    assert made.check_hf_co is True
    options = TargetOptions(skip_remote_verify=True)
    assert targets.TARGETS["huggingface"].factory(release, options).check_hf_co is False


def test_a_shard_is_not_read_back_through_hf_co(tmp_path, hub):
    """How hf.co serves a split GGUF is not documented: only whole files are asked for."""
    release = release_with_files(tmp_path, ("Q4_K_M",))
    tgt, _ = target(release, hub, check_hf_co=True)

    def verify(name: str) -> Operation:
        return Operation("huggingface", "verify", name, "", tag="Q4_K_M", sha256="a" * 64)

    assert tgt.reader._hf_co_tags(verify("big-Q4_K_M-00001-of-00002.gguf")) == {}
    assert tgt.reader._hf_co_tags(verify("big-Q4_K_M.gguf"))["big-Q4_K_M.gguf"] == "a" * 64


def test_every_blob_of_the_manifest_can_be_pulled(hub):
    """What `ollama pull` does next: fetch the config and every layer by digest."""
    with httpx.Client() as client:
        manifest = client.get(
            f"{hub.http.url}/v2/{REPO}/manifests/latest", headers={"Accept": MANIFEST_ACCEPT}
        ).json()
        for layer in [manifest["config"], *manifest["layers"]]:
            blob = client.get(f"{hub.http.url}/v2/{REPO}/blobs/{layer['digest']}")
            assert blob.status_code == 200 and len(blob.content) == layer["size"]
            assert "sha256:" + sha(blob.content) == layer["digest"]


# --- which template Ollama runs for an hf.co pull ---------------------------------------------
# An hf.co model has the repo's `template` as its Go TEMPLATE and no renderer/parser, and its GGUF
# carries Google's Jinja chat template. Ollama (v0.33.0-rc2, server/images.go:790-795) then runs
# the Jinja instead of the TEMPLATE when shouldPreferChatTemplate (:295-307) says so:
# - the Jinja offers more capabilities (tools: "tools"/"tool_call" in it, :200-202; thinking:
#   <think>…</think>, :218-226) than the TEMPLATE (tools: reads .Tools; insert: .Suffix;
#   thinking: inferred tags, :236-260) → Jinja unless the TEMPLATE has a tool round trip and
#   the Jinja has none;
# - same capabilities, tools in both → Jinja when it has a tool round trip (:204-216) and the
#   TEMPLATE has none;
# - a TEMPLATE's tool round trip (:264-276): `tools` AND `toolcalls` among its Vars, and the
#   text holds `eq .Role "tool"`, `tool_response` or `TOOL_RESULTS`.
# The port is doubles/ollama_show.prefers_chat_template; Vars come from Go's own parse tree.

GEMMA4_LIKE_JINJA = (  # what decides: tools, tool_calls and tool_response, no <think>
    "{% if tools %}{{ tools }}{% endif %}{% for message in messages %}"
    "{% if message.tool_calls %}<|tool_call>{% endif %}"
    "{% if message.role == 'tool' %}<|tool_response>{% endif %}{% endfor %}"
)


def _go_vars(template_text: str) -> list[str]:
    from publisher.chat import gorender

    linted = gorender.lint(template_text)
    assert not linted.parse_error, linted.parse_error
    return linted.vars


@needs_go
@pytest.mark.parametrize(
    ("jinja", "go_template", "go_thinking", "preferred"),
    [  # Ollama's own cases, server/images_test.go:91-250
        (
            "{% if tools %}{{ tools }}{% endif %}{{ messages[0]['content'] }}",
            "CUSTOM {{ .Prompt }}",
            False,
            True,
        ),
        (
            "{% if tools %}{{ tools }}{% endif %}"
            "{% set content = (content.split('</think>')|last) %}",
            "{{ range .Messages }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}"
            "{{ .Content }}{{ end }}",
            True,
            True,
        ),
        (
            "{% if tools %}{{ tools }}{% endif %}{% for message in messages %}"
            "{% if message.tool_calls %}{% for tool_call in message.tool_calls %}"
            "{{ tool_call.function.name }}{% endfor %}{% endif %}"
            "{% if message.role == 'tool' %}tool_response {{ message.content }}{% endif %}"
            "{% endfor %}",
            "{{ if .Tools }}tools{{ end }}\n{{ range .Messages }}\n"
            "{{ range .ToolCalls }}{{ .Function.Name }}{{ end }}\n{{ end }}",
            False,
            True,
        ),
        (
            "{%- if tools and not available_tools -%}{{- set available_tools = tools -}}"
            "{%- endif -%}{%- if available_tools -%}{{ available_tools | tojson }}{%- endif -%}"
            "{%- if thinking -%}<think></think><response></response>{%- endif -%}"
            "{%- for message in messages -%}{{ message['content'] }}{%- endfor -%}",
            '{{ if .Tools }}tools{{ end }}\n{{ range .Messages }}\n{{ if eq .Role "tool" }}'
            "tool_response{{ else }}{{ .Role }}{{ end }}\n{{ if .ToolCalls }}<|tool_call|>"
            "{{ range .ToolCalls }}{{ .Function.Name }}{{ end }}{{ else }}{{ .Content }}{{ end }}"
            "\n{{ end }}",
            False,
            False,
        ),
    ],
)
def test_the_port_of_should_prefer_chat_template_agrees_with_ollamas_tests(
    jinja, go_template, go_thinking, preferred
):
    from doubles.ollama_show import prefers_chat_template

    assert prefers_chat_template(jinja, _go_vars(go_template), go_template, go_thinking) is (
        preferred
    )


@needs_go
def test_hf_co_users_get_the_release_template_not_the_ggufs_jinja():
    """The release template must win over any Jinja with a tool round trip and at most its own
    capability count — Gemma 4's (tools, tool_calls, tool_response; no <think>) is one. An edit
    that drops `.Tools`, `.ToolCalls` or the literal `tool_response` fails here."""
    from doubles.ollama_show import go_template_has_tool_round_trip, prefers_chat_template

    from publisher.manifest import load
    from publisher.render.modelfile import template_text

    release = load(Path(__file__).parents[1] / "manifests" / "v3.toml")
    text = template_text(release)
    assert text is not None
    go_vars = _go_vars(text)
    assert {"tools", "toolcalls"} <= set(go_vars) and "tool_response" in text
    assert go_template_has_tool_round_trip(go_vars, text)
    jinjas = [GEMMA4_LIKE_JINJA]
    google = REFERENCE / "gemma4-large.chat_template.jinja"
    if google.is_file():  # Google's own template, where the shared references are checked out
        jinjas.append(google.read_text(encoding="utf-8"))
    for jinja in jinjas:
        for thinking in (False, True):  # InferTags is not ported: the verdict holds either way
            assert not prefers_chat_template(jinja, go_vars, text, thinking)
    # the same template without its tool handling would hand hf.co users the Jinja
    for broken in (text.replace("tool_response", "tool_result"), "{{ .Prompt }}"):
        assert prefers_chat_template(GEMMA4_LIKE_JINJA, _go_vars(broken), broken, False)


# --- the side layers: what hf.co users get besides the GGUF -----------------------------------
SIDE = {"template": LADDER["template"], "params": LADDER["params"]}
Q6 = f"{STEM}-Q6_K.gguf"


def test_the_side_layers_served_are_the_repos_files(hub):
    """hub-docs ollama.md: the repo's `template` is the TEMPLATE, `params` the parameters of an
    hf.co pull. Equal digests need no download; the same params JSON serialised otherwise is
    read once and accepted."""
    expected = {Q6: sha(LADDER[Q6])}
    assert read_back(hub.http.url, REPO, expected, side_files=SIDE).ok
    assert not any("/blobs/" in path for _, path in hub.http.requests)
    compact = {"template": SIDE["template"], "params": b'{"temperature":0.6}'}
    assert read_back(hub.http.url, REPO, expected, side_files=compact).ok
    assert sum("/blobs/" in path for _, path in hub.http.requests) == 1


@pytest.mark.parametrize(
    ("side", "words"),
    [
        ({"template": b"{{ .Other }}"}, "serves a template layer sha256:"),
        ({"params": b'{"temperature": 0.7}\n'}, "serves a params layer sha256:"),
        ({"system": b"Be brief."}, "serves no system layer, though the repo has a `system` file"),
    ],
)
def test_a_side_layer_that_is_not_the_repos_file_fails_the_tag(hub, side, words):
    sleeps: list[float] = []
    verdict = read_back(
        hub.http.url, REPO, {Q6: sha(LADDER[Q6])}, side_files=side, sleep=sleeps.append
    )
    assert list(verdict.failures) == [Q6] and words in verdict.failures[Q6]
    assert verdict.failures[Q6].startswith(f"hf.co/{REPO}:{Q6} serves")
    assert sleeps == [SETTLE, SETTLE]  # asked again: the route may lag behind the commit


@pytest.mark.slow  # ≥ 0.3 s: kept out of the fast subset
def test_the_release_read_back_checks_the_template_and_params_it_committed(
    tmp_path, served, monkeypatch
):
    """Through the target: the side files the release commits are the ones compared, and a
    Hub that served another template layer fails every tag read back through hf.co."""
    side = {"template": "{{ .Prompt }}", "params": '{"temperature": 0.6}\n'}
    (tmp_path / "first").mkdir()
    release = release_with_files(tmp_path / "first", ("Q4_K_M",))
    tgt, _ = target(release, served, check_hf_co=True)
    data = payload(release, hf_files=side)
    assert apply_all(tgt, data, plan_all(tgt, data, online=True), Records()).ok
    real = hub_http._layer
    monkeypatch.setattr(
        hub_http,
        "_layer",
        lambda kind, data: real(kind, b"{{ .Other }}" if kind.endswith("template") else data),
    )
    (tmp_path / "then").mkdir()
    release = release_with_files(tmp_path / "then", ("Q6_K",))
    tgt, _ = target(release, served, check_hf_co=True)
    data = payload(release, hf_files=side)
    result = apply_all(tgt, data, plan_all(tgt, data, online=True), Records())
    assert list(result.failures) == ["Q6_K"]
    assert "serves a template layer" in result.failures["Q6_K"]
    assert "params" not in result.failures["Q6_K"]
