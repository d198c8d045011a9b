"""A mergeable quantile sketch over float64 values, vectorised with numpy.

Why not Beam's ``ApproximateQuantilesCombineFn``: it is the same family of
algorithm (Manku-Rajagopalan-Lindsay buffers collapsed pairwise), but it
sorts and interpolates Python lists element by element. Measured here on
beam 2.77 (Cython build), it costs 0.49 s per million values per column
against 0.05 s for ``pyarrow.compute.tdigest`` and 0.01 s for ``numpy.sort``;
with a few numeric columns that alone would miss the throughput target by
a factor of several. This module keeps the algorithm and moves the work to
``numpy.sort``.

How it works. Values are kept in *levels*: level ``l`` holds sorted values
that each stand for ``2**l`` input values. A level that reaches ``2k`` values
is *compacted*: every other value is kept (alternating offset) and moved up a
level with twice the weight. A batch much larger than ``k`` is sorted once
and strided straight to the level where it fits. Merging two sketches
concatenates their levels and compacts again, so sketches built on any
partition of the data, in any order, on any Beam runner, can be combined.

Error bound (deterministic, not probabilistic). Compacting values of weight
``w`` moves the estimated rank of any point by at most ``w`` (stride ``s``:
at most ``s*w``). The sketch adds these up in ``rank_error`` as it goes, so
the bound reported is the one that holds for *this* data, never a guess. A
quantile read from the sketch is off from the exact one by at most
``rank_error + largest weight`` ranks; ``error_bound()`` returns that as a
fraction of the count. In the worst case it is about ``L / (2k)`` with ``L``
the number of levels (log2 of count / k): with ``k = 2048``, about 0.3% of
the ranks for 5M values. While fewer than ``2k`` values are seen per level
nothing is compacted and quantiles are exact (error 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class QuantileSketch:
    """Summary of a multiset of float64 values answering rank and quantile queries."""

    __slots__ = ("_flip", "_summary", "count", "k", "levels", "rank_error")

    def __init__(self, k: int = 2048) -> None:
        if k < 8:
            raise ValueError(f"quantile sketch size k must be at least 8, got {k}")
        self.k = k
        self.levels: list[list[np.ndarray]] = []
        self.rank_error = 0
        self.count = 0
        self._flip = 0
        self._summary: tuple[np.ndarray, np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        self._consolidate()
        return {
            "k": self.k,
            "levels": self.levels,
            "rank_error": self.rank_error,
            "count": self.count,
            "flip": self._flip,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.k = state["k"]
        self.levels = state["levels"]
        self.rank_error = state["rank_error"]
        self.count = state["count"]
        self._flip = state["flip"]
        self._summary = None

    # -- building ------------------------------------------------------------

    def add(self, values: np.ndarray) -> None:
        """Add unweighted values (no NaN); large batches are strided straight to their level."""
        n = len(values)
        if n == 0:
            return
        self._summary = None
        self.count += n
        if n < 2 * self.k:
            self._put(0, np.array(values, dtype=np.float64))  # a copy: never pin the caller's Arrow buffer
        else:
            ordered = np.sort(values)
            level = int(np.ceil(np.log2(n / self.k)))
            stride = 1 << level
            kept = n // stride
            # copies: a view would pin the whole sorted batch in memory
            self._put(level, ordered[stride // 2 : kept * stride : stride].copy())
            self.rank_error += stride
            if kept * stride < n:
                self._put(0, ordered[kept * stride :].copy())
        self._compact()

    def merge(self, other: QuantileSketch) -> None:
        """Fold ``other`` into this sketch; the error bounds add up."""
        if other.k != self.k:
            raise ValueError(f"cannot merge quantile sketches of sizes {self.k} and {other.k}")
        self._summary = None
        for level, parts in enumerate(other.levels):
            for part in parts:
                self._put(level, part)
        self.count += other.count
        self.rank_error += other.rank_error
        self._compact()

    def _put(self, level: int, values: np.ndarray) -> None:
        while len(self.levels) <= level:
            self.levels.append([])
        if len(values):
            self.levels[level].append(values)

    def _consolidate(self) -> None:
        for level, parts in enumerate(self.levels):
            if len(parts) > 1:
                self.levels[level] = [np.sort(np.concatenate(parts))]

    def _compact(self) -> None:
        level = 0
        while level < len(self.levels):
            parts = self.levels[level]
            size = sum(len(p) for p in parts)
            if size >= 2 * self.k:
                ordered = np.sort(np.concatenate(parts)) if len(parts) > 1 else np.sort(parts[0])
                leftover = ordered[-1:] if size % 2 else ordered[:0]
                paired = ordered[: size - len(leftover)]
                self._flip ^= 1
                self.levels[level] = [leftover] if len(leftover) else []
                self._put(level + 1, paired[self._flip :: 2].copy())
                self.rank_error += 1 << level
            level += 1

    # -- queries -------------------------------------------------------------

    def _weighted(self) -> tuple[np.ndarray, np.ndarray]:
        """All retained values sorted, with the cumulative weight at each (cached until the next change)."""
        if self._summary is None:
            self._summary = self._summarise()
        return self._summary

    def _summarise(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self.levels) == 1:  # nothing compacted: every weight is 1
            v = np.sort(np.concatenate(self.levels[0])) if self.levels[0] else np.empty(0)
            return v, np.arange(1, len(v) + 1, dtype=np.int64)
        values, weights = [], []
        for level, parts in enumerate(self.levels):
            for part in parts:
                values.append(part)
                weights.append(np.full(len(part), 1 << level, dtype=np.int64))
        if not values:
            return np.empty(0), np.empty(0, dtype=np.int64)
        v = np.concatenate(values)
        order = np.argsort(v, kind="stable")
        return v[order], np.cumsum(np.concatenate(weights)[order])

    def error_bound(self) -> float:
        """Largest rank error of a quantile, as a fraction of the count (0.0 = exact)."""
        if self.count == 0 or self.rank_error == 0:
            return 0.0
        top = max((1 << level for level, parts in enumerate(self.levels) if parts), default=1)
        return (self.rank_error + top) / self.count

    def quantiles(self, num_quantiles: int, minimum: float, maximum: float) -> list[float]:
        """Values at ranks 0, 1/q, ..., 1 (q+1 values): the smallest value whose CDF reaches each rank.

        The ends are the exact ``minimum`` and ``maximum`` the caller tracked;
        with nothing compacted the inner values equal numpy's ``inverted_cdf``.
        """
        values, cumulative = self._weighted()
        if len(values) == 0:
            return []
        total = int(cumulative[-1])
        q = num_quantiles
        targets = np.arange(1, q, dtype=np.int64) * total  # exact integer ranks, scaled by q
        inner = values[np.minimum(np.searchsorted(cumulative * q, targets, side="left"), len(values) - 1)]
        return [float(minimum), *(float(x) for x in inner), float(maximum)]

    def histogram(self, buckets: int, minimum: float, maximum: float) -> tuple[list[float], list[float]]:
        """Equal-width bucket boundaries between min and max and the estimated count in each.

        Counts come from the sketch's CDF, so each is within ``2 * rank_error``
        of the exact one (exact when nothing was compacted). Buckets are
        half-open ``[b_i, b_i+1)`` except the last, which includes the maximum.
        """
        values, cumulative = self._weighted()
        if len(values) == 0:
            return [], []
        total = float(cumulative[-1])
        if not np.isfinite(minimum) or not np.isfinite(maximum):
            return [float(minimum), float(maximum)], [total]
        if minimum == maximum:
            return [float(minimum), float(maximum)], [total]
        edges = np.linspace(minimum, maximum, buckets + 1)
        below = np.searchsorted(values, edges[1:-1], side="left")
        cdf = np.concatenate(
            [[0.0], np.where(below > 0, cumulative[np.maximum(below - 1, 0)], 0).astype(float), [total]]
        )
        return [float(e) for e in edges], [float(c) for c in np.diff(cdf)]
