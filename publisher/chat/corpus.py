"""The conversation corpus every chat template is checked against (JSON files beside it)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from publisher.errors import UsageError
from publisher.files import read_bytes

CORPUS_DIR = Path(__file__).parent / "corpus"


@dataclass(frozen=True)
class Conversation:
    """One conversation in Ollama /api/chat shapes: messages, tools, think."""

    name: str
    description: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)
    think: bool | str | None = None

    def values(self) -> dict[str, Any]:
        """The request data the Go renderer and the reference renderer take."""
        data: dict[str, Any] = {"messages": self.messages}
        if self.tools:
            data["tools"] = self.tools
        if self.think is not None:
            data["think"] = self.think
        return data


def load_conversation(path: Path) -> Conversation:
    """Read one corpus file; a malformed file is a usage error naming it."""
    try:
        raw = json.loads(read_bytes(path, "corpus conversation").decode("utf-8"))
        return Conversation(
            name=raw.get("name") or path.stem,
            description=raw.get("description", ""),
            messages=list(raw["messages"]),
            tools=list(raw.get("tools") or []),
            think=raw.get("think"),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"{path}: expected a conversation JSON with a 'messages' list ({exc})"
        ) from exc


def load_corpus(directory: Path = CORPUS_DIR) -> list[Conversation]:
    """Every *.json conversation in the directory, in file-name order."""
    files = sorted(directory.glob("*.json"))
    if not files:
        raise UsageError(f"{directory}: no conversation files (*.json) found")
    return [load_conversation(p) for p in files]
