"""Template smoke tests: real conversations through a published Ollama tag, judged turn by turn.

A chat template can render every golden prompt right and still break a tool loop once a model
answers through Ollama's parser and stop handling (the "2nd-turn bug"). So this module sends a
matrix of conversations — data files in `publisher/data/smoke/` plus a publisher's own — to the
tag on a local Ollama with the release's own parameters and a fixed seed, checks every reply
(stop, control tokens, tool calls against their JSON schema, answers), compares `/api/show`
with the manifest, and keeps each transcript. `--repeat N` reruns with other seeds for rates.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from publisher.errors import CheckFailed, UsageError
from publisher.files import read_bytes
from publisher.manifest import ParameterValue, Release, Tag
from publisher.render.modelfile import template_text

BUILTIN_CASES = Path(__file__).parent / "data" / "smoke"
DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_SEED = 42
# A smoke run must end: when the release sets no num_predict, each reply is capped here, so a
# model that never closes its turn fails by "length" instead of generating for minutes.
DEFAULT_NUM_PREDICT = 1024

# Gemma 4 control tokens that must never reach a user's screen (shared/reference/gemma4-format).
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

# ---------------------------------------------------------------------------------------------
# Cases (data files)


class _Strict(BaseModel):
    """Case files are strict: a misspelt key must fail loudly, not silently weaken a check."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(_Strict):
    """One step of a conversation: a user message to send, or a model reply to expect."""

    user: str | None = None
    reply: Literal["answer", "tool_call"] | None = None
    name: str | None = None  # tool_call: the function the model must call
    arguments: dict[str, list[str]] = Field(default_factory=dict)  # key -> any-of substrings
    contains_any: list[str] = Field(default_factory=list)  # answer: one of these (any case)
    not_contains: list[str] = Field(default_factory=list)  # answer: none of these (any case)
    max_words: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        if (self.user is None) == (self.reply is None):
            raise ValueError("a step is either {'user': text} or {'reply': 'answer'|'tool_call'}")
        if self.reply == "tool_call" and not self.name:
            raise ValueError("a tool_call step names the function it expects ('name')")
        if self.reply != "tool_call" and (self.name or self.arguments):
            raise ValueError("'name' and 'arguments' belong to a tool_call step")
        return self


class Case(_Strict):
    """A scripted conversation: what is sent, which tools exist, what each reply must be."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    check: str  # the matrix row it covers: plain, system, tool-call, tool-result, nested, ...
    description: str = ""
    system: str | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    results: dict[str, str] = Field(default_factory=dict)  # tool name -> the result sent back
    options: dict[str, Any] = Field(default_factory=dict)  # per-case extras, e.g. num_predict
    think: bool | None = None
    steps: list[Step]
    source: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _consistent(self) -> Case:
        tool_names = [self.tool_name(tool) for tool in self.tools]
        if not any(step.reply for step in self.steps):
            raise ValueError("a case expects at least one model reply")
        if self.steps[0].user is None and self.system is None:
            raise ValueError("the first step must be a user message")
        for step in self.steps:
            if step.reply == "tool_call":
                if step.name not in tool_names:
                    raise ValueError(f"step expects a call to {step.name!r}, not in 'tools'")
                if step.name not in self.results:
                    raise ValueError(f"no result for {step.name!r} in 'results'")
        return self

    @staticmethod
    def tool_name(tool: dict[str, Any]) -> str:
        """The function name of an Ollama tool declaration."""
        function = tool.get("function")
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ValueError("each tool is {'type': 'function', 'function': {'name': …}}")
        return function["name"]

    def schema_of(self, name: str) -> dict[str, Any] | None:
        """The JSON schema of a tool's parameters, None for a tool the case does not offer."""
        for tool in self.tools:
            if self.tool_name(tool) == name:
                return tool["function"].get("parameters") or {"type": "object"}
        return None


def load_case(path: Path) -> Case:
    """Read one case file; errors name the file and the field."""
    try:
        data = json.loads(read_bytes(path, "smoke case").decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the smoke case: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    try:
        return Case.model_validate({**data, "source": path} if isinstance(data, dict) else data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(case)"
        raise UsageError(
            f"{path}: {where}: {first['msg']} (found {first.get('input')!r:.80})"
        ) from None


def load_cases(extra_dirs: Sequence[Path] = (), *, builtin: bool = True) -> list[Case]:
    """The built-in matrix plus each `--cases DIR` (a case with a built-in's name replaces it)."""
    dirs = ([BUILTIN_CASES] if builtin else []) + list(extra_dirs)
    cases: dict[str, Case] = {}
    for directory in dirs:
        if not directory.is_dir():
            raise UsageError(f"--cases {directory}: not a directory of *.json smoke cases")
        files = sorted(directory.glob("*.json"))
        if not files and directory != BUILTIN_CASES:
            raise UsageError(f"--cases {directory}: no *.json smoke case in it")
        for path in files:
            case = load_case(path)
            cases.pop(case.name, None)
            cases[case.name] = case
    return list(cases.values())


# ---------------------------------------------------------------------------------------------
# A small JSON-schema validator: the subset tool declarations use


def validate_schema(value: Any, schema: dict[str, Any], where: str = "arguments") -> list[str]:
    """Problems of `value` against `schema` (type, required, enum, properties, items)."""
    problems: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        types = [expected] if isinstance(expected, str) else list(expected)
        if not any(_is_type(value, t) for t in types):
            problems.append(f"{where}: expected {'|'.join(types)}, found {_kind(value)} {value!r}")
            return problems
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} is not one of {schema['enum']!r}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{where}: missing required {key!r}")
        properties = schema.get("properties") or {}
        for key, item in value.items():
            if key in properties:
                problems += validate_schema(item, properties[key], f"{where}.{key}")
            elif properties and schema.get("additionalProperties") is not True:
                # Stricter than JSON Schema's default on purpose: an invented argument name is a
                # tool-calling bug; a schema that allows extras says additionalProperties: true.
                problems.append(f"{where}: unknown key {key!r} (not in the tool's properties)")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            problems += validate_schema(item, schema["items"], f"{where}[{index}]")
    return problems


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    checks: dict[str, Any] = {
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "null": lambda v: v is None,
    }
    return bool(checks.get(name, lambda v: True)(value))


def _kind(value: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        dict: "object",
        list: "array",
        type(None): "null",
    }.get(type(value), type(value).__name__)


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Failure:
    """Why a case failed: a stable code for scripts and tests, a sentence for people."""

    code: str
    message: str


@dataclass
class Run:
    """One run of one case with one seed: its verdict and the whole conversation."""

    seed: int | None
    failures: list[Failure] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class CaseReport:
    """A case over all its runs: the pass rate and each run kept."""

    name: str
    check: str
    runs: list[Run] = field(default_factory=list)

    @property
    def passes(self) -> int:
        return sum(run.passed for run in self.runs)

    @property
    def rate(self) -> float:
        return self.passes / len(self.runs) if self.runs else 0.0

    def ok(self, min_rate: float = 1.0) -> bool:
        """Passes when its pass rate reaches `min_rate` (default: every run)."""
        return bool(self.runs) and self.rate >= min_rate - 1e-9


@dataclass
class TagReport:
    """All cases of one tag, under the Ollama model name they ran against."""

    tag: str
    model: str
    options: dict[str, Any]
    cases: list[CaseReport] = field(default_factory=list)
    created: bool = False

    def ok(self, min_rate: float = 1.0) -> bool:
        return all(case.ok(min_rate) for case in self.cases)


def report_json(reports: list[TagReport], *, host: str, min_rate: float) -> dict[str, Any]:
    """Plain data for --json: verdicts, rates, reasons and every transcript."""
    return {
        "host": host,
        "ok": all(report.ok(min_rate) for report in reports),
        "min_pass_rate": min_rate,
        "tags": [
            {
                "tag": report.tag,
                "model": report.model,
                "created": report.created,
                "options": report.options,
                "ok": report.ok(min_rate),
                "cases": [
                    {
                        "name": case.name,
                        "check": case.check,
                        "ok": case.ok(min_rate),
                        "passes": case.passes,
                        "runs": len(case.runs),
                        "rate": round(case.rate, 4),
                        "results": [
                            {
                                "seed": run.seed,
                                "passed": run.passed,
                                "failures": [asdict(f) for f in run.failures],
                                "seconds": round(run.seconds, 3),
                                "transcript": run.transcript,
                            }
                            for run in case.runs
                        ],
                    }
                    for case in report.cases
                ],
            }
            for report in reports
        ],
    }


# ---------------------------------------------------------------------------------------------
# Talking to Ollama


class ChatClient(Protocol):
    """What the runner needs of `ollama.Client` (chat and show), so tests can pass a fake."""

    def chat(self, *args: Any, **kwargs: Any) -> Any: ...

    def show(self, model: str) -> Any: ...


class ChatError(Exception):
    """Ollama refused a chat request (e.g. a template that fails at execution time)."""


def _plain(obj: Any) -> Any:
    """A pydantic response (ollama client) or a dict, as plain JSON-able data."""
    if hasattr(obj, "model_dump"):
        return obj.model_dump(exclude_none=True, by_alias=True, mode="json")
    return obj


def chat_once(
    client: ChatClient,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]],
    options: dict[str, Any],
    think: bool | None,
) -> dict[str, Any]:
    """One non-streaming /api/chat call; Ollama's refusals become ChatError with its words."""
    import httpx
    import ollama

    kwargs: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "options": options,
        "stream": False,
    }
    if tools:
        kwargs["tools"] = tools
    if think is not None:
        kwargs["think"] = think
    try:
        return dict(_plain(client.chat(**kwargs)))
    except ollama.ResponseError as exc:
        raise ChatError(f"Ollama answered {exc.status_code}: {exc.error}") from None
    except (ConnectionError, httpx.HTTPError) as exc:  # the daemon went away mid-run
        raise ChatError(f"no answer from Ollama: {type(exc).__name__}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Running a case


def chat_options(release: Release, tag: Tag, seed: int | None, case: Case | None = None) -> dict:
    """The release's own parameters for the tag, a seed, a length cap, then the case's extras."""
    options: dict[str, Any] = dict(release.parameters_for(tag))
    options.setdefault("num_predict", DEFAULT_NUM_PREDICT)
    if seed is not None:
        options["seed"] = seed
    if case is not None:
        options.update(case.options)
    return options


def run_case(
    client: ChatClient, model: str, case: Case, options: dict[str, Any], think: bool | None = None
) -> Run:
    """Play one case's conversation against `model`, checking every reply; stop at a failure."""
    run = Run(seed=options.get("seed"))
    started = time.monotonic()
    messages: list[dict[str, Any]] = []
    if case.system is not None:
        messages.append({"role": "system", "content": case.system})
    calls_expected = 0
    reply_index = 0
    for step in case.steps:
        if step.user is not None:
            messages.append({"role": "user", "content": step.user})
            continue
        reply_index += 1
        if step.reply == "tool_call":
            calls_expected += 1
        try:
            response = chat_once(
                client,
                model,
                messages,
                case.tools,
                options,
                case.think if case.think is not None else think,
            )
        except ChatError as exc:
            run.failures.append(Failure("ollama-error", f"reply {reply_index}: {exc}"))
            run.transcript.extend([*_new(messages, run.transcript), {"error": str(exc)}])
            break
        message = dict(response.get("message") or {})
        entry = _transcript_entry(message, response.get("done_reason"))
        run.transcript.extend([*_new(messages, run.transcript), entry])
        run.failures += check_reply(
            case, step, message, response, reply_index, calls_expected, options
        )
        if run.failures:
            break
        messages.append(_assistant(message))
        for call in message.get("tool_calls") or []:
            name = call["function"]["name"]
            messages.append({"role": "tool", "tool_name": name, "content": case.results[name]})
    run.transcript.extend(_new(messages, run.transcript))
    run.seconds = time.monotonic() - started
    return run


def _new(messages: list[dict[str, Any]], transcript: list[dict[str, Any]]) -> list[dict]:
    """Messages sent since the transcript last caught up (the transcript also holds replies)."""
    return [dict(m) for m in messages[len(transcript) :]]


def _assistant(message: dict[str, Any]) -> dict[str, Any]:
    """The reply as it goes back into the conversation (content, thinking, tool calls)."""
    out: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
    if message.get("thinking"):
        out["thinking"] = message["thinking"]
    if message.get("tool_calls"):
        out["tool_calls"] = [
            {"function": {"name": c["function"]["name"], "arguments": c["function"]["arguments"]}}
            for c in message["tool_calls"]
        ]
    return out


def _transcript_entry(message: dict[str, Any], done_reason: Any) -> dict[str, Any]:
    entry = _assistant(message)
    entry["done_reason"] = done_reason
    return entry


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
    """`/api/show` of the tag against the manifest: parameters, template, renderer, parser."""
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
    have_system = show.get("system") or directives.get("system") or None
    if have_system != (release.ollama.system or None):
        failures.append(
            Failure(
                "system-drift",
                f"system: Ollama has {have_system!r}, the manifest says {release.ollama.system!r}",
            )
        )
    return failures


def _first_difference(have: str, want: str) -> str:
    have_lines, want_lines = have.splitlines(), want.splitlines()
    for number, (a, b) in enumerate(zip(have_lines, want_lines, strict=False), 1):
        if a != b:
            return f"line {number}: Ollama has {a[:60]!r}, the file has {b[:60]!r}"
    return f"Ollama has {len(have_lines)} lines, the file has {len(want_lines)}"


def show_case(client: ChatClient, model: str, release: Release, tag: Tag) -> CaseReport:
    """The `/api/show` row of the matrix (deterministic: run once, whatever --repeat says)."""
    import ollama

    run = Run(seed=None)
    started = time.monotonic()
    try:
        show = dict(_plain(client.show(model)))
    except ollama.ResponseError as exc:
        run.failures.append(
            Failure("ollama-error", f"show {model}: Ollama answered {exc.status_code}: {exc.error}")
        )
        show = {}
    run.failures += check_show(show, release, tag) if show else []
    run.transcript = [
        {
            "show": {
                k: show.get(k)
                for k in ("parameters", "template", "system", "modelfile")
                if show.get(k) is not None
            }
        }
    ]
    run.seconds = time.monotonic() - started
    return CaseReport(name="show", check="show", runs=[run])


# ---------------------------------------------------------------------------------------------
# The matrix


def seeds(repeat: int, base: int = DEFAULT_SEED) -> list[int]:
    """The seeds of `repeat` runs: the fixed one first, then the next ones."""
    return [base + index for index in range(repeat)]


def run_matrix(
    client: ChatClient,
    release: Release,
    tag: Tag,
    model: str,
    cases: Iterable[Case],
    *,
    repeat: int = 1,
    seed: int = DEFAULT_SEED,
    on_run: Any = None,
) -> TagReport:
    """Run every case `repeat` times (one seed each) and the show check once, for one tag."""
    report = TagReport(tag=tag.tag, model=model, options=chat_options(release, tag, seed))
    report.cases.append(show_case(client, model, release, tag))
    for case in cases:
        case_report = CaseReport(name=case.name, check=case.check)
        for run_seed in seeds(repeat, seed):
            run = run_case(client, model, case, chat_options(release, tag, run_seed, case))
            case_report.runs.append(run)
            if on_run is not None:
                on_run(tag.tag, case.name, run)
        report.cases.append(case_report)
    return report


# ---------------------------------------------------------------------------------------------
# --create: a scratch copy of the tag, made from the local GGUF through the Ollama target


def scratch_name(release: Release, tag: Tag) -> str:
    """The model `--create` makes: never the published name, so deleting it loses nothing."""
    assert release.ollama is not None
    return f"{release.ollama.model}-smoke:{tag.tag}"


@contextmanager
def created_tag(release: Release, tag: Tag, host: str) -> Iterator[str]:
    """Create the tag from its local GGUF on the daemon at `host`, yield its name, delete it."""
    from publisher.gguf.checks import verify_release
    from publisher.ollama.daemon import OllamaTarget
    from publisher.targets.base import LocalFile

    assert release.ollama is not None
    target = OllamaTarget(release, host=host, skip_remote_verify=True)
    try:
        # Before hashing gigabytes: a copy `ollama create` would change is no test of the release.
        _check_create_honoured(target, release, _tag_payload(release, tag, []))
        report = verify_release(release, [tag.tag], unique_across_release=False)[0]
        if report.missing:
            raise UsageError(f"--create: {tag.tag}: no GGUF at {tag.path}")
        if not report.ok:
            reasons = "; ".join(str(failure) for failure in report.failures)
            raise CheckFailed(f"--create: {tag.tag}: the GGUF fails verification: {reasons}")
        files = [
            LocalFile(path, path.stat().st_size, report.sha256.get(path.name))
            for path in report.files
        ]
        payload = _tag_payload(release, tag, files)
        ref = scratch_name(release, tag)
        _target_create(target, payload, ref)
        try:
            yield ref
        finally:
            target.api.client.delete(ref)
    finally:
        target.close()


def _tag_payload(release: Release, tag: Tag, files: list[Any]) -> Any:
    """What the Ollama target receives for `tag` (files empty: the check before hashing)."""
    from publisher.targets.base import TagPayload

    config = release.ollama
    assert config is not None
    return TagPayload(
        tag=tag,
        files=files,
        parameters=release.parameters_for(tag),
        modelfile="",
        template=template_text(release),
        renderer=config.renderer,
        parser=config.parser,
        license=config.license,
        system=config.system,
    )


def _check_create_honoured(target: Any, release: Release, payload: Any) -> None:
    """Refuse --create when `ollama create` would not keep the release's chat setup.

    On architectures like gemma4 Ollama's create fills in its own renderer/parser when the
    manifest leaves one empty (server/create.go), and a renderer makes Ollama ignore the
    TEMPLATE: the scratch copy would fail `show` with renderer-drift on every run, and its chats
    would test Ollama's renderer, not the release's template.
    """
    from publisher.targets.base import ReleasePayload

    try:
        target.check_daemon_can_honour(ReleasePayload(release=release, tags=[payload]))
    except UsageError:
        config = release.ollama
        assert config is not None
        arch = release.model.architecture
        tag = payload.tag.tag
        template = ", a template" if config.template else ""
        raise UsageError(
            f"--create {tag}: {release.source}: [ollama] declares renderer={config.renderer!r}, "
            f"parser={config.parser!r}{template}; `ollama create` puts its own {arch!r} "
            f"renderer/parser on {arch} GGUFs, so the scratch copy would not be the release (the "
            "show check would fail with renderer-drift and the chats would test Ollama's renderer, "
            "not the release's template). Instead publish the tag by direct registry push "
            f"(`publish release {release.source} --tag {tag}` with [ollama] registry set), "
            f"`ollama pull {config.model}:{tag}`, then run `publish smoke {release.source} --tag "
            f"{tag}` without --create. --create suits releases that declare renderer and parser."
        ) from None


def _target_create(target: Any, payload: Any, ref: str) -> None:
    """The target's create path (upload what the daemon lacks, then /api/create)."""
    target.create_local(payload, ref)
