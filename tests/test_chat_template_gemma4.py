"""The release's Gemma 4 tool template: golden renders of the corpus (regenerate with
PUBLISHER_UPDATE_GOLDEN=1), the workaround's shape, the <bos> policy and parity with Google's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher.chat import gorender, parity
from publisher.chat.checks import check_template
from publisher.chat.corpus import load_corpus
from publisher.manifest import TEMPLATES_DIR

TEMPLATE = TEMPLATES_DIR / "ollama" / "gemma4-tools.gotmpl"
GOLDEN = Path(__file__).parent / "golden" / "gotmpl"
REFERENCE = Path(__file__).parents[2] / "shared" / "reference" / "templates"
UPDATE = os.environ.get("PUBLISHER_UPDATE_GOLDEN") == "1"
CORPUS = load_corpus()


@pytest.fixture(scope="module")
def renders() -> dict[str, str]:
    results = gorender.render_many(TEMPLATE.read_text(), [c.values() for c in CORPUS])
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return {c.name: r.output for c, r in zip(CORPUS, results, strict=True)}


def test_corpus_covers_the_issue_list() -> None:
    names = {c.name for c in CORPUS}
    assert len(CORPUS) >= 12
    for needed in (
        "plain",
        "system",
        "multi-turn",
        "tools-unused",
        "one-call",
        "call-result-answer",
        "nested-second-turn",
        "parallel-calls",
        "rich-arguments",
        "empty-content",
        "json-tool-result",
        "thinking-on",
    ):
        assert any(needed in n for n in names), needed


@pytest.mark.parametrize("conv", CORPUS, ids=[c.name for c in CORPUS])
def test_golden_render(conv, renders: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    golden = GOLDEN / f"{conv.name}.txt"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(renders[conv.name].encode("utf-8"))
    assert golden.is_file(), f"missing {golden}: run with PUBLISHER_UPDATE_GOLDEN=1"
    assert renders[conv.name] == golden.read_bytes().decode("utf-8")


def test_release_template_passes_every_check() -> None:
    report = check_template(
        TEMPLATE.read_text(), parser="gemma4", stop=["<turn|>", "<|tool_response>"], modelfile=True
    )
    assert report.ok, report.messages
    assert len(report.renders) == len(CORPUS)


def test_exactly_one_bos_always_first(renders: dict[str, str]) -> None:
    for name, prompt in renders.items():
        assert prompt.startswith("<bos>") and prompt.count("<bos>") == 1, name


def test_nested_second_turn_uses_user_turn_results_and_a_fresh_model_turn(
    renders: dict[str, str],
) -> None:
    prompt = renders["07-nested-second-turn"]
    assert prompt.endswith(
        '<|turn>model\n<|tool_call>call:get_weather{city:<|"|>Milan<|"|>}<tool_call|><turn|>\n'
        '<|turn>user\n<|tool_response>response:get_weather{value:<|"|>cloudy, 6 C<|"|>}'
        "<tool_response|><turn|>\n<|turn>model\n<|channel>thought\n<channel|>"
    )
    assert prompt.count("<|turn>user\n<|tool_response>response:") == 2
    assert "<|turn>tool" not in prompt


def test_parallel_results_resolve_names_through_tool_call_id(renders: dict[str, str]) -> None:
    prompt = renders["09-parallel-calls"]
    assert 'response:get_weather{value:<|"|>sunny, 25 C<|"|>}' in prompt
    assert 'response:get_weather{value:<|"|>overcast, 14 C<|"|>}' in prompt
    assert "response:unknown" not in prompt


def test_thinking_on_switch_and_open_model_turn(renders: dict[str, str]) -> None:
    prompt = renders["13-thinking-on"]
    assert prompt.startswith("<bos><|turn>system\n<|think|>\n")
    assert (
        "<|channel>thought\nI should check the current weather in Reykjavik.\n<channel|>" in prompt
    )
    assert prompt.endswith("<turn|>\n<|turn>model\n")


def test_rich_arguments_are_formatted_like_google(renders: dict[str, str]) -> None:
    prompt = renders["10-rich-arguments"]
    assert (
        'call:create_event{attendees:[<|"|>juergen@example.com<|"|>,<|"|>li.lei@example.cn<|"|>],'
        'duration_hours:1.5,options:{labels:[<|"|>work<|"|>,<|"|>q3<|"|>],location:null,'
        'private:true,reminder_minutes:15},title:<|"|>Review of "Café Zürich" — naïve plan ✓<|"|>}'
    ) in prompt


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="shared reference templates not present")
def test_parity_with_google_template_differs_only_where_the_workaround_does(
    renders: dict[str, str],
) -> None:
    reference_text = (REFERENCE / "gemma4-large.chat_template.jinja").read_text()
    entries = {e.conversation: e for e in parity.compare(renders, reference_text, CORPUS)}
    for plain in ("01-plain", "02-system", "03-multi-turn", "11-empty-content"):
        assert entries[plain].identical, entries[plain].diff
    for tooling in ("05-one-call", "07-nested-second-turn", "09-parallel-calls"):
        assert not entries[tooling].identical
        assert "+<|turn>user\\n<|tool_response>response:" in entries[tooling].diff
    # Declarations are byte-identical to Google's: the system turn differs only by our note.
    ours = renders["10-rich-arguments"].split("<tool|>")[0]
    from publisher.chat import reference

    theirs = reference.render(reference_text, CORPUS[9].__dict__).split("<tool|>")[0]
    assert CORPUS[9].name == "10-rich-arguments" and ours == theirs
