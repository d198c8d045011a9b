"""Predict the raw eval split batch by batch and keep what the metrics need: labels, predictions, slice codes.

Only per-row results are kept (a label, a prediction, a row of class
probabilities, one small integer per slice column), never the rows
themselves, so memory follows the batch size plus a few numbers per row.
The baseline model predicts the same batches, so its metrics are on exactly
the same rows, slice by slice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headrace.components.evaluator.worst import WorstImages


@dataclass
class Predictions:
    """One model's outputs, appended batch by batch."""

    labels: list[np.ndarray] = field(default_factory=list)
    probabilities: list[np.ndarray] | None = None

    def add(self, model: Any, batch: pa.RecordBatch, with_probabilities: bool) -> None:
        if not with_probabilities:
            self.labels.append(np.asarray(model.predict(batch)))
            return
        labels, scores = model.predict_with_probabilities(batch)  # one transform pass (one Keras run) for both
        self.labels.append(np.asarray(labels))
        self.probabilities = self.probabilities if self.probabilities is not None else []
        self.probabilities.append(np.asarray(scores if scores is not None else model.predict_proba(batch), np.float64))

    def label_array(self) -> np.ndarray:
        return np.concatenate(self.labels) if self.labels else np.array([])

    def probability_array(self) -> np.ndarray | None:
        return np.concatenate(self.probabilities) if self.probabilities else None


class ColumnCodes:
    """A slice column as one integer per row and the distinct values (None for null) those integers stand for."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._index: dict[tuple[str, Any], int] = {}
        self._codes: list[np.ndarray] = []

    def _code(self, value: Any) -> int:
        key = (type(value).__name__, value)  # 1 and True are distinct values
        if key not in self._index:
            self._index[key] = len(self.values)
            self.values.append(value)
        return self._index[key]

    def add(self, column: pa.Array | pa.ChunkedArray) -> None:
        encoded = pc.dictionary_encode(column)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        lookup = np.array([self._code(v) for v in encoded.dictionary.to_pylist()] + [self._code(None)], dtype=np.int64)
        indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        self._codes.append(lookup[indices])  # -1 (null) picks the last entry: the code of None

    def codes(self) -> np.ndarray:
        return np.concatenate(self._codes) if self._codes else np.array([], dtype=np.int64)


@dataclass
class Collected:
    """Everything computed from the eval split, ready for the metrics."""

    y_true: np.ndarray
    model: Predictions
    baseline: Predictions | None
    columns: dict[str, ColumnCodes]
    rows_read: int
    rows_without_label: int
    baseline_problem: str | None = None
    worst: WorstImages | None = None


def collect(
    batches: Iterable[pa.RecordBatch],
    *,
    label: str,
    model: Any,
    with_probabilities: bool,
    baseline: Any | None,
    baseline_probabilities: bool,
    slice_columns: list[str],
    progress: Callable[[int], None],
    worst: WorstImages | None = None,
) -> Collected:
    """Predict every batch with the model (and the baseline), keeping labels, predictions and slice codes.

    Rows without a label are left out (and counted). A baseline that fails to
    predict is dropped with the reason, so the model is still evaluated;
    the model failing is the caller's error to report. ``worst``, when given,
    is offered every batch of labelled rows with the model's outputs.
    """
    y_true: list[np.ndarray] = []
    predictions = Predictions()
    baseline_predictions = Predictions() if baseline is not None else None
    baseline_problem: str | None = None
    columns = {name: ColumnCodes() for name in slice_columns}
    read = without_label = 0
    for batch in batches:
        read += batch.num_rows
        labelled = pc.is_valid(batch.column(label))
        if pa.types.is_floating(batch.schema.field(label).type):
            labelled = pc.and_(labelled, pc.invert(pc.is_nan(batch.column(label))))
        kept = batch.filter(labelled)
        without_label += batch.num_rows - kept.num_rows
        if kept.num_rows == 0:
            progress(read)
            continue
        predictions.add(model, kept, with_probabilities)
        if baseline_predictions is not None:
            try:
                baseline_predictions.add(baseline, kept, baseline_probabilities)
            except Exception as exc:  # the baseline's trouble must not stop the new model's evaluation
                baseline_problem = f"the baseline model cannot predict these rows: {type(exc).__name__}: {exc}"
                baseline_predictions = None
        y_true.append(kept.column(label).to_numpy(zero_copy_only=False))
        if worst is not None:
            proba = predictions.probabilities[-1] if predictions.probabilities else None
            worst.add(kept, y_true[-1], predictions.labels[-1], proba)
        for name, codes in columns.items():
            codes.add(kept.column(name))
        progress(read)
    return Collected(
        y_true=np.concatenate(y_true) if y_true else np.array([]),
        model=predictions,
        baseline=baseline_predictions,
        columns=columns,
        rows_read=read,
        rows_without_label=without_label,
        baseline_problem=baseline_problem,
        worst=worst,
    )
