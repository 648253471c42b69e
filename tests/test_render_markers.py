"""Merging a generated card into an existing one: only marked sections change, and only once."""

from __future__ import annotations

import pytest
import yaml

from publisher.render.markers import CardMergeError, merge_sections


def section(name: str, body: str) -> str:
    return f"<!-- publisher:begin {name} -->\n{body}\n<!-- publisher:end {name} -->\n"


FRONT = "---\nlicense: gemma\ntags:\n- gguf\n---\n"
GENERATED = (
    FRONT
    + "\n"
    + section("header", "# Title v2")
    + "\n"
    + section("files", "| new | table |")
    + "\n"
    + section("license", "Gemma terms")
)


def test_empty_existing_card_gives_the_generated_one() -> None:
    assert merge_sections("", GENERATED) == GENERATED
    assert merge_sections("  \n", GENERATED) == GENERATED


def test_generated_card_merged_into_itself_is_unchanged() -> None:
    assert merge_sections(GENERATED, GENERATED) == GENERATED


def test_hand_written_text_survives_and_sections_are_replaced() -> None:
    existing = (
        FRONT
        + "Intro written by hand.\n\n"
        + section("header", "# Title v1")
        + "\n## Methodology\n\nHand-written ablations, kept.\n\n"
        + section("files", "| old | table |")
        + "\nFooter by hand.\n"
        + section("license", "old terms")
    )
    merged = merge_sections(existing, GENERATED)
    for kept in (
        "Intro written by hand.",
        "## Methodology",
        "Hand-written ablations, kept.",
        "Footer by hand.",
    ):
        assert kept in merged
    assert "# Title v2" in merged and "| new | table |" in merged and "Gemma terms" in merged
    assert "# Title v1" not in merged and "| old | table |" not in merged
    assert "old terms" not in merged
    # hand-written lines stay where they were, relative to the sections
    assert merged.index("Intro") < merged.index("# Title v2") < merged.index("## Methodology")
    assert merged.index("## Methodology") < merged.index("| new |") < merged.index("Footer")


def test_merge_is_idempotent() -> None:
    existing = FRONT + "Hand text.\n\n" + section("files", "| old |") + "\nMore hand text.\n"
    once = merge_sections(existing, GENERATED)
    assert merge_sections(once, GENERATED) == once


def test_missing_section_goes_after_its_generated_predecessor() -> None:
    existing = section("header", "# old") + "\nHand between.\n\n" + section("license", "x")
    merged = merge_sections(existing, GENERATED)
    assert merged.index("# Title v2") < merged.index("| new | table |")
    assert merged.index("| new | table |") < merged.index("Hand between.")
    assert merged.count("publisher:begin files") == 1
    assert merge_sections(merged, GENERATED) == merged


def test_missing_first_section_goes_before_its_generated_successor() -> None:
    existing = "Hand intro.\n\n" + section("files", "| old |") + "\nHand outro.\n"
    merged = merge_sections(existing, GENERATED)
    assert merged.index("Hand intro.") < merged.index("# Title v2") < merged.index("| new |")
    # `license` follows `files`, its predecessor in the generated card; hand text stays after
    assert merged.index("| new |") < merged.index("Gemma terms") < merged.index("Hand outro.")


def test_card_without_markers_is_kept_whole_and_sections_are_appended() -> None:
    existing = "# The owner's own card\n\nEverything here is hand-written.\n"
    merged = merge_sections(existing, GENERATED)
    assert merged.startswith("---\n")  # the generated front matter is added
    assert existing in merged
    assert merged.index("Everything here") < merged.index("# Title v2")
    assert merge_sections(merged, GENERATED) == merged


def test_marked_section_the_generator_does_not_know_is_kept_verbatim() -> None:
    custom = section("owner-notes", "Notes the owner marked up by hand.")
    existing = section("header", "# old") + "\n" + custom
    merged = merge_sections(existing, GENERATED)
    assert custom in merged


def test_front_matter_keys_added_by_hand_survive_and_generated_keys_win() -> None:
    existing = "---\nlicense: apache-2.0\ndatasets:\n- my/data\n---\n" + section("header", "x")
    merged = merge_sections(existing, GENERATED)
    data = yaml.safe_load(merged.split("---\n")[1])
    assert data["license"] == "gemma"
    assert data["datasets"] == ["my/data"]
    assert data["tags"] == ["gguf"]
    assert merge_sections(merged, GENERATED) == merged


def test_crlf_card_markers_are_recognised() -> None:
    existing = (section("files", "| old |") + "hand\n").replace("\n", "\r\n")
    merged = merge_sections(existing, GENERATED)
    assert "| old |" not in merged and "hand\r\n" in merged


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<!-- publisher:begin files -->\nno end\n", "never closed"),
        ("<!-- publisher:end files -->\n", "without its begin"),
        (
            "<!-- publisher:begin a -->\n<!-- publisher:begin b -->\n"
            "<!-- publisher:end b -->\n<!-- publisher:end a -->\n",
            "do not nest",
        ),
        (
            "<!-- publisher:begin a -->\n<!-- publisher:end b -->\n",
            "expected the end of section 'a'",
        ),
        (section("a", "1") + section("a", "2"), "appears twice"),
    ],
)
def test_broken_markers_are_refused_not_guessed(body: str, message: str) -> None:
    with pytest.raises(CardMergeError, match=message):
        merge_sections("hand text\n" + body, GENERATED, source="README.md")


def test_unreadable_front_matter_is_refused() -> None:
    with pytest.raises(CardMergeError, match="front matter"):
        merge_sections("---\nlicense: [unclosed\n---\nbody\n", GENERATED)
