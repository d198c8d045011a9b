"""One column seen in several series (splits, or a split and its baseline): table cells and a chart.

Both reports draw columns the same way, so a reader who learnt the statistics
page reads the charts under an anomaly without a legend hunt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from headrace.components.report_page import esc, fmt_num, fmt_pct, swatch
from headrace.components.validator.formats import ColumnStatistics
from headrace.components.validator.reports.image_view import image_cells, image_chart
from headrace.components.validator.reports.svg import (
    BarSeries,
    HistogramSeries,
    bar_chart_svg,
    histogram_svg,
)

TOP_BARS = 8

View = Literal["numeric", "string", "image", "other"]


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    column: ColumnStatistics | None  # None: the column is absent from this split


def view_of(series: Sequence[Series]) -> View:
    columns = [s.column for s in series if s.column is not None]
    if any(c.image is not None for c in columns):
        return "image"
    if any(c.numeric is not None for c in columns):
        return "numeric"
    if any(c.string is not None for c in columns):
        return "string"
    return "other"


HEADERS: dict[View, tuple[str, ...]] = {
    "numeric": ("Count", "Missing", "Mean", "Std dev", "Zeros", "NaN", "Min", "Median", "Max"),
    "string": ("Count", "Missing", "Distinct", "Top value", "Avg length", "Invalid UTF-8"),
    "image": ("Count", "Missing", "Undecodable", "Shapes", "Channels", "Pixel mean", "Pixel sd", "Size"),
    "other": ("Count", "Missing"),
}


def header_cells(view: View) -> str:
    """Header cells after the split label."""
    left = ("Top value", "Shapes", "Channels")
    return "".join(f'<th class="l">{h}</th>' if h in left else f"<th>{h}</th>" for h in HEADERS[view])


def _median(quantiles: list[float]) -> float | None:
    if not quantiles:
        return None
    mid = len(quantiles) // 2
    return quantiles[mid] if len(quantiles) % 2 else (quantiles[mid - 1] + quantiles[mid]) / 2


def _flag(value: int, css: str) -> str:
    return f'<td class="{css}">{fmt_num(value)}</td>' if value else f"<td>{fmt_num(value)}</td>"


def split_label_cell(s: Series) -> str:
    return f'<td class="l">{swatch(s.color)}{esc(s.label)}</td>'


def stat_cells(view: View, s: Series) -> str:
    """The statistics of one series, as the cells after the split label."""
    c = s.column
    if c is None:
        return f'<td class="absent" colspan="{len(HEADERS[view])}">absent from this split</td>'
    total = c.count + c.missing
    missing_css = ' class="warn"' if c.missing else ""
    cells = [
        f"<td>{fmt_num(c.count)}</td>",
        f'<td{missing_css} title="{fmt_num(c.missing)} of {fmt_num(total)} rows">{fmt_pct(c.missing_fraction)}</td>',
    ]
    if view == "numeric":
        n = c.numeric
        if n is None:
            cells.append(f'<td class="l muted" colspan="7">{esc(c.type)}: no numeric statistics</td>')
        else:
            cells += [
                f"<td>{fmt_num(n.mean)}</td>",
                f"<td>{fmt_num(n.std_dev)}</td>",
                f'<td title="{fmt_pct(n.zeros / c.count if c.count else 0)}">{fmt_num(n.zeros)}</td>',
                _flag(n.nan, "warn"),
                f"<td>{fmt_num(n.min)}</td>",
                f"<td>{fmt_num(_median(n.quantiles))}</td>",
                f"<td>{fmt_num(n.max)}</td>",
            ]
    elif view == "image":
        cells += image_cells(c)
    elif view == "string":
        st = c.string
        if st is None:
            cells.append(f'<td class="l muted" colspan="4">{esc(c.type)}: no string statistics</td>')
        else:
            distinct = fmt_num(st.distinct) if st.distinct_is_exact else f"≈{fmt_num(st.distinct)}"
            if st.top_values:
                tv = st.top_values[0]
                shown = esc(tv.value if len(tv.value) <= 24 else tv.value[:23] + "…") if tv.value else "&quot;&quot;"
                share = fmt_pct(tv.count / c.count if c.count else 0)
                top = f'<td class="l" title="{esc(tv.value)}"><code>{shown}</code> {share}</td>'
            else:
                top = '<td class="l muted">–</td>'
            cells += [f"<td>{distinct}</td>", top, f"<td>{fmt_num(st.avg_length)}</td>", _flag(st.invalid_utf8, "bad")]
    return "".join(cells)


def chart(view: View, series: Sequence[Series]) -> str:
    """Histograms overlaid (numeric) or grouped bars of the top values (string) for the series present."""
    if view == "numeric":
        return histogram_svg(
            [
                HistogramSeries(s.label, s.color, s.column.numeric.histogram)
                for s in series
                if s.column is not None and s.column.numeric is not None and s.column.numeric.histogram is not None
            ]
        )
    if view == "image":
        return image_chart(series)
    if view == "string":
        with_values = [
            (s, s.column, s.column.string) for s in series if s.column is not None and s.column.string is not None
        ]
        values: list[str] = []
        for _, _, string in with_values:  # first series' order, then what the others add
            for vc in string.top_values:
                if vc.value not in values:
                    values.append(vc.value)
        values = values[:TOP_BARS]
        bars = bar_chart_svg(
            values,
            [
                BarSeries(s.label, s.color, column.count, {vc.value: vc.count for vc in string.top_values})
                for s, column, string in with_values
            ],
        )
        distinct = max((string.distinct for _, _, string in with_values), default=0)
        if distinct > len(values):
            bars += f'<div class="caption">top {len(values)} of {fmt_num(distinct)} distinct values</div>'
        return bars
    return '<span class="caption">no chart for this type</span>'
