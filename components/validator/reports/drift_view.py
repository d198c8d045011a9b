"""A skew or drift anomaly drawn: both distributions on one axis, and each measure against its threshold.

A number alone ("Wasserstein 0.52") is hard to believe; the reference drawn
in grey with the current distribution over it in colour shows the shift. Both
come from what the measures compared (percentiles for numbers, value shares
for categories), on one grid, so the picture and the numbers agree.
"""

from __future__ import annotations

from headrace.components.report_page import BASELINE_COLORS, esc, fmt_pct
from headrace.components.validator import quantile_distances as qd
from headrace.components.validator.distances import OTHER_VALUES, aligned_shares
from headrace.components.validator.drift_measures import MEASURES, image_view
from headrace.components.validator.formats import ColumnStatistics, Comparison
from headrace.components.validator.reports.svg import BarSeries, bar_chart_svg, overlay_svg
from headrace.components.validator.wording import amount, dist, unit_of

BINS = 24
TOP_VALUES = 10


def drift_figure(
    name: str,
    comparison: Comparison,
    old: ColumnStatistics,
    new: ColumnStatistics,
    old_label: str,
    new_label: str,
    color: str,
) -> str:
    """The overlay chart of ``new`` on ``old`` and the table of measures; the caption says which is which."""
    grey = BASELINE_COLORS[1]
    if old.image is not None and new.image is not None:
        # the per-image distribution the worst measure flagged (brightness or contrast), drawn like a number's
        flagged = max(comparison.measures, key=lambda m: (m.exceeded, m.value / m.applied if m.applied else 0.0))
        quantity = flagged.at or "brightness"
        a, b = image_view(old, quantity), image_view(new, quantity)
        if a is not None and b is not None:
            old, new, name = a, b, f"{name} {quantity}"
    if old.numeric is not None and new.numeric is not None:
        chart = _numeric(name, old, new, old_label, new_label, grey, color)
    else:
        chart = _categorical(old, new, old_label, new_label, grey, color)
    legend = (
        f'<span class="sw" style="background:{grey}"></span>{esc(old_label)} ({comparison.old_count:,} values) '
        f'<span class="sw" style="background:{color}"></span>{esc(new_label)} ({comparison.new_count:,} values)'
    )
    return (
        f'<div class="figure"><div class="caption">{esc(new_label)} over {esc(old_label)}</div>{chart}'
        f'<div class="caption">{legend}</div>{measures_table(comparison)}</div>'
    )


def measures_table(comparison: Comparison) -> str:
    rows = []
    for m in comparison.measures:
        raised = f" ({dist(m.noise)} at these sizes)" if m.noise > m.threshold else ""
        verdict = '<span class="bad">above</span>' if m.exceeded else '<span class="muted">within</span>'
        rows.append(
            f"<tr><td>{esc(MEASURES[m.measure].name)}{esc(f' of {m.at}' if m.at and m.measure != 'linf' else '')}</td><td class=n>{dist(m.value, m.applied)}</td>"
            f"<td class=n>{dist(m.threshold)}{raised}</td><td>{verdict}</td></tr>"
        )
    return (
        '<table class="examples measures"><tr><th>Measure</th><th>Value</th><th>Threshold</th><th></th></tr>'
        f"{''.join(rows)}</table>"
    )


def _numeric(
    name: str, old: ColumnStatistics, new: ColumnStatistics, old_label: str, new_label: str, grey: str, color: str
) -> str:
    qa, qb = qd.quantile_function(old.numeric), qd.quantile_function(new.numeric)
    if qa is None or qb is None:
        return '<span class="caption">no percentiles in these statistics</span>'
    lo = min(qd.quantile_at(qa, 0.005), qd.quantile_at(qb, 0.005))
    hi = max(qd.quantile_at(qa, 0.995), qd.quantile_at(qb, 0.995))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = [lo + (hi - lo) * i / BINS for i in range(BINS + 1)]
    unit = unit_of(name)
    means = [c.numeric.mean if c.numeric else None for c in (old, new)]
    return overlay_svg(
        edges,
        qd.bin_shares(qa, edges[1:-1]),
        qd.bin_shares(qb, edges[1:-1]),
        (old_label, grey, means[0]),
        (new_label, color, means[1]),
        low=amount(lo, unit),
        high=amount(hi, unit),
    )


def _categorical(
    old: ColumnStatistics, new: ColumnStatistics, old_label: str, new_label: str, grey: str, color: str
) -> str:
    aligned = aligned_shares(old, new)
    if aligned is None:
        return '<span class="caption">no values</span>'
    keys, a, b = aligned
    order = sorted(range(len(keys)), key=lambda i: (keys[i] == OTHER_VALUES, -max(a[i], b[i]), keys[i]))
    shown = [keys[i] for i in order[:TOP_VALUES]]
    series = [
        BarSeries(label, colour, count, {k: round(share * count) for k, share in zip(keys, shares, strict=True)})
        for label, colour, count, shares in (
            (old_label, grey, old.count, a),
            (new_label, color, new.count, b),
        )
    ]
    chart = bar_chart_svg(shown, series, width=320, bar=7)
    if len(keys) > len(shown):
        chart += f'<div class="caption">the {len(shown)} values with the largest shares of {len(keys)}</div>'
    moved = max(range(len(keys)), key=lambda i: abs(a[i] - b[i]))
    return chart + (
        f'<div class="caption">largest move: {esc(keys[moved])} {fmt_pct(a[moved])} → {fmt_pct(b[moved])}</div>'
    )
