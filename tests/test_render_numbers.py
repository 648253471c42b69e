"""Δ arithmetic and number formatting: exact decimals, U+2212 for negatives, no signed zero."""

from __future__ import annotations

from decimal import Decimal

import pytest

from publisher.render.context import benchmark_label
from publisher.render.numbers import MINUS, delta, format_delta, format_score, format_size


@pytest.mark.parametrize(
    ("reference", "score", "expected"),
    [
        (75.25, 75.25, "0.00"),  # the seed's parity row
        (76.83, 73.78, f"{MINUS}3.05"),
        (89.60, 85.60, f"{MINUS}4.00"),
        (50.0, 51.25, "+1.25"),
        (0.3, 0.1 + 0.2, "0.00"),  # float noise (0.30000000000000004) is still parity
        (10.0, 9.996, "0.00"),  # −0.004 rounds to zero: never "−0.00"
        (10.0, 9.995, f"{MINUS}0.01"),  # half-up, away from zero
        (1, 2, "+1.00"),
    ],
)
def test_delta_is_score_minus_reference(reference: float, score: float, expected: str) -> None:
    assert format_delta(score, reference) == expected


def test_delta_is_exact_decimal_arithmetic() -> None:
    # In binary floating point 73.78 - 76.83 is -3.049999999999997; the card must say 3.05.
    assert 73.78 - 76.83 != -3.05
    assert delta(73.78, 76.83) == Decimal("-3.05")


def test_negative_uses_the_typographic_minus_not_hyphen() -> None:
    text = format_delta(85.6, 89.6)
    assert text.startswith("\u2212") and "-" not in text


def test_missing_reference_is_unknown_not_zero() -> None:
    assert format_delta(80.0, None) == "—"
    assert format_score(None) == "—"


def test_scores_keep_two_decimals() -> None:
    assert format_score(89.6) == "89.60"
    assert format_score(75.25) == "75.25"
    assert format_score(85) == "85.00"


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (None, "—"),
        (512, "512 B"),
        (13_200_000_000, "13.2 GB"),
        (7_950_000_000, "8.0 GB"),
        (999_960, "1.0 MB"),  # never "1000.0 kB"
        (2_500_000, "2.5 MB"),
    ],
)
def test_human_sizes_in_decimal_units(size: int | None, expected: str) -> None:
    assert format_size(size) == expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("GPQA Diamond", 198, "flex", None), "GPQA Diamond (198, flex)"),
        (("HumanEval-164 chat", None, None, "BF16"), "HumanEval-164 chat (BF16)"),
        (("MBPP-500", None, None, None), "MBPP-500"),
        (("X", 10, "strict", "Q6_K"), "X (10, strict, Q6_K)"),
    ],
)
def test_benchmark_label(args: tuple, expected: str) -> None:
    assert benchmark_label(*args) == expected
