"""Statistics as a page a person reads: every column, every split side by side, problems first.

Laid out like Facets Overview: one block of rows per column, one row per split,
and one chart overlaying the splits. Wide tables stay usable: charts are drawn
for the first ``MAX_CHARTS`` columns of each section (problems first) and the
rest keep their numbers, so 10,000 columns make a few megabytes, not hundreds.
"""

from __future__ import annotations

import re

from headrace.components.report_page import (
    SPLIT_COLORS,
    document,
    esc,
    fmt_num,
    fmt_pct,
    swatch,
)
from headrace.components.validator.formats import DatasetStatistics
from headrace.components.validator.reports.column_view import (
    Series,
    View,
    chart,
    header_cells,
    split_label_cell,
    stat_cells,
    view_of,
)

MAX_CHARTS = 400

SECTIONS: tuple[tuple[View, str], ...] = (
    ("image", "Image columns"),
    ("numeric", "Numeric columns"),
    ("string", "Categorical columns"),
    ("other", "Other columns"),
)


def _problems(series: list[Series]) -> tuple[float, list[tuple[str, str]]]:
    """A sort score (higher = look first) and badges (css class, text) saying why."""
    score = 0.0
    badges: list[tuple[str, str]] = []
    absent = [s.label for s in series if s.column is None]
    present = [s.column for s in series if s.column is not None]
    if absent:
        score += 8
        badges.append(("error", "absent from " + ", ".join(absent)))
    if len({c.type for c in present}) > 1:
        score += 6
        badges.append(("error", "type differs between splits"))
    invalid = sum(c.string.invalid_utf8 for c in present if c.string is not None)
    if invalid:
        score += 4
        badges.append(("error", f"{fmt_num(invalid)} invalid UTF-8"))
    undecodable = sum(c.image.undecodable for c in present if c.image is not None)
    if undecodable:
        score += 4
        badges.append(("error", f"{fmt_num(undecodable)} undecodable"))
    shapes = max((c.image.distinct_shapes for c in present if c.image is not None), default=0)
    if shapes > 1:
        score += 1
        badges.append(("warning", f"{fmt_num(shapes)} shapes"))
    channels = max((len(c.image.channels) for c in present if c.image is not None), default=0)
    if channels > 1:
        score += 1
        badges.append(("warning", "mixed channels"))
    nan = sum(c.numeric.nan for c in present if c.numeric is not None)
    if nan:
        score += 2
        badges.append(("warning", f"{fmt_num(nan)} NaN"))
    worst_missing = max((c.missing_fraction for c in present), default=0.0)
    if worst_missing:
        score += 1 + worst_missing
        badges.append(("warning", f"missing up to {fmt_pct(worst_missing)}"))
    if present and all(c.count == 0 for c in present):
        score += 3
        badges.append(("error", "no values"))
    return score, badges


_TENSOR_TYPE = re.compile(r"extension<arrow\.fixed_shape_tensor\[value_type=(\w+), shape=\[([\d,]+)\].*>")


def shown_type(arrow_type: str) -> str:
    """An Arrow type as a column header shows it: a tensor image column's long extension name as ``uint8 [8, 8, 1]``."""
    tensor = _TENSOR_TYPE.fullmatch(arrow_type)
    if tensor is None:
        return arrow_type
    return f"{tensor.group(1)} [{', '.join(tensor.group(2).split(','))}]"


def _column_rows(name: str, series: list[Series], view: View, with_chart: bool, badges: list[tuple[str, str]]) -> str:
    types = list(dict.fromkeys(shown_type(s.column.type) for s in series if s.column is not None))
    type_css = "type bad" if len(types) > 1 else "type"
    name_cell = (
        f'<td class="name" rowspan="{len(series)}">{esc(name)}<span class="{type_css}">{esc(" / ".join(types))}</span>'
        + "".join(f'<span class="badge {css}">{esc(text)}</span>' for css, text in badges)
        + "</td>"
    )
    chart_cell = f'<td class="chart" rowspan="{len(series)}">{chart(view, series) if with_chart else ""}</td>'
    rows = []
    for i, s in enumerate(series):
        cells = split_label_cell(s) + stat_cells(view, s)
        if i == 0:
            rows.append(f'<tr class="first">{name_cell}{cells}{chart_cell}</tr>')
        else:
            rows.append(f"<tr>{cells}</tr>")
    return "\n".join(rows)


def render_statistics_html(stats: DatasetStatistics, title: str = "Statistics") -> str:
    splits = list(stats.splits.values())
    colors = {s.name: SPLIT_COLORS[i % len(SPLIT_COLORS)] for i, s in enumerate(splits)}
    names: dict[str, None] = {}
    for split in splits:
        names.update(dict.fromkeys(split.columns))

    sections: dict[View, list[tuple[float, int, str, list[Series], list[tuple[str, str]]]]] = {
        v: [] for v, _ in SECTIONS
    }
    for order, name in enumerate(names):
        series = [Series(split.name, colors[split.name], split.columns.get(name)) for split in splits]
        score, badges = _problems(series)
        sections[view_of(series)].append((score, order, name, series, badges))

    chips = "".join(
        f'<span class="chip">{swatch(colors[s.name])}<b>{esc(s.name)}</b> {fmt_num(s.num_rows)} rows'
        + (' <span class="bad">empty</span>' if s.num_rows == 0 else "")
        + "</span>"
        for s in splits
    )
    with_problems = sum(1 for rows in sections.values() for r in rows if r[0] > 0)
    counts = " · ".join(
        f'<a href="#{view}">{fmt_num(len(sections[view]))} {label.split()[0].lower()}</a>'
        for view, label in SECTIONS
        if sections[view]
    )
    body = [
        f"<h1>{esc(title)}</h1>",
        f'<div class="chips">{chips}</div>',
        f'<p class="note">{fmt_num(len(names))} columns ({counts}) in {fmt_num(len(splits))} split{"s" if len(splits) != 1 else ""}. '
        + (
            f'<span class="warn">{fmt_num(with_problems)} with problems</span> come first in each section; '
            if with_problems
            else ""
        )
        + "charts show each split's share of values, so splits of different sizes compare directly; hover a bar for its count.</p>",
    ]
    if not splits:
        body.append('<div class="banner warning">These statistics hold no splits.</div>')
    for view, label in SECTIONS:
        rows = sorted(sections[view], key=lambda r: (-r[0], r[1]))
        if not rows:
            continue
        body.append(f'<h2 id="{view}">{label} ({fmt_num(len(rows))})</h2>')
        if len(rows) > MAX_CHARTS:
            body.append(
                f'<p class="note">Charts are drawn for the first {fmt_num(MAX_CHARTS)} of {fmt_num(len(rows))} columns; '
                "the rest show their statistics only (the full numbers are in statistics.json).</p>"
            )
        body.append(
            f'<table class="stats"><thead><tr><th class="l">Column</th><th class="l">Split</th>{header_cells(view)}'
            '<th class="l">Distribution</th></tr></thead><tbody>'
        )
        body.extend(
            _column_rows(name, series, view, i < MAX_CHARTS, badges)
            for i, (_, _, name, series, badges) in enumerate(rows)
        )
        body.append("</tbody></table>")
    return document(title, "\n".join(body))
