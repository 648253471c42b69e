"""Smoke cases: the conversation matrix as data files, and the JSON-schema subset that judges
tool-call arguments against each tool's declaration.

Kept apart from the runner because a case file is a publisher's input (strict, errors naming
file and field) and the schema validator is pure data checking: neither talks to Ollama.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from publisher.errors import UsageError
from publisher.files import read_bytes

BUILTIN_CASES = Path(__file__).parents[2] / "data" / "smoke"

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
