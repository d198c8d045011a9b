"""The evaluator's parameters: which split, which slices, which thresholds.

Thresholds are one mapping per metric, with the metric's direction built into
its shape: a metric where higher is better (``accuracy``) takes ``min``,
``max`` and ``max_drop`` (how far it may fall below the baseline); one where
lower is better (``log_loss``) takes ``min``, ``max`` and ``max_rise``. So a
misspelt metric or a change bound that would forbid improvement is an unknown
key, reported at its line with the allowed names before anything runs::

    thresholds:
      accuracy: {min: 0.9, max_drop: 0.01}
      log_loss: {max_rise: 0.05}
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from headrace.components.contract import Parameters
from headrace.components.evaluator.metric_names import ALL, DESCRIPTIONS

DEFAULT_MIN_SLICE_ROWS = 20


class _Bounds(Parameters):
    min: float | None = Field(None, description="The metric must be at least this.")
    max: float | None = Field(None, description="The metric must be at most this.")

    @model_validator(mode="after")
    def _some_bound(self) -> _Bounds:
        if not self.model_fields_set:
            raise ValueError(f"set at least one of {', '.join(type(self).model_fields)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}: no value can pass")
        return self


class HigherIsBetter(_Bounds):
    """Bounds on a metric where higher is better: its value, and how far it may drop below the baseline's."""

    max_drop: float | None = Field(
        None,
        ge=0,
        description="The metric may be at most this much below the baseline model's (0.01: at most one point of "
        "accuracy lost). Not checked for the first model of a pipeline, which has no baseline.",
    )


class LowerIsBetter(_Bounds):
    """Bounds on a metric where lower is better: its value, and how far it may rise above the baseline's."""

    max_rise: float | None = Field(
        None,
        ge=0,
        description="The metric may be at most this much above the baseline model's. Not checked for the first "
        "model of a pipeline, which has no baseline.",
    )


class Thresholds(Parameters):
    """One entry per metric to check; a metric of the other task (``rmse`` on a classifier) fails the run."""

    accuracy: HigherIsBetter | None = Field(None, description=DESCRIPTIONS["accuracy"] + " (higher is better).")
    macro_precision: HigherIsBetter | None = Field(None, description=DESCRIPTIONS["macro_precision"] + ".")
    macro_recall: HigherIsBetter | None = Field(None, description=DESCRIPTIONS["macro_recall"] + ".")
    macro_f1: HigherIsBetter | None = Field(None, description=DESCRIPTIONS["macro_f1"] + ".")
    log_loss: LowerIsBetter | None = Field(None, description=DESCRIPTIONS["log_loss"] + " (lower is better).")
    roc_auc: HigherIsBetter | None = Field(None, description=DESCRIPTIONS["roc_auc"] + ".")
    mae: LowerIsBetter | None = Field(None, description=DESCRIPTIONS["mae"] + " (regression; lower is better).")
    rmse: LowerIsBetter | None = Field(None, description=DESCRIPTIONS["rmse"] + " (regression; lower is better).")
    r2: HigherIsBetter | None = Field(None, description=DESCRIPTIONS["r2"] + " (regression; higher is better).")

    def items(self) -> list[tuple[str, HigherIsBetter | LowerIsBetter]]:
        """The metrics that have a threshold, in the catalog's order."""
        return [(name, getattr(self, name)) for name in ALL if getattr(self, name) is not None]


def _columns(value: list[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _slicing(value: list[str] | str) -> list[str] | str:
    columns = _columns(value)
    if not columns:
        raise ValueError("a slice needs at least one column, e.g. [island] or [island, sex]")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise ValueError(f"column {repeated[0]!r} appears twice in one slice")
    return value  # as written, so an error about a column can point at it


Slicing = Annotated[list[str] | str, AfterValidator(_slicing)]


class EvaluatorParameters(Parameters):
    """What to evaluate on, how to slice it, and what a model must reach to be blessed."""

    split: str = Field("eval", description="The split of the examples to evaluate on.")
    slices: list[Slicing] = Field(
        default_factory=list,
        description="Column combinations to compute metrics for per value: [[island], [sex], [island, sex]] "
        "(a bare column name is a one-column slice). Null values form their own slice, 'null'.",
    )
    thresholds: Thresholds = Field(
        default_factory=Thresholds,
        description="Per metric: min / max on its value, max_drop (higher is better) or max_rise (lower is better) "
        "against the baseline. A model is blessed when every checked threshold passes; with none, it is blessed.",
    )
    min_slice_rows: int = Field(
        DEFAULT_MIN_SLICE_ROWS,
        ge=1,
        description="Slices with fewer rows are flagged as tiny: their metrics are shown, but they are noisy.",
    )
    batch_size: int = Field(65_536, ge=1, description="Rows predicted at a time: memory follows this.")
    worst_images: int = Field(
        24,
        ge=0,
        le=1000,
        description="Classification on rows with an image column: the report shows this many eval images whose "
        "true class got the lowest probability (misclassified ones when the model gives no probabilities); "
        "0 leaves the page out.",
    )
    image_path_column: str = Field(
        "path",
        description="The column naming each image's file, shown with its thumbnail and breaking ties; without "
        "it, rows are named by their number in the split.",
    )

    @model_validator(mode="after")
    def _distinct_slices(self) -> EvaluatorParameters:
        seen: set[tuple[str, ...]] = set()
        for slicing in self.slicings():
            if slicing in seen:
                raise ValueError(f"slices lists [{', '.join(slicing)}] twice")
            seen.add(slicing)
        return self

    def slicings(self) -> list[tuple[str, ...]]:
        """Each slice's columns, a bare name made a one-column tuple."""
        return [tuple(_columns(s)) for s in self.slices]

    def missing_slice_columns(self, columns: list[str]) -> list[tuple[tuple[str | int, ...], str]]:
        """Slice columns not among ``columns``, each with where it is written below ``params``."""
        missing: list[tuple[tuple[str | int, ...], str]] = []
        for i, written in enumerate(self.slices):
            for j, column in enumerate(_columns(written)):
                if column not in columns:
                    missing.append((("slices", i) if isinstance(written, str) else ("slices", i, j), column))
        return missing
