"""Statistics as a page a person reads (placeholder until the full report lands)."""

from __future__ import annotations

import html

from components.validator.formats import DatasetStatistics


def render_statistics_html(stats: DatasetStatistics, title: str = "Statistics") -> str:
    rows = "".join(
        f"<tr><td>{html.escape(split)}</td><td>{html.escape(c.name)}</td><td>{c.type}</td><td>{c.count}</td><td>{c.missing}</td></tr>"
        for split, s in stats.splits.items() for c in s.columns.values()
    )
    return f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><table>{rows}</table>"
