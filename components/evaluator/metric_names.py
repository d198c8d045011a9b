"""The metrics the evaluator computes, by task, and which way is better: known without importing sklearn.

Threshold names are checked against these when a pipeline file is validated
(the task may not be known then: any of them is accepted, and the run checks
again against the model's task).
"""

from __future__ import annotations

HIGHER = "higher"
LOWER = "lower"

CLASSIFICATION: dict[str, str] = {
    "accuracy": HIGHER,
    "macro_precision": HIGHER,
    "macro_recall": HIGHER,
    "macro_f1": HIGHER,
    "log_loss": LOWER,
    "roc_auc": HIGHER,
}
REGRESSION: dict[str, str] = {
    "mae": LOWER,
    "rmse": LOWER,
    "r2": HIGHER,
}
BY_TASK: dict[str, dict[str, str]] = {"classification": CLASSIFICATION, "regression": REGRESSION}
ALL: dict[str, str] = {**CLASSIFICATION, **REGRESSION}

DESCRIPTIONS: dict[str, str] = {
    "accuracy": "share of rows whose predicted class is the label",
    "macro_precision": "precision per class, averaged over the classes",
    "macro_recall": "recall per class, averaged over the classes",
    "macro_f1": "F1 per class, averaged over the classes",
    "log_loss": "cross-entropy of the predicted class probabilities",
    "roc_auc": "ROC AUC one-vs-rest per class, averaged over the classes that occur",
    "mae": "mean absolute error",
    "rmse": "root mean squared error",
    "r2": "coefficient of determination (R²)",
}


def direction(metric: str) -> str:
    """``higher`` or ``lower``: which way a metric improves."""
    return ALL[metric]
