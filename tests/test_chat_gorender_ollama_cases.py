"""The Go renderer reproduces prompts that Ollama's own template tests expect (fixtures taken
from ollama/ollama template/template_test.go: template + input + expected prompt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from publisher.chat import gorender

CASES = sorted((Path(__file__).parent / "fixtures" / "ollama_template_cases").glob("*.json"))


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 10


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_go_renderer_matches_ollama_expected_prompt(path: Path) -> None:
    case = json.loads(path.read_text(encoding="utf-8"))
    assert gorender.render(case["template"], case["values"]) == case["expected"], case["source"]


def test_all_cases_render_in_one_batch_identically() -> None:
    jobs = [json.loads(p.read_text(encoding="utf-8")) for p in CASES]
    raw = gorender.run_batch(
        [{"op": "render", "template": c["template"], "values": c["values"]} for c in jobs]
    )
    assert [r["output"] for r in raw] == [c["expected"] for c in jobs]


def test_arguments_and_properties_print_as_json_like_ollama() -> None:
    # Ollama's String() methods: json.Marshal of a map (sorted keys, HTML-escaped).
    template = (
        "{{ range .Messages }}{{ range .ToolCalls }}{{ .Function.Arguments }}{{ end }}{{ end }}"
        "|{{ range .Tools }}{{ .Function.Parameters.Properties }}{{ end }}"
    )
    values = {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [
                    {"function": {"name": "f", "arguments": {"unit": "c", "city": "<Tokyo>"}}}
                ],
            }
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "parameters": {
                        "type": "object",
                        "properties": {"b": {"type": "string"}, "a": {"type": "number"}},
                    },
                },
            }
        ],
    }
    assert gorender.render(template, values) == (
        '{"city":"\\u003cTokyo\\u003e","unit":"c"}|{"a":{"type":"number"},"b":{"type":"string"}}'
    )


def test_collate_merges_consecutive_user_messages_but_not_tool_messages() -> None:
    template = "{{ .System }}#{{ range .Messages }}{{ .Role }}:{{ .Content }}|{{ end }}"
    values = {
        "messages": [
            {"role": "system", "content": "S1"},
            {"role": "user", "content": "Hello"},
            {"role": "user", "content": "How are you?"},
            {"role": "tool", "content": "sunny", "tool_name": "a"},
            {"role": "tool", "content": "72F", "tool_name": "b"},
            {"role": "system", "content": "S2"},
        ]
    }
    assert gorender.render(template, values) == (
        "S1\n\nS2#system:S1|user:Hello\n\nHow are you?|tool:sunny|tool:72F|system:S2|"
    )


def test_think_values_follow_ollama() -> None:
    template = "{{ range .Messages }}{{ end }}{{ .Think }} {{ .ThinkLevel }} {{ .IsThinkSet }}"
    msgs = [{"role": "user", "content": "x"}]
    assert gorender.render(template, {"messages": msgs}) == "false  false"
    assert gorender.render(template, {"messages": msgs, "think": True}) == "true medium true"
    assert gorender.render(template, {"messages": msgs, "think": "high"}) == "true high true"


def test_ollama_funcs_are_registered() -> None:
    template = (
        "{{ range .Tools }}{{ range $n, $p := .Function.Parameters.Properties }}"
        "{{ $n }}={{ toTypeScriptType $p }};{{ end }}{{ json .Function.Name }}{{ end }}"
        "{{ range .Messages }}{{ end }}{{ len currentDate }}"
    )
    values = {
        "messages": [],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "parameters": {
                        "type": "object",
                        "properties": {"a": {"type": ["string", "null"]}, "b": {"type": "array"}},
                    },
                },
            }
        ],
    }
    assert gorender.render(template, values) == 'a=string | null;b=any[];"f"10'
