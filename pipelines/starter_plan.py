"""What ``headrace init --data`` decides from a first look at a table: the task, the features, the bar to pass.

Every choice is made from the rows ``ingest.peek`` read, with the same rules
the components apply at run time: the task comes from the trainer's own
``task_of_label``, column kinds from the transform's ``kind_of`` (so a
column planned as a category is one the transform's ``categorical`` selector
picks). Nothing is written here; ``data_starter`` turns a plan into files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from headrace.components.problems import Problem, ProblemError
from headrace.components.suggestions import did_you_mean

LISTED = 30
"""Columns named in an error message; a wide table's others are counted."""
MANY_CLASSES = 100
"""More classes than this is probably not what a user wants to classify into (an id, a free text): a warning."""
UNIQUE_SHARE = 0.9
MIN_ROWS_FOR_UNIQUE = 20
"""A string column whose values differ in more than UNIQUE_SHARE of at least MIN_ROWS_FOR_UNIQUE rows is an id or a
free text: as a category it only lets the model memorise rows, so it is left out."""


@dataclass(frozen=True)
class StarterPlan:
    """The label, its task and why, the feature columns by kind, the columns left out and why, the threshold."""

    label: str
    task: str
    task_reason: str
    rows: int
    numeric: list[str]
    strings: list[str]
    booleans: list[str]
    dropped: dict[str, str]
    metric: str
    minimum: float
    baseline_note: str
    """What the threshold's minimum stands for, in words (for the comment above it)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def categorical(self) -> list[str]:
        return [*self.strings, *self.booleans]


@dataclass(frozen=True)
class LabelPlan:
    """The label's task and why, and the bar a useful model clears (``minimum`` of ``metric``)."""

    task: str
    task_reason: str
    metric: str
    minimum: float
    baseline_note: str
    classes: dict[Any, int] = field(default_factory=dict)
    """Classification: each class and its count in the rows read, in the label's sort order."""
    warnings: list[str] = field(default_factory=list)


def plan_starter(table: Any, label: str, task: str | None, source: str) -> StarterPlan:
    """The plan for ``table`` (the first rows of ``source``) predicting ``label``; ``task`` None: judged from it.

    Raises ``ProblemError`` naming ``source`` for a label that is not a column, has no values, or cannot be
    the task asked, and for a table with no column left to learn from.
    """
    judged = plan_label(table, label, task, source)
    numeric, strings, booleans, dropped = _features(table, label)
    if not numeric and not strings and not booleans:
        left_out = "; ".join(f"{name}: {why}" for name, why in dropped.items()) or "there is no other column"
        raise _error(
            source,
            f"no column besides the label {label!r} can be a feature ({left_out})",
            "add columns of numbers or categories to the data",
        )
    return StarterPlan(
        label=label,
        task=judged.task,
        task_reason=judged.task_reason,
        rows=table.num_rows,
        numeric=numeric,
        strings=strings,
        booleans=booleans,
        dropped=dropped,
        metric=judged.metric,
        minimum=judged.minimum,
        baseline_note=judged.baseline_note,
        warnings=judged.warnings,
    )


def plan_label(table: Any, label: str, task: str | None, source: str) -> LabelPlan:
    """The task ``label`` makes of ``table`` (``task`` None: judged from it) and the bar a useful model clears.

    Raises ``ProblemError`` naming ``source`` for a label that is not a column, has no values, or cannot be
    the task asked.
    """
    columns = list(table.column_names)
    if label not in columns:
        hint = did_you_mean(label, columns)
        raise _error(
            source,
            f"--label {label!r} names no column; the columns are: {_listed(columns)}",
            hint or "pass one of the columns above as --label",
        )
    column = table.column(label)
    values = column.drop_null()
    if len(values) == 0:
        raise _error(
            source,
            f"the label {label!r} is null in all {table.num_rows} rows read, so there is nothing to learn",
            "choose a label column that has values",
        )
    task, task_reason = _task(column, label, task, source)
    warnings: list[str] = []
    classes: dict[Any, int] = {}
    if task == "classification":
        counts = values.value_counts()
        if len(counts) < 2:
            only = counts[0]["values"].as_py()
            raise _error(
                source,
                f"the label {label!r} has one value ({only!r}) in the {len(values)} rows read with a value; "
                "a classifier needs at least two classes",
                "choose a label with at least two values (a file sorted by its label may show one class "
                "in its first rows only: shuffle it)",
            )
        if len(counts) > MANY_CLASSES:
            warnings.append(
                f"the label {label!r} has {len(counts)} classes in the rows read: a classifier over that many is slow "
                "and rarely what is wanted (is it an id or a quantity? --task regression for a number)"
            )
        classes = dict(sorted((c["values"].as_py(), c["counts"].as_py()) for c in counts))
        top = max(counts, key=lambda c: c["counts"].as_py())
        share = top["counts"].as_py() / len(values)
        metric, minimum = "accuracy", math.floor(share * 100) / 100
        baseline_note = (
            f"as accurate as always answering the most frequent class ({top['values'].as_py()!r}, {share:.0%} of "
            "the labels read)"
        )
    else:
        metric, minimum = "r2", 0.0
        baseline_note = "at least as good as always answering the mean of the labels (R² 0)"
    return LabelPlan(task, task_reason, metric, minimum, baseline_note, classes, warnings)


def _error(source: str, message: str, hint: str) -> ProblemError:
    """An error about the data file, with the fix."""
    return ProblemError(Problem(source, 0, 0, message, hint))


def _task(column: Any, label: str, asked: str | None, source: str) -> tuple[str, str]:
    """The task and the reason for it, in words; the trainer's rule unless the user asked for one."""
    import pyarrow.compute as pc

    from headrace.components.contract import ComponentError
    from headrace.components.trainer.task import MAX_CLASSES, task_of_label

    try:
        judged = task_of_label(column, label)
    except ComponentError:
        raise _error(
            source,
            f"the label {label!r} holds {column.type}, which is neither classes nor a quantity",
            "choose a label column of strings, booleans or numbers",
        ) from None
    if asked is not None:
        if asked == "regression" and not _is_number(column.type):
            raise _error(
                source,
                f"--task regression needs a numeric label, but {label!r} holds {column.type}",
                "pass --task classification, or choose a numeric label",
            )
        return asked, "asked for with --task"
    kind = _kind(column.type)
    if kind == "integer":
        distinct = len(pc.unique(column.drop_null()))
        relation = "at most" if judged == "classification" else "more than"
        return judged, f"an integer label with {distinct} distinct values ({relation} {MAX_CLASSES} are classes)"
    return judged, f"a {kind} label"


def _features(table: Any, label: str) -> tuple[list[str], list[str], list[str], dict[str, str]]:
    """Numeric, string and boolean feature columns, and the columns left out with the reason for each."""
    import pyarrow.compute as pc

    numeric: list[str] = []
    strings: list[str] = []
    booleans: list[str] = []
    dropped: dict[str, str] = {}
    for name in table.column_names:
        if name == label:
            continue
        column = table.column(name)
        kind = _kind(column.type)
        present = len(column) - column.null_count
        if present == 0:
            dropped[name] = f"null in all {len(column)} rows read"
        elif kind in ("integer", "floating"):
            numeric.append(name)
        elif kind == "boolean":
            booleans.append(name)
        elif kind == "string" and _is_binary(column.type):
            dropped[name] = f"{column.type}: bytes, which the transform's vocabulary cannot record"
        elif kind == "string":
            distinct = len(pc.unique(column.drop_null()))
            if present >= MIN_ROWS_FOR_UNIQUE and distinct > UNIQUE_SHARE * present:
                dropped[name] = f"{distinct} different values in {present} rows: an id or free text, not a category"
            else:
                strings.append(name)
        else:
            dropped[name] = (
                f"{column.type}, neither a number nor a category (derive numbers from it in a preprocessing_fn, "
                "e.g. a date's year or weekday)"
            )
    return numeric, strings, booleans, dropped


def _listed(columns: list[str]) -> str:
    shown = ", ".join(repr(c) for c in columns[:LISTED])
    return shown + (f" and {len(columns) - LISTED} more" if len(columns) > LISTED else "")


def _kind(arrow_type: Any) -> str:
    """The transform's kind of a column: integer, floating, boolean, string or other."""
    from headrace.components.transform.ops import kind_of

    return kind_of(arrow_type, "", frozenset())


def _is_binary(arrow_type: Any) -> bool:
    import pyarrow as pa

    value = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    return bool(pa.types.is_binary(value) or pa.types.is_large_binary(value) or pa.types.is_fixed_size_binary(value))


def _is_number(arrow_type: Any) -> bool:
    return _kind(arrow_type) in ("integer", "floating")
