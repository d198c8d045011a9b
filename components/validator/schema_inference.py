"""Infer a first schema from statistics, as TFX's SchemaGen does.

An inferred schema is a starting point that a person curates, so every rule
here errs towards accepting data like the data it saw, with a little room:

- **type**: the Arrow type of the column.
- **presence**: required (``min_fraction: 1.0``) when no value was missing,
  else the observed share of present values rounded down to 2 decimals minus
  ``presence_slack``, so a sample with a few more nulls still passes.
- **domain**: for string columns whose distinct count is exact, at most
  ``max_domain_size`` and fully listed in ``top_values``: every value seen.
- **range**: observed min and max widened by ``range_margin`` of the span on
  each side (never below 0 for a column that had no negative value; whole
  numbers for integer columns), because the next split or the next month
  rarely hits exactly the same extremes.
- **image** (image columns): every decoded shape seen (when there are at
  most ``max_domain_size``) and every channel count seen, and no undecodable
  image; the class column stays an ordinary string column with a domain.
- **drift / skew thresholds**: ``drift_measures.DEFAULT_THRESHOLDS`` by
  column family (why those: the comment there, and the one the writer puts
  above them in schema.yaml): Wasserstein distance and the change of spread
  for numeric columns, L-infinity and PSI for categorical (string and boolean)
  ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from headrace.components.validator.drift_measures import DEFAULT_THRESHOLDS, Family, family_of
from headrace.components.validator.formats import (
    ColumnSchema,
    ColumnStatistics,
    DataProblem,
    DataSchema,
    DatasetStatistics,
    DistanceThreshold,
    ImageConstraints,
    Presence,
    ValueRange,
)

INTEGER_TYPES = {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


@dataclass(frozen=True)
class InferenceOptions:
    """Knobs of inference; the schema component's parameters map onto these one to one."""

    max_domain_size: int = 50
    range_margin: float = 0.1
    presence_slack: float = 0.02
    thresholds: dict[Family, DistanceThreshold] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))


class InferenceError(DataProblem):
    """The statistics cannot give a schema (no splits, unknown split); the message says what to change."""


def choose_split(statistics: DatasetStatistics, wanted: str | None = None) -> str:
    """The split to infer from: ``wanted`` if given, else ``train`` if present, else the first split."""
    names = list(statistics.splits)
    if not names:
        raise InferenceError("the statistics have no splits, so there is nothing to infer a schema from")
    if wanted is not None:
        if wanted not in statistics.splits:
            raise InferenceError(
                f"split {wanted!r} is not in the statistics (they have {', '.join(names)}); set `split` to one of them"
            )
        return wanted
    return "train" if "train" in statistics.splits else names[0]


def infer_schema(
    statistics: DatasetStatistics, split: str | None = None, options: InferenceOptions = InferenceOptions()
) -> DataSchema:
    """A schema every column of ``split`` (default: train, else the first) satisfies, with some slack."""
    chosen = statistics.splits[choose_split(statistics, split)]
    return DataSchema(columns={name: infer_column(column, options) for name, column in chosen.columns.items()})


def infer_column(column: ColumnStatistics, options: InferenceOptions = InferenceOptions()) -> ColumnSchema:
    schema = ColumnSchema(type=column.type, presence=Presence(min_fraction=_min_fraction(column, options)))
    if column.kind in ("string", "boolean"):
        schema.domain = _domain(column, options)
    elif column.kind == "numeric":
        schema.range = _range(column, options)
    elif column.kind == "image":
        schema.image = _image(column, options)
    family = family_of(column)
    if family is not None:
        schema.skew = options.thresholds[family].model_copy()
        schema.drift = options.thresholds[family].model_copy()
    return schema


def _min_fraction(column: ColumnStatistics, options: InferenceOptions) -> float:
    total = column.count + column.missing
    if total == 0 or column.missing == 0:
        return 1.0
    present = column.count / total
    return max(0.0, round(math.floor(present * 100) / 100 - options.presence_slack, 4))


def _domain(column: ColumnStatistics, options: InferenceOptions) -> list[str] | None:
    strings = column.string
    if strings is None or not strings.top_values or not strings.distinct_is_exact:
        return None
    if strings.distinct > options.max_domain_size or len(strings.top_values) < strings.distinct:
        return None
    return sorted(v.value for v in strings.top_values)


def _image(column: ColumnStatistics, options: InferenceOptions) -> ImageConstraints:
    images = column.image
    if images is None or images.decoded == 0:
        return ImageConstraints()
    every_shape = images.shapes_are_exact and len(images.shapes) == images.distinct_shapes
    shapes = (
        [s.text for s in images.shapes] if every_shape and images.distinct_shapes <= options.max_domain_size else None
    )
    return ImageConstraints(
        shapes=sorted(shapes, key=_shape_order) if shapes else None,
        channels=sorted(c.channels for c in images.channels) or None,
    )


def _shape_order(text: str) -> tuple[int, ...]:
    return tuple(int(side) for side in text.split("x"))


def _range(column: ColumnStatistics, options: InferenceOptions) -> ValueRange | None:
    numeric = column.numeric
    if numeric is None or numeric.min is None or numeric.max is None:
        return None
    low, high = float(numeric.min), float(numeric.max)
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    margin = (high - low) * options.range_margin
    wide_low, wide_high = low - margin, high + margin
    if low >= 0:
        wide_low = max(wide_low, 0.0)
    if column.type in INTEGER_TYPES:
        return ValueRange(min=float(math.floor(wide_low)), max=float(math.ceil(wide_high)))
    return ValueRange(min=_round_outward(wide_low, math.floor), max=_round_outward(wide_high, math.ceil))


def _round_outward(value: float, direction: Callable[[float], int]) -> float:
    """``value`` rounded to 4 significant digits away from the data, so the YAML reads 2339 not 2339.7285."""
    if value == 0:
        return 0.0
    exponent = math.floor(math.log10(abs(value))) - 3
    return float(f"{direction(value / 10.0**exponent)}e{exponent}")
