"""Classification or regression: what the user asked, what the label looks like, what the estimator is.

``task: auto`` follows a scikit-learn estimator's own kind (``is_classifier``
/ ``is_regressor``); for other libraries, and for ``ctx.task`` before the
model exists, the label decides: strings and booleans are classes, integers
with at most ``MAX_CLASSES`` distinct values in the training split are
classes, anything else is a quantity.
"""

from __future__ import annotations

from typing import Any

from headrace.components.contract import ComponentError

MAX_CLASSES = 20


def task_of_label(column: Any, label: str) -> str:
    """The task the label's type and values suggest (``column``: the label in the training split, Arrow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind):
        return "classification"
    if pa.types.is_integer(kind):
        distinct = len(pc.unique(column.drop_null()))
        return "classification" if distinct <= MAX_CLASSES else "regression"
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "regression"
    raise ComponentError(
        f"the label {label!r} holds {column.type}, which is neither classes nor a quantity headrace can judge; "
        "set the trainer's task: classification or task: regression"
    )


def estimator_kind(estimator: Any) -> str | None:
    """``classification`` / ``regression`` for a scikit-learn classifier / regressor, else None."""
    try:
        from sklearn.base import is_classifier, is_regressor
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return None
    if not any((c.__module__ or "").startswith("sklearn") for c in type(estimator).__mro__):
        return None
    if is_classifier(estimator):
        return "classification"
    if is_regressor(estimator):
        return "regression"
    return None


def settle_task(requested: str, from_label: str, estimator: Any, returned_by: str) -> str:
    """The model's task: what was asked, checked against the estimator; for ``auto`` the estimator's kind first."""
    kind = estimator_kind(estimator)
    if requested == "auto":
        return kind or from_label
    if kind is not None and kind != requested:
        other = "classifier" if kind == "classification" else "regressor"
        raise ComponentError(
            f"the trainer's task is {requested}, but {returned_by} returned a {type(estimator).__name__}, a "
            f"scikit-learn {other}; return a model for {requested}, or set task: {kind} (or auto)"
        )
    return requested


def class_labels(estimator: Any, values: list[Any]) -> list[Any]:
    """The classes in the order of the model's probability columns: ``classes_``, else ``values`` (``ctx.classes``)."""
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        return list(classes)
    return list(values)


def label_values(*columns: Any) -> list[Any]:
    """The distinct non-null values of the label ``columns`` (Arrow), sorted: ``ctx.classes``."""
    import pyarrow.compute as pc

    return sorted({value for column in columns for value in pc.unique(column.drop_null()).to_pylist()})
