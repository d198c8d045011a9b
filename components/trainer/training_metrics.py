"""How well the model fits the splits it was trained with: accuracy, or R² and RMSE, streamed batch by batch.

Computed on the transformed features with the estimator alone (the
evaluator judges the packaged model on raw rows); memory stays bounded by
the batch size. A Keras network's scores are read as the packaged model reads
them (``keras_predict``); a model whose ``predict`` does not give one label or
value per row gets no training metrics, and the log says so.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from headrace.components.trainer.context import Split

if TYPE_CHECKING:
    from headrace.components.model_package import PackageInfo


def fit_metrics(estimator: Any, info: PackageInfo, split: Split, log: logging.Logger) -> dict[str, float]:
    """``<split>_accuracy`` for classification; ``<split>_r2`` and ``<split>_rmse`` for regression."""
    import numpy as np

    from headrace.components.model_package import estimator_input, estimator_predict

    if not hasattr(estimator, "predict"):
        log.info("no training metrics: a %s has no predict()", type(estimator).__name__)
        return {}
    task = info.task
    rows = correct = 0
    total = total_squares = squared_error = 0.0
    transform = None
    if info.flavor == "keras" and split.transform_graph is not None:  # image columns: the transform's image steps
        from headrace.components.transform.graph import FittedTransform

        transform = FittedTransform.load(split.transform_graph)
    for batch in split.batches():
        model_input = estimator_input(estimator, info.flavor, batch, split.features, transform)
        predicted = estimator_predict(estimator, info, model_input)
        actual = batch.column(split.label).to_numpy(zero_copy_only=False)
        if predicted.ndim == 2 and predicted.shape[1] == 1:
            predicted = predicted[:, 0]
        if predicted.shape != actual.shape:
            log.info("no training metrics: predict() gives shape %s for %d rows", predicted.shape, len(actual))
            return {}
        rows += len(actual)
        if task == "classification":
            correct += int(np.sum(predicted == actual))
        else:
            values = actual.astype(np.float64)
            squared_error += float(np.sum((values - predicted.astype(np.float64)) ** 2))
            total += float(values.sum())
            total_squares += float(np.sum(values**2))
    if not rows:
        return {}
    if task == "classification":
        return {f"{split.name}_accuracy": correct / rows}
    spread = total_squares - total * total / rows
    metrics = {f"{split.name}_rmse": float(np.sqrt(squared_error / rows))}
    if spread > 0:
        metrics[f"{split.name}_r2"] = 1.0 - squared_error / spread
    return metrics
