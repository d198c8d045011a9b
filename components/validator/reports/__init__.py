"""Self-contained HTML reports of statistics and anomalies (inline SVG, no network)."""

from headrace.components.validator.reports.anomalies_html import render_anomalies_html
from headrace.components.validator.reports.statistics_html import render_statistics_html

__all__ = ["render_anomalies_html", "render_statistics_html"]
