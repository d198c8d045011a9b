"""The ops' column names checked against a curated schema, before anything runs.

Ops run in order and some make columns (``suffix``, ``cross``, ``rename``,
``one_hot``), so a name is checked against the schema's columns plus what the
ops before it produce. Where that cannot be known without data (a suffix or a
one_hot over a selector), names that could be such a product pass; the run
checks them against the data.
"""

from __future__ import annotations

from collections.abc import Callable

from headrace.components.contract import ColumnProblem
from headrace.components.suggestions import did_you_mean
from headrace.components.transform.spec import TransformParameters


def check_op_columns(params: TransformParameters, schema_columns: list[str]) -> list[ColumnProblem]:
    known = set(schema_columns)
    maybe: list[Callable[[str], bool]] = []  # names later ops may use that earlier ops might have made
    problems: list[ColumnProblem] = []

    def check(name: str, path: tuple[str | int, ...]) -> None:
        if name in known or any(test(name) for test in maybe):
            return
        problems.append(
            ColumnProblem(
                path,
                f"column {name!r} is not in the schema (nor made by an op before this one); "
                f"the schema's columns: {', '.join(schema_columns)}",
                did_you_mean(name, sorted(known)),
            )
        )

    for index, entry in enumerate(params.ops):
        op, args = entry.name, entry.args
        here: tuple[str | int, ...] = ("ops", index, op)
        named = getattr(args, "columns", None)
        select = getattr(args, "select", None)
        if isinstance(named, dict):  # rename
            for old in named:
                check(old, (*here, "columns", old))
        elif named is not None:
            for position, name in enumerate(named):
                check(name, (*here, "columns", position))
        if select is not None:
            for position, name in enumerate(select.exclude):
                check(name, (*here, "select", "exclude", position))
        suffix = getattr(args, "suffix", None)
        if isinstance(named, dict):
            for old, new in named.items():
                known.discard(old)
                known.add(new)
        elif op == "drop" and named is not None:
            known.difference_update(named)
        elif op == "cross" and named is not None:
            known.add(args.output or "_x_".join(named))
        elif op == "one_hot":
            maybe.append(_starts_with(tuple(f"{n}_" for n in named) if named is not None else ("",)))
        elif suffix:
            if named is not None:
                known.update(f"{n}{suffix}" for n in named)
            else:
                maybe.append(_ends_with(suffix))
    return problems


def _starts_with(prefixes: tuple[str, ...]) -> Callable[[str], bool]:
    return lambda name: name.startswith(prefixes)


def _ends_with(suffix: str) -> Callable[[str], bool]:
    return lambda name: name.endswith(suffix)
