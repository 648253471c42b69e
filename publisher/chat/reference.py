"""Render a Hugging Face chat template (Jinja) the way transformers does, as the parity reference.

This is deliberately NOT the product's jinja2 environment (that one lives in publisher/render/
and renders our own Modelfiles and cards): an HF chat template is third-party code and runs in
transformers' sandbox — ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
`raise_exception`, `strftime_now`, a `tojson` that keeps non-ASCII — so it gets its own here.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

from publisher.errors import CheckFailed

BOS_TOKEN = "<bos>"
EOS_TOKEN = "<eos>"


class ReferenceTemplateError(CheckFailed):
    """The reference (Jinja) template failed to compile or render."""


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: Any = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def environment() -> ImmutableSandboxedEnvironment:
    """The sandbox transformers compiles chat templates in."""
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    return env


def to_hf_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ollama /api/chat messages -> the OpenAI-style messages HF templates expect."""
    out: list[dict[str, Any]] = []
    for message in messages:
        item: dict[str, Any] = {"role": message["role"], "content": message.get("content", "")}
        if message.get("thinking"):
            item["reasoning_content"] = message["thinking"]
        if message.get("tool_calls"):
            item["tool_calls"] = [
                {
                    **({"id": call["id"]} if call.get("id") else {}),
                    "type": "function",
                    "function": {
                        "name": call["function"]["name"],
                        "arguments": call["function"].get("arguments") or {},
                    },
                }
                for call in message["tool_calls"]
            ]
        if message.get("tool_name"):
            item["name"] = message["tool_name"]
        if message.get("tool_call_id"):
            item["tool_call_id"] = message["tool_call_id"]
        out.append(item)
    return out


@lru_cache(maxsize=8)
def _compiled(template_text: str) -> jinja2.Template:
    # Compiling Google's template takes ~0.3 s; a corpus renders it a dozen times.
    return environment().from_string(template_text)


def render(template_text: str, conversation: dict[str, Any]) -> str:
    """Render one corpus conversation ({messages, tools, think}) with add_generation_prompt."""
    try:
        template = _compiled(template_text)
        kwargs: dict[str, Any] = {
            "messages": to_hf_messages(conversation.get("messages", [])),
            "bos_token": BOS_TOKEN,
            "eos_token": EOS_TOKEN,
            "add_generation_prompt": True,
        }
        if conversation.get("tools"):
            kwargs["tools"] = conversation["tools"]
        if conversation.get("think") is not None:
            kwargs["enable_thinking"] = bool(conversation["think"])
        return template.render(**kwargs)
    except jinja2.TemplateError as exc:
        raise ReferenceTemplateError(f"reference chat template failed: {exc}") from exc
