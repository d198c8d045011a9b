"""Skew (one split against another) and drift (a split against its baseline), column by column.

Each column the schema gives ``skew`` or ``drift`` thresholds is measured with
every measure it names (``drift_measures``), each against the larger of its
threshold and what chance reaches at the two sample sizes. A column with
fewer than ``MIN_VALUES`` values on either side is not measured: the report
says it had too little data. An anomaly says the move in the column's own
terms (``mean 4,207 -> 4,627 g, +0.52 standard deviations``; ``the share of
'Anvers' 0% -> 5.1%``), then each measure against its threshold, and carries
every measure's value for the report to draw.
"""

from __future__ import annotations

import math
from typing import Literal

from headrace.components.validator.distances import aligned_shares
from headrace.components.validator.drift_measures import (
    MEASURES,
    MIN_VALUES,
    asked,
    family_of,
    image_view,
    measure,
    measure_all,
    too_little_data,
    values_of,
)
from headrace.components.validator.formats import (
    Anomaly,
    ColumnStatistics,
    Comparison,
    DataSchema,
    DatasetStatistics,
    MeasureValue,
    NotChecked,
    SplitStatistics,
)
from headrace.components.validator.wording import amount, dist, pct, unit_of, value_name

Kind = Literal["skew", "drift"]
Found = tuple[list[Anomaly], list[NotChecked]]
_CURATED = "in your curated schema.yaml"


def check_skew(statistics: DatasetStatistics, schema: DataSchema, first: str, second: str) -> Found:
    """Columns whose ``second`` split differs from the ``first`` by more than the schema's skew thresholds."""
    return _compare(statistics.splits[first], statistics.splits[second], schema, "skew", old_is_baseline=False)


def check_drift(statistics: DatasetStatistics, baseline: DatasetStatistics, schema: DataSchema, split: str) -> Found:
    """Columns of ``split`` that moved away from the baseline's ``split`` by more than the drift thresholds."""
    return _compare(baseline.splits[split], statistics.splits[split], schema, "drift", old_is_baseline=True)


def _compare(
    old: SplitStatistics, new: SplitStatistics, schema: DataSchema, kind: Kind, old_is_baseline: bool
) -> Found:
    anomalies: list[Anomaly] = []
    not_checked: list[NotChecked] = []
    for name, expected in schema.columns.items():
        thresholds = expected.skew if kind == "skew" else expected.drift
        a, b = old.columns.get(name), new.columns.get(name)
        if thresholds is None or not asked(thresholds) or a is None or b is None:
            continue
        if family_of(a) is None or family_of(a) != family_of(b):
            continue  # a type change is its own anomaly
        if too_little_data(a, b):
            not_checked.append(
                NotChecked(column=name, kind=kind, split=new.name, reason=_too_little(a, b, old, new, kind))
            )
            continue
        measures = measure_all(a, b, thresholds)
        if any(m.exceeded for m in measures):
            comparison = Comparison(
                old_split=old.name,
                new_split=new.name,
                old_is_baseline=old_is_baseline,
                old_count=values_of(a),
                new_count=values_of(b),
                measures=measures,
            )
            anomalies.append(_anomaly(kind, name, a, b, comparison))
    return anomalies, not_checked


def _side(split: str, is_baseline: bool) -> str:
    return "the baseline" if is_baseline else f"the {split} split"


def _too_little(
    a: ColumnStatistics, b: ColumnStatistics, old: SplitStatistics, new: SplitStatistics, kind: Kind
) -> str:
    return (
        f"too little data: {values_of(b):,} values in the {new.name} split and {values_of(a):,} in "
        f"{_side(old.name, kind == 'drift')}; {kind} is measured from {MIN_VALUES} values on each side"
    )


def _anomaly(kind: Kind, name: str, a: ColumnStatistics, b: ColumnStatistics, comparison: Comparison) -> Anomaly:
    exceeded = [m for m in comparison.measures if m.exceeded]
    expected = ", ".join(
        f"{MEASURES[m.measure].name} at most {dist(m.threshold)} ({kind}.{m.measure})" for m in exceeded
    )
    raised = [m for m in exceeded if m.noise > m.threshold]
    if raised:
        expected += (
            f"; raised to {' and '.join(dist(m.noise) for m in raised)}, what chance reaches between "
            f"{comparison.new_count:,} and {comparison.old_count:,} values"
        )
    new_side = _side(comparison.new_split, False)
    old_side = _side(comparison.old_split, comparison.old_is_baseline)
    verb = "has moved away from" if kind == "drift" else "does not look like"
    measured = "; ".join(_measured(m) for m in exceeded + [m for m in comparison.measures if not m.exceeded])
    if not any(m.measure == "psi" for m in comparison.measures):  # the index many teams already read, for context
        context = measure("psi", a, b, MEASURES["psi"].default)
        measured += f"; PSI {dist(context.value)}" if context is not None else ""
    raises = " and ".join(f"columns.{name}.{kind}.{m.measure} to {_suggestion(m.value):g}" for m in exceeded)
    if kind == "skew":
        data_fix = "or re-split the data (another split_key or split weights) so the splits look alike"
    else:
        data_fix = "or find out why the data changed (a new source, a broken feed, a real shift to retrain on)"
    return Anomaly.of(
        kind,
        name,
        comparison.new_split if kind == "drift" else None,
        expected,
        ", ".join(f"{_of(m)} {dist(m.value, m.applied)}" for m in exceeded),
        f"{new_side.capitalize()}'s {name} {verb} {old_side}'s: {describe_move(name, a, b, _flagged_value(comparison))}. {measured}.",
        f"Raise {raises} {_CURATED} to accept it, {data_fix}.",
        comparison=comparison,
    )


def _flagged_value(comparison: Comparison) -> str | None:
    return next((m.at for m in comparison.measures if m.measure == "linf"), None)


def _of(m: MeasureValue) -> str:
    """``Wasserstein distance``, or for an image column ``Wasserstein distance of brightness``."""
    name = MEASURES[m.measure].name
    return f"{name} of {m.at}" if m.at and m.measure != "linf" else name


def _measured(m: MeasureValue) -> str:
    text = f"{_of(m)} {dist(m.value, m.applied)}"
    return f"{text}, above the threshold {dist(m.applied)}" if m.exceeded else text


def _suggestion(value: float) -> float:
    """The next multiple of 0.05 above ``value``: a round threshold that accepts it."""
    return math.floor(value * 20 + 1) / 20


def describe_move(name: str, a: ColumnStatistics, b: ColumnStatistics, at: str | None = None) -> str:
    """What moved, in the column's own terms: its mean and spread, or the share of the value that moved most
    (``at``: the value L-infinity flagged, the clearest move beyond chance)."""
    if a.image is not None and b.image is not None:
        return _image_move(a, b)
    if a.numeric is not None and b.numeric is not None:
        return _numeric_move(unit_of(name), a, b)
    aligned = aligned_shares(a, b)
    if aligned is None:
        return "its values changed"
    keys, x, y = aligned
    moved = keys.index(at) if at in keys else max(range(len(keys)), key=lambda i: (abs(x[i] - y[i]), keys[i]))
    points = (y[moved] - x[moved]) * 100
    return f"the share of {value_name(keys[moved])} {pct(x[moved])} → {pct(y[moved])} ({points:+.1f} points)"


def _image_move(a: ColumnStatistics, b: ColumnStatistics) -> str:
    """Per-image brightness and contrast, then the overall pixel mean and standard deviation."""
    parts = []
    for quantity in ("brightness", "contrast"):
        old, new = image_view(a, quantity), image_view(b, quantity)
        if old is not None and new is not None:
            parts.append(f"{quantity} {_numeric_move('', old, new)}")
    ia, ib = a.image, b.image
    assert ia is not None and ib is not None
    if ia.pixel_mean is not None and ib.pixel_mean is not None:
        parts.append(
            f"pixel mean {amount(ia.pixel_mean)} → {amount(ib.pixel_mean)}, "
            f"pixel standard deviation {amount(ia.pixel_std_dev or 0.0)} → {amount(ib.pixel_std_dev or 0.0)}"
        )
    return "; ".join(parts) or "its pixels changed"


def _numeric_move(unit: str, a: ColumnStatistics, b: ColumnStatistics) -> str:
    na, nb = a.numeric, b.numeric
    assert na is not None and nb is not None
    if na.mean is None or nb.mean is None:
        return "its values changed"
    parts = [f"mean {amount(na.mean)} → {amount(nb.mean, unit)}"]
    if na.std_dev:
        parts[0] += f", {(nb.mean - na.mean) / na.std_dev:+.2f} standard deviations"
    if na.std_dev is not None and nb.std_dev is not None:
        spread = f"standard deviation {amount(na.std_dev)} → {amount(nb.std_dev, unit)}"
        if na.std_dev:
            spread += f" (×{nb.std_dev / na.std_dev:.2f})"
        parts.append(spread)
    return "; ".join(parts)
