"""Smoke results: a run's failures and transcript, rates per case, and the --json report.

Kept apart so the verdict's shape (what scripts read) is one place, whoever produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Failure:
    """Why a case failed: a stable code for scripts and tests, a sentence for people."""

    code: str
    message: str


@dataclass
class Run:
    """One run of one case with one seed: its verdict and the whole conversation."""

    seed: int | None
    failures: list[Failure] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass
class CaseReport:
    """A case over all its runs: the pass rate and each run kept."""

    name: str
    check: str
    runs: list[Run] = field(default_factory=list)

    @property
    def passes(self) -> int:
        return sum(run.passed for run in self.runs)

    @property
    def rate(self) -> float:
        return self.passes / len(self.runs) if self.runs else 0.0

    def ok(self, min_rate: float = 1.0) -> bool:
        """Passes when its pass rate reaches `min_rate` (default: every run)."""
        return bool(self.runs) and self.rate >= min_rate - 1e-9


@dataclass
class SmokeReport:
    """All cases of one tag, under the Ollama model name they ran against."""

    tag: str
    model: str
    options: dict[str, Any]
    cases: list[CaseReport] = field(default_factory=list)
    created: bool = False

    def ok(self, min_rate: float = 1.0) -> bool:
        return all(case.ok(min_rate) for case in self.cases)


def report_json(reports: list[SmokeReport], *, host: str, min_rate: float) -> dict[str, Any]:
    """Plain data for --json: verdicts, rates, reasons and every transcript."""
    return {
        "host": host,
        "ok": all(report.ok(min_rate) for report in reports),
        "min_pass_rate": min_rate,
        "tags": [
            {
                "tag": report.tag,
                "model": report.model,
                "created": report.created,
                "options": report.options,
                "ok": report.ok(min_rate),
                "cases": [
                    {
                        "name": case.name,
                        "check": case.check,
                        "ok": case.ok(min_rate),
                        "passes": case.passes,
                        "runs": len(case.runs),
                        "rate": round(case.rate, 4),
                        "results": [
                            {
                                "seed": run.seed,
                                "passed": run.passed,
                                "failures": [asdict(f) for f in run.failures],
                                "seconds": round(run.seconds, 3),
                                "transcript": run.transcript,
                            }
                            for run in case.runs
                        ],
                    }
                    for case in report.cases
                ],
            }
            for report in reports
        ],
    }
