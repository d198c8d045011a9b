"""Distances between two numeric distributions, read off their percentiles.

The statistics keep each numeric column's values at every 1% of rank (101
numbers from the mergeable quantile sketch, ``NumericStatistics.percentiles``),
so drift and skew never re-read data. From those:

- **Wasserstein distance** (earth mover's, W1): the mean absolute difference of
  the two quantile functions, ``integral |Q_a(u) - Q_b(u)| du``, over the 99
  inner percentiles. Leaving out the extreme 0.5% on each side keeps a single
  wild value (or the fact that a 10M-row sample reaches further into the tails
  than a 1k-row one) from reading as drift. For a pure shift it equals the
  shift; for a change of scale by ``s`` it is ``|s - 1|`` times the mean
  absolute deviation. It equals ``scipy.stats.wasserstein_distance`` between
  the two sets of inner percentiles.
- **Jensen-Shannon** over 10 equal-width buckets spanning both columns (one
  grid for both, so two samples of one population never differ by how their
  own histograms happened to be cut).
- **PSI** (Population Stability Index): bins are the reference's deciles (ties
  merged), each side's share of a bin comes from its percentiles' CDF, linear
  between percentiles; ``sum((b - a) * ln(b / a))``, with an empty bin counted
  as half a value so the index stays finite.
- **noise_scale**: ``integral sqrt(u (1 - u)) dQ(u)``, what the Wasserstein
  distance between two samples of one population grows with (its expected
  value is ``sqrt(2 / pi) * noise_scale * sqrt(1/n + 1/m)``, from the
  Brownian-bridge limit of the empirical CDF).

Statistics written before percentiles were kept have only ``quantiles``
(deciles by default); those work too, more coarsely.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

from headrace.components.validator.formats import NumericStatistics

INNER = 99
"""Quantile levels compared by the Wasserstein distance: 0.01 .. 0.99."""
MIN_BIN = 0.05
"""The smallest share of the reference a PSI bin may hold."""
TIE_ERROR = 0.005
"""Where a value repeats across percentiles (a point mass), its CDF is known to half a percentile."""


def quantile_function(numeric: NumericStatistics | None) -> list[float] | None:
    """The column's values at evenly spaced ranks 0 .. 1 (percentiles, else the coarser quantiles); None if unknown."""
    if numeric is None:
        return None
    for values in (numeric.percentiles, numeric.quantiles):
        if len(values) >= 3 and all(math.isfinite(v) for v in values):
            return list(values)
    return None


def quantile_at(q: Sequence[float], u: float) -> float:
    """``Q(u)`` linear between the known levels ``i / (len(q) - 1)``."""
    steps = len(q) - 1
    position = min(max(u, 0.0), 1.0) * steps
    i = min(int(position), steps - 1)
    return q[i] + (q[i + 1] - q[i]) * (position - i)


def _inner(q: Sequence[float]) -> list[float]:
    if len(q) == INNER + 2:
        return list(q[1:-1])
    return [quantile_at(q, (i + 1) / (INNER + 1)) for i in range(INNER)]


def wasserstein(qa: Sequence[float], qb: Sequence[float]) -> float:
    """W1 between two quantile functions over the inner levels 0.01 .. 0.99, in the column's units."""
    a, b = _inner(qa), _inner(qb)
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)


def noise_scale(q: Sequence[float]) -> float:
    """``integral sqrt(u (1 - u)) dQ(u)`` over the inner levels, in the column's units."""
    inner = _inner(q)
    total = 0.0
    for i in range(len(inner) - 1):
        u = (i + 1.5) / (INNER + 1)
        total += math.sqrt(u * (1 - u)) * (inner[i + 1] - inner[i])
    return total


def inner_span(q: Sequence[float]) -> float:
    """Q(0.99) - Q(0.01): how far a rank error of the sketch can move the distance (times the error)."""
    inner = _inner(q)
    return inner[-1] - inner[0]


def has_ties(q: Sequence[float]) -> bool:
    """Whether some value fills more than one percentile: the column has point masses."""
    return any(q[i] == q[i + 1] for i in range(1, len(q) - 2))


def cdf_at(q: Sequence[float], x: float) -> float:
    """Share of values at or below ``x``, linear between the known levels (a tie keeps its highest level)."""
    steps = len(q) - 1
    if x < q[0]:
        return 0.0
    if x >= q[-1]:
        return 1.0
    j = bisect.bisect_right(q, x) - 1  # q[j] <= x < q[j + 1]
    return (j + (x - q[j]) / (q[j + 1] - q[j])) / steps


def decile_edges(q: Sequence[float]) -> list[float]:
    """The reference's inner deciles: the PSI bins are (-inf, e1], (e1, e2], ..., (ek, inf).

    Where a value fills several deciles (a point mass) the edges merge, and a
    bin left with less than half a decile is merged into the next: its share
    would be an artefact of where the point mass ends between two percentiles.
    """
    edges: list[float] = []
    below = 0.0
    for i in range(1, 10):
        value = quantile_at(q, i / 10)
        share = cdf_at(q, value)
        if (not edges or value > edges[-1]) and share - below >= MIN_BIN and 1.0 - share >= MIN_BIN:
            edges.append(value)
            below = share
    return edges


def equal_width_edges(qa: Sequence[float], qb: Sequence[float], buckets: int = 10) -> list[float]:
    """Inner edges of ``buckets`` equal-width buckets from the smaller minimum to the larger maximum of both."""
    lo, hi = min(qa[0], qb[0]), max(qa[-1], qb[-1])
    if hi <= lo:
        return []
    return [lo + (hi - lo) * i / buckets for i in range(1, buckets)]


def bin_shares(q: Sequence[float], edges: Sequence[float]) -> list[float]:
    """Each bin's share of the distribution ``q``."""
    cumulative = [0.0, *(cdf_at(q, e) for e in edges), 1.0]
    return [max(cumulative[i + 1] - cumulative[i], 0.0) for i in range(len(cumulative) - 1)]
