"""Checks and lint for a Gemma 4 Ollama TEMPLATE: it must render every corpus conversation with
real Go, keep every message, call and result, end ready for the model, and fit its Modelfile."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import publisher.chat.gorender as gorender
from publisher.chat.corpus import Conversation, load_corpus

GENERATION_PROMPTS = ("<|turn>model\n", "<|turn>model\n<|channel>thought\n<channel|>")
TOOL_RESPONSE_OPEN = "<|tool_response>"
TOOL_RESPONSE_CLOSE = "<tool_response|>"
_TURN_RE = re.compile(r"<\|turn>|<turn\|>")
_CALL_RE = re.compile(r"<\|tool_call>|<tool_call\|>")


@dataclass(frozen=True)
class Failure:
    """One fault: which check, which conversation, what, and the prompt around it."""

    check: str
    message: str
    conversation: str | None = None
    excerpt: str = ""

    def format(self) -> str:
        """A human-readable block for the terminal."""
        where = f" [{self.conversation}]" if self.conversation else ""
        text = f"{self.check}{where}: {self.message}"
        if self.excerpt:
            text += f"\n    … {self.excerpt} …"
        return text


@dataclass(frozen=True)
class ParityEntry:
    """One conversation rendered by the template and by the reference: identical or a diff."""

    conversation: str
    identical: bool
    diff: str = ""


@dataclass
class TemplateReport:
    """All findings for one template; `ok` is what the release pre-flight gates on."""

    template: str
    failures: list[Failure] = field(default_factory=list)
    renders: dict[str, str] = field(default_factory=dict)
    parity: list[ParityEntry] = field(default_factory=list)
    reference: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no check failed (parity differences never fail)."""
        return not self.failures

    @property
    def messages(self) -> list[str]:
        """One formatted message per failure."""
        return [f.format() for f in self.failures]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for `--json`."""
        return {
            "template": self.template,
            "ok": self.ok,
            "failures": [f.__dict__ for f in self.failures],
            "conversations": sorted(self.renders),
            "reference": self.reference,
            "parity": [p.__dict__ for p in self.parity],
            "notes": self.notes,
        }


def excerpt(prompt: str, pos: int, width: int = 90) -> str:
    """The prompt around `pos`, newlines shown as \\n, with ▲ marking the spot."""
    pos = max(0, min(pos, len(prompt)))
    before = prompt[max(0, pos - width) : pos]
    after = prompt[pos : pos + width]
    return (before + "▲" + after).replace("\n", "\\n")


# --- template-level lint ---------------------------------------------------------------------


def lint_template(
    text: str,
    *,
    renderer: str | None,
    parser: str | None,
    stop: Sequence[str],
    modelfile: bool = False,
    linted: gorender.LintResult | None = None,
) -> tuple[list[Failure], bool]:
    """Static findings; the bool says whether the template parsed (else nothing can render).

    `modelfile=False` (a template checked without its manifest) skips the PARSER lint;
    `linted` is Go's lint of `text` when the caller already has it (else Go is run here).
    """
    failures: list[Failure] = []
    if renderer:
        failures.append(
            Failure(
                "renderer+template",
                f"RENDERER {renderer!r} is set together with a TEMPLATE: Ollama ignores the "
                "TEMPLATE when a renderer is set, so this template would never run; drop one",
            )
        )
    result = linted if linted is not None else gorender.lint(text)
    if result.parse_error:
        message = f"Go text/template cannot parse it: {result.parse_error}"
        failures.append(Failure("syntax", message))
        return failures, False
    for problem in result.problems:
        failures.append(
            Failure("fields", f"line {problem.where}: {problem.message}; Go fails on it when run")
        )
    for token in stop:
        if token not in text:
            failures.append(
                Failure(
                    "stop",
                    f"stop token {token!r} never appears in the template, so the model was "
                    "not prompted in a format that produces it",
                )
            )
    uses_tools = "tools" in result.vars or "toolcalls" in result.vars
    if modelfile and uses_tools and not parser and not renderer:
        failures.append(
            Failure(
                "parser",
                "the template renders tools but no PARSER is set: Ollama would return the "
                "model's <|tool_call> text as content instead of tool_calls (set parser = "
                '"gemma4")',
            )
        )
    return failures, True


# --- per-conversation checks -----------------------------------------------------------------


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, bool):
        yield "true" if value else "false"
    elif value is None:
        yield "null"
    elif isinstance(value, str):
        yield value
    else:
        yield json.dumps(value)


def _spellings(text: str) -> list[str]:
    """The raw string and the forms a JSON-printing template would show."""
    escaped = json.dumps(text, ensure_ascii=False)[1:-1]
    go_json = escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return list(dict.fromkeys([text, escaped, go_json, json.dumps(text)[1:-1]]))


def _find(prompt: str, text: str, start: int) -> int:
    hits = [i for s in _spellings(text) if (i := prompt.find(s, start)) >= 0]
    return min(hits) if hits else -1


def _inside_tool_response(prompt: str, pos: int, end: int) -> bool:
    opened = prompt.rfind(TOOL_RESPONSE_OPEN, 0, pos)
    if opened < 0 or prompt.find(TOOL_RESPONSE_CLOSE, opened, pos) >= 0:
        return False
    return prompt.find(TOOL_RESPONSE_CLOSE, end) >= 0


def check_messages(conv: Conversation, prompt: str) -> list[Failure]:
    """Every content in order, every call's name and values, every result in a response block."""
    failures: list[Failure] = []
    cursor = 0
    turn_start = 0
    for index, message in enumerate(conv.messages):
        role = message.get("role", "")
        label = f"message #{index} ({role})"
        content = (message.get("content") or "").strip()
        start = turn_start if role == "tool" else cursor
        if role != "tool":
            turn_start = cursor
        if content:
            pos = _find(prompt, content, start)
            if pos < 0:
                where = "out of order" if _find(prompt, content, 0) >= 0 else "missing"
                failures.append(
                    Failure(
                        "content",
                        f"{label}: content {content[:60]!r} is {where}",
                        conv.name,
                        excerpt(prompt, start),
                    )
                )
                continue
            end = pos + len(content)
            if role == "tool" and not _inside_tool_response(prompt, pos, end):
                failures.append(
                    Failure(
                        "tool-result",
                        f"{label}: result is not inside {TOOL_RESPONSE_OPEN}…{TOOL_RESPONSE_CLOSE}",
                        conv.name,
                        excerpt(prompt, pos),
                    )
                )
            cursor = max(cursor, end)
        elif role == "tool":
            pos = prompt.find(TOOL_RESPONSE_OPEN, start)
            if pos < 0:
                failures.append(
                    Failure(
                        "tool-result",
                        f"{label}: empty result has no {TOOL_RESPONSE_OPEN} block",
                        conv.name,
                        excerpt(prompt, start),
                    )
                )
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            name = function.get("name", "")
            pos = prompt.find(name, start)
            if pos < 0:
                failures.append(
                    Failure(
                        "tool-call",
                        f"{label}: call {name!r} is missing",
                        conv.name,
                        excerpt(prompt, start),
                    )
                )
                continue
            for leaf in _leaves(function.get("arguments") or {}):
                if _find(prompt, leaf, start) < 0:
                    failures.append(
                        Failure(
                            "tool-call",
                            f"{label}: argument value {leaf!r} of {name!r} is missing",
                            conv.name,
                            excerpt(prompt, pos),
                        )
                    )
            cursor = max(cursor, pos + len(name))
    return failures


def check_shape(conv: Conversation, prompt: str) -> list[Failure]:
    """Generation prompt, balanced turns and calls, a single leading <bos>."""
    failures: list[Failure] = []
    last_role = conv.messages[-1].get("role") if conv.messages else None
    if last_role in ("user", "tool") and not prompt.endswith(GENERATION_PROMPTS):
        failures.append(
            Failure(
                "generation-prompt",
                f"the last message is the {last_role}'s "
                "but the prompt does not end with <|turn>model\\n",
                conv.name,
                excerpt(prompt, len(prompt)),
            )
        )
    depth = 0
    for match in _TURN_RE.finditer(prompt):
        depth += 1 if match.group() == "<|turn>" else -1
        if depth not in (0, 1):
            failures.append(
                Failure(
                    "turns",
                    f"unbalanced {match.group()!r}",
                    conv.name,
                    excerpt(prompt, match.start()),
                )
            )
            break
    else:
        if last_role in ("user", "tool") and depth != 1:
            failures.append(
                Failure(
                    "turns",
                    "no model turn is open at the end",
                    conv.name,
                    excerpt(prompt, len(prompt)),
                )
            )
    open_call = None
    for match in _CALL_RE.finditer(prompt):
        is_open = match.group() == "<|tool_call>"
        if is_open == (open_call is not None):
            failures.append(
                Failure(
                    "tool-call",
                    f"unbalanced {match.group()!r}",
                    conv.name,
                    excerpt(prompt, match.start()),
                )
            )
            break
        open_call = match.start() if is_open else None
    if prompt.count("<bos>") > 1 or ("<bos>" in prompt and not prompt.startswith("<bos>")):
        failures.append(
            Failure(
                "bos",
                "<bos> must appear at most once, at the very start",
                conv.name,
                excerpt(prompt, prompt.find("<bos>", 1)),
            )
        )
    return failures


def check_template(
    text: str,
    *,
    label: str = "template",
    renderer: str | None = None,
    parser: str | None = None,
    stop: Sequence[str] = (),
    modelfile: bool = False,
    corpus: Sequence[Conversation] | None = None,
) -> TemplateReport:
    """Lint the template, render the corpus (both in one Go process) and check every prompt.

    `modelfile=True` adds the lint that needs the Modelfile around it (a PARSER for tools).
    """
    report = TemplateReport(template=label)
    conversations = list(corpus) if corpus is not None else load_corpus()
    linted, results = gorender.lint_and_render(text, [c.values() for c in conversations])
    failures, parsed = lint_template(
        text, renderer=renderer, parser=parser, stop=stop, modelfile=modelfile, linted=linted
    )
    report.failures.extend(failures)
    if not parsed:
        return report
    for conv, result in zip(conversations, results, strict=True):
        if not result.ok:
            report.failures.append(
                Failure(
                    "render",
                    f"{result.stage} error: {result.error}",
                    conv.name,
                    excerpt(result.output, len(result.output)),
                )
            )
            continue
        report.renders[conv.name] = result.output
        report.failures.extend(check_messages(conv, result.output))
        report.failures.extend(check_shape(conv, result.output))
    return report
