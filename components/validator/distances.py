"""Distances between two distributions of one column: L-infinity and Jensen-Shannon.

Drift (statistics vs a baseline) and skew (train vs eval) both reduce to "how
far apart are these two distributions", and both sides come from statistics,
not data, so the distances work on summaries:

- **L-infinity** (categorical columns): the largest absolute difference between
  the share of any one value, from ``top_values``. Shares are taken over the
  column's non-null count, so a truncated top-values list still gives the true
  share of every listed value; what the list leaves out is one "other" bucket.
- **Jensen-Shannon divergence** (numeric columns): base 2, so it lies in [0, 1]
  (0 = identical, 1 = disjoint support). This is the divergence, the square of
  ``scipy.spatial.distance.jensenshannon(p, q, base=2)``.

Two histograms rarely share boundaries (each is equal-width between its own
min and max), so both are **re-binned onto the merged grid**: the sorted union
of both sets of boundaries. A bucket's count is spread over the grid buckets it
overlaps in proportion to the overlap (values are assumed uniform within a
bucket); a zero-width bucket (min == max, one value) is a point mass that lands
whole in a zero-width grid bucket of its own, so a constant column against a
spread one has divergence 1, and so do two different constants. Re-binning
onto the union loses nothing either histogram knew; a quantile grid would need
the raw values, which statistics do not keep.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from headrace.components.validator.formats import ColumnStatistics, Histogram

OTHER_VALUES = "(values not in top_values)"
"""Bucket name for the share a truncated top-values list does not cover."""


@dataclass(frozen=True)
class CategoricalDistance:
    """The L-infinity distance and the value it was found at (the explanation names it)."""

    distance: float
    value: str | None
    share_a: float
    share_b: float


def category_shares(column: ColumnStatistics) -> dict[str, float] | None:
    """Share of each top value among the column's non-null values; ``None`` without string statistics or values."""
    if column.string is None or column.count <= 0:
        return None
    shares = {v.value: v.count / column.count for v in column.string.top_values}
    rest = 1.0 - sum(shares.values())
    if rest > 1e-9:
        shares[OTHER_VALUES] = rest
    return shares


def linf_distance(p: Mapping[str, float], q: Mapping[str, float]) -> CategoricalDistance:
    """Largest difference of one value's share between ``p`` and ``q`` (a value absent on one side has share 0)."""
    best = CategoricalDistance(0.0, None, 0.0, 0.0)
    for value in sorted(set(p) | set(q)):
        a, b = p.get(value, 0.0), q.get(value, 0.0)
        if abs(a - b) > best.distance:
            best = CategoricalDistance(abs(a - b), value, a, b)
    return best


def jensen_shannon_divergence(p: Sequence[float], q: Sequence[float]) -> float | None:
    """JS divergence (base 2, in [0, 1]) of two weight vectors over the same buckets; ``None`` if one side is empty."""
    if len(p) != len(q):
        raise ValueError(f"the two distributions have {len(p)} and {len(q)} buckets; re-bin them onto one grid first")
    total_p, total_q = float(sum(p)), float(sum(q))
    if total_p <= 0 or total_q <= 0:
        return None
    divergence = 0.0
    for a, b in zip(p, q, strict=True):
        a, b = a / total_p, b / total_q
        m = (a + b) / 2
        if a > 0:
            divergence += 0.5 * a * math.log2(a / m)
        if b > 0:
            divergence += 0.5 * b * math.log2(b / m)
    return min(max(divergence, 0.0), 1.0)


Interval = tuple[float, float]


def merged_grid(*histograms: Histogram) -> list[Interval]:
    """Buckets on which each histogram is exactly representable: the union of all boundaries.

    Each value that some histogram holds as a point mass (a zero-width bucket)
    gets its own zero-width grid bucket, so two constants at different values
    do not fall into one bucket and look identical.
    """
    points = sorted({float(b) for h in histograms for b in h.boundaries})
    masses = {float(lo) for h in histograms for lo, hi in _buckets(h) if hi <= lo}
    grid: list[Interval] = []
    for j, point in enumerate(points):
        if point in masses:
            grid.append((point, point))
        if j + 1 < len(points):
            grid.append((point, points[j + 1]))
    return grid


def rebin(histogram: Histogram, grid: Sequence[Interval]) -> list[float]:
    """The histogram's counts on ``grid``, spreading each bucket uniformly over the grid buckets it overlaps."""
    out = [0.0] * len(grid)
    starts = [left for left, _ in grid]
    for (lo, hi), count in zip(_buckets(histogram), histogram.counts, strict=True):
        if count <= 0:
            continue
        if hi <= lo:
            j = bisect.bisect_left(grid, (lo, lo))
            if j < len(grid) and grid[j] == (lo, lo):
                out[j] += count
            continue
        for j in range(max(bisect.bisect_left(starts, lo) - 1, 0), len(grid)):
            left, right = grid[j]
            if left >= hi:
                break
            overlap = min(hi, right) - max(lo, left)
            if overlap > 0:
                out[j] += count * overlap / (hi - lo)
    return out


def _buckets(histogram: Histogram) -> list[Interval]:
    edges = histogram.boundaries
    return [(float(edges[i]), float(edges[i + 1])) for i in range(min(len(edges) - 1, len(histogram.counts)))]


def histogram_divergence(a: Histogram, b: Histogram) -> float | None:
    """JS divergence of two histograms with possibly different boundaries; ``None`` if either is empty.

    Two point masses at the same value (both histograms a single zero-width
    bucket) have divergence 0; at different values, 1.
    """
    if sum(a.counts) <= 0 or sum(b.counts) <= 0:
        return None
    grid = merged_grid(a, b)
    return jensen_shannon_divergence(rebin(a, grid), rebin(b, grid))
