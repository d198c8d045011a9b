"""Metrics of one set of rows, from sklearn.metrics on the collected labels, predictions and probabilities.

A metric that cannot be computed on some rows (ROC AUC on a slice holding a
single class, log loss of a model that gives no probabilities) is None, with
the reason beside it: a threshold on it then fails, saying why, instead of
passing on a number that means nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class MetricSet:
    """Scalar metrics (None where undefined, with ``undefined[name]`` saying why) and, overall, the details."""

    rows: int
    values: dict[str, float | None]
    undefined: dict[str, str] = field(default_factory=dict)
    per_class: list[dict[str, Any]] | None = None
    confusion: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": self.rows, "metrics": self.values}
        if self.undefined:
            out["undefined"] = self.undefined
        if self.per_class is not None:
            out["per_class"] = self.per_class
        if self.confusion is not None:
            out["confusion_matrix"] = self.confusion
        return out


def _number(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: list[Any],
    *,
    detail: bool = True,
    no_proba_reason: str = "the model gives no class probabilities",
) -> MetricSet:
    """accuracy, macro precision/recall/F1, log loss, ROC AUC one-vs-rest; with ``detail``, per class and confusion."""
    from sklearn import metrics as skm

    values: dict[str, float | None] = {}
    undefined: dict[str, str] = {}
    values["accuracy"] = _number(skm.accuracy_score(y_true, y_pred))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    present = support > 0
    # macro: over the labels that occur in these rows or their predictions (sklearn's default), not absent classes
    macro = skm.precision_recall_fscore_support(y_true, y_pred, average="macro", zero_division=0)
    values["macro_precision"], values["macro_recall"], values["macro_f1"] = (_number(v) for v in macro[:3])
    unseen = sorted(set(y_true.tolist()) - set(classes), key=str)
    auc_per_class: list[float | None] = [None] * len(classes)
    if proba is None:
        values["log_loss"] = values["roc_auc"] = None
        undefined["log_loss"] = undefined["roc_auc"] = no_proba_reason
    elif unseen:
        values["log_loss"] = values["roc_auc"] = None
        reason = f"the rows have label values the model was not trained on ({', '.join(map(str, unseen[:5]))})"
        undefined["log_loss"] = undefined["roc_auc"] = reason
    else:
        values["log_loss"] = _number(skm.log_loss(y_true, proba, labels=classes))
        auc_per_class = _one_vs_rest_auc(y_true, proba, classes)
        defined = [a for a in auc_per_class if a is not None]
        values["roc_auc"] = _number(np.mean(defined)) if defined else None
        if not defined:
            undefined["roc_auc"] = "not defined on rows that hold a single class"
    result = MetricSet(rows=len(y_true), values=values, undefined=undefined)
    if detail:
        result.per_class = [
            {
                "class": c,
                "support": int(support[i]),
                "precision": _number(precision[i]) if present[i] else None,
                "recall": _number(recall[i]) if present[i] else None,
                "f1": _number(f1[i]) if present[i] else None,
                "roc_auc": auc_per_class[i],
            }
            for i, c in enumerate(classes)
        ]
        # every class the model knows (never predicted, or absent from these rows, too), then any other value seen
        others = set(y_true.tolist()) | set(np.asarray(y_pred).tolist())
        labels = [*classes, *sorted(others - set(classes), key=str)]
        matrix = skm.confusion_matrix(y_true, y_pred, labels=labels)
        result.confusion = {"labels": labels, "matrix": matrix.tolist()}
    return result


def _one_vs_rest_auc(y_true: np.ndarray, proba: np.ndarray, classes: list[Any]) -> list[float | None]:
    """ROC AUC of each class against the rest; None for a class that is absent from, or fills, the rows."""
    from sklearn.metrics import roc_auc_score

    aucs: list[float | None] = []
    for i, c in enumerate(classes):
        positive = y_true == c
        if positive.all() or not positive.any():
            aucs.append(None)
        else:
            aucs.append(_number(roc_auc_score(positive, proba[:, i])))
    return aucs  # binary: both entries are the one curve's area, so their mean is sklearn's binary ROC AUC


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> MetricSet:
    """MAE, RMSE and R²."""
    from sklearn import metrics as skm

    values: dict[str, float | None] = {
        "mae": _number(skm.mean_absolute_error(y_true, y_pred)),
        "rmse": _number(skm.root_mean_squared_error(y_true, y_pred)),
    }
    undefined: dict[str, str] = {}
    if len(y_true) < 2 or np.all(y_true == y_true[0]):
        values["r2"] = None
        undefined["r2"] = "not defined on rows whose labels are all equal"
    else:
        values["r2"] = _number(skm.r2_score(y_true, y_pred))
    return MetricSet(rows=len(y_true), values=values, undefined=undefined)
