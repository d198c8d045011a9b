"""What a training function gets: ``def train(ctx: TrainerContext) -> model``.

The data are the *transformed* examples (the features the transform made);
the returned estimator is saved behind the fitted transform, so the model
that serves takes raw rows. Read a split the way it fits in memory::

    X, y = ctx.train.to_numpy()                 # features in ctx.features order, label
    frame = ctx.train.to_pandas()               # features and label as a DataFrame
    for batch in ctx.train.batches(50_000):     # Arrow RecordBatches, for data that does not fit
        model.partial_fit(...)
    model.fit(ctx.train.tf_dataset(batch_size=32, shuffle=True))  # Keras: a streamed tf.data.Dataset

pyarrow, NumPy and pandas are imported when a split is read, not before; TensorFlow only by ``tf_dataset``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from headrace.components.artifacts import Examples, Schema
from headrace.components.contract import ComponentError
from headrace.components.problems import ProblemError


class Split:
    """One split of the transformed examples: the feature columns and the label, read when asked.

    Rows whose label is null are left out (a model cannot learn from them);
    the trainer's log says how many.
    """

    def __init__(
        self,
        examples: Examples,
        name: str,
        features: list[str],
        label: str,
        *,
        classes: list[Any] | None = None,
        seed: int = 0,
        transform_graph: str | None = None,
        augment: dict[str, Any] | None = None,
    ) -> None:
        self.examples = examples
        self.augment = augment
        """The trainer's ``augment`` settings, on the train split only: ``tf_dataset`` applies them."""
        self.transform_graph = transform_graph
        """The URI of the TransformGraph that wrote the examples: ``tf_dataset`` runs its image steps."""
        self.name = name
        self.features = list(features)
        self.label = label
        self.classes = classes
        self.seed = seed

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

    def tf_dataset(
        self,
        batch_size: int = 32,
        *,
        shuffle: bool | int = False,
        label: str | None = None,
        augment: bool = True,
        **options: Any,
    ) -> Any:
        """A ``tf.data.Dataset`` of ``(features, label)`` batches streamed from the split (Keras's ``fit`` takes it).

        Features: a dict of 1-d tensors keyed by column (``features=[...]`` picks them; default ``ctx.features``),
        typed and null-encoded as ``headrace.components.tensorflow.tensors`` says; an image column the transform
        decodes is float32 pixels ``[batch, height, width, channels]``, made by the transform's image steps. The label (default
        ``ctx.label``): for classification its index in ``ctx.classes`` (int64, for
        ``sparse_categorical_crossentropy``), else its values. ``shuffle``: True, or a buffer size in rows;
        the order depends on ``ctx.seed`` and the epoch. On ``ctx.train``, the trainer's ``augment`` changes
        the image columns' pixels at random, anew each epoch (seeded by ``ctx.seed``); ``augment=False`` turns
        it off for this call; ``ctx.eval`` is never augmented. Other options go to ``examples_dataset``. Rows
        with a null label are an error here (``to_numpy`` leaves them out). Needs the extra: imports TensorFlow.
        """
        from headrace.components.tensorflow import require_tensorflow

        require_tensorflow(f"ctx.{self.name}.tf_dataset()")
        from headrace.components.tensorflow.datasets import examples_dataset

        target = self.label if label is None else label
        if target == self.label and self.classes is not None:
            options.setdefault("label_classes", self.classes)
        options.setdefault("features", [f for f in self.features if f != target])
        options.setdefault("seed", self.seed)
        if augment and self.augment:
            options.setdefault("augment", self.augment)
        if self.transform_graph is not None and "transform" not in options:
            from headrace.components.transform.graph import FittedTransform

            options["transform"] = FittedTransform.load(self.transform_graph)
        try:
            return examples_dataset(
                self.examples, self.name, label=target, batch_size=batch_size, shuffle=shuffle, **options
            )
        except ProblemError as exc:
            raise ComponentError(f"ctx.{self.name}.tf_dataset(): {exc}") from None

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


@dataclass(frozen=True)
class DistributionInfo:
    """Where this copy of ``train(ctx)`` runs in a distributed training (the trainer's ``distribution``)."""

    strategy: str
    """``mirrored`` or ``multi_worker``."""
    replicas: int
    """Replicas in sync: devices (mirrored), or workers times their devices (multi_worker)."""
    workers: int
    worker_index: int
    """This process's index in TF_CONFIG; worker 0, the chief, gives the model."""

    @property
    def is_chief(self) -> bool:
        return self.worker_index == 0


@dataclass
class TrainerContext:
    """Everything a training function needs; ``train(ctx)`` returns a fitted model.

    - ``train``, ``eval``: the transformed splits (:class:`Split`: ``to_numpy()``, ``to_pandas()``, ``batches()``).
    - ``features``: the feature columns, in the order ``to_numpy()`` gives them (every transformed column
      but the label). A model fitted on a DataFrame with fewer columns uses those: its ``feature_names_in_``.
    - ``label``; ``task``: ``"classification"`` or ``"regression"`` (the ``task`` parameter, or judged from
      the label's values when it is ``auto``); ``classes``: for classification, the label's values in the
      train and eval splits, sorted: ``tf_dataset`` gives a label's index in them, and a model without its
      own ``classes_`` (Keras) has its output columns read in this order. None for regression.
    - ``hyperparameters``: the ``hyperparameters`` mapping of the pipeline file; ``seed``: pass it as
      ``random_state`` (Python's and NumPy's generators are already seeded with it).
    - ``schema``: the Schema artifact when one is wired (``schema.yaml`` under ``schema.uri``), else None.
    - ``log_metric(name, value)``: a number recorded with the execution and the model; ``log``: a logger
      writing to the component's log file.
    - ``base_model``: the path of the ``.keras`` file wired as the ``base_model`` input (a pretrained network
      an ``importer`` brought in), else None; ``load_base_model()`` loads it with Keras, to fine-tune.
    """

    train: Split
    eval: Split | None
    features: list[str]
    label: str
    task: str
    hyperparameters: dict[str, Any]
    seed: int
    schema: Schema | None = None
    classes: list[Any] | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("headrace.trainer"))
    metrics: dict[str, float] = field(default_factory=dict)
    strategy: Any = None
    distribution: DistributionInfo | None = None
    base_model: str | None = None
    _on_metric: Callable[[str, float], None] | None = field(default=None, repr=False)

    def load_base_model(self, *, compile: bool = True, **options: Any) -> Any:
        """The ``base_model`` input as a Keras model, to fine-tune (freeze layers, add a head, ``fit`` again).

        ``compile=True`` restores the optimizer and loss it was saved with; ``options`` go to
        ``keras.models.load_model`` (``custom_objects=``). Needs the extra: imports Keras.
        """
        if self.base_model is None:
            raise ComponentError(
                "ctx.load_base_model(): the trainer has no base_model input; wire one (inputs: {base_model: "
                "importer.result}, from an importer with artifact_type: KerasModel and a .keras source)"
            )
        from headrace.components.tensorflow import require_tensorflow

        require_tensorflow("ctx.load_base_model()")
        from headrace.components.tensorflow.pretrained import load_keras_model

        return load_keras_model(self.base_model, compile=compile, **options)

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
