"""Tiny inline SVG charts: overlaid histograms and grouped horizontal bars.

Charts compare distributions of splits (or of a split and its baseline) whose
sizes differ, so bars show shares, not counts; counts are in the tooltips.
Coordinates are rounded to one decimal and nothing is drawn twice, so a chart
stays a few kilobytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from headrace.components.report_page import esc, fmt_num, fmt_pct
from headrace.components.validator.formats import Histogram


@dataclass(frozen=True)
class HistogramSeries:
    label: str
    color: str
    histogram: Histogram


@dataclass(frozen=True)
class BarSeries:
    label: str
    color: str
    total: int
    counts: dict[str, int]


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def histogram_svg(series: Sequence[HistogramSeries], width: int = 240, height: int = 64) -> str:
    """Histograms of several series on one shared x-axis, bars as shares of each series' total.

    Bars sit side by side within a bucket rather than overlaid: overlaid translucent
    colours mix into a third colour nobody can read.
    """
    usable = [
        s
        for s in series
        if len(s.histogram.boundaries) >= 2
        and s.histogram.counts
        and all(math.isfinite(x) for x in s.histogram.boundaries)
        and all(math.isfinite(c) and c >= 0 for c in s.histogram.counts)
    ]
    if not usable:
        return '<span class="caption">no histogram</span>'
    lo = min(s.histogram.boundaries[0] for s in usable)
    hi = max(s.histogram.boundaries[-1] for s in usable)
    constant = hi <= lo
    if constant:  # one distinct value: a single full-width bucket
        usable = [
            HistogramSeries(s.label, s.color, Histogram(boundaries=[lo, lo + 1.0], counts=[sum(s.histogram.counts)]))
            for s in usable
        ]
        hi = lo + 1.0
    span = hi - lo
    shares = []
    for s in usable:
        total = sum(s.histogram.counts) or 1.0
        shares.append([c / total for c in s.histogram.counts])
    top = max((max(sh) for sh in shares if sh), default=0.0) or 1.0
    parts = [f'<svg width="{width}" height="{height + 14}" viewBox="0 0 {width} {height + 14}" role="img">']
    for si, (s, sh) in enumerate(zip(usable, shares, strict=True)):
        b = s.histogram.boundaries
        parts.append(f'<g fill="{s.color}">')
        for i, share in enumerate(sh):
            if i + 1 >= len(b):
                break
            # each bucket holds one slim bar per series, side by side
            left = (b[i] - lo) / span * width
            slot = max((b[i + 1] - lo) / span * width - left, 0.0) / len(usable)
            x0 = left + si * slot
            x1 = x0 + slot
            h = share / top * height
            count = s.histogram.counts[i]
            tip = f"{s.label}: [{fmt_num(b[i])}, {fmt_num(b[i + 1])}] {fmt_num(count)} ({fmt_pct(share)})"
            gap = 0.5 if si == len(usable) - 1 else 0.0
            parts.append(
                f'<rect x="{_n(x0)}" y="{_n(height - h)}" width="{_n(max(x1 - x0 - gap, 0.8))}" height="{_n(h)}">'
                f"<title>{esc(tip)}</title></rect>"
            )
        parts.append("</g>")
    parts.append(f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#9aa5b1"/>')
    parts.append(f'<text x="0" y="{height + 11}">{esc(fmt_num(lo))}</text>')
    if not constant:
        parts.append(f'<text x="{width}" y="{height + 11}" text-anchor="end">{esc(fmt_num(hi))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _label(value: str, limit: int = 16) -> str:
    if value == "":
        return '""'
    return value if len(value) <= limit else value[: limit - 1] + "…"


def bar_chart_svg(values: Sequence[str], series: Sequence[BarSeries], width: int = 250, bar: int = 5) -> str:
    """One group of horizontal bars per value, one bar per series, each the value's share of that series."""
    if not values or not series:
        return '<span class="caption">no values</span>'
    label_w = 100
    plot_w = width - label_w - 4
    group_h = bar * len(series) + 4
    shares = [[s.counts.get(v, 0) / s.total if s.total else 0.0 for s in series] for v in values]
    top = max((max(row) for row in shares), default=0.0) or 1.0
    height = group_h * len(values)
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">']
    for gi, (value, row) in enumerate(zip(values, shares, strict=True)):
        y = gi * group_h
        parts.append(
            f'<text x="{label_w - 4}" y="{_n(y + group_h / 2 + 2)}" text-anchor="end">{esc(_label(value))}'
            f"<title>{esc(value)}</title></text>"
        )
        for si, (s, share) in enumerate(zip(series, row, strict=True)):
            tip = f"{s.label}: {value!r} {fmt_num(s.counts.get(value, 0))} ({fmt_pct(share)})"
            parts.append(
                f'<rect x="{label_w}" y="{y + 2 + si * bar}" width="{_n(max(share / top * plot_w, 0.8 if share else 0))}" '
                f'height="{bar - 1}" fill="{s.color}"><title>{esc(tip)}</title></rect>'
            )
    parts.append(f'<line x1="{label_w}" y1="0" x2="{label_w}" y2="{height}" stroke="#9aa5b1"/>')
    parts.append("</svg>")
    return "".join(parts)


def overlay_svg(
    edges: Sequence[float],
    old_shares: Sequence[float],
    new_shares: Sequence[float],
    old: tuple[str, str, float | None],
    new: tuple[str, str, float | None],
    low: str,
    high: str,
    width: int = 420,
    height: int = 110,
) -> str:
    """Two distributions on one grid: the reference as grey bars, the current as a coloured outline over them.

    ``old`` and ``new`` are (label, colour, mean); a dashed line marks each mean.
    Outline over bars, not two translucent fills, so neither hides the other.
    """
    lo, hi = edges[0], edges[-1]
    span = (hi - lo) or 1.0
    top = max([*old_shares, *new_shares, 0.0]) or 1.0

    def x(value: float) -> float:
        return (value - lo) / span * width

    def y(share: float) -> float:
        return height - share / top * height

    (old_label, old_color, _), (new_label, new_color, _) = old, new
    parts = [f'<svg width="{width}" height="{height + 14}" viewBox="0 0 {width} {height + 14}" role="img">']
    parts.append(f'<g fill="{old_color}" fill-opacity="0.75">')
    for i, share in enumerate(old_shares):
        if share <= 0:
            continue
        tip = f"{old_label}: [{fmt_num(edges[i])}, {fmt_num(edges[i + 1])}] {fmt_pct(share)}"
        parts.append(
            f'<rect x="{_n(x(edges[i]))}" y="{_n(y(share))}" width="{_n(max(x(edges[i + 1]) - x(edges[i]) - 0.5, 0.8))}" '
            f'height="{_n(height - y(share))}"><title>{esc(tip)}</title></rect>'
        )
    parts.append("</g>")
    path = [f"M{_n(x(edges[0]))},{height}"]
    for i, share in enumerate(new_shares):
        path.append(f"L{_n(x(edges[i]))},{_n(y(share))}L{_n(x(edges[i + 1]))},{_n(y(share))}")
    path.append(f"L{_n(x(edges[-1]))},{height}")
    tip = f"{new_label}: " + ", ".join(
        f"[{fmt_num(edges[i])}, {fmt_num(edges[i + 1])}] {fmt_pct(s)}" for i, s in enumerate(new_shares) if s > 0
    )
    parts.append(
        f'<path d="{"".join(path)}" fill="none" stroke="{new_color}" stroke-width="2"><title>{esc(tip)}</title></path>'
    )
    for label, color, mean in (old, new):
        if mean is not None and math.isfinite(mean) and lo <= mean <= hi:
            parts.append(
                f'<line x1="{_n(x(mean))}" y1="0" x2="{_n(x(mean))}" y2="{height}" stroke="{color}" '
                f'stroke-width="1.5" stroke-dasharray="4 3"><title>{esc(f"{label}: mean {fmt_num(mean)}")}</title></line>'
            )
    parts.append(f'<line x1="0" y1="{height}" x2="{width}" y2="{height}" stroke="#9aa5b1"/>')
    parts.append(f'<text x="0" y="{height + 11}">{esc(low)}</text>')
    parts.append(f'<text x="{width}" y="{height + 11}" text-anchor="end">{esc(high)}</text>')
    parts.append("</svg>")
    return "".join(parts)
