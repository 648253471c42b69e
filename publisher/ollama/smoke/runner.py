"""Running the smoke matrix: real conversations through a tag on a local Ollama.

A chat template can render every golden prompt right and still break a tool loop once a model
answers through Ollama's parser and stop handling (the "2nd-turn bug"). So the runner sends each
case (`cases`) to the tag with the release's own parameters and a fixed seed, has every reply
judged (`checks`), keeps each transcript (`report`) and reruns with other seeds for rates
(`--repeat N`). This module is the part that talks to the daemon's /api/chat and /api/show.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, Protocol

from publisher.manifest import Release, Tag
from publisher.ollama.smoke.cases import Case
from publisher.ollama.smoke.checks import check_reply, check_show
from publisher.ollama.smoke.report import CaseReport, Failure, Run, TagReport
from publisher.remote_text import server_text

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_SEED = 42
# A smoke run must end: when the release sets no num_predict, each reply is capped here, so a
# model that never closes its turn fails by "length" instead of generating for minutes.
DEFAULT_NUM_PREDICT = 1024

# ---------------------------------------------------------------------------------------------
# Talking to Ollama


class ChatClient(Protocol):
    """What the runner needs of `ollama.Client`: chat, and its httpx client for /api/show."""

    _client: Any

    def chat(self, *args: Any, **kwargs: Any) -> Any: ...


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
        raise ChatError(f"Ollama answered {exc.status_code}: {server_text(exc.error)}") from None
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


def show_json(client: ChatClient, model: str) -> dict[str, Any]:
    """POST /api/show answered as raw JSON, every field Ollama sends (api/types.go ShowResponse).

    Not `client.show()`: the ollama client's ShowResponse (0.6.3) has no `requires` nor `system`
    field and drops them, so a correct tag would fail requires-drift (issue 22). The request goes
    through the client's own httpx client (host, timeout), as `daemon_api.DaemonAPI.show` does.
    Raises ChatError with the daemon's words when it refuses or does not answer.
    """
    import httpx

    try:
        resp = client._client.post("/api/show", json={"model": model})
    except httpx.HTTPError as exc:
        raise ChatError(f"no answer from Ollama: {type(exc).__name__}: {exc}") from None
    if resp.status_code != 200:
        try:
            error = resp.json().get("error") or resp.text
        except (ValueError, AttributeError):
            error = resp.text
        raise ChatError(f"Ollama answered {resp.status_code}: {server_text(str(error))}")
    try:
        show = resp.json()
    except ValueError:
        raise ChatError(f"/api/show answered non-JSON: {server_text(resp.text)}") from None
    if not isinstance(show, dict):
        raise ChatError(f"/api/show answered {type(show).__name__}, not an object")
    return show


def show_case(client: ChatClient, model: str, release: Release, tag: Tag) -> CaseReport:
    """The `/api/show` row of the matrix (deterministic: run once, whatever --repeat says)."""
    run = Run(seed=None)
    started = time.monotonic()
    try:
        show = show_json(client, model)
    except ChatError as exc:
        run.failures.append(Failure("ollama-error", f"show {model}: {exc}"))
        show = {}
    run.failures += check_show(show, release, tag) if show else []
    run.transcript = [
        {
            "show": {
                k: show.get(k)
                for k in ("parameters", "template", "system", "requires", "modelfile")
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
