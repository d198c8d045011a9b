"""Anomalies as a page a person reads (placeholder until the full report lands)."""

from __future__ import annotations

import html

from components.validator.formats import AnomalyReport, DatasetStatistics


def render_anomalies_html(
    report: AnomalyReport, statistics: DatasetStatistics | None = None, baseline: DatasetStatistics | None = None,
    title: str = "Anomalies",
) -> str:
    items = "".join(f"<li>{html.escape(a.column)}: {html.escape(a.explanation)} Fix: {html.escape(a.fix)}</li>" for a in report.anomalies)
    return f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><ul>{items}</ul>"
