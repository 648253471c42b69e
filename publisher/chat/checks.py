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
class TemplateFailure:
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
    failures: list[TemplateFailure] = field(default_factory=list)
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
) -> tuple[list[TemplateFailure], bool]:
    """Static findings; the bool says whether the template parsed (else nothing can render).

    `modelfile=False` (a template checked without its manifest) skips the PARSER lint;
    `linted` is Go's lint of `text` when the caller already has it (else Go is run here).
    """
    failures: list[TemplateFailure] = []
    if renderer:
        failures.append(
            TemplateFailure(
                "renderer+template",
                f"RENDERER {renderer!r} is set together with a TEMPLATE: Ollama ignores the "
                "TEMPLATE when a renderer is set, so this template would never run; drop one",
            )
        )
    result = linted if linted is not None else gorender.lint(text)
    if result.parse_error:
        message = f"Go text/template cannot parse it: {result.parse_error}"
        failures.append(TemplateFailure("syntax", message))
        return failures, False
    for problem in result.problems:
        failures.append(
            TemplateFailure(
                "fields", f"line {problem.where}: {problem.message}; Go fails on it when run"
            )
        )
    for token in stop:
        if token not in text:
            failures.append(
                TemplateFailure(
                    "stop",
                    f"stop token {token!r} never appears in the template, so the model was "
                    "not prompted in a format that produces it",
                )
            )
    uses_tools = "tools" in result.vars or "toolcalls" in result.vars
    if modelfile and uses_tools and not parser and not renderer:
        failures.append(
            TemplateFailure(
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


@dataclass(frozen=True)
class _Rendered:
    """One conversation's prompt, to pin a failure at a position in it."""

    conversation: str
    prompt: str

    def failure(self, check: str, message: str, pos: int) -> TemplateFailure:
        return TemplateFailure(check, message, self.conversation, excerpt(self.prompt, pos))


def _content(
    at: _Rendered, role: str, content: str, label: str, start: int
) -> tuple[list[TemplateFailure], int | None]:
    """One message's content after `start` (a tool's inside a response block): the failures and
    where the content ends in the prompt, None when it is not there (its calls are not checked)."""
    if not content:
        if role == "tool" and at.prompt.find(TOOL_RESPONSE_OPEN, start) < 0:
            message = f"{label}: empty result has no {TOOL_RESPONSE_OPEN} block"
            return [at.failure("tool-result", message, start)], 0
        return [], 0
    pos = _find(at.prompt, content, start)
    if pos < 0:
        where = "out of order" if _find(at.prompt, content, 0) >= 0 else "missing"
        return [at.failure("content", f"{label}: content {content[:60]!r} is {where}", start)], None
    end = pos + len(content)
    if role == "tool" and not _inside_tool_response(at.prompt, pos, end):
        message = f"{label}: result is not inside {TOOL_RESPONSE_OPEN}…{TOOL_RESPONSE_CLOSE}"
        return [at.failure("tool-result", message, pos)], end
    return [], end


def _calls(
    at: _Rendered, calls: list[dict[str, Any]], label: str, start: int
) -> tuple[list[TemplateFailure], int]:
    """Every call's name and argument values after `start`; the end of the last name found."""
    failures: list[TemplateFailure] = []
    end = 0
    for call in calls:
        function = call.get("function", {})
        name = function.get("name", "")
        pos = at.prompt.find(name, start)
        if pos < 0:
            failures.append(at.failure("tool-call", f"{label}: call {name!r} is missing", start))
            continue
        failures += [
            at.failure("tool-call", f"{label}: argument value {leaf!r} of {name!r} is missing", pos)
            for leaf in _leaves(function.get("arguments") or {})
            if _find(at.prompt, leaf, start) < 0
        ]
        end = max(end, pos + len(name))
    return failures, end


def check_messages(conv: Conversation, prompt: str) -> list[TemplateFailure]:
    """Every content in order, every call's name and values, every result in a response block.

    A message is looked for after the previous one; a tool result after the start of the turn
    that called it (its call's arguments come first)."""
    at = _Rendered(conv.name, prompt)
    failures: list[TemplateFailure] = []
    cursor = turn_start = 0
    for index, message in enumerate(conv.messages):
        role = message.get("role", "")
        label = f"message #{index} ({role})"
        start = turn_start if role == "tool" else cursor
        if role != "tool":
            turn_start = cursor
        found, end = _content(at, role, (message.get("content") or "").strip(), label, start)
        failures += found
        if end is None:
            continue
        called, calls_end = _calls(at, message.get("tool_calls") or [], label, start)
        failures += called
        cursor = max(cursor, end, calls_end)
    return failures


def _generation_prompt(at: _Rendered, last_role: str | None) -> list[TemplateFailure]:
    if last_role in ("user", "tool") and not at.prompt.endswith(GENERATION_PROMPTS):
        message = (
            f"the last message is the {last_role}'s "
            "but the prompt does not end with <|turn>model\\n"
        )
        return [at.failure("generation-prompt", message, len(at.prompt))]
    return []


def _turns(at: _Rendered, last_role: str | None) -> list[TemplateFailure]:
    """Turns open and close in pairs, and a model turn is open when the model is to answer."""
    depth = 0
    for match in _TURN_RE.finditer(at.prompt):
        depth += 1 if match.group() == "<|turn>" else -1
        if depth not in (0, 1):
            return [at.failure("turns", f"unbalanced {match.group()!r}", match.start())]
    if last_role in ("user", "tool") and depth != 1:
        return [at.failure("turns", "no model turn is open at the end", len(at.prompt))]
    return []


def _call_pairs(at: _Rendered) -> list[TemplateFailure]:
    """<|tool_call> and <tool_call|> alternate, starting with an opening one."""
    open_call = False
    for match in _CALL_RE.finditer(at.prompt):
        is_open = match.group() == "<|tool_call>"
        if is_open == open_call:
            return [at.failure("tool-call", f"unbalanced {match.group()!r}", match.start())]
        open_call = is_open
    return []


def _bos(at: _Rendered) -> list[TemplateFailure]:
    prompt = at.prompt
    if prompt.count("<bos>") > 1 or ("<bos>" in prompt and not prompt.startswith("<bos>")):
        message = "<bos> must appear at most once, at the very start"
        return [at.failure("bos", message, prompt.find("<bos>", 1))]
    return []


def check_shape(conv: Conversation, prompt: str) -> list[TemplateFailure]:
    """Generation prompt, balanced turns and calls, a single leading <bos>."""
    at = _Rendered(conv.name, prompt)
    last_role = conv.messages[-1].get("role") if conv.messages else None
    return [*_generation_prompt(at, last_role), *_turns(at, last_role), *_call_pairs(at), *_bos(at)]


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
            at = _Rendered(conv.name, result.output)
            message = f"{result.stage} error: {result.error}"
            report.failures.append(at.failure("render", message, len(result.output)))
            continue
        report.renders[conv.name] = result.output
        report.failures.extend(check_messages(conv, result.output))
        report.failures.extend(check_shape(conv, result.output))
    return report
