"""What a transform does to one batch: the YAML ops in order, then the user's ``preprocessing_fn``.

A ``Plan`` is plain data (ops as dicts, the user module as source text), so it
pickles to Beam workers and is written verbatim into the TransformGraph; the
user function is compiled from that source where it runs. The same
``Plan.run`` serves the analyze passes, the transform pass and
``TransformGraph.load(...).transform(...)``: there is one code path from
training data to serving.
"""

from __future__ import annotations

import hashlib
import os
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from headrace.components.transform.ops import Columns, Op, apply_op
from headrace.components.transform.scope import AnalyzerScope, TransformError
from headrace.components.user_code import user_place

USER_FUNCTION_PREFIX = "preprocessing_fn"


@dataclass
class UserFunction:
    """The user's ``preprocessing_fn``: its module's source (what the cache key and the graph record)."""

    source: str
    function: str
    filename: str
    """Where the source lives (the user's file, or the graph's copy): tracebacks name its lines."""
    fingerprint: str = ""

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = hashlib.sha256(self.source.encode()).hexdigest()

    @classmethod
    def from_file(cls, path: str, function: str) -> UserFunction:
        from headrace.components.files import read_text

        return cls(read_text(path), function, path)

    def load(self) -> Callable[..., Any]:
        name = f"headrace_preprocessing_{self.fingerprint[:16]}"
        module = sys.modules.get(name)
        if module is None:
            module = types.ModuleType(name)
            module.__file__ = self.filename
            folder = os.path.dirname(os.path.abspath(self.filename))
            if os.path.isdir(folder) and folder not in sys.path:
                sys.path.append(folder)  # the module's own helpers, as when it is imported next to the pipeline
            sys.modules[name] = module
            try:
                exec(compile(self.source, self.filename, "exec"), module.__dict__)
            except Exception as exc:
                del sys.modules[name]
                raise TransformError(
                    f"{user_place(exc, self.filename)}: importing the preprocessing module failed: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
        fn = getattr(module, self.function, None)
        if not callable(fn):
            defined = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
            raise TransformError(
                f"{self.filename}: defines no function {self.function!r} (it defines: {', '.join(defined) or 'none'}); "
                "write def preprocessing_fn(inputs, tx) or set the component's preprocessing_fn parameter"
            )
        return fn


@dataclass
class Plan:
    ops: list[Op]
    user: UserFunction | None = None
    options: dict[str, Any] = field(default_factory=dict)
    images: frozenset[str] = frozenset()
    """The raw columns that hold encoded images (``image_ops.image_columns`` of the input schema)."""
    _fn: Callable[..., Any] | None = field(default=None, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_fn"] = None  # compiled again where it runs
        return state

    def scope(self, values: dict[str, Any], final: set[str] | frozenset[str], recording: Any = None) -> AnalyzerScope:
        return AnalyzerScope(values, final, self.options, recording, self.images)

    def run(
        self, columns: Columns, tx: AnalyzerScope, reads: set[str] | None = None, until: int | None = None
    ) -> Columns:
        """The plan over one batch's columns; ``reads`` collects the raw columns it reads.

        ``until``: an analyze pass that only needs ops up to that index stops there (no user function).
        """
        tainted: set[str] = set()
        raw = set(columns)
        tx.start_images()
        for op in self.ops:
            if until is not None and op.index > until:
                return columns
            before = columns
            columns = apply_op(op, columns, tx, tainted)
            if reads is not None:
                reads.update(_read_by(op, before, raw, tx.image_columns))
            raw -= {name for name in raw if name not in columns or columns[name] is not before.get(name)}
        if self.user is not None and until is None:
            columns = self._run_user(columns, tx, tainted, reads, raw)
        return columns

    def _run_user(
        self, columns: Columns, tx: AnalyzerScope, tainted: set[str], reads: set[str] | None, raw: set[str]
    ) -> Columns:
        assert self.user is not None
        if self._fn is None:
            self._fn = self.user.load()
        rows = _length(columns)
        inputs = _TrackedInputs(columns)
        tx.start_function(USER_FUNCTION_PREFIX, tainted=bool(tainted))
        try:
            result = self._fn(inputs, tx)
        except TransformError:
            raise
        except Exception as exc:
            raise TransformError(
                f"{user_place(exc, self.user.filename)}: {self.user.function} raised {type(exc).__name__}: {exc}"
            ) from exc
        if reads is not None:
            reads.update(inputs.read & raw)
        line = getattr(getattr(self._fn, "__code__", None), "co_firstlineno", 0)
        return _check_user_output(result, rows, f"{os.path.basename(self.user.filename)}:{line}: {self.user.function}")


class _TrackedInputs(dict):
    """The ``inputs`` of a preprocessing_fn: a plain dict that notes which columns the function reads."""

    def __init__(self, columns: Columns) -> None:
        super().__init__(columns)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        try:
            return super().__getitem__(key)
        except KeyError:
            from headrace.components.suggestions import did_you_mean
            from headrace.components.transform.scope import caller

            hint = did_you_mean(key, list(self))
            raise TransformError(
                f"{caller()}: preprocessing_fn reads inputs[{key!r}], but there is no such column "
                f"(columns: {', '.join(self)})" + (f"; {hint}" if hint else "")
            ) from None

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def _read_by(op: Op, columns: Columns, raw: set[str], images: set[str]) -> set[str]:
    """The raw columns ``op`` reads; a ``drop`` reads none (serving rows may leave a dropped column out)."""
    from headrace.components.transform.ops import selected

    if op.name == "drop":
        return set()
    try:
        return set(selected(op, columns, images)) & raw
    except TransformError:
        return set()


def _length(columns: Columns) -> int:
    for column in columns.values():
        return len(column)
    return 0


def _check_user_output(result: Any, rows: int, place: str) -> Columns:
    if not isinstance(result, dict) or not result:
        raise TransformError(
            f"{place} returned {type(result).__name__}, not a dict of column name -> Arrow column; "
            "return e.g. {'x_scaled': pc.divide(inputs['x'], tx.max(inputs['x']))}"
        )
    out: Columns = {}
    lengths: dict[str, int] = {}
    for name, column in result.items():
        if not isinstance(name, str):
            raise TransformError(f"{place} returned a column named {name!r}: column names must be strings")
        if isinstance(column, pa.Scalar) or not isinstance(column, (pa.Array, pa.ChunkedArray)):
            raise TransformError(
                f"{place} returned {type(column).__name__} for column {name!r}, not an Arrow array; "
                "build columns with pyarrow.compute (a constant: pa.array([value] * len(inputs[...])))"
            )
        out[name] = column
        lengths[name] = len(column)
    wrong = {n: length for n, length in lengths.items() if length != rows}
    if wrong:
        listed = ", ".join(f"{n} ({length} rows)" for n, length in wrong.items())
        raise TransformError(
            f"{place} returned columns of different lengths: the batch has {rows} rows but {listed}; "
            "every output column needs one value per input row (no filtering or aggregation in preprocessing_fn)"
        )
    return out
