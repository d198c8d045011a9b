"""What a training function gets: ``def train(ctx: TrainerContext) -> model``.

The data are the *transformed* examples (the features the transform made);
the returned estimator is saved behind the fitted transform, so the model
that serves takes raw rows. Read a split the way it fits in memory::

    X, y = ctx.train.to_numpy()                 # features in ctx.features order, label
    frame = ctx.train.to_pandas()               # features and label as a DataFrame
    for batch in ctx.train.batches(50_000):     # Arrow RecordBatches, for data that does not fit
        model.partial_fit(...)

pyarrow, NumPy and pandas are imported when a split is read, not before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from headrace.components.artifacts import Examples, Schema
from headrace.components.contract import ComponentError


class Split:
    """One split of the transformed examples: the feature columns and the label, read when asked.

    Rows whose label is null are left out (a model cannot learn from them);
    the trainer's log says how many.
    """

    def __init__(self, examples: Examples, name: str, features: list[str], label: str) -> None:
        self.examples = examples
        self.name = name
        self.features = list(features)
        self.label = label

    @property
    def num_rows(self) -> int:
        """Rows in the split as written (before leaving out null labels)."""
        counts = self.examples.properties.get("row_counts") or {}
        if self.name in counts:
            return int(counts[self.name])
        return int(self.examples.dataset(self.name).count_rows())

    def batches(self, batch_size: int = 65_536) -> Iterator[Any]:
        """The split as Arrow RecordBatches of at most ``batch_size`` rows (features, then the label)."""
        import pyarrow.compute as pc

        for batch in self.examples.batches(self.name, batch_size, columns=[*self.features, self.label]):
            if batch.column(self.label).null_count:
                batch = batch.filter(pc.is_valid(batch.column(self.label)))
            if batch.num_rows:
                yield batch

    def to_arrow(self) -> Any:
        """The whole split as one Arrow Table (features, then the label)."""
        import pyarrow.compute as pc

        table = self.examples.to_table(self.name, columns=[*self.features, self.label])
        if table.column(self.label).null_count:
            table = table.filter(pc.is_valid(table.column(self.label)))
        return table

    def to_pandas(self) -> Any:
        """The whole split as a pandas DataFrame (features, then the label)."""
        return self.to_arrow().to_pandas()

    def to_numpy(self) -> tuple[Any, Any]:
        """``(X, y)``: X a float64 array, one column per feature in ``ctx.features`` order (null -> NaN); y the labels."""
        table = self.to_arrow()
        return features_matrix(table, self.features), table.column(self.label).to_numpy()


def features_matrix(data: Any, features: list[str]) -> Any:
    """A float64 matrix of ``features`` from an Arrow Table or RecordBatch; nulls become NaN."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name in features:
        column = data.column(name)
        kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)):
            raise ComponentError(
                f"feature column {name!r} holds {column.type}, and to_numpy() makes a matrix of numbers: encode it in "
                "the transform (compute_and_apply_vocabulary, one_hot, hash_bucket), or read to_pandas() instead"
            )
        column = pc.cast(column, pa.float64())
        columns.append(column.to_numpy(zero_copy_only=False) if column.null_count == 0 else _nan_filled(column))
    if not columns:
        return np.empty((data.num_rows, 0))
    return np.column_stack(columns)


def _nan_filled(column: Any) -> Any:
    import pyarrow.compute as pc

    return pc.fill_null(column, float("nan")).to_numpy(zero_copy_only=False)


@dataclass
class TrainerContext:
    """Everything a training function needs; ``train(ctx)`` returns a fitted model.

    - ``train``, ``eval``: the transformed splits (:class:`Split`: ``to_numpy()``, ``to_pandas()``, ``batches()``).
    - ``features``: the feature columns, in the order ``to_numpy()`` gives them (every transformed column
      but the label). A model fitted on a DataFrame with fewer columns uses those: its ``feature_names_in_``.
    - ``label``; ``task``: ``"classification"`` or ``"regression"`` (the ``task`` parameter, or judged from
      the label's values when it is ``auto``).
    - ``hyperparameters``: the ``hyperparameters`` mapping of the pipeline file; ``seed``: pass it as
      ``random_state`` (Python's and NumPy's generators are already seeded with it).
    - ``schema``: the Schema artifact when one is wired (``schema.yaml`` under ``schema.uri``), else None.
    - ``log_metric(name, value)``: a number recorded with the execution and the model; ``log``: a logger
      writing to the component's log file.
    """

    train: Split
    eval: Split | None
    features: list[str]
    label: str
    task: str
    hyperparameters: dict[str, Any]
    seed: int
    schema: Schema | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("headrace.trainer"))
    metrics: dict[str, float] = field(default_factory=dict)
    _on_metric: Callable[[str, float], None] | None = field(default=None, repr=False)

    def log_metric(self, name: str, value: float) -> None:
        """Record a number (a validation score, an iteration count) with the execution and the Model artifact."""
        if not isinstance(name, str) or not name:
            raise ComponentError(f"log_metric takes a metric name (a non-empty string), not {name!r}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ComponentError(f"log_metric({name!r}, ...) takes a number, not {type(value).__name__}") from None
        self.metrics[name] = number
        if self._on_metric is not None:
            self._on_metric(name, value)
