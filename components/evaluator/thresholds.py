"""Thresholds judged: one line per bound (metric, value, bound, baseline, pass or fail) and the verdict.

A model is blessed when no line fails. A change bound (``max_drop``,
``max_rise``) with no usable baseline is not checked, and says so: the first
model of a pipeline is judged by its value thresholds alone. A bound on a
metric that is undefined on these rows fails, with the reason.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from headrace.components.evaluator.spec import HigherIsBetter, LowerIsBetter, Thresholds

PASS, FAIL, NOT_CHECKED = "pass", "fail", "not checked"
TOLERANCE = 1e-9  # metrics are ratios of counts: a value on the bound must not fail by a rounding error


@dataclass
class Check:
    metric: str
    kind: str  # min | max | max_drop | max_rise
    threshold: float  # the number written in the pipeline file
    value: float | None
    baseline: float | None
    bound: float | None  # what the value was compared with: the threshold, or baseline -/+ the allowed change
    result: str  # pass | fail | not checked
    text: str

    @property
    def failed(self) -> bool:
        return self.result == FAIL

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    blessed: bool
    checks: list[Check]
    summary: str
    why: str  # when not blessed: every failing line, for the end of the run


def judge(
    thresholds: Thresholds,
    values: dict[str, float | None],
    undefined: dict[str, str],
    baseline: dict[str, float | None] | None,
    no_baseline: str,
) -> Verdict:
    """Each bound of ``thresholds`` against the model's ``values`` (and the baseline's), and the verdict.

    ``no_baseline`` says why there is no baseline when ``baseline`` is None.
    """
    checks: list[Check] = []
    for metric, bounds in thresholds.items():
        value = values.get(metric)
        for kind in ("min", "max", "max_drop", "max_rise"):
            threshold = getattr(bounds, kind, None)
            if threshold is not None:
                checks.append(_check(metric, kind, float(threshold), value, undefined.get(metric), baseline))
    failed = [c for c in checks if c.failed]
    skipped = [c for c in checks if c.result == NOT_CHECKED]
    if not checks:
        summary = "blessed: no thresholds are set, so nothing could fail"
    elif failed:
        names = ", ".join(dict.fromkeys(c.metric for c in failed))
        summary = f"NOT blessed: {len(failed)} of {len(checks)} threshold(s) fail ({names})"
    else:
        summary = f"blessed: {len(checks) - len(skipped)} of {len(checks)} threshold(s) checked, all pass"
    if skipped:
        summary += f"; {no_baseline}, so the change threshold(s) were not checked (judged by value thresholds alone)"
    why = "NOT blessed: " + "; ".join(c.text for c in failed) if failed else ""
    return Verdict(blessed=not failed, checks=checks, summary=summary, why=why)


def _check(
    metric: str,
    kind: str,
    threshold: float,
    value: float | None,
    why_undefined: str | None,
    baseline: dict[str, float | None] | None,
) -> Check:
    base = baseline.get(metric) if baseline is not None else None
    written = f"{metric} {kind} {_num(threshold)}"

    def line(bound: float | None, result: str, text: str) -> Check:
        return Check(metric, kind, threshold, value, base, bound, result, text)

    if kind in ("min", "max"):
        bound = threshold
    elif baseline is None:
        return line(None, NOT_CHECKED, f"{written}: no baseline")
    elif base is None:
        return line(None, FAIL, f"{written}: the baseline's {metric} is undefined")
    else:
        bound = base - threshold if kind == "max_drop" else base + threshold
    if value is None:
        return line(bound, FAIL, f"{metric} is undefined ({why_undefined or 'not computed'})")
    at_least = kind in ("min", "max_drop")
    passed = value >= bound - TOLERANCE if at_least else value <= bound + TOLERANCE
    sign = (">=" if passed else "<") if at_least else ("<=" if passed else ">")
    if base is None or kind in ("min", "max"):
        return line(bound, PASS if passed else FAIL, f"{metric} {_num(value)} {sign} {kind} {_num(threshold)}")
    moved = "dropped" if value < base else "rose" if value > base else "stayed"
    change = f" {_num(abs(value - base))} from" if value != base else " at"
    text = f"{metric} {_num(value)} {moved}{change} the baseline's {_num(base)} ({kind} {_num(threshold)}: {sign} {_num(bound)})"
    return line(bound, PASS if passed else FAIL, text)


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def bounds_of(entry: HigherIsBetter | LowerIsBetter) -> dict[str, float]:
    """The bounds written for one metric (for the report's threshold column)."""
    return {k: float(v) for k, v in entry.model_dump().items() if v is not None}
