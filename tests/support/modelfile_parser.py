"""A Modelfile parser written from the rules of Ollama's parser/parser.go, for round-trip tests.

It follows the same character-level state machine: commands are case-insensitive words; `#`
starts a comment only where a command could start; a value runs to the end of the line unless
it opens a `"` or `\"\"\"` quote, which then runs across lines until a line ends the quote;
the whole value is whitespace-trimmed before the quotes are removed; runes that are not
printable are dropped (outside the space/newline handling); there are no escape sequences.
`to_request` then gathers the commands the way `Modelfile.CreateRequest` does, typing each
PARAMETER as Ollama's `api.FormatParams` would. Test code only; the stand-in daemon may reuse it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COMMANDS = {
    "from",
    "license",
    "template",
    "system",
    "adapter",
    "draft",
    "renderer",
    "parser",
    "parameter",
    "message",
    "requires",
}
MESSAGE_ROLES = {"system", "user", "assistant"}
INT_PARAMETERS = {
    "num_keep",
    "seed",
    "num_predict",
    "top_k",
    "repeat_last_n",
    "num_ctx",
    "num_batch",
    "num_gpu",
    "main_gpu",
    "num_thread",
    "draft_num_predict",
}
FLOAT_PARAMETERS = {
    "top_p",
    "min_p",
    "typical_p",
    "temperature",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
}
BOOL_PARAMETERS = {"use_mmap"}
LIST_PARAMETERS = {"stop"}


class ModelfileSyntaxError(ValueError):
    """What Ollama's parser would reject, with the line it stopped at."""


@dataclass(frozen=True)
class Command:
    """One parsed instruction; `name` is `model` for FROM and the parameter name for PARAMETER."""

    name: str
    args: str


_NIL, _NAME, _VALUE, _PARAMETER, _MESSAGE, _COMMENT = range(6)


def _is_alpha(char: str) -> bool:
    return "a" <= char <= "z" or "A" <= char <= "Z"


def _is_space(char: str) -> bool:
    return char in " \t"


def _is_newline(char: str) -> bool:
    return char in "\r\n"


def _go_trim_space(text: str) -> str:
    """Go's strings.TrimSpace (unicode.IsSpace)."""
    return text.strip(
        " \t\n\v\f\r\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
        "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
    )


def _unquote(text: str) -> tuple[str, bool]:
    if text.startswith('"""'):
        if len(text) >= 6 and text.endswith('"""'):
            return text[3:-3], True
        return "", False
    if text.startswith('"'):
        if len(text) >= 2 and text.endswith('"'):
            return text[1:-1], True
        return "", False
    return text, True


def _next_state(char: str, state: int, line: int) -> tuple[int, str | None]:
    """The state after `char` and the rune to keep (None = keep nothing)."""
    if state == _NIL:
        if char == "#":
            return _COMMENT, None
        if _is_space(char) or _is_newline(char):
            return _NIL, None
        return _NAME, char
    if state == _NAME:
        if _is_alpha(char):
            return _NAME, char
        if _is_space(char):
            return _VALUE, None
        raise ModelfileSyntaxError(f"(line {line}): invalid command")
    if state == _VALUE:
        if _is_newline(char) or _is_space(char):
            return _NIL, char
        return _VALUE, char
    if state in (_PARAMETER, _MESSAGE):
        if _is_alpha(char) or (
            state == _PARAMETER and ((char.isdigit() and char.isascii()) or char == "_")
        ):
            return state, char
        if _is_space(char):
            return _VALUE, None
        raise ModelfileSyntaxError(f"(line {line}): unexpected end of parameter name")
    # comment
    return (_NIL, None) if _is_newline(char) else (_COMMENT, None)


def parse(text: str) -> list[Command]:
    """Parse Modelfile text into commands, as Ollama's ParseFile does."""
    text = text.removeprefix("\ufeff")
    commands: list[Command] = []
    buffer: list[str] = []
    state, line, name, role = _NIL, 1, "", ""
    for char in text:
        if _is_newline(char):
            line += 1
        following, keep = _next_state(char, state, line)
        if following != state:
            word = "".join(buffer)
            if state == _NAME:
                if word.lower() not in COMMANDS:
                    raise ModelfileSyntaxError(f"(line {line}): invalid command {word!r}")
                lowered = word.lower()
                if lowered == "from":
                    name = "model"
                elif lowered == "parameter":
                    following = _PARAMETER
                elif lowered == "message":
                    following = _MESSAGE
                    name = lowered
                else:
                    name = lowered
            elif state == _PARAMETER:
                name = word
            elif state == _MESSAGE:
                if word not in MESSAGE_ROLES:
                    raise ModelfileSyntaxError(f"(line {line}): invalid message role {word!r}")
                role = word
            elif state == _VALUE:
                value, complete = _unquote(_go_trim_space(word))
                if not complete or _is_space(char):
                    buffer.append(char)  # inside a quote, or a space within the value
                    continue
                if role:
                    value, role = f"{role}: {value}", ""
                commands.append(Command(name, value))
            buffer = []
            state = following
        if keep is not None and keep.isprintable():
            buffer.append(keep)
    if state == _VALUE:
        value, complete = _unquote(_go_trim_space("".join(buffer)))
        if not complete:
            raise ModelfileSyntaxError("unexpected end of file inside a quoted value")
        if role:
            value = f"{role}: {value}"
        commands.append(Command(name, value))
    elif state not in (_NIL, _COMMENT):
        raise ModelfileSyntaxError("unexpected end of file")
    if not any(command.name == "model" for command in commands):
        raise ModelfileSyntaxError("no FROM line")
    return commands


def _typed(name: str, value: str) -> Any:
    """A PARAMETER value typed as api.FormatParams types it."""
    if name in INT_PARAMETERS:
        return int(value)
    if name in FLOAT_PARAMETERS:
        return float(value)
    if name in BOOL_PARAMETERS:
        lowered = value.lower()
        if lowered not in {"1", "t", "true", "0", "f", "false"}:
            raise ModelfileSyntaxError(f"invalid bool for {name}: {value!r}")
        return lowered in {"1", "t", "true"}
    if name in LIST_PARAMETERS:
        return [value]
    raise ModelfileSyntaxError(f"unknown parameter {name!r}")


def to_request(commands: list[Command]) -> dict[str, Any]:
    """Gather commands into the fields of Ollama's CreateRequest (licences as a list)."""
    request: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    for command in commands:
        if command.name in {
            "model",
            "template",
            "system",
            "renderer",
            "parser",
            "requires",
            "adapter",
            "draft",
        }:
            request["from" if command.name == "model" else command.name] = command.args
        elif command.name == "license":
            request.setdefault("license", []).append(command.args)
        elif command.name == "message":
            role, _, content = command.args.partition(": ")
            request.setdefault("messages", []).append({"role": role, "content": content})
        else:
            value = _typed(command.name, command.args)
            if isinstance(value, list) and command.name in parameters:
                parameters[command.name].extend(value)
            else:
                parameters[command.name] = value
    if parameters:
        request["parameters"] = parameters
    return request


def parse_request(text: str) -> dict[str, Any]:
    """`parse` then `to_request`."""
    return to_request(parse(text))
