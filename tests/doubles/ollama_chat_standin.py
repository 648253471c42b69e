"""`/api/chat` with scripted model outputs, on top of the strict Ollama stand-in (tests only).

The script gives the RAW text a Gemma 4 model would generate for each model turn of a
conversation (e.g. `<|tool_call>call:get_weather{city:<|"|>Paris<|"|>}<tool_call|>`); the
stand-in then does what the daemon does with it: cuts at the first stop sequence of the
request's options (else the model's PARAMETER stop) with `done_reason` "stop", cuts at
`num_predict` whitespace-separated tokens with "length", and — when the model has `PARSER gemma4`
— turns `<|channel>thought…<channel|>` into `thinking` and
`<|tool_call>call:NAME{…}<tool_call|>` into `tool_calls`. Without a parser the raw text stays in
`content`, as it would on a real daemon.

Strict where the daemon would silently accept a mistake: unknown request keys, unknown option
names or types, bad roles, tool messages without content, tools on a model whose template cannot
render them, and `stream` not false (the stand-in answers non-streaming only).

    from doubles.ollama_chat_standin import ChatStandIn, Script
    script = Script({"capital of France": ["Paris is the capital of France."]})
    with ChatStandIn(tmp_path / "ollama", script).serve() as daemon: ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from doubles.ollama_show import capabilities
from doubles.ollama_standin import (
    OllamaStandIn,
    Request,
    Response,
    StoredModel,
    check_parameters,
)

CHAT_KEYS = {
    "model",
    "messages",
    "tools",
    "format",
    "options",
    "stream",
    "keep_alive",
    "think",
    "logprobs",
    "top_logprobs",
}
ROLES = {"system", "user", "assistant", "tool"}
MESSAGE_KEYS = {"role", "content", "thinking", "images", "tool_calls", "tool_name", "tool_call_id"}
STR = '<|"|>'
CALL_RE = re.compile(r"<\|tool_call>call:([A-Za-z0-9_.-]+)(\{.*?\})<tool_call\|>", re.S)
THOUGHT_RE = re.compile(r"<\|channel>thought\n?(.*?)<channel\|>", re.S)

Output = str | Callable[[dict[str, Any]], str]


class Script:
    """Raw model outputs per conversation: the first user message containing a key picks the
    list, the number of assistant messages already in the request picks the entry."""

    def __init__(self, outputs: dict[str, list[Output]]) -> None:
        self.outputs = dict(outputs)

    def replace(self, key: str, outputs: list[Output]) -> Script:
        """A copy with one conversation's outputs replaced (for one failing run per check)."""
        changed = dict(self.outputs)
        changed[key] = outputs
        return Script(changed)

    def output(self, request: dict[str, Any]) -> str:
        """The raw text for this request; KeyError/IndexError when the script has none."""
        first_user = next(
            (m.get("content") or "" for m in request["messages"] if m.get("role") == "user"), ""
        )
        turn = sum(1 for m in request["messages"] if m.get("role") == "assistant")
        for key, outputs in self.outputs.items():
            if key.lower() in first_user.lower():
                if turn >= len(outputs):
                    raise IndexError(f"script {key!r} has no output for model turn {turn + 1}")
                chosen = outputs[turn]
                return chosen(request) if callable(chosen) else chosen
        raise KeyError(f"no scripted conversation for {first_user[:60]!r}")


# ---------------------------------------------------------------------------------------------
# Gemma 4 output parsing (what Ollama's gemma4 parser does with the generated text)


def parse_arguments(text: str) -> dict[str, Any]:
    """`{key:value,…}` of a Gemma 4 call, strings delimited by `<|"|>`."""
    value, end = _value(text, 0)
    if end != len(text) or not isinstance(value, dict):
        raise ValueError(f"not a Gemma 4 argument object: {text!r}")
    return value


def _value(text: str, i: int) -> tuple[Any, int]:
    if text.startswith(STR, i):
        close = text.index(STR, i + len(STR))
        return text[i + len(STR) : close], close + len(STR)
    if text.startswith("{", i):
        out: dict[str, Any] = {}
        i += 1
        while not text.startswith("}", i):
            colon = text.index(":", i)
            key = text[i:colon]
            out[key], i = _value(text, colon + 1)
            if text.startswith(",", i):
                i += 1
        return out, i + 1
    if text.startswith("[", i):
        items: list[Any] = []
        i += 1
        while not text.startswith("]", i):
            item, i = _value(text, i)
            items.append(item)
            if text.startswith(",", i):
                i += 1
        return items, i + 1
    match = re.compile(r"[^,}\]]+").match(text, i)
    if match is None:
        raise ValueError(f"no value at {i} in {text!r}")
    raw = match.group(0)
    literal: Any = {"true": True, "false": False, "null": None}.get(raw, raw)
    if literal is raw:
        literal = float(raw) if re.fullmatch(r"-?\d+\.\d*(e[-+]?\d+)?", raw) else int(raw)
    return literal, match.end()


def gemma4_parse(text: str) -> dict[str, Any]:
    """Split generated text into content, thinking and tool calls like the gemma4 parser."""
    thinking = "".join(m.group(1) for m in THOUGHT_RE.finditer(text))
    text = THOUGHT_RE.sub("", text)
    calls = [
        {"function": {"name": m.group(1), "arguments": parse_arguments(m.group(2))}}
        for m in CALL_RE.finditer(text)
    ]
    content = CALL_RE.sub("", text)
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if calls:
        message["tool_calls"] = calls
    return message


def generate(raw: str, stop: list[str], num_predict: int) -> tuple[str, str]:
    """Apply stop sequences and the token limit to the raw output: (text, done_reason)."""
    cut = min((raw.find(s) for s in stop if s in raw), default=-1)
    if cut >= 0:
        raw = raw[:cut]
    tokens = re.findall(r"\s*\S+\s*", raw)
    if num_predict > 0 and len(tokens) > num_predict:
        return "".join(tokens[:num_predict]), "length"
    return raw, "stop"


# ---------------------------------------------------------------------------------------------
# The daemon with /api/chat


class ChatStandIn(OllamaStandIn):
    """The strict daemon stand-in plus `/api/chat` answering from a `Script`."""

    def __init__(self, root: Path, script: Script | None = None, **kwargs: Any) -> None:
        super().__init__(root, **kwargs)
        self.script = script or Script({})
        self.chats: list[dict[str, Any]] = []  # every accepted chat request, in order
        self.route("POST", "/api/chat", self.handle_chat)

    def handle_chat(self, request: Request) -> Response:
        """Route adapter: HTTP request in, JSON response out."""
        try:
            body = request.json()
        except ValueError as exc:
            return Response.error(f"invalid JSON: {exc}")
        status, answer = self.chat(body)
        return Response.json(answer, status)

    def chat(self, body: Any) -> tuple[int, dict[str, Any]]:
        """One non-streaming chat: (HTTP status, JSON body) — usable without HTTP too."""
        problem = self._check_request(body)
        if problem:
            return problem
        model = self.find(body["model"])
        assert model is not None
        self.chats.append(body)
        try:
            raw = self.script.output(body)
        except (KeyError, IndexError) as exc:
            return 500, {"error": f"stand-in script: {exc}"}
        options = {**model.parameters, **(body.get("options") or {})}
        text, reason = generate(
            raw, list(options.get("stop") or []), int(options.get("num_predict", -1))
        )
        if model.parser == "gemma4":
            message = gemma4_parse(text)
        else:
            message = {"role": "assistant", "content": text}
        return 200, {
            "model": body["model"],
            "created_at": datetime.now(UTC).isoformat(),
            "message": message,
            "done": True,
            "done_reason": reason,
            "total_duration": 1000,
            "eval_count": len(text.split()),
        }

    def _check_request(self, body: Any) -> tuple[int, dict[str, Any]] | None:
        if not isinstance(body, dict):
            return 400, {"error": "expected a JSON object"}
        unknown = set(body) - CHAT_KEYS
        if unknown:
            return 400, {"error": f"unknown fields {sorted(unknown)}"}
        if body.get("stream") is not False:
            return 400, {"error": "the stand-in answers stream=false only"}
        model = self.find(body.get("model") or "")
        if model is None:
            return 404, {"error": f"model '{body.get('model')}' not found"}
        problem = check_parameters(body.get("options"), "option")
        problem = problem or _check_messages(body.get("messages"))
        if problem:
            return 400, {"error": problem}
        if body.get("tools") and not _supports_tools(model):
            return 400, {"error": f"registry.ollama.ai/{body['model']} does not support tools"}
        return None


def _supports_tools(model: StoredModel) -> bool:
    """The model's capabilities include tools (routes.go:2610-2613 asks for them with tools)."""
    return "tools" in capabilities(model)


def _check_messages(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: expected a non-empty list"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            return f"messages[{index}]: role must be one of {sorted(ROLES)}"
        unknown = set(message) - MESSAGE_KEYS
        if unknown:
            return f"messages[{index}]: unknown fields {sorted(unknown)}"
        if message["role"] == "tool" and not message.get("content"):
            return f"messages[{index}]: a tool message needs content"
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            if not function.get("name") or not isinstance(function.get("arguments"), dict):
                return f"messages[{index}]: tool_calls need function.name and arguments"
    return None


@pytest.fixture
def chat_standin(tmp_path: Path) -> Iterator[ChatStandIn]:
    """A fresh daemon stand-in with /api/chat and an empty script (set `.script` in the test)."""
    with ChatStandIn(tmp_path / "ollama-chat-standin").serve() as app:
        yield app  # type: ignore[misc]
