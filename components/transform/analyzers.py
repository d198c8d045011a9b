"""Analyzers: full-pass aggregates (moments, quantiles, vocabularies) as mergeable accumulators.

An analyzer is computed in the analyze pass over the training split and is a
constant in the transform pass (tf.Transform's model). Each one here has the
pieces of a Beam ``CombineFn`` (create, add a column of one RecordBatch,
merge, extract), and ``analysis.AnalyzePassFn`` bundles every analyzer of
a pass into one CombineFn over RecordBatches.

Results must not depend on how a runner splits or orders the work, because
the in-process engine, the DirectRunner and the DaskRunner have to produce the
same TransformGraph. Sums are therefore kept as exact rationals (one
``Fraction`` per batch, a few microseconds) and rounded once at the end, so
``merge`` is associative and commutative to the last bit; min, max and
vocabulary counts are exact by nature; quantiles come from
``sketch_quantiles.QuantileSketch``, exact while a column has fewer
than ``2 * k`` values (see ``quantile_sketch_size``), within its recorded rank
error bound beyond that.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headrace.components.arrow_values import float_view
from headrace.components.sketch_quantiles import QuantileSketch
from headrace.components.sketch_values import ValueCounter
from headrace.components.transform.image_ops import PLACEHOLDER as IMAGE_PLACEHOLDER
from headrace.components.transform.image_ops import ImagePixels

Kind = Literal["moments", "quantiles", "vocabulary", "image"]

PLACEHOLDERS: dict[str, Any] = {
    "moments": {"count": 0, "mean": 0.0, "var": 1.0, "min": 0.0, "max": 1.0, "placeholder": True},
    "quantiles": {"count": 0, "boundaries": [], "error": 0.0, "placeholder": True},
    "vocabulary": {"count": 0, "values": [], "counts": [], "exact": True, "placeholder": True},
    "image": IMAGE_PLACEHOLDER,
}
"""What an analyzer returns before its value is known (during an analyze pass that computes it)."""


def as_float64(column: Any) -> np.ndarray:
    """Non-null, non-NaN values of a numeric Arrow column as float64."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if column.null_count:
        column = column.drop_null()
    if column.type != pa.float64():
        column = pc.cast(column, pa.float64())
    values = float_view(column)
    nan = np.isnan(values)
    return values[~nan] if nan.any() else values


def is_numeric(arrow_type: pa.DataType) -> bool:
    return pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type)


class Moments:
    """Count, exact sum and sum of squares, min and max of a numeric column."""

    __slots__ = ("count", "maximum", "minimum", "squares", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = Fraction(0)
        self.squares = Fraction(0)
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, column: Any) -> None:
        values = as_float64(column)
        n = len(values)
        if n == 0:
            return
        batch_sum = float(values.sum())
        deviations = values - batch_sum / n
        spread = float(np.multiply(deviations, deviations, out=deviations).sum())  # squares around the batch mean
        exact_sum = Fraction(batch_sum)
        self.count += n
        self.total += exact_sum
        self.squares += Fraction(spread) + exact_sum * exact_sum / n
        self.minimum = min(self.minimum, float(values.min()))
        self.maximum = max(self.maximum, float(values.max()))

    def merge(self, other: Moments) -> None:
        self.count += other.count
        self.total += other.total
        self.squares += other.squares
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def extract(self) -> dict[str, Any]:
        if self.count == 0:
            return {"count": 0, "mean": None, "var": None, "min": None, "max": None}
        mean = self.total / self.count
        var = max(self.squares / self.count - mean * mean, Fraction(0))
        return {
            "count": self.count,
            "mean": float(mean),
            "var": float(var),
            "min": self.minimum,
            "max": self.maximum,
        }


class Quantiles:
    """Quantile boundaries of a numeric column from a mergeable sketch."""

    __slots__ = ("maximum", "minimum", "num_buckets", "sketch")

    def __init__(self, num_buckets: int, sketch_size: int) -> None:
        self.num_buckets = num_buckets
        self.sketch = QuantileSketch(sketch_size)
        self.minimum = math.inf
        self.maximum = -math.inf

    def add(self, column: Any) -> None:
        values = as_float64(column)
        if len(values):
            self.sketch.add(values)
            self.minimum = min(self.minimum, float(values.min()))
            self.maximum = max(self.maximum, float(values.max()))

    def merge(self, other: Quantiles) -> None:
        self.sketch.merge(other.sketch)
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def extract(self) -> dict[str, Any]:
        if self.sketch.count == 0:
            return {"count": 0, "boundaries": [], "error": 0.0}
        points = self.sketch.quantiles(self.num_buckets, self.minimum, self.maximum)
        return {"count": self.sketch.count, "boundaries": points[1:-1], "error": self.sketch.error_bound()}


class VocabularyCounter:
    """Value counts of a column, exact up to ``cap`` distinct values (``ValueCounter``)."""

    __slots__ = ("counter", "frequency_threshold", "top_k")

    def __init__(self, top_k: int | None, frequency_threshold: int, cap: int) -> None:
        self.top_k = top_k
        self.frequency_threshold = frequency_threshold
        self.counter = ValueCounter(cap=cap)

    def add(self, column: Any) -> None:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if pa.types.is_floating(column.type):
            column = pc.if_else(pc.is_nan(column), pa.nulls(1, column.type)[0], column)
        counts = pc.value_counts(column)  # counting the nulls too is cheaper than copying the column without them
        values, numbers = counts.field("values"), counts.field("counts")
        if values.null_count:
            known = values.is_valid()
            values, numbers = values.filter(known), numbers.filter(known)
        self.counter.add_counts(values.to_pylist(), numbers.to_pylist())

    def merge(self, other: VocabularyCounter) -> None:
        self.counter.merge(other.counter)

    def extract(self) -> dict[str, Any]:
        ranked = self.counter.top(len(self.counter.counts))
        total = sum(c for _, c in ranked)
        kept = [(v, c) for v, c in ranked if c >= self.frequency_threshold]
        if self.top_k is not None:
            kept = kept[: self.top_k]
        return {
            "count": total,
            "values": [v for v, _ in kept],
            "counts": [c for _, c in kept],
            "exact": self.counter.exact,
        }


Accumulator = Moments | Quantiles | VocabularyCounter | ImagePixels


def new_accumulator(kind: Kind, options: dict[str, Any]) -> Accumulator:
    if kind == "moments":
        return Moments()
    if kind == "quantiles":
        return Quantiles(int(options["num_buckets"]), int(options["sketch_size"]))
    if kind == "vocabulary":
        return VocabularyCounter(options.get("top_k"), int(options.get("frequency_threshold", 0)), int(options["cap"]))
    if kind == "image":
        return ImagePixels()
    raise ValueError(f"unknown analyzer kind {kind!r}")
