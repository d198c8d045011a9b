"""Conforming parsed columns to the target schema, finding the rows that do not fit.

The fast path is one ``pyarrow.compute.cast`` per column. Only when a cast fails
is the column bisected to find the offending rows (``O(bad rows * log n)``
casts), which are then raised or dropped through the ``BadRowLog``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from headrace.components.ingest.bad_rows import BadRow, BadRowLog, shorten

RowLocator = Callable[[list[int]], list[int]]
"""Maps row indices of a parsed table to line (or row) numbers in its file."""


def _bad_indices(column: Any, target: Any, first_only: bool, offset: int = 0) -> list[int]:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.cast(column, target)
        return []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        if len(column) == 1:
            return [offset]
    mid = len(column) // 2
    found = _bad_indices(column.slice(0, mid), target, first_only, offset)
    if found and first_only:
        return found
    return found + _bad_indices(column.slice(mid), target, first_only, offset + mid)


def first_undecodable(column: Any) -> int | None:
    """The index of the first value of a binary column that is not valid UTF-8 text, if any."""
    import pyarrow as pa

    found = _bad_indices(column, pa.string(), first_only=True)
    return found[0] if found else None


def _fix(name: str, value: Any, target: Any) -> str:
    import pyarrow as pa
    import pyarrow.compute as pc

    suggestion = "string"
    if pa.types.is_integer(target):
        try:
            pc.cast(pa.array([value]), pa.float64())
            suggestion = "double"
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError):
            pass
    return f"fix the row, set column_types: {{{name}: {suggestion}}}"


def _decode_utf8(
    column: Any, name: str, position: int, first_only: bool, problems: dict[int, tuple[str, Any, str, str]]
) -> Any:
    """Raw bytes as text; values that are not valid UTF-8 become problems (and the column None)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(column, pa.string())
    except pa.ArrowInvalid:
        for i in _bad_indices(column, pa.string(), first_only):
            value = column[i].as_py()
            reason = f"column {name!r} (#{position + 1}): {shorten(value)!r} is not valid UTF-8 text"
            fix = (
                f"re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8), "
                f"or keep the raw bytes with column_types: {{{name}: binary}}"
            )
            problems.setdefault(i, (name, value, reason, fix))
        return None


def conform(
    table: Any,
    schema: Any,
    file: str,
    locate: RowLocator,
    bad_rows: BadRowLog,
    line_label: str = ":",
    extra_fields_are_bad: bool = False,
) -> Any:
    """``table`` with exactly ``schema``'s columns and types; bad rows raised or dropped."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    problems: dict[int, tuple[str, Any, str, str]] = {}
    first_only = bad_rows.raises
    # by-name lookups on a wide table are O(columns) each
    by_name = dict(zip(table.column_names, table.columns, strict=True))
    if extra_fields_are_bad:
        expected = set(schema.names)
        for name in table.column_names:
            if name not in expected:
                column = table.column(name)
                if column.null_count < n:
                    mask = pc.is_valid(column).to_numpy(zero_copy_only=False)
                    for i in mask.nonzero()[0][: 1 if first_only else None]:
                        problems.setdefault(
                            int(i),
                            (
                                name,
                                column[int(i)].as_py(),
                                f"unexpected field {name!r} (the schema has {', '.join(schema.names)})",
                                "remove the field",
                            ),
                        )
    columns = []
    for position, field in enumerate(schema):
        if field.name in by_name:
            column = by_name[field.name]
        else:
            column = pa.nulls(n, field.type)
        if pa.types.is_binary(column.type) and not pa.types.is_binary(field.type):
            column = _decode_utf8(column, field.name, position, first_only, problems)
        if column is not None and column.type != field.type:
            try:
                column = pc.cast(column, field.type)
            except pa.ArrowNotImplementedError:
                # no conversion between the types at all (a JSON object where text is expected):
                # every value present is a bad row at its line
                mask = pc.is_valid(column).to_numpy(zero_copy_only=False)
                for i in mask.nonzero()[0][: 1 if first_only else None]:
                    value = column[int(i)].as_py()
                    reason = (
                        f"column {field.name!r} (#{position + 1}): {shorten(value)!r} is a {column.type}, "
                        f"not a {field.type}"
                    )
                    fix = f"fix the row, set column_types: {{{field.name}: {column.type}}}"
                    problems.setdefault(int(i), (field.name, value, reason, fix))
                column = None if mask.any() else pa.nulls(n, field.type)
            except pa.ArrowInvalid:
                for i in _bad_indices(column, field.type, first_only):
                    value = column[i].as_py()
                    reason = f"column {field.name!r} (#{position + 1}): {shorten(value)!r} is not a {field.type}"
                    problems.setdefault(i, (field.name, value, reason, _fix(field.name, value, field.type)))
                column = None
        columns.append(column)
    if not problems:
        return pa.Table.from_arrays(columns, schema=schema)
    rows = sorted(problems)
    if first_only:
        rows = rows[:1]
    lines = locate(rows)
    for row, line in zip(rows, lines, strict=True):
        name, value, reason, fix = problems[row]
        bad_rows.report(BadRow(file, int(line), name, shorten(value), reason, fix, line_label))
    import numpy as np

    keep = np.ones(n, dtype=bool)
    keep[rows] = False
    return conform(table.filter(pa.array(keep)), schema, file, locate_after_filter(locate, keep), bad_rows, line_label)


def locate_after_filter(locate: RowLocator, keep: Any) -> RowLocator:
    """A locator for the rows that remain after dropping the ones ``keep`` marks False."""
    remaining = keep.nonzero()[0]
    return lambda rows: locate([int(remaining[r]) for r in rows])
