"""The raw rows a saved model shows as its input example.

The trainer reads transformed data, but the model takes raw rows, so its
example must be raw. Where the raw examples are wired (``raw_examples:
ingest.examples``) the example is their first rows: real data, nulls
included. Otherwise it is one *typical* row made from what the transform
froze (the mean a z-score or fill used, the most frequent vocabulary value),
and for a column the transform passes through unchanged, its first value in
the transformed training data: a row of the right columns and types, not a
row of the data.
"""

from __future__ import annotations

from typing import Any

from headrace.components.artifacts import Examples
from headrace.components.contract import ComponentError

ROWS = 5


def raw_rows(raw: Examples, split: str, columns: list[str]) -> Any:
    """The first rows of ``split`` of the raw examples, as pandas, with ``columns``."""
    if split not in raw.splits:
        raise ComponentError(
            f"the raw_examples input has no split {split!r} (it has: {', '.join(raw.splits)}); wire the Examples the "
            "transform read"
        )
    table = raw.dataset(split).head(ROWS)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ComponentError(
            f"the raw_examples input lacks column(s) the transform reads: {', '.join(missing)}; wire the Examples "
            "the transform read (e.g. raw_examples: ingest.examples)"
        )
    return table.select(columns).to_pandas()


def typical_rows(fitted: Any, columns: list[str], transformed: Any) -> Any:
    """One row of ``columns`` from the transform's frozen values, or ``transformed`` (a Table) for untouched columns."""
    import pandas as pd
    import pyarrow as pa

    types = {f.name: f.type for f in fitted.input_schema}
    touched = {c for op in fitted.plan.ops for c in (op.columns or [])}
    values: dict[str, Any] = {}
    for name in columns:
        value = _frozen_value(fitted, name)
        if value is None and name not in touched and name in transformed.column_names:
            present = transformed.column(name).drop_null()
            value = present[0].as_py() if len(present) else None
        if value is not None and pa.types.is_integer(types[name]):
            value = round(value) if isinstance(value, (int, float)) else None
        values[name] = value
    arrays = [pa.array([values[n]]).cast(types[n]) if values[n] is not None else pa.nulls(1, types[n]) for n in columns]
    table = pa.Table.from_arrays(arrays, names=columns)
    return table.to_pandas() if columns else pd.DataFrame(index=[0])


def _frozen_value(fitted: Any, column: str) -> Any:
    for op in fitted.plan.ops:
        if not op.columns or column not in op.columns:
            continue
        frozen = fitted.values.get(op.key(column))
        if not isinstance(frozen, dict):
            continue
        if "mean" in frozen:
            return frozen["mean"]
        if frozen.get("values"):
            return frozen["values"][0]  # vocabularies are ordered most frequent first
        boundaries = frozen.get("boundaries")
        if boundaries:
            return boundaries[len(boundaries) // 2]
    return None
