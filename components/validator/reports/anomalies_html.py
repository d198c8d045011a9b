"""Anomalies as a page a person reads: what is wrong, why, and the line that fixes it.

Errors come first in red, warnings in amber, each with expected against found,
the one-sentence explanation, the fix set to be copied, and the offending
values. Below, when statistics are given, the affected columns are charted:
the splits against each other, and the current split against its baseline.
"""

from __future__ import annotations

from headrace.components.report_page import (
    BASELINE_COLORS,
    SPLIT_COLORS,
    document,
    esc,
    fmt_num,
)
from headrace.components.validator.formats import Anomaly, AnomalyReport, DatasetStatistics
from headrace.components.validator.reports.column_view import (
    Series,
    chart,
    header_cells,
    split_label_cell,
    stat_cells,
    view_of,
)
from headrace.components.validator.reports.drift_view import drift_figure

MAX_PANELS = 50
INDEX_FROM = 7  # a table of contents once the cards no longer fit on a screen


def _plural(n: int, word: str) -> str:
    return f"{fmt_num(n)} {word}{'' if n == 1 else 's'}"


def _card(i: int, a: Anomaly) -> str:
    where = f" · split <b>{esc(a.split)}</b>" if a.split else ""
    examples = ""
    if a.examples:
        rows = "".join(
            f"<tr><td><code>{esc(e.value) if e.value else '&quot;&quot;'}</code>"
            f'{" <span class=muted>(empty string)</span>" if not e.value else ""}</td><td class="n">{fmt_num(e.count)}</td></tr>'
            for e in a.examples
        )
        examples = f'<table class="examples"><tr><th>Offending value</th><th>Count</th></tr>{rows}</table>'
    return (
        f'<section class="anomaly {a.severity}" id="a{i}">'
        f'<h3><span class="sev">{a.severity}</span>{esc(a.kind.replace("_", " "))}{f" · <code>{esc(a.column)}</code>" if a.column else ""}{where}</h3>'
        f'<div class="cmp"><span class="k">Expected</span><span>{esc(a.expected)}</span>'
        f'<span class="k">Found</span><span class="found">{esc(a.found)}</span></div>'
        f'<p class="explanation">{esc(a.explanation)}</p>'
        f'<div class="cmp"><span class="k">Fix</span><span></span></div><pre class="fix"><code>{esc(a.fix)}</code></pre>'
        f"{examples}</section>"
    )


def _index(anomalies: list[Anomaly]) -> str:
    rows = "".join(
        f'<tr><td><span class="badge {a.severity}">{a.severity}</span></td><td><a href="#a{i}">{f"<code>{esc(a.column)}</code>" if a.column else "(whole split)"}</a></td>'
        f"<td>{esc(a.kind.replace('_', ' '))}</td><td>{esc(a.split or '')}</td></tr>"
        for i, a in enumerate(anomalies)
    )
    return f'<table class="index"><tr><th></th><th>Column</th><th>Kind</th><th>Split</th></tr>{rows}</table>'


def _panel(
    column: str, anomalies: list[Anomaly], statistics: DatasetStatistics | None, baseline: DatasetStatistics | None
) -> str:
    current = [
        Series(s.name, SPLIT_COLORS[i % len(SPLIT_COLORS)], s.columns.get(column))
        for i, s in enumerate((statistics.splits if statistics else {}).values())
    ]
    base = [
        Series(f"baseline · {s.name}", BASELINE_COLORS[i % len(BASELINE_COLORS)], s.columns.get(column))
        for i, s in enumerate((baseline.splits if baseline else {}).values())
    ]
    series = current + base
    if not any(s.column is not None for s in series):
        return f'<div class="panel"><h3><code>{esc(column)}</code></h3><p class="note">Not in the statistics.</p></div>'
    view = view_of(series)
    rows = "".join(f"<tr>{split_label_cell(s)}{stat_cells(view, s)}</tr>" for s in series)
    figures = []
    if any(s.column is not None for s in current):
        caption = "splits" if len(current) > 1 else "current"
        figures.append(f'<div class="figure"><div class="caption">{caption}</div>{chart(view, current)}</div>')
    figures += [f for a in anomalies if (f := _comparison_figure(column, a, statistics, baseline))]
    if any(a.kind == "drift" and a.comparison for a in anomalies):
        pass  # the drift overlay is the split against its baseline
    elif base and current:
        wanted = next((a.split for a in anomalies if a.split), None)
        by_label = {s.label: s for s in current}
        cur = (
            by_label[wanted]
            if wanted is not None and wanted in by_label
            else next((s for s in current if s.column is not None), current[0])
        )
        old = next((b for b in base if b.label == f"baseline · {cur.label}"), base[0])
        figures.append(
            f'<div class="figure"><div class="caption">{esc(cur.label)} against its baseline</div>{chart(view, [cur, old])}</div>'
        )
    elif base:
        figures.append(f'<div class="figure"><div class="caption">baseline</div>{chart(view, base)}</div>')
    kinds = ", ".join(dict.fromkeys(a.kind.replace("_", " ") for a in anomalies))
    return (
        f'<div class="panel"><h3><code>{esc(column)}</code> <span class="muted" style="font-weight:400">{esc(kinds)}</span></h3>'
        f'<table class="stats"><thead><tr><th class="l">Split</th>{header_cells(view)}</tr></thead><tbody>{rows}</tbody></table>'
        f'<div class="figures">{"".join(figures)}</div></div>'
    )


def _comparison_figure(
    column: str, anomaly: Anomaly, statistics: DatasetStatistics | None, baseline: DatasetStatistics | None
) -> str:
    """The overlay of a skew or drift anomaly: the two distributions it compared and its measures."""
    c = anomaly.comparison
    old_stats = baseline if c is not None and c.old_is_baseline else statistics
    if c is None or old_stats is None or statistics is None:
        return ""
    old_split, new_split = old_stats.splits.get(c.old_split), statistics.splits.get(c.new_split)
    old = old_split.columns.get(column) if old_split else None
    new = new_split.columns.get(column) if new_split else None
    if old is None or new is None:
        return ""
    names = list(statistics.splits)
    color = SPLIT_COLORS[names.index(c.new_split) % len(SPLIT_COLORS)]
    old_label = f"baseline · {c.old_split}" if c.old_is_baseline else c.old_split
    return drift_figure(column, c, old, new, old_label, c.new_split, color)


def _not_checked(report: AnomalyReport) -> str:
    if not report.not_checked:
        return ""
    rows = "".join(
        f"<tr><td><code>{esc(n.column)}</code></td><td>{esc(n.kind)}</td><td>{esc(n.reason)}</td></tr>"
        for n in report.not_checked
    )
    return (
        "<h2>Not measured</h2><p class=note>Skew and drift need enough values on both sides; below that a "
        "measure says more about chance than about the data.</p>"
        f'<table class="index"><tr><th>Column</th><th>Check</th><th>Why</th></tr>{rows}</table>'
    )


def render_anomalies_html(
    report: AnomalyReport,
    statistics: DatasetStatistics | None = None,
    baseline: DatasetStatistics | None = None,
    title: str = "Anomalies",
) -> str:
    anomalies = [a for a in report.anomalies if a.severity == "error"] + [
        a for a in report.anomalies if a.severity != "error"
    ]
    errors = sum(1 for a in anomalies if a.severity == "error")
    warnings = len(anomalies) - errors
    body = [f"<h1>{esc(title)}</h1>"]
    if not anomalies:
        body.append('<div class="banner ok">✓ No anomalies: the data matches the schema.</div>')
        if statistics is not None and statistics.splits:
            columns = len({name for split in statistics.splits.values() for name in split.columns})
            splits = ", ".join(f"{esc(s.name)} ({fmt_num(s.num_rows)} rows)" for s in statistics.splits.values())
            body.append(f'<p class="note">{_plural(columns, "column")} checked in {splits}.</p>')
    else:
        parts = [p for p in (errors and _plural(errors, "error"), warnings and _plural(warnings, "warning")) if p]
        body.append(f'<div class="banner {"error" if errors else "warning"}">{" and ".join(parts)}</div>')
    if report.compared:
        items = "".join(f"<dt>{esc(k)}</dt><dd><code>{esc(v)}</code></dd>" for k, v in report.compared.items())
        body.append(f'<dl class="compared">{items}</dl>')
    if len(anomalies) >= INDEX_FROM:
        body.append(_index(anomalies))
    body.extend(_card(i, a) for i, a in enumerate(anomalies))
    body.append(_not_checked(report))

    by_column: dict[str, list[Anomaly]] = {}
    for a in anomalies:
        if a.column:  # anomalies of a whole split have no column to chart
            by_column.setdefault(a.column, []).append(a)
    if by_column and (statistics is not None or baseline is not None):
        body.append("<h2>Affected columns</h2>")
        note = "Bars are shares of each split's values, so splits of different sizes compare directly; hover a bar for its count."
        if len(by_column) > MAX_PANELS:
            note += f" The first {MAX_PANELS} of {fmt_num(len(by_column))} affected columns are shown."
        body.append(f'<p class="note">{note}</p>')
        body.extend(_panel(c, a, statistics, baseline) for c, a in list(by_column.items())[:MAX_PANELS])
    return document(title, "\n".join(body))
