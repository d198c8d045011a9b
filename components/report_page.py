"""The HTML shell every report shares (statistics, anomalies, transform): one inline style sheet, escaping, number formats.

Reports are opened from artifact stores, laptops and air-gapped clusters, so a
page is one file that loads nothing: no scripts, fonts, images or style sheets
from anywhere else.
"""

from __future__ import annotations

import html
import math

# One colour per split, in the order the splits appear; baselines are drawn in greys.
SPLIT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
BASELINE_COLORS = ("#6b6b6b", "#a3a3a3", "#4a4a4a", "#c2c2c2")

CSS = """
:root { --err:#c62828; --err-bg:#fdecea; --warn:#a66300; --warn-bg:#fff4e0; --ok:#1b7a3a; --ok-bg:#e6f4ea;
        --line:#dde1e6; --muted:#5f6b7a; --code-bg:#f3f5f7; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px 32px 48px; color: #1d2733; background: #fff;
       font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
code { background: var(--code-bg); padding: 1px 4px; border-radius: 3px; white-space: pre-wrap; word-break: break-word; }
.muted { color: var(--muted); }
.note { color: var(--muted); font-size: 13px; margin: 4px 0 10px; }
.chips { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0 4px; }
.chip { border: 1px solid var(--line); border-radius: 14px; padding: 2px 10px; font-size: 13px; white-space: nowrap; }
.sw { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
.bad { color: var(--err); font-weight: 600; }
.warn { color: var(--warn); font-weight: 600; }
.badge { display: inline-block; font-size: 11px; font-weight: 600; padding: 0 6px; border-radius: 8px; margin: 2px 4px 0 0; }
.badge.error { background: var(--err-bg); color: var(--err); }
.badge.warning { background: var(--warn-bg); color: var(--warn); }
table.stats { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
table.stats th { position: sticky; top: 0; background: #f7f8fa; z-index: 1; text-align: right; font-weight: 600;
                 font-size: 12px; color: var(--muted); padding: 6px 8px; border-bottom: 2px solid var(--line); white-space: nowrap; }
table.stats th.l, table.stats td.l { text-align: left; }
table.stats td { padding: 3px 8px; text-align: right; white-space: nowrap; vertical-align: top; }
table.stats tr.first td { border-top: 1px solid var(--line); padding-top: 8px; }
table.stats td.name { text-align: left; white-space: normal; word-break: break-word; min-width: 140px; max-width: 260px; font-weight: 600; }
table.stats td.name .type { display: block; font-weight: 400; color: var(--muted); font-size: 12px; }
table.stats td.chart { text-align: left; padding: 6px 8px; }
table.stats td.absent { text-align: left; color: var(--err); font-style: italic; }
.caption { font-size: 11px; color: var(--muted); }
svg { display: block; overflow: visible; }
svg text { font: 10px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: #4a5563; }
.banner { border-radius: 6px; padding: 14px 18px; margin: 14px 0; font-size: 16px; font-weight: 600; }
.banner.ok { background: var(--ok-bg); color: var(--ok); border: 1px solid #b7dfc3; }
.banner.error { background: var(--err-bg); color: var(--err); border: 1px solid #f3b9b3; }
.banner.warning { background: var(--warn-bg); color: var(--warn); border: 1px solid #f2d29b; }
.anomaly { border: 1px solid var(--line); border-left: 6px solid var(--warn); border-radius: 6px; padding: 12px 16px; margin: 12px 0;
           background: #fffdf8; }
.anomaly.error { border-left-color: var(--err); background: #fffafa; }
.anomaly h3 { margin: 0 0 8px; font-size: 15px; word-break: break-word; }
.anomaly .sev { text-transform: uppercase; font-size: 11px; letter-spacing: .05em; font-weight: 700; margin-right: 8px; }
.anomaly.error .sev { color: var(--err); }
.anomaly.warning .sev { color: var(--warn); }
.cmp { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 6px 0 8px; }
.cmp .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; padding-top: 2px; }
.anomaly.error .found { color: var(--err); }
.anomaly.warning .found { color: var(--warn); }
.explanation { margin: 6px 0; }
pre.fix { background: #1f2933; color: #e6edf3; padding: 8px 12px; border-radius: 4px; margin: 4px 0 6px;
          white-space: pre-wrap; word-break: break-word; user-select: all; }
pre.fix code { background: none; padding: 0; color: inherit; }
table.examples { border-collapse: collapse; margin-top: 4px; font-size: 13px; }
table.examples td, table.examples th { padding: 2px 10px 2px 0; text-align: left; }
table.examples td.n { text-align: right; font-variant-numeric: tabular-nums; }
table.index { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
table.index td, table.index th { padding: 3px 12px 3px 0; text-align: left; border-bottom: 1px solid var(--line); }
.panel { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 12px 0; }
.panel h3 { margin: 0 0 6px; font-size: 15px; word-break: break-word; }
.figures { display: flex; flex-wrap: wrap; gap: 28px; margin-top: 8px; }
.figure .caption { margin-bottom: 4px; font-size: 12px; }
dl.compared { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0; font-size: 13px; }
dl.compared dt { color: var(--muted); }
dl.compared dd { margin: 0; }
.thumbs { display: flex; flex-wrap: wrap; gap: 4px 16px; width: 480px; margin-top: 4px; }
.thumb-row { display: flex; align-items: center; gap: 3px; }
.thumb-label { width: 44px; text-align: right; padding-right: 4px; font-size: 12px; color: var(--muted);
               overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.thumbs img { display: block; box-sizing: content-box; border: 1px solid var(--line); border-radius: 2px; background: #fff; }
.thumbs img.px { image-rendering: pixelated; }
"""


def esc(value: object) -> str:
    """Text safe in element content and in double- or single-quoted attributes."""
    return html.escape(str(value), quote=True)


def fmt_num(value: float | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.4g}"
    return f"{value:,}"


def fmt_pct(fraction: float) -> str:
    if fraction <= 0:
        return "0%"
    if fraction < 0.001:
        return "<0.1%"
    if fraction >= 1:
        return "100%"
    return f"{fraction * 100:.1f}%"


def swatch(color: str) -> str:
    return f'<span class="sw" style="background:{color}"></span>'


def document(title: str, body: str) -> str:
    """A complete page; lone surrogates from badly decoded data become "?" so the file can always be written as UTF-8."""
    page = (
        "<!doctype html>\n<html lang=en>\n<head>\n<meta charset=utf-8>\n"
        '<meta name=viewport content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )
    return page.encode("utf-8", "replace").decode("utf-8")


THUMB_BOX = 64
"""Pixels a thumbnail is drawn in; larger ones fit inside."""
ENLARGED_BOX = 40
"""Images smaller than ``THUMB_BOX`` are enlarged by a whole factor (pixelated) up to this many pixels."""


def thumbnail_img(
    media_type: str,
    data: str,
    width: int,
    height: int,
    alt: str,
    title: str,
    box: int = THUMB_BOX,
    enlarged: int = ENLARGED_BOX,
) -> str:
    """An inline ``<img>`` of a base64 thumbnail drawn within ``box`` pixels; a smaller one is enlarged by a whole
    factor up to ``enlarged`` pixels, with class ``px`` (pixelated)."""
    scale = box / max(width, height, 1)
    if scale > 1:  # enlarge by a whole factor, so every source pixel is the same square
        scale = max(enlarged // max(width, height, 1), 1)
    shown_w, shown_h = max(round(width * scale), 1), max(round(height * scale), 1)
    crisp = ' class="px"' if scale > 1 else ""
    return (
        f'<img{crisp} src="data:{media_type};base64,{data}" width="{shown_w}" height="{shown_h}" '
        f'alt="{esc(alt)}" title="{esc(title)}">'
    )
