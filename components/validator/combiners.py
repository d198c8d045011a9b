"""Column statistics as one CombineFn over Arrow RecordBatches.

``StatisticsCombineFn`` has Beam's four CombineFn methods
(``create_accumulator``, ``add_input``, ``merge_accumulators``,
``extract_output``) but does not import Beam: the in-process engine calls
them directly and must not pay Beam's one-second import on a 344-row table.
``engines.combine_per_split`` hands the very same object to Beam (or calls
it in-process), so there is one code path for every engine and runner.

One element is a whole RecordBatch and one accumulator covers every column of
a split, so a table of 10,000 columns is one Beam stage, not 10,000. Every
piece of an accumulator merges (moments by Chan's formula, a
``QuantileSketch``, a ``ValueCounter``), which is what lets any runner split
the work anywhere.

Definitions: ``count`` is non-null values and NaN is counted within it; min,
max, mean and standard deviation (population, ddof=0) ignore NaN; the
histogram and quantiles come from the quantile sketch (see
``sketch_quantiles`` for the bound, reported in ``quantile_error``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headrace.components.examples_io import SOURCE_KEY
from headrace.components.images import is_image_field
from headrace.components.sketch_quantiles import QuantileSketch
from headrace.components.sketch_values import ValueCounter
from headrace.components.validator.formats import (
    ColumnStatistics,
    DataProblem,
    Histogram,
    NumericStatistics,
    SplitStatistics,
    StringStatistics,
    ValueCount,
)
from headrace.components.validator.image_statistics import ImageOptions, ImageState

Kind = Literal["numeric", "string", "boolean", "image", "other"]
PERCENTILES = 100
"""Numeric columns keep their values at every 1% of rank: what drift and skew compare (101 numbers a column)."""


@dataclass(frozen=True)
class StatisticsOptions:
    """The knobs of the statistics; picklable, so Beam ships them to workers."""

    num_quantiles: int = 10
    histogram_buckets: int = 10
    top_k: int = 20
    distinct_cap: int = 10_000
    quantile_sketch_size: int = 2048
    images: ImageOptions = field(default_factory=ImageOptions)


def column_kind(arrow_type: pa.DataType) -> Kind:
    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_boolean(t):
        return "boolean"
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_fixed_size_binary(t)
        or getattr(pa.types, "is_string_view", lambda _: False)(t)
        or getattr(pa.types, "is_binary_view", lambda _: False)(t)
    ):
        return "string"
    return "other"


def _is_text(arrow_type: pa.DataType) -> bool:
    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    return (
        pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t)
    )


@dataclass(slots=True)
class NumericState:
    valid: int = 0  # non-null, non-NaN values: the n of mean and variance
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0
    m4: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    zeros: int = 0
    nan: int = 0
    sketch: QuantileSketch = field(default_factory=QuantileSketch)

    def add(self, values: np.ndarray) -> None:
        if values.dtype.kind == "f":
            nan_mask = np.isnan(values)
            nan = int(np.count_nonzero(nan_mask))
            if nan:
                self.nan += nan
                values = values[~nan_mask]
        n = len(values)
        if n == 0:
            return
        self.zeros += int(np.count_nonzero(values == 0))
        self.min = min(self.min, float(values.min()))
        self.max = max(self.max, float(values.max()))
        mean = float(values.mean())
        deviations = values - mean
        squares = np.square(deviations)
        m2 = float(squares.sum())
        # einsum reads both arrays once and writes nothing; np.dot would go to BLAS, whose threads cost
        # milliseconds to wake on a busy machine
        m3 = float(np.einsum("i,i->", squares, deviations))
        m4 = float(np.einsum("i,i->", squares, squares))
        self._merge_moments(n, mean, m2, m3, m4)
        self.sketch.add(values)

    def merge(self, other: NumericState) -> None:
        self.zeros += other.zeros
        self.nan += other.nan
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if other.valid:
            self._merge_moments(other.valid, other.mean, other.m2, other.m3, other.m4)
        self.sketch.merge(other.sketch)

    def _merge_moments(self, n: int, mean: float, m2: float, m3: float, m4: float) -> None:
        """Chan et al.'s pairwise update, to the fourth moment (Pebay 2008): stable in any merge order.

        The fourth moment gives the kurtosis, which says how much a standard
        deviation varies by chance: what the drift check's ``std_change`` needs.
        """
        na, total = self.valid, self.valid + n
        delta = mean - self.mean
        d_n = delta / total
        self.m4 += (
            m4
            + delta * d_n**3 * na * n * (na * na - na * n + n * n)
            + 6 * d_n * d_n * (na * na * m2 + n * n * self.m2)
            + 4 * d_n * (na * m3 - n * self.m3)
        )
        self.m3 += m3 + delta * d_n * d_n * na * n * (na - n) + 3 * d_n * (na * m2 - n * self.m2)
        self.m2 += m2 + delta * d_n * na * n
        self.mean += d_n * n
        self.valid = total

    def result(self, options: StatisticsOptions) -> NumericStatistics:
        if self.valid == 0:
            return NumericStatistics(nan=self.nan)
        boundaries, counts = self.sketch.histogram(options.histogram_buckets, self.min, self.max)
        return NumericStatistics(
            min=self.min,
            max=self.max,
            mean=self.mean,
            std_dev=math.sqrt(self.m2 / self.valid),
            zeros=self.zeros,
            nan=self.nan,
            histogram=Histogram(boundaries=boundaries, counts=counts),
            quantiles=self.sketch.quantiles(options.num_quantiles, self.min, self.max),
            quantile_error=self.sketch.error_bound(),
            kurtosis=self.valid * self.m4 / (self.m2 * self.m2) if self.m2 > 0 else None,
            percentiles=_short(self.sketch.quantiles(PERCENTILES, self.min, self.max), self.max - self.min),
        )


def _short(values: list[float], span: float) -> list[float]:
    """Inner values rounded to a millionth of the column's span: shorter JSON, nothing a drift measure can see.

    A 10,000-column statistics file would otherwise triple in size with 17-digit floats.
    """
    if len(values) < 3 or not (span > 0 and math.isfinite(span)):
        return values
    digits = 6 - math.floor(math.log10(span))
    return [values[0], *(round(v, digits) for v in values[1:-1]), values[-1]]


@dataclass(slots=True)
class CategoricalState:
    values: ValueCounter
    total_length: int = 0
    invalid_utf8: int = 0

    def merge(self, other: CategoricalState) -> None:
        self.values.merge(other.values)
        self.total_length += other.total_length
        self.invalid_utf8 += other.invalid_utf8

    def result(self, count: int, kind: Kind, options: StatisticsOptions) -> StringStatistics:
        return StringStatistics(
            distinct=self.values.distinct(),
            distinct_is_exact=self.values.exact,
            top_values=[ValueCount(value=_as_text(v), count=c) for v, c in self.values.top(options.top_k)],
            avg_length=self.total_length / count if count and kind == "string" else None,
            invalid_utf8=self.invalid_utf8,
        )


@dataclass(slots=True)
class ColumnAccumulator:
    type: str
    kind: Kind
    count: int = 0
    missing: int = 0
    numeric: NumericState | None = None
    categorical: CategoricalState | None = None
    image: ImageState | None = None

    def merge(self, other: ColumnAccumulator) -> None:
        self.count += other.count
        self.missing += other.missing
        if self.numeric is not None and other.numeric is not None:
            self.numeric.merge(other.numeric)
        if self.categorical is not None and other.categorical is not None:
            self.categorical.merge(other.categorical)
        if self.image is not None and other.image is not None:
            self.image.merge(other.image)


@dataclass(slots=True)
class SplitAccumulator:
    """Everything known about one split so far; ``source`` names a file it came from."""

    num_rows: int = 0
    source: str = ""
    columns: dict[str, ColumnAccumulator] = field(default_factory=dict)


def _as_text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _valid_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _type_conflict(column: str, first: str, first_source: str, second: str, second_source: str) -> DataProblem:
    return DataProblem(
        f"column {column!r} has type {first} in {first_source or '<unknown file>'} but {second} in "
        f"{second_source or '<unknown file>'}; every file of a split must have the same column types "
        "(re-ingest the data, or cast the column to one type with ingest's column_types)"
    )


class StatisticsCombineFn:
    """Beam's CombineFn protocol over RecordBatches, for every column of a split at once.

    ``schema`` names the columns reported for a split with no rows; with data,
    the columns come from the batches themselves.
    """

    def __init__(self, options: StatisticsOptions | None = None, schema: pa.Schema | None = None) -> None:
        self.options = options or StatisticsOptions()
        self.schema = schema

    def create_accumulator(self) -> SplitAccumulator:
        return SplitAccumulator()

    def _new_numeric(self) -> NumericState:
        return NumericState(sketch=QuantileSketch(self.options.quantile_sketch_size))

    def _new_column(self, f: pa.Field) -> ColumnAccumulator:
        arrow_type = f.type
        if is_image_field(f):
            column = ColumnAccumulator(type=str(arrow_type), kind="image")
            column.image = ImageState(
                options=self.options.images,
                brightness=self._new_numeric(),
                contrast=self._new_numeric(),
                size=None if isinstance(arrow_type, pa.FixedShapeTensorType) else self._new_numeric(),
                shapes=ValueCounter(cap=self.options.images.shape_cap),
            )
            return column
        kind = column_kind(arrow_type)
        column = ColumnAccumulator(type=str(arrow_type), kind=kind)
        if kind == "numeric":
            column.numeric = NumericState(sketch=QuantileSketch(self.options.quantile_sketch_size))
        elif kind in ("string", "boolean"):
            column.categorical = CategoricalState(ValueCounter(cap=self.options.distinct_cap))
        return column

    def add_input(self, accumulator: SplitAccumulator, batch: pa.RecordBatch) -> SplitAccumulator:
        metadata = batch.schema.metadata or {}
        source = metadata.get(SOURCE_KEY, b"").decode()
        columns = accumulator.columns
        if not columns and accumulator.num_rows == 0:
            accumulator.source = source
            for f in batch.schema:
                columns[f.name] = self._new_column(f)
        for f, array in zip(batch.schema, batch.columns, strict=True):
            column = columns.get(f.name)
            if column is None:
                raise DataProblem(
                    f"column {f.name!r} is in {source or '<unknown file>'} but not in "
                    f"{accumulator.source or '<unknown file>'}; every file of a split must have the same columns"
                )
            if column.type != str(f.type):
                raise _type_conflict(f.name, column.type, accumulator.source, str(f.type), source)
            if column.image is not None:
                _add_images(column, array, batch, self.options.images)
            else:
                _add_column(column, array)
        accumulator.num_rows += batch.num_rows
        return accumulator

    def merge_accumulators(self, accumulators: Any) -> SplitAccumulator:
        """Folds into the first accumulator (Beam allows mutating only that one)."""
        iterator = iter(accumulators)
        base = next(iterator, None) or self.create_accumulator()
        for other in iterator:
            if not other.columns:
                base.num_rows += other.num_rows
                continue
            if not base.columns:
                base.columns, base.source = other.columns, other.source
                base.num_rows += other.num_rows
                continue
            for name, column in other.columns.items():
                mine = base.columns.get(name)
                if mine is None:
                    raise DataProblem(
                        f"column {name!r} is in {other.source or '<unknown file>'} but not in "
                        f"{base.source or '<unknown file>'}; every file of a split must have the same columns"
                    )
                if mine.type != column.type:
                    raise _type_conflict(name, mine.type, base.source, column.type, other.source)
                mine.merge(column)
            base.num_rows += other.num_rows
        return base

    def extract_output(self, accumulator: SplitAccumulator) -> SplitStatistics:
        """The split's statistics; ``name`` is left empty for the caller, who knows the split."""
        columns = accumulator.columns
        if not columns and self.schema is not None:
            columns = {f.name: self._new_column(f) for f in self.schema}
        return SplitStatistics(
            name="",
            num_rows=accumulator.num_rows,
            columns={name: self._column_result(name, c) for name, c in columns.items()},
        )

    def _column_result(self, name: str, column: ColumnAccumulator) -> ColumnStatistics:
        numeric = column.numeric.result(self.options) if column.numeric is not None else None
        string = (
            column.categorical.result(column.count, column.kind, self.options)
            if column.categorical is not None
            else None
        )
        image = (
            column.image.result(lambda state: state.result(self.options), self.options.top_k)
            if column.image is not None
            else None
        )
        return ColumnStatistics(
            name=name,
            type=column.type,
            kind=column.kind,
            count=column.count,
            missing=column.missing,
            numeric=numeric,
            string=string,
            image=image,
        )


def _add_column(column: ColumnAccumulator, array: pa.Array) -> None:
    missing = array.null_count
    column.missing += missing
    column.count += len(array) - missing
    if len(array) == missing or column.kind == "other":
        return
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    values = array.drop_null() if missing else array
    if column.numeric is not None:
        column.numeric.add(_float64_view(values))
    elif column.categorical is not None:
        _add_categorical(column.categorical, values)


def _add_images(column: ColumnAccumulator, array: pa.Array, batch: pa.RecordBatch, options: ImageOptions) -> None:
    """An image column's non-null images, with the batch's label and path of each (for the thumbnails)."""
    assert column.image is not None
    missing = array.null_count
    column.missing += missing
    column.count += len(array) - missing
    if len(array) == missing:
        return
    keep = array.is_valid() if missing else None

    def aligned(name: str) -> list[str] | None:
        """The column ``name`` as text (integer class ids too); None when absent or not text-like."""
        index = batch.schema.get_field_index(name)
        if index < 0 or column_kind(batch.schema.field(index).type) not in ("string", "numeric", "boolean"):
            return None
        values = batch.column(index)
        if keep is not None:
            values = values.filter(keep)
        if not _is_text(values.type):
            try:
                values = pc.cast(values, pa.string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None
        return ["" if v is None else v for v in values.to_pylist()]

    values = array.filter(keep) if keep is not None else array
    column.image.add(values, aligned(options.label_column), aligned(options.path_column))


def _float64_view(values: pa.Array) -> np.ndarray:
    """Null-free numbers as float64 numpy, read from the Arrow buffer.

    Not ``Array.to_numpy``: in pyarrow 25 it imports pandas, half a second
    of a 344-row run.
    """
    if values.type != pa.float64():
        values = pc.cast(values, pa.float64())
    return np.frombuffer(values.buffers()[1], dtype=np.float64, count=len(values), offset=values.offset * 8)


def _add_categorical(state: CategoricalState, values: pa.Array) -> None:
    counted = pc.value_counts(values)
    keys = counted.field("values").to_pylist()
    counts = counted.field("counts").to_pylist()
    state.values.add_counts(keys, counts)
    if pa.types.is_boolean(values.type):
        return
    if _is_text(values.type):
        state.total_length += int(pc.sum(pc.utf8_length(values)).as_py() or 0)
        return
    state.total_length += int(pc.sum(pc.binary_length(values)).as_py() or 0)
    try:
        values.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        state.invalid_utf8 += int(sum(c for k, c in zip(keys, counts, strict=True) if not _valid_utf8(k)))
