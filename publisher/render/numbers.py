"""Number formatting for cards and pages: scores, deltas and file sizes, one way everywhere.

Scores are formatted from their decimal spelling (never float arithmetic), so 89.6 − 85.6 is
exactly 4.00 and a parity row can never print as `−0.00`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext

UNKNOWN = "—"  # what a table shows for a value nobody measured or declared
MINUS = "\u2212"  # the typographic minus the published pages use for negative deltas
_CENT = Decimal("0.01")
_PRECISION = 400  # digits: the largest float (1.8e308) to the cent, so quantize never overflows


def _decimal(value: float | int) -> Decimal:
    """The decimal a person wrote: `repr` of a float is its shortest round-tripping spelling.

    NaN and infinities have no decimal spelling worth printing: ValueError (the manifest refuses
    them first; this keeps any other caller from printing `NaN` into a card)."""
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if not number.is_finite():
        raise ValueError(f"expected a finite number, found {value!r}")
    return number


def _cents(number: Decimal) -> Decimal:
    """`number` rounded half-up to two decimals, exact for any finite float."""
    with localcontext(prec=_PRECISION):
        return number.quantize(_CENT, rounding=ROUND_HALF_UP)


def delta(score: float | int, reference: float | int) -> Decimal:
    """`score − reference`, exact and rounded half-up to two decimals."""
    with localcontext(prec=_PRECISION):
        return _cents(_decimal(score) - _decimal(reference))


def format_score(value: float | int | None) -> str:
    """A benchmark score with two decimals (`89.60`), or the unknown mark."""
    if value is None:
        return UNKNOWN
    return str(_cents(_decimal(value)))


def format_delta(score: float | int, reference: float | int | None) -> str:
    """`score − reference` as `0.00`, `+1.25` or `−3.05` (U+2212); unknown without a reference."""
    if reference is None:
        return UNKNOWN
    value = delta(score, reference)
    if value == 0:
        return "0.00"  # parity; Decimal("-0.00") would otherwise print a signed zero
    if value < 0:
        return f"{MINUS}{-value}"
    return f"+{value}"


def format_size(size: int | None) -> str:
    """Bytes in decimal units as the Hub and ollama.com show them (`13.2 GB`), or unknown."""
    if size is None:
        return UNKNOWN
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if round(value, 1) < 1000 or unit == "TB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")
