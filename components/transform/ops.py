"""The YAML ops over Arrow columns (pyarrow.compute), each a pure function of the columns and ``tx``.

``Columns`` is an ordered ``name -> Arrow column`` mapping; an op replaces
columns in place (or writes ``<column><suffix>``), so columns no op touches
pass through unchanged and keep their position.

Taint: an op whose analyzer value is not final yet (first analyze pass) makes
its output columns *tainted*; an analyzer over a tainted column is not ready
(its value would come from placeholder inputs), so the pass driver runs
another pass for it. That is how ``fill_missing: mean`` then
``scale_to_z_score`` gets the z-score's mean of the *filled* column, in two
passes, like tf.Transform's analyzer phases.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from headrace.components.arrow_values import array_of, scalar_of
from headrace.components.transform.analyzers import is_numeric
from headrace.components.transform.image_ops import IMAGE_OPS, apply_image_op
from headrace.components.transform.scope import (
    AnalyzerScope,
    TransformError,
    apply_vocabulary,
    bucketize,
    hash_bucket,
)

Columns = dict[str, Any]

ANALYZERS_OF: dict[str, str] = {
    "scale_to_z_score": "moments",
    "scale_to_0_1": "moments",
    "bucketize": "quantiles",
    "vocabulary": "vocabulary",
    "compute_and_apply_vocabulary": "vocabulary",
    "one_hot": "vocabulary",
    "decode_image": "image",
    "resize": "image",
}


@dataclass
class Op:
    """One op of the list, with its place in the pipeline file for error messages."""

    index: int
    name: str
    args: dict[str, Any]
    where: str
    """``pipeline.yaml:31:9`` when known, else ``ops[2]``."""
    columns: list[str] | None = None
    """Resolved column names (after analysis); while None, ``args['select']`` chooses them on each batch."""
    categorical: frozenset[str] = field(default_factory=frozenset)
    """Columns the Schema artifact calls categorical (they have a domain), for selectors and type checks."""

    def key(self, column: str) -> str:
        return f"ops[{self.index}].{self.name}:{column}"

    def fail(self, column: str | None, problem: str) -> TransformError:
        on = f" over column {column!r}" if column else ""
        return TransformError(f"{self.where}: {self.name}{on}: {problem}")

    def describe(self) -> str:
        """``bucketize (num_buckets=4)``: the op and the arguments that differ from their defaults."""
        from headrace.components.transform.spec import OP_MODELS

        fields = OP_MODELS[self.name].model_fields if self.name in OP_MODELS else {}
        shown = {
            k: v
            for k, v in self.args.items()
            if k not in ("columns", "select") and (k not in fields or fields[k].default != v) and v is not None
        }
        return self.name + (f" ({', '.join(f'{k}={v}' for k, v in shown.items())})" if shown else "")


def kind_of(arrow_type: pa.DataType, name: str, categorical: frozenset[str]) -> str:
    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if name in categorical:
        return "categorical"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "floating"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "string"
    return "other"


def selected(op: Op, columns: Columns, images: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The columns the op works on: its resolved list, its ``columns``, or what its selector picks now.

    ``images``: the image columns; only ``type: image`` selects them (they are bytes, not strings).
    """
    if op.columns is not None:
        names = op.columns
    elif op.args.get("columns") is not None:
        names = list(op.args["columns"])  # a list, or rename's {old: new}
    else:
        select = op.args["select"]
        pattern = re.compile(select["pattern"]) if select.get("pattern") else None
        wanted = select.get("type", "any")
        names = []
        for name, column in columns.items():
            if name in select.get("exclude", []) or (pattern is not None and not pattern.search(name)):
                continue
            kind = "image" if name in images else kind_of(column.type, name, op.categorical)
            matches = {
                "image": kind == "image",
                "any": kind != "image",
                "numeric": kind in ("integer", "floating"),
                "integer": kind == "integer",
                "floating": kind == "floating",
                "categorical": kind in ("categorical", "string", "boolean"),
                "string": kind == "string",
                "boolean": kind == "boolean",
            }[wanted]
            if matches:
                names.append(name)
        if not names:
            raise op.fail(
                None,
                f"the selector {_selector_text(select)} selects no column (columns here: "
                f"{', '.join(f'{n} ({columns[n].type})' for n in columns) or 'none'}); "
                "widen it, or remove the op",
            )
        return names
    for name in names:
        if name not in columns:
            from headrace.components.suggestions import did_you_mean

            hint = did_you_mean(name, list(columns))
            raise op.fail(
                name, f"no such column; columns here: {', '.join(columns) or 'none'}" + (f"; {hint}" if hint else "")
            )
    return names


def _selector_text(select: dict[str, Any]) -> str:
    parts = [f"{k}: {v}" for k, v in select.items() if v not in (None, [], "any")]
    return "{" + ", ".join(parts) + "}"


def _dropped(op: Op, columns: Columns, images: set[str]) -> list[str]:
    """The columns a ``drop`` removes that are here: it reads none, so serving rows (and an analyze pass) may lack one.

    A name that is no column at all is still an error: the plan is checked, and frozen, on every input column.
    """
    listed = op.columns if op.columns is not None else op.args.get("columns")
    if listed is not None:
        return [name for name in listed if name in columns]
    try:
        return selected(op, columns, images)
    except TransformError:  # the selected columns are not read by this pass; freezing selects on all of them
        return []


def apply_op(op: Op, columns: Columns, tx: AnalyzerScope, tainted: set[str]) -> Columns:
    """``columns`` after the op; adds to ``tainted`` the outputs made from values that are not final."""
    names = _dropped(op, columns, tx.image_columns) if op.name == "drop" else selected(op, columns, tx.image_columns)
    handler = _HANDLERS.get(op.name)
    out = dict(columns)
    for name in names:
        ready = name not in tainted
        if name in tx.image_columns or op.name in ("decode_image", "resize"):
            if op.name not in IMAGE_OPS:
                if op.name in ("drop", "rename"):
                    continue
                raise op.fail(
                    name,
                    "it is an image column (encoded bytes); the ops over images are "
                    f"{', '.join(IMAGE_OPS)} (and drop, rename): leave it out of this op (select by type)",
                )
            if name not in tx.image_columns:
                raise op.fail(
                    name,
                    f"not an image column: its type is {columns[name].type}; {op.name} applies to image columns "
                    "(binary columns marked as images, like an image folder's 'image', or fixed-shape tensors of shape "
                    "[height, width] or [height, width, channels]), select: {type: image}",
                )
            if not apply_image_op(op, name, tx, columns[name], ready):
                tainted.add(name)
            continue
        assert handler is not None
        result = handler(op, name, columns[name], tx, ready)
        if result is None:
            continue
        produced, final = result
        if op.name == "one_hot":
            out = replace_with(out, name, produced)
        else:
            target = name + op.args["suffix"] if op.args.get("suffix") else name
            out[target] = produced[name]
            produced = {target: produced[name]}
        if not final or not ready:
            tainted.update(produced)
    if op.name == "drop":
        for name in names:
            out.pop(name)
            tx.image_columns.discard(name)
            tx.image_chains.pop(name, None)
    elif op.name == "rename":
        mapping = op.args["columns"]
        for old, new in mapping.items():
            if new in out and new not in mapping:
                raise op.fail(old, f"cannot rename it to {new!r}: a column of that name exists")
        out = {mapping.get(k, k): v for k, v in out.items()}
        tx.image_columns = {mapping.get(k, k) for k in tx.image_columns}
        tx.image_chains = {mapping.get(k, k): v for k, v in tx.image_chains.items()}
        for new, chain in tx.image_chains.items():
            chain.column = new
        for old, new in mapping.items():
            if old in tainted:
                tainted.add(new)
    elif op.name == "cross":
        target = op.args.get("output") or "_x_".join(names)
        out[target] = _cross(op, [columns[n] for n in names])
        if any(n in tainted for n in names):
            tainted.add(target)
    return out


def replace_with(columns: Columns, name: str, produced: Columns) -> Columns:
    """``columns`` with ``name`` replaced, in its place, by the ``produced`` columns (one_hot's expansion)."""
    out: Columns = {}
    for key, value in columns.items():
        if key == name:
            out.update(produced)
        else:
            out[key] = value
    return out


# -- the ops --------------------------------------------------------------------------


def _numeric(op: Op, name: str, column: Any) -> Any:
    if name in op.categorical:
        raise op.fail(
            name, "the Schema artifact calls this column categorical (it has a domain); not a number to scale"
        )
    if not is_numeric(column.type):
        raise op.fail(name, f"needs a numeric column, but its type is {column.type}; select numeric columns only")
    return pc.cast(column, pa.float64())


def _analyzed(op: Op, name: str, column: Any, tx: AnalyzerScope, kind: Any, options: dict[str, Any], ready: bool):
    value, final = tx.analyze(op.key(name), kind, column, options, ready, defer=True)
    if final and value.get("count", 0) == 0:
        raise op.fail(
            name,
            "the column has no values in the analyzed split (all null or NaN), so there is nothing to "
            "compute the op from; fill it with a constant (fill_missing strategy: constant) or drop it",
        )
    return value, final


def _z_score(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool):
    x = _numeric(op, name, column)
    m, final = _analyzed(op, name, x, tx, "moments", {}, ready)
    if not final:
        return _pending(name, x, pa.float64())
    centred = pc.subtract(x, scalar_of(float(m["mean"])))
    std = math.sqrt(m["var"])
    return {name: pc.divide(centred, scalar_of(std)) if std > 0 else centred}, final


def _zero_one(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool):
    x = _numeric(op, name, column)
    m, final = _analyzed(op, name, x, tx, "moments", {}, ready)
    if not final:
        return _pending(name, x, pa.float64())
    span = float(m["max"] - m["min"])
    shifted = pc.subtract(x, scalar_of(float(m["min"])))
    return {name: pc.divide(shifted, scalar_of(span)) if span > 0 else pc.multiply(shifted, scalar_of(0.0))}, final


def _bucketize(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool):
    x = _numeric(op, name, column)
    buckets = op.args["num_buckets"]
    q, final = _analyzed(op, name, x, tx, "quantiles", {"num_buckets": buckets}, ready)
    if not final:
        return _pending(name, x, pa.int64())
    boundaries = q["boundaries"]
    if final and len(set(boundaries)) < len(boundaries):
        raise op.fail(
            name,
            f"num_buckets {buckets} is more than the column's values can fill: quantile boundaries repeat "
            f"({', '.join(f'{b:g}' for b in boundaries)}), so it has fewer distinct values than buckets; "
            "lower num_buckets, or use compute_and_apply_vocabulary for a column of few values",
        )
    return {name: bucketize(x, boundaries)}, final


def _pending(name: str, column: Any, arrow_type: pa.DataType) -> tuple[Columns, bool]:
    """An op's output while its analyzer is not final: nulls of the right type (costs nothing).

    The values would come from a placeholder and only feed analyzers that are
    deferred anyway; the type keeps later selectors choosing what they will
    choose once the value is final.
    """
    return {name: _nulls(len(column), arrow_type)}, False


@functools.lru_cache(maxsize=8)
def _nulls(length: int, arrow_type: pa.DataType) -> pa.Array:
    """Shared all-null arrays: every pending output of a batch size is the same immutable array (no allocation)."""
    return pa.nulls(length, arrow_type)


def _categorical(op: Op, name: str, column: Any) -> Any:
    if is_numeric(column.type.value_type if pa.types.is_dictionary(column.type) else column.type):
        raise op.fail(
            name,
            f"a vocabulary is over categorical values, but the column is numeric ({column.type}); "
            "use bucketize or a scale op for numbers, or exclude the column from the selector",
        )
    return column


def _vocabulary_value(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool):
    column = _categorical(op, name, column)
    options = {"top_k": op.args.get("top_k"), "frequency_threshold": op.args.get("frequency_threshold", 0)}
    return _analyzed(op, name, column, tx, "vocabulary", options, ready)


def _vocabulary(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool):
    _, final = _vocabulary_value(op, name, column, tx, ready)
    return {name: column}, final


def _apply_vocabulary(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool):
    v, final = _vocabulary_value(op, name, column, tx, ready)
    if not final:
        return _pending(name, column, pa.int64())
    indices = apply_vocabulary(column, v["values"], op.args.get("num_oov_buckets", 1), op.args.get("default_value", -1))
    return {name: indices}, final


def _one_hot(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool):
    v, final = _vocabulary_value(op, name, column, tx, ready)
    values = v["values"]
    array = column.dictionary_decode() if pa.types.is_dictionary(column.type) else column
    out: Columns = {}
    for value in values:
        equal = pc.equal(array, scalar_of(value, array.type))
        out[f"{name}_{value}"] = pc.cast(pc.fill_null(equal, scalar_of(False)), pa.int8())
    if op.args.get("oov_column", True):
        known = pc.is_in(array, value_set=array_of(values, array.type))
        out[f"{name}_OOV"] = pc.cast(pc.and_(pc.is_valid(array), pc.invert(known)), pa.int8())
    return out, final


def _fill_missing(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool):
    strategy = op.args["strategy"]
    final = True
    if strategy in ("mean", "median"):
        x = _numeric(op, name, column)
        if strategy == "mean":
            m, final = _analyzed(op, name, x, tx, "moments", {}, ready)
            fill = m["mean"]
        else:
            q, final = _analyzed(op, name, x, tx, "quantiles", {"num_buckets": 2}, ready)
            fill = q["boundaries"][0] if q["boundaries"] else 0.0
        target = x
    elif strategy == "mode":
        v, final = _analyzed(op, name, column, tx, "vocabulary", {"top_k": 1, "frequency_threshold": 0}, ready)
        fill = v["values"][0] if v["values"] else None
        target = column
    else:
        fill = op.args["value"]
        target = column
    if not final:
        return _pending(name, target, target.type)
    if fill is None:
        return {name: target}, final
    try:
        scalar = scalar_of(fill).cast(target.type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise op.fail(name, f"cannot fill a column of type {target.type} with {fill!r}: {exc}") from None
    filled = pc.fill_null(target, scalar)
    if pa.types.is_floating(column.type):  # NaN is missing too (a column cast from integers has none)
        nan = pc.is_nan(filled)
        if pc.any(nan).as_py():
            filled = pc.if_else(nan, scalar, filled)
    return {name: filled}, final


def _log1p(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool):
    return {name: pc.log1p(_numeric(op, name, column))}, True


def _clip(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool):
    low, high = op.args.get("min"), op.args.get("max")
    if not is_numeric(column.type):
        raise op.fail(name, f"needs a numeric column, but its type is {column.type}")
    bounds = [b for b in (low, high) if b is not None]
    x = (
        column
        if pa.types.is_integer(column.type) and all(float(b).is_integer() for b in bounds)
        else pc.cast(column, pa.float64())
    )
    if low is not None:
        x = pc.max_element_wise(x, scalar_of(low).cast(x.type))
    if high is not None:
        x = pc.min_element_wise(x, scalar_of(high).cast(x.type))
    return {name: x}, True


def _hash_bucket(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool):
    return {name: hash_bucket(column, op.args["num_buckets"])}, True


def _cross(op: Op, columns: list[Any]) -> Any:
    texts = [pc.cast(c.dictionary_decode() if pa.types.is_dictionary(c.type) else c, pa.string()) for c in columns]
    joined = pc.binary_join_element_wise(*texts, scalar_of("|"))
    if op.args.get("num_buckets"):
        return hash_bucket(joined, op.args["num_buckets"])
    return joined


def _nothing(op: Op, name: str, column: Any, tx: AnalyzerScope, ready: bool) -> None:
    return None


_HANDLERS = {
    "scale_to_z_score": _z_score,
    "scale_to_0_1": _zero_one,
    "bucketize": _bucketize,
    "vocabulary": _vocabulary,
    "compute_and_apply_vocabulary": _apply_vocabulary,
    "one_hot": _one_hot,
    "fill_missing": _fill_missing,
    "log1p": _log1p,
    "clip": _clip,
    "hash_bucket": _hash_bucket,
    "cross": _nothing,
    "drop": _nothing,
    "rename": _nothing,
}


def op_index(key: str) -> int | None:
    """The op index of an analyzer key (``ops[3].bucketize:x`` -> 3); None for a preprocessing_fn call."""
    return int(key[4 : key.index("]")]) if key.startswith("ops[") else None
