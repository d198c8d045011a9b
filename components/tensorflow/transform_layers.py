"""A fitted TransformGraph as Keras preprocessing layers: raw features in, the transform's features out.

tf.Transform's point in TFX is that the serving graph contains the transform,
so a SavedModel takes raw features and cannot be fed differently than it was
trained. ``transform_model`` gives the same here: a Keras functional model
``{raw column: tensor} -> {transformed column: tensor}`` whose layers hold the
transform's frozen analyzer values. Put it in front of a Keras model, and the
model's ``export``ed SavedModel takes raw features in its ``serving_default``
signature::

    from headrace.components import TransformGraph
    from headrace.components.tensorflow.transform_layers import transform_model

    transform = transform_model(TransformGraph.load(graph_uri), exclude=["species"])
    features = transform(transform.input)
    ...  # the model on `features`, trained on examples_dataset(transformed examples)
    keras.Model(transform.input, outputs).export("serving/penguin/1")

Ops and the layers they become (the outputs equal ``FittedTransform.transform``,
encoded as ``tensors`` says, float outputs to float32 rounding):

- ``scale_to_z_score``: ``Normalization`` with the frozen mean and variance (as doubles);
- ``compute_and_apply_vocabulary``: ``StringLookup`` over the frozen vocabulary,
  with the transform's out-of-vocabulary index (``num_oov_buckets`` 0 or 1);
- ``one_hot``: ``StringLookup`` then ``CategoryEncoding``, split into columns;
- ``bucketize``: ``Discretization`` with the frozen boundaries;
- ``fill_missing``, ``clip``, ``scale_to_0_1``, ``log1p``, ``cross`` (without
  ``num_buckets``), ``vocabulary``, ``drop``, ``rename``: arithmetic and the
  small layers of ``keras_layers``.

- the image ops (``decode_image``, ``resize``, ``scale_to_0_1`` and
  ``scale_to_z_score`` over an image column): ``image_layers``'s ``DecodeImage``,
  ``Resizing``, ``Rescaling`` and per-channel ``Normalization``, applied where
  the column is output; its input is the encoded bytes, or with ``pixels=True``
  uint8 pixels.

Refused, with an error naming the op: ``hash_bucket``, ``cross`` with
``num_buckets`` and ``num_oov_buckets`` above 1 (the transform hashes with
blake2b; Keras's ``Hashing``/``HashedCrossing``/``StringLookup`` hash with
FarmHash or SipHash, which would put values in other buckets), ``cross`` over
floating columns (Arrow and TensorFlow write floats as different text), and a
``preprocessing_fn`` (Python over pyarrow has no graph form). For those the
MLflow model, which applies the TransformGraph itself, still serves.

Nulls in the signature: a missing float is NaN, a missing string ``""``, a
missing integer ``int_null`` (default ``INT_NULL``, the smallest int64).
Raw floats are float64, so the arithmetic runs in double precision as the
transform's does; only the outputs are rounded to float32. ``bucketize`` is
exact except for a value within a float32 rounding (~1e-7 relative) of a
boundary: ``Discretization`` keeps its boundaries as float32.

``float_dtype="float32"`` gives the variant TFLite's builtin ops can run:
raw floats and the arithmetic in float32 (results to float32 rounding of the
transform's). A string ``fill_missing`` is applied where the column is looked
up (to the index, ``FilledIndex``), since TFLite selects numbers but not
strings; a filled string that reaches ``cross`` or the outputs is filled there.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from headrace.components.problems import ProblemError
from headrace.components.tensorflow import missing_tensorflow
from headrace.components.tensorflow.image_layers import apply_layers, image_layers, pixels_shape
from headrace.components.tensorflow.keras_layers import (
    AsFloat,
    AsText,
    ClipNullable,
    DoubleNormalization,
    FilledIndex,
    FillNull,
    JoinText,
    NullBucket,
    OneHotColumns,
    VocabularyIndex,
)
from headrace.components.tensorflow.tensors import (
    INT_NULL,
    column_array,
    image_shape,
    is_text,
    raw_dtype,
    tensor_dtype,
)
from headrace.components.transform.graph import FittedTransform
from headrace.components.transform.image_ops import ImageChain
from headrace.components.transform.ops import Op, replace_with

try:
    import keras
except ImportError as exc:
    raise missing_tensorflow(__name__, exc) from exc

SERVES_ANYWAY = "the MLflow model, which applies the TransformGraph itself, still serves"
_NO_VALUE = "\x00headrace: no value\x00"
_TENSOR_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")


class NotExpressibleInKeras(ProblemError):
    """A transform (an op of it) that has no exact Keras form; the message names the op and what still works."""


@dataclass(frozen=True)
class _Column:
    """A column while the ops are rebuilt: its tensor (None when it derives from an excluded column), its Arrow type."""

    tensor: Any
    arrow_type: pa.DataType
    fill: Any = None
    """A string column's ``FillNull`` layer not yet applied: lookups apply it to the index, others to the text."""
    image: bool = False
    """An image column: its image steps run where it is output (``image_layers``), no other op touches it."""


Columns = dict[str, _Column]


def transform_model(
    fitted: FittedTransform,
    *,
    exclude: Sequence[str] = (),
    int_null: int = INT_NULL,
    name: str = "transform",
    float_dtype: str = "float64",
    pixels: bool = False,
) -> keras.Model:
    """``fitted`` as a Keras functional model, raw features dict -> transformed features dict.

    ``exclude``: raw columns the model does not take (the label); outputs the
    transform derives from them are left out. ``float_dtype``: of the raw
    floats and the arithmetic (float32 for TFLite). An image column with image
    steps is an input of encoded bytes (a string per row), or with ``pixels``
    of decoded ``uint8`` pixels ``[batch, height, width, channels]``; its output
    is the float32 pixels the steps give (``image_layers``). Raises
    :class:`NotExpressibleInKeras` naming the op when the transform cannot be
    rebuilt exactly.
    """
    if keras.backend.backend() != "tensorflow":
        raise NotExpressibleInKeras(
            f"the transform's Keras layers use TensorFlow ops, but Keras runs on {keras.backend.backend()!r}; "
            "set KERAS_BACKEND=tensorflow"
        )
    if fitted.plan.user is not None:
        raise NotExpressibleInKeras(
            f"the transform runs preprocessing_fn {fitted.plan.user.function!r} "
            f"({fitted.plan.user.filename.rsplit('/', 1)[-1]}): Python over pyarrow has no Keras form, so the "
            f"transform cannot be rebuilt as Keras layers; {SERVES_ANYWAY}; for a SavedModel, express the "
            "transform as ops"
        )
    unknown = [c for c in exclude if c not in fitted.input_schema.names]
    if unknown:
        raise ProblemError(
            f"exclude names {', '.join(repr(u) for u in unknown)}, not raw columns of the transform "
            f"(they are: {', '.join(fitted.input_schema.names)})"
        )
    inputs: dict[str, Any] = {}
    columns: Columns = {}
    chains = fitted.image_chains()
    images = raw_image_chains(fitted, chains)
    for field in fitted.input_schema:
        image = field.name in fitted.plan.images
        if field.name in exclude:
            columns[field.name] = _Column(None, field.type, image=image)
            continue
        _check_name(field.name, "raw column")
        shape = image_shape(field.type)
        if shape is not None:  # a tensor image column: pixels, whatever ``pixels`` says
            dtype = raw_dtype(field.name, field.type, float_dtype)
            inputs[field.name] = keras.Input(shape=shape, dtype=dtype, name=field.name)
        elif pixels and field.name in images:
            inputs[field.name] = keras.Input(shape=pixels_shape(images[field.name]), dtype="uint8", name=field.name)
        else:
            dtype = raw_dtype(field.name, field.type, float_dtype)
            inputs[field.name] = keras.Input(shape=(), dtype=dtype, name=field.name)
        columns[field.name] = _Column(inputs[field.name], field.type, image=image)
    rebuild = _Rebuild(fitted.values, int_null, float_dtype)
    for op in fitted.plan.ops:
        columns = rebuild.op(op, columns)
    outputs = {}
    for column_name, column in columns.items():
        if column.tensor is None:
            continue
        _check_name(column_name, "output column")
        if column.image:
            if column_name in chains:
                layers = image_layers(chains[column_name], pixels=pixels, prefix=f"{name}_{column_name}")
                outputs[column_name] = apply_layers(layers, column.tensor)
            elif image_shape(column.arrow_type) is not None:  # a tensor's pixels, as tf_dataset feeds them
                outputs[column_name] = keras.ops.cast(column.tensor, "float32")
            elif not pixels:
                outputs[column_name] = column.tensor  # no image steps: the encoded bytes, as tf_dataset feeds them
            continue
        dtype = tensor_dtype(column_name, column.arrow_type)
        tensor = rebuild.filled(column)
        outputs[column_name] = tensor if tensor.dtype == dtype else keras.ops.cast(tensor, dtype)
    _check_outputs(fitted, columns)
    return keras.Model(inputs, outputs, name=name)


def raw_image_chains(fitted: FittedTransform, chains: dict[str, ImageChain] | None = None) -> dict[str, ImageChain]:
    """Raw image column -> the image steps of the output column it becomes (through renames)."""
    chains = fitted.image_chains() if chains is None else chains
    names = {name: name for name in fitted.plan.images}
    for op in fitted.plan.ops:
        if op.name == "rename":
            names = {raw: op.args["columns"].get(now, now) for raw, now in names.items()}
        elif op.name == "drop":
            names = {raw: now for raw, now in names.items() if now not in (op.columns or [])}
    return {raw: chains[now] for raw, now in names.items() if now in chains}


def raw_features(model: keras.Model, data: pa.Table | pa.RecordBatch, *, int_null: int = INT_NULL) -> dict[str, Any]:
    """Raw rows as the model's inputs: one NumPy array per input, nulls encoded as its signature reads them."""
    present = set(data.schema.names)
    missing = [name for name in model.input if name not in present]
    if missing:
        raise ProblemError(
            f"the data lacks column(s) {', '.join(repr(m) for m in missing)} the model takes "
            f"(it takes: {', '.join(model.input)}; send a null for an unknown value, never leave a column out)"
        )
    return {
        name: column_array(name, data.column(name), int_null=int_null, dtype=tensor.dtype)
        for name, tensor in model.input.items()
    }


def _check_name(column: str, what: str) -> None:
    if not _TENSOR_NAME.match(column):
        raise NotExpressibleInKeras(
            f"{what} {column!r} cannot name a tensor of a SavedModel signature (letters, digits and _ . - / "
            f"only, not first _ - /); rename it (the transform's rename op), {SERVES_ANYWAY}"
        )


def _check_outputs(fitted: FittedTransform, columns: Columns) -> None:
    """The rebuilt columns are the transform's, name for name and dtype for dtype (else this module has a bug)."""
    schema = fitted.output_schema if fitted.output_schema is not None else fitted.empty_output().schema
    expected = {f.name: tensor_dtype(f.name, f.type) for f in schema}
    wrong = [
        f"{n} ({tensor_dtype(n, c.arrow_type)}, not {expected.get(n)})"
        for n, c in columns.items()
        if c.tensor is not None and tensor_dtype(n, c.arrow_type) != expected.get(n)
    ]
    if list(columns) != list(expected) or wrong:
        raise NotExpressibleInKeras(
            f"the Keras layers give columns {', '.join(columns)} but the transform gives {', '.join(expected)}"
            f"{'; wrong types: ' + ', '.join(wrong) if wrong else ''}: a bug in headrace's rebuilding of the "
            f"transform; {SERVES_ANYWAY}"
        )


class _Rebuild:
    """Applies ops to columns of Keras tensors, mirroring ``transform.ops.apply_op`` one op at a time."""

    def __init__(self, values: dict[str, Any], int_null: int, float_dtype: str) -> None:
        self.values = values
        self.int_null = int_null
        self.float_dtype = float_dtype
        self._names: set[str] = set()
        self._handlers: dict[str, Callable[[Op, str, _Column], Columns]] = {
            "scale_to_z_score": self._z_score,
            "scale_to_0_1": self._zero_one,
            "bucketize": self._bucketize,
            "vocabulary": lambda op, name, column: {name: column},
            "compute_and_apply_vocabulary": self._apply_vocabulary,
            "one_hot": self._one_hot,
            "fill_missing": self._fill_missing,
            "log1p": self._log1p,
            "clip": self._clip,
            "hash_bucket": self._hash_bucket,
        }

    def op(self, op: Op, columns: Columns) -> Columns:
        names = list(op.columns or [])
        out = dict(columns)
        if op.name == "drop":
            return {k: v for k, v in columns.items() if k not in names}
        if op.name == "rename":
            mapping = op.args["columns"]
            return {mapping.get(k, k): v for k, v in columns.items()}
        if op.name == "cross":
            target = op.args.get("output") or "_x_".join(names)
            out[target] = self._cross(op, names, [columns[n] for n in names])
            return out
        names = [n for n in names if not columns[n].image]  # image steps are built where the column is output
        if not names:
            return out
        handler = self._handlers.get(op.name)
        if handler is None:
            raise self.refuse(op, None, f"headrace has no Keras form of the op {op.name!r}", "leave the op out")
        for column_name in names:
            column = columns[column_name]
            if column.tensor is None:
                produced = {column_name: column}  # derived from an excluded column: stays absent
                if op.name == "one_hot":
                    produced = {n: _Column(None, pa.int8()) for n in self._one_hot_names(op, column_name)}
            else:
                produced = handler(op, column_name, column)
            if op.name == "one_hot":
                out = replace_with(out, column_name, produced)
            else:
                target = column_name + op.args["suffix"] if op.args.get("suffix") else column_name
                out[target] = produced[column_name]
        return out

    # -- helpers -----------------------------------------------------------------------------------------------

    def refuse(self, op: Op, column: str | None, why: str, fix: str) -> NotExpressibleInKeras:
        on = f" over column {column!r}" if column else ""
        return NotExpressibleInKeras(
            f"{op.where}: {op.name}{on} cannot be rebuilt as Keras layers: {why}; {SERVES_ANYWAY}; "
            f"for a SavedModel, {fix}"
        )

    def layer_name(self, op: Op, column: str, what: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", f"ops{op.index}_{op.name}_{column}_{what}")
        name, n = base, 1
        while name in self._names:
            n += 1
            name = f"{base}_{n}"
        self._names.add(name)
        return name

    def value(self, op: Op, column: str) -> Any:
        return self.values[op.key(column)]

    def numeric(self, op: Op, column: str, c: _Column) -> Any:
        """The column as float64 (or float32) with nulls as NaN: what the transform's ``_numeric`` gives."""
        if c.tensor.dtype == self.float_dtype:
            return c.tensor
        layer = AsFloat(self.int_null, self.float_dtype, name=self.layer_name(op, column, self.float_dtype))
        return layer(c.tensor)

    def text(self, op: Op, column: str, c: _Column) -> Any:
        """The column as strings, nulls as ``""`` (a pending fill not applied: see :meth:`lookup`)."""
        if c.tensor.dtype == "string":
            return c.tensor
        return AsText(self.int_null, name=self.layer_name(op, column, "text"))(c.tensor)

    def filled(self, c: _Column) -> Any:
        """The column's tensor with its pending fill applied."""
        return c.tensor if c.fill is None else c.fill(c.tensor)

    def vocabulary(self, op: Op, column: str, c: _Column) -> list[str]:
        values = self.value(op, column)["values"]
        words = [("true" if v else "false") if isinstance(v, bool) else str(v) for v in values]
        if "" in words:
            raise self.refuse(
                op,
                column,
                "its vocabulary holds the empty string, which the serving signature reads as a missing value",
                "replace empty strings in the data (or fill them) before the transform",
            )
        return words

    def lookup(self, op: Op, column: str, c: _Column, words: list[str]) -> tuple[Any, Any, bool]:
        """``(text, index, nullable)``: StringLookup's index of the column's text (0 out of ``words``, i + 1 for
        ``words[i]``), a pending fill applied to it; ``nullable`` false when the fill left no nulls."""
        text = self.text(op, column, c)
        oov = "[UNK]"
        while oov in words:
            oov = f"[{oov}]"
        index = keras.layers.StringLookup(
            vocabulary=words or [_NO_VALUE],  # StringLookup needs a vocabulary; every value is out of an empty one
            num_oov_indices=1,
            mask_token=None,
            oov_token=oov,
            name=self.layer_name(op, column, "lookup"),
        )(text)
        # TFLite's hash-table lookup has no static shape: given one row, the ops after it would read a scalar
        index = keras.ops.reshape(index, (-1,))
        if c.fill is None:
            return text, index, True
        fill = c.fill.value
        position = words.index(fill) + 1 if fill in words else 0
        index = FilledIndex(position, self.int_null, name=self.layer_name(op, column, "filled"))([text, index])
        return text, index, False

    # -- the ops ---------------------------------------------------------------------------------------------------

    def _z_score(self, op: Op, column: str, c: _Column) -> Columns:
        x = self.numeric(op, column, c)
        m = self.value(op, column)
        std = math.sqrt(m["var"])
        if std >= keras.config.epsilon():
            z = DoubleNormalization(
                axis=None,
                mean=m["mean"],
                variance=m["var"],
                dtype=self.float_dtype,
                name=self.layer_name(op, column, "normalization"),
            )(x)
        else:  # Normalization divides by at least epsilon; the transform by the deviation, or not at all when 0
            centred = keras.ops.subtract(x, m["mean"])
            z = keras.ops.divide(centred, std) if std > 0 else centred
        return {column: _Column(z, pa.float64())}

    def _zero_one(self, op: Op, column: str, c: _Column) -> Columns:
        x = self.numeric(op, column, c)
        m = self.value(op, column)
        span = m["max"] - m["min"]
        shifted = keras.ops.subtract(x, m["min"])
        scaled = keras.ops.divide(shifted, span) if span > 0 else keras.ops.multiply(shifted, 0.0)
        return {column: _Column(scaled, pa.float64())}

    def _bucketize(self, op: Op, column: str, c: _Column) -> Columns:
        x = self.numeric(op, column, c)
        boundaries = [float(b) for b in self.value(op, column)["boundaries"]]
        bucket = keras.layers.Discretization(
            bin_boundaries=boundaries, dtype=self.float_dtype, name=self.layer_name(op, column, "discretization")
        )(x)
        return {
            column: _Column(
                NullBucket(self.int_null, name=self.layer_name(op, column, "nulls"))([x, bucket]), pa.int64()
            )
        }

    def _apply_vocabulary(self, op: Op, column: str, c: _Column) -> Columns:
        oov_buckets = op.args.get("num_oov_buckets", 1)
        if oov_buckets > 1:
            raise self.refuse(
                op,
                column,
                f"num_oov_buckets {oov_buckets} spreads unseen values over buckets by a blake2b hash, and Keras's "
                "StringLookup hashes with FarmHash: unseen values would land in other buckets",
                "use num_oov_buckets 1 (or 0)",
            )
        words = self.vocabulary(op, column, c)
        unseen = len(words) if oov_buckets == 1 else op.args.get("default_value", -1)
        text, index, nullable = self.lookup(op, column, c, words)
        layer = VocabularyIndex(unseen, self.int_null, nullable, name=self.layer_name(op, column, "index"))
        out = layer([text, index])
        return {column: _Column(out, pa.int64())}

    def _one_hot_names(self, op: Op, column: str) -> list[str]:
        names = [f"{column}_{value}" for value in self.value(op, column)["values"]]
        return [*names, f"{column}_OOV"] if op.args.get("oov_column", True) else names

    def _one_hot(self, op: Op, column: str, c: _Column) -> Columns:
        words = self.vocabulary(op, column, c)
        text, index, nullable = self.lookup(op, column, c, words)
        encoded = keras.layers.CategoryEncoding(
            num_tokens=len(words) + 1, output_mode="one_hot", name=self.layer_name(op, column, "encoding")
        )(index)
        oov_column = op.args.get("oov_column", True)
        layer = OneHotColumns(
            len(words), oov_column, self.int_null, nullable, name=self.layer_name(op, column, "columns")
        )
        split = layer([text, encoded])
        return {n: _Column(t, pa.int8()) for n, t in zip(self._one_hot_names(op, column), split, strict=True)}

    def _fill_missing(self, op: Op, column: str, c: _Column) -> Columns:
        strategy = op.args["strategy"]
        target, arrow_type = c.tensor, c.arrow_type
        if strategy in ("mean", "median"):
            target, arrow_type = self.numeric(op, column, c), pa.float64()
            value = self.value(op, column)
            fill = value["mean"] if strategy == "mean" else (value["boundaries"] or [0.0])[0]
        elif strategy == "mode":
            values = self.value(op, column)["values"]
            fill = values[0] if values else None
        else:
            fill = op.args["value"]
        if fill is None:
            return {column: c}
        value_type = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
        fill = pa.scalar(fill).cast(value_type).as_py()
        if pa.types.is_integer(value_type) and fill == self.int_null:
            raise self.refuse(op, column, f"its fill value is int_null ({self.int_null})", "choose another int_null")
        if c.fill is not None:
            return {column: c}  # filled already: no null left
        layer = FillNull(fill, self.int_null, name=self.layer_name(op, column, "fill"))
        if target.dtype == "string":
            return {column: _Column(target, arrow_type, fill=layer)}  # applied where the column is used
        return {column: _Column(layer(target), arrow_type)}

    def _log1p(self, op: Op, column: str, c: _Column) -> Columns:
        return {column: _Column(keras.ops.log1p(self.numeric(op, column, c)), pa.float64())}

    def _clip(self, op: Op, column: str, c: _Column) -> Columns:
        low, high = op.args.get("min"), op.args.get("max")
        bounds = [b for b in (low, high) if b is not None]
        if pa.types.is_integer(c.arrow_type) and all(float(b).is_integer() for b in bounds):
            x, arrow_type = c.tensor, c.arrow_type
            low, high = (int(b) if b is not None else None for b in (low, high))
        else:
            x, arrow_type = self.numeric(op, column, c), pa.float64()
        layer = ClipNullable(low, high, self.int_null, name=self.layer_name(op, column, "clip"))
        return {column: _Column(layer(x), arrow_type)}

    def _hash_bucket(self, op: Op, column: str, c: _Column) -> Columns:
        raise self.refuse(
            op,
            column,
            "the transform hashes with blake2b, and Keras's Hashing layer with FarmHash or SipHash: values would "
            "land in other buckets",
            "use compute_and_apply_vocabulary (with top_k for a column of many values)",
        )

    def _cross(self, op: Op, names: list[str], columns: list[_Column]) -> _Column:
        if op.args.get("num_buckets"):
            raise self.refuse(
                op,
                None,
                "its num_buckets hashes the crossed value with blake2b, and Keras's HashedCrossing hashes with "
                "FarmHash: values would land in other buckets",
                "cross without num_buckets (then compute_and_apply_vocabulary over the crossed column)",
            )
        for name, column in zip(names, columns, strict=True):
            t = column.arrow_type.value_type if pa.types.is_dictionary(column.arrow_type) else column.arrow_type
            if not (is_text(t) or pa.types.is_integer(t) or pa.types.is_boolean(t)):
                raise self.refuse(
                    op,
                    name,
                    f"its type is {column.arrow_type}, and TensorFlow writes a number of that type as other text "
                    "than Arrow does (39.1 as 39.100000)",
                    "cross strings, integers or booleans (bucketize a float first)",
                )
        if any(column.tensor is None for column in columns):
            return _Column(None, pa.string())
        texts = [self.text(op, n, _Column(self.filled(c), c.arrow_type)) for n, c in zip(names, columns, strict=True)]
        target = op.args.get("output") or "_x_".join(names)
        joined = JoinText(self.int_null, name=self.layer_name(op, target, "join"))(texts)
        return _Column(joined, pa.string())
