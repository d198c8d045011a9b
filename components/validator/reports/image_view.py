"""An image column in the reports: its figures as table cells, and thumbnails per class beside its brightness.

Thumbnails are the statistics' own samples (base64 PNG or JPEG, at most 64
pixels a side) inlined as ``data:`` URIs, so the page stays one self-contained file.
Small images (8x8 digits) are drawn enlarged with ``image-rendering:
pixelated`` so their pixels stay crisp squares instead of a blur.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from headrace.components.report_page import esc, fmt_num, fmt_pct, thumbnail_img
from headrace.components.validator.formats import ColumnStatistics, ImageSample
from headrace.components.validator.reports.svg import HistogramSeries, histogram_svg

if TYPE_CHECKING:
    from headrace.components.validator.reports.column_view import Series

SHOWN_SHAPES = 2


def image_cells(c: ColumnStatistics) -> list[str]:
    """Undecodable, shapes, channels, pixel mean and sd, mean encoded size: the cells after count and missing."""
    images = c.image
    if images is None:
        return [f'<td class="l muted" colspan="6">{esc(c.type)}: no image statistics</td>']
    shapes = ", ".join(f"{s.text} {fmt_pct(s.count / images.decoded)}" for s in images.shapes[:SHOWN_SHAPES])
    if images.distinct_shapes > SHOWN_SHAPES:
        shapes += f" +{fmt_num(images.distinct_shapes - SHOWN_SHAPES)} more"
    names = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGBA"}
    channels = ", ".join(
        f"{names.get(ch.channels, ch.channels)} {fmt_pct(ch.count / images.decoded)}" for ch in images.channels
    )
    per_channel = "; ".join(
        f"{m.channel} {fmt_num(round(m.mean, 2))} ± {fmt_num(round(m.std_dev, 2))}" for m in images.channel_moments
    )
    size = images.size_bytes
    size_title = f"min {fmt_num(size.min)}, max {fmt_num(size.max)} bytes" if size is not None else "decoded tensors"
    bad = ' class="bad"' if images.undecodable else ""
    return [
        f"<td{bad}>{fmt_num(images.undecodable)}</td>",
        f'<td class="l">{esc(shapes) or "–"}</td>',
        f'<td class="l">{esc(channels) or "–"}</td>',
        f'<td title="{esc(per_channel)}">{fmt_num(_round(images.pixel_mean))}</td>',
        f"<td>{fmt_num(_round(images.pixel_std_dev))}</td>",
        f'<td title="{esc(size_title)}">{_size(size.mean) if size is not None else "–"}</td>',
    ]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _size(value: float | None) -> str:
    if value is None:
        return "–"
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def image_chart(series: Sequence[Series]) -> str:
    """Each split's brightness histogram overlaid, then thumbnails per class of the first split that has some."""
    present = [s for s in series if s.column is not None and s.column.image is not None]
    histograms = [
        HistogramSeries(s.label, s.color, s.column.image.brightness.histogram)
        for s in present
        if s.column is not None
        and s.column.image is not None
        and s.column.image.brightness is not None
        and s.column.image.brightness.histogram is not None
    ]
    parts = []
    if histograms:
        parts.append(
            f'<div class="caption">brightness: each image\'s mean pixel value</div>{histogram_svg(histograms)}'
        )
    sampled = next((s for s in present if s.column is not None and s.column.image and s.column.image.samples), None)
    if sampled is not None and sampled.column is not None and sampled.column.image is not None:
        parts.append(thumbnails(sampled.column.image.samples, sampled.label))
    return "".join(parts) or '<span class="caption">no images decoded</span>'


def thumbnails(samples: Sequence[ImageSample], split: str) -> str:
    """A row of thumbnails per class, the class named at its start; hover a thumbnail for its file."""
    by_label: dict[str, list[ImageSample]] = {}
    for sample in samples:
        by_label.setdefault(sample.label, []).append(sample)
    rows = []
    for label, kept in by_label.items():
        images = "".join(_thumbnail(sample) for sample in kept)
        name = f'<span class="thumb-label" title="{esc(label)}">{esc(label) or "–"}</span>'
        rows.append(f'<div class="thumb-row">{name}{images}</div>')
    return f'<div class="caption">samples from {esc(split)}, per class</div><div class="thumbs">{"".join(rows)}</div>'


def _thumbnail(sample: ImageSample) -> str:
    return thumbnail_img(
        sample.media_type,
        sample.data,
        sample.width,
        sample.height,
        sample.label,
        f"{sample.path} ({sample.width}x{sample.height})",
    )
