"""Judging one smoke reply and the tag's `/api/show` against the case and the manifest.

Kept apart from the runner: these are pure functions of what Ollama answered — termination,
leaked control tokens, answers, tool calls and their arguments, parameters/template/renderer/
parser/system drift — so they are tested without a daemon.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from publisher.manifest import ParameterValue, Release, Tag
from publisher.ollama.smoke.cases import Case, Step, validate_schema
from publisher.ollama.smoke.report import Failure
from publisher.render.modelfile import template_text

# Gemma 4 control tokens that must never reach a user's screen: the ones the release template
# writes (publisher/templates/ollama/gemma4-tools.gotmpl) and Ollama's gemma4 parser consumes.
CONTROL_TOKENS = (
    "<turn|>",
    "<|turn>",
    "<|tool_call>",
    "<tool_call|>",
    "<|tool_response>",
    "<tool_response|>",
    '<|"|>',
    "<|channel>",
    "<channel|>",
    "<|tool>",
    "<tool|>",
    "<|think|>",
    "<bos>",
    "<eos>",
)


def check_reply(
    case: Case,
    step: Step,
    message: dict[str, Any],
    response: dict[str, Any],
    index: int,
    calls_expected: int,
    options: dict[str, Any],
) -> list[Failure]:
    """Every check one reply must pass: termination, control tokens, then what the step expects."""
    failures = _termination(response, index, options) + _control_tokens(message, index)
    if step.reply == "answer":
        failures += _answer(step, message, index)
    else:
        failures += _tool_call(case, step, message, index, calls_expected)
    return failures


def _termination(response: dict[str, Any], index: int, options: dict[str, Any]) -> list[Failure]:
    reason = response.get("done_reason")
    if reason == "stop":
        return []
    if reason == "length":
        return [
            Failure(
                "length-stop",
                f"reply {index} ended by the length limit (num_predict "
                f"{options.get('num_predict')}), not by a stop: the turn never closed",
            )
        ]
    return [Failure("not-stopped", f"reply {index} ended by {reason!r}, expected 'stop'")]


def _control_tokens(message: dict[str, Any], index: int) -> list[Failure]:
    texts = [("content", message.get("content") or "")]
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        texts.append(
            (
                f"call {function.get('name')}",
                json.dumps(function.get("arguments"), ensure_ascii=False),
            )
        )
    failures = []
    for where, text in texts:
        leaked = [token for token in CONTROL_TOKENS if token in text]
        if leaked:
            at = text.find(leaked[0])
            failures.append(
                Failure(
                    "control-token",
                    f"reply {index} leaks control token(s) {', '.join(leaked)} in its {where}: "
                    f"…{text[max(0, at - 30) : at + 30]!r}…",
                )
            )
    return failures


def _answer(step: Step, message: dict[str, Any], index: int) -> list[Failure]:
    content = (message.get("content") or "").strip()
    calls = message.get("tool_calls") or []
    if calls:
        names = ", ".join(c["function"]["name"] for c in calls)
        return [
            Failure(
                "unexpected-tool-call",
                f"reply {index}: expected an answer, the model called {names}",
            )
        ]
    if not content:
        return [Failure("empty-answer", f"reply {index}: the answer is empty")]
    failures = []
    lower = content.lower()
    if step.contains_any and not any(s.lower() in lower for s in step.contains_any):
        failures.append(
            Failure(
                "answer-content",
                f"reply {index}: the answer mentions none of "
                f"{step.contains_any!r}: {content[:120]!r}",
            )
        )
    found = [s for s in step.not_contains if s.lower() in lower]
    if found:
        failures.append(
            Failure(
                "answer-content", f"reply {index}: the answer contains {found!r}: {content[:120]!r}"
            )
        )
    words = re.findall(r"[^\W_]+(?:['’-][^\W_]+)*", content)
    if step.max_words is not None and len(words) > step.max_words:
        failures.append(
            Failure(
                "system-ignored",
                f"reply {index}: {len(words)} words where the "
                f"system prompt allows {step.max_words}: {content[:120]!r}",
            )
        )
    return failures


def _tool_call(
    case: Case, step: Step, message: dict[str, Any], index: int, calls_expected: int
) -> list[Failure]:
    calls = message.get("tool_calls") or []
    content = (message.get("content") or "").strip()
    if not calls:
        if calls_expected > 1:
            return [
                Failure(
                    "no-second-call",
                    f"reply {index}: no second tool call after the "
                    f"first result (expected {step.name}); the model said "
                    f"{content[:120]!r}",
                )
            ]
        return [
            Failure(
                "no-tool-call",
                f"reply {index}: expected a call to {step.name}, got no "
                f"tool call; the model said {content[:120]!r}",
            )
        ]
    failures = []
    for call in calls:
        name = call["function"]["name"]
        if case.schema_of(name) is None:
            failures.append(
                Failure(
                    "wrong-tool", f"reply {index}: called {name!r}, which is not an offered tool"
                )
            )
    if failures:
        return failures
    names = [c["function"]["name"] for c in calls]
    if step.name not in names:
        return [
            Failure("wrong-tool", f"reply {index}: called {', '.join(names)}, expected {step.name}")
        ]
    for call in calls:
        failures += _arguments(case, step, call["function"], index)
    return failures


def _arguments(case: Case, step: Step, function: dict[str, Any], index: int) -> list[Failure]:
    name = function["name"]
    arguments = function.get("arguments")
    schema = case.schema_of(name) or {}
    problems = validate_schema(arguments, schema, "arguments")
    if name == step.name and isinstance(arguments, dict):
        for key, wanted in step.arguments.items():
            value = json.dumps(arguments.get(key), ensure_ascii=False).lower()
            if not any(w.lower() in value for w in wanted):
                problems.append(
                    f"arguments.{key}: {arguments.get(key)!r} mentions none of {wanted!r}"
                )
    if not problems:
        return []
    return [
        Failure(
            "bad-arguments",
            f"reply {index}: {name}({json.dumps(arguments)}) — " + "; ".join(problems),
        )
    ]


# ---------------------------------------------------------------------------------------------
# /api/show against the manifest


def show_parameters(text: str) -> dict[str, list[Any]]:
    """The `parameters` text of /api/show as name -> values (one value per line, lists kept)."""
    from publisher.ollama.show import parse_show_parameters

    return {
        name: value if isinstance(value, list) else [value]
        for name, value in parse_show_parameters(text).items()
    }


def _same(found: Any, expected: Any) -> bool:
    if isinstance(expected, bool) or isinstance(found, bool):
        return isinstance(found, bool) and isinstance(expected, bool) and found == expected
    if isinstance(expected, int | float) and isinstance(found, int | float):
        return math.isclose(float(found), float(expected), rel_tol=1e-6, abs_tol=1e-9)
    return bool(found == expected)


def check_parameters(found: dict[str, list[Any]], expected: dict[str, ParameterValue]) -> list[str]:
    """Differences between the tag's parameters on Ollama and the manifest's, one line each."""
    problems = []
    for name, value in expected.items():
        want = list(value) if isinstance(value, list) else [value]
        have = found.get(name)
        if have is None:
            problems.append(f"parameter {name}: missing on Ollama (manifest: {value!r})")
        elif len(have) != len(want) or not all(map(_same, have, want)):
            shown = have if len(have) > 1 or isinstance(value, list) else have[0]
            problems.append(f"parameter {name}: Ollama has {shown!r}, the manifest says {value!r}")
    for name, have in found.items():
        if name not in expected:
            shown = have if len(have) > 1 or name == "stop" else have[0]
            problems.append(
                f"parameter {name}: {shown!r} on Ollama, not in the manifest "
                "(set by nobody: Ollama added it, or the tag is stale)"
            )
    return problems


def check_show(show: dict[str, Any], release: Release, tag: Tag) -> list[Failure]:
    """`/api/show` of the tag against the manifest: parameters, template, renderer, parser,
    system and requires."""
    assert release.ollama is not None
    failures = [
        Failure("parameter-drift", p)
        for p in check_parameters(
            show_parameters(show.get("parameters") or ""), release.parameters_for(tag)
        )
    ]
    from publisher.ollama.show import modelfile_directives

    directives = modelfile_directives(show.get("modelfile") or "")
    for key in ("renderer", "parser"):
        have = show.get(key) or directives.get(key) or None
        want = getattr(release.ollama, key)
        if have != want:
            hint = (
                " — Ollama ignores the TEMPLATE when a renderer is set"
                if (key == "renderer" and have and release.ollama.template)
                else ""
            )
            failures.append(
                Failure(
                    f"{key}-drift", f"{key}: Ollama has {have!r}, the manifest says {want!r}{hint}"
                )
            )
    want_template = template_text(release)
    if want_template is not None:
        have_template = show.get("template") or ""
        if have_template != want_template:
            failures.append(
                Failure(
                    "template-drift",
                    "template: differs from "
                    f"{release.ollama.template.name} "
                    f"({_first_difference(have_template, want_template)})",
                )
            )
    # SYSTEM and REQUIRES are show's own fields (routes.go GetModelInfo fills both from the model
    # and its config); the modelfile has SYSTEM too but never a REQUIRES line (images.go
    # Model.String), so the fields are the one source for both.
    for key in ("system", "requires"):
        have = show.get(key) or None
        want = getattr(release.ollama, key)
        if have != (want or None):
            failures.append(
                Failure(f"{key}-drift", f"{key}: Ollama has {have!r}, the manifest says {want!r}")
            )
    return failures


def _first_difference(have: str, want: str) -> str:
    have_lines, want_lines = have.splitlines(), want.splitlines()
    for number, (a, b) in enumerate(zip(have_lines, want_lines, strict=False), 1):
        if a != b:
            return f"line {number}: Ollama has {a[:60]!r}, the file has {b[:60]!r}"
    return f"Ollama has {len(have_lines)} lines, the file has {len(want_lines)}"
