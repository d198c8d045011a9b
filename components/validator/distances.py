"""Distances between two distributions of one column: L-infinity, PSI and Jensen-Shannon.

Drift (statistics vs a baseline) and skew (train vs eval) both reduce to "how
far apart are these two distributions", and both sides come from statistics,
not data, so the distances work on summaries (numeric columns' percentiles:
``quantile_distances``):

- **shares** (categorical columns): each value's share of the non-null count,
  from ``top_values``, so a truncated top-values list still gives the true
  share of every listed value; what the list leaves out is one "other" bucket.
  ``aligned_shares`` puts both sides on the same values: a value listed on one
  side counts as absent from the other only when the other's list is
  complete; otherwise it joins the "other" bucket on both sides. L-infinity,
  the largest move of one value's share, is taken over these
  (``drift_measures``, which weighs each move against its sampling noise).
- **PSI**: ``sum((b - a) * ln(b / a))`` over the same buckets; a bucket empty on
  one side counts as half a value of that side (a continuity correction), so a
  new value gives a large but finite index.
- **Jensen-Shannon divergence**: base 2, so it lies in [0, 1] (0 = identical,
  1 = disjoint support); the square of
  ``scipy.spatial.distance.jensenshannon(p, q, base=2)``, which is the
  Jensen-Shannon *distance*.

"""

from __future__ import annotations

import math
from collections.abc import Sequence

from headrace.components.validator.formats import ColumnStatistics

OTHER_VALUES = "(values not in top_values)"
"""Bucket name for the share a truncated top-values list does not cover."""


def aligned_shares(a: ColumnStatistics, b: ColumnStatistics) -> tuple[list[str], list[float], list[float]] | None:
    """The values both sides can speak about, with each side's shares (summing to 1); None without string statistics.

    A value listed on one side but not the other is absent from the other only
    if the other's top-values list is complete; if it is truncated, the value
    may just have fallen off it, so it goes to the "other" bucket on both sides.
    """
    if a.string is None or b.string is None or a.count <= 0 or b.count <= 0:
        return None
    counts_a = {v.value: v.count for v in a.string.top_values}
    counts_b = {v.value: v.count for v in b.string.top_values}
    complete_a, complete_b = _complete(a), _complete(b)
    keys = [
        k
        for k in sorted(set(counts_a) | set(counts_b))
        if (k in counts_a or complete_a) and (k in counts_b or complete_b)
    ]
    shares_a = [counts_a.get(k, 0) / a.count for k in keys]
    shares_b = [counts_b.get(k, 0) / b.count for k in keys]
    rest_a, rest_b = 1.0 - sum(shares_a), 1.0 - sum(shares_b)
    if rest_a > 1e-9 or rest_b > 1e-9:
        keys.append(OTHER_VALUES)
        shares_a.append(max(rest_a, 0.0))
        shares_b.append(max(rest_b, 0.0))
    return keys, shares_a, shares_b


def _complete(column: ColumnStatistics) -> bool:
    strings = column.string
    return strings is not None and strings.distinct_is_exact and len(strings.top_values) >= strings.distinct


def psi(a: Sequence[float], b: Sequence[float], count_a: int, count_b: int) -> float:
    """Population Stability Index of shares ``b`` against ``a``; an empty bucket counts as half a value."""
    floor_a, floor_b = 0.5 / max(count_a, 1), 0.5 / max(count_b, 1)
    total = 0.0
    for x, y in zip(a, b, strict=True):
        if x <= 0 and y <= 0:
            continue
        x, y = max(x, floor_a), max(y, floor_b)
        total += (y - x) * math.log(y / x)
    return total


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
