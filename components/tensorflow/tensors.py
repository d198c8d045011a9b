"""Arrow columns as tensors: one dtype per Arrow type and one encoding of nulls, for every TensorFlow part.

A model is trained on ``tf_dataset`` over transformed examples and served
through ``transform_model`` over raw features; both must hand it the same
tensors, so both take their dtypes and null encoding from here:

=========================  ==============  ==========================================
Arrow type                 tensor dtype    a null becomes
=========================  ==============  ==========================================
integers (any width)       ``int64``       ``int_null`` (no default: an error naming
                                           the column unless one is given; the
                                           serving signature uses ``INT_NULL``)
floating point, decimal    ``float32``     ``NaN`` (NaN stays NaN)
string, binary, dictionary ``string``      ``""``
boolean                    ``bool``        an error naming the column (no null form)
fixed-shape tensor image   ``float32``     an error naming the column
                           ``[n, h, w, c]``
=========================  ==============  ==========================================

A tensor image column (``images.is_image_field``: shape ``[h, w, c]``, or
``[h, w]`` given one channel) is a block of pixels, float32 as a feature like
the decoded images of a bytes column; raw, in a serving signature, it keeps its
own value type (uint8 pixels stay uint8).

Floats are ``float32``: Keras computes in it, and it halves the memory of a
batch. Raw floats in a serving signature are ``float64`` instead
(:func:`raw_dtype`): the transform's arithmetic then runs in double precision
as the transform component's did, and only its outputs are rounded to
``float32``, like the transformed examples ``tf_dataset`` reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headrace.components.problems import ProblemError

INT_NULL = -(2**63)
"""The int64 a serving signature reads as null (the smallest int64, a value no real feature takes)."""

FLOAT = "float32"


def _value_type(arrow_type: pa.DataType) -> pa.DataType:
    return arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type


def is_text(arrow_type: pa.DataType) -> bool:
    t = _value_type(arrow_type)
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t)


def image_shape(arrow_type: pa.DataType) -> tuple[int, ...] | None:
    """A tensor image column's shape per row, ``(h, w, c)``; None for any other column (one value per row)."""
    if not isinstance(arrow_type, pa.FixedShapeTensorType) or len(arrow_type.shape) not in (2, 3):
        return None
    shape = tuple(int(n) for n in arrow_type.shape)
    return shape if len(shape) == 3 else (*shape, 1)


def tensor_dtype(name: str, arrow_type: pa.DataType) -> str:
    """The dtype of column ``name`` as a model input: ``float32``, ``int64``, ``string`` or ``bool``."""
    if image_shape(arrow_type) is not None:
        return FLOAT
    t = _value_type(arrow_type)
    if pa.types.is_integer(t):
        return "int64"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return FLOAT
    if is_text(t):
        return "string"
    if pa.types.is_boolean(t):
        return "bool"
    raise ProblemError(
        f"column {name!r} has type {arrow_type}, which has no tensor form here (numbers, strings and booleans "
        "do); leave it out of the features, or turn it into one of those in the transform"
    )


def raw_dtype(name: str, arrow_type: pa.DataType, float_dtype: str = "float64") -> str:
    """The dtype of raw column ``name`` in a serving signature: as :func:`tensor_dtype`, but floats are
    ``float_dtype`` (float64; float32 for TFLite, whose builtin ops compute in nothing wider)."""
    dtype = tensor_dtype(name, arrow_type)
    if image_shape(arrow_type) is not None:  # pixels keep their own type (float64 ones narrowed for TFLite)
        own = np.dtype(arrow_type.value_type.to_pandas_dtype()).name
        return FLOAT if own == "float64" and float_dtype == FLOAT else own
    return float_dtype if dtype == FLOAT else dtype


def null_of(dtype: str, int_null: int) -> Any:
    """What a null is in a tensor of ``dtype``: NaN, ``int_null`` or ``""`` (bool has none: None)."""
    if dtype.startswith("float"):
        return float("nan")
    if dtype == "int64":
        return int_null
    if dtype == "string":
        return ""
    return None


def column_array(name: str, column: Any, *, int_null: int | None, dtype: str | None = None) -> np.ndarray:
    """``column`` (an Arrow array) as a NumPy array of its tensor dtype, nulls encoded as the table above says.

    Strings are dictionary-encoded first, so a column of a few distinct values
    costs one ``bytes`` object per distinct value, not one per row.
    """
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    dtype = dtype or tensor_dtype(name, column.type)
    shape = image_shape(column.type)
    if shape is not None:
        if column.null_count:
            raise ProblemError(
                f"column {name!r} has {column.null_count} null image(s), and a pixels tensor has no null: "
                "remove those rows (or fill them with pixels) before ingest"
            )
        return np.asarray(column.to_numpy_ndarray(), dtype=dtype).reshape((len(column), *shape))
    if pa.types.is_dictionary(column.type) and dtype != "string":
        column = column.dictionary_decode()
    if dtype.startswith("float"):
        return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=dtype)
    if dtype == "int64":
        if column.null_count:
            if int_null is None:
                raise null_error(name, dtype, column.null_count, "in a batch")
            column = pc.fill_null(pc.cast(column, pa.int64()), int_null)
        return pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)
    if dtype == "bool":
        if column.null_count:
            raise null_error(name, dtype, column.null_count, "in a batch")
        return column.to_numpy(zero_copy_only=False)
    return _text_array(column)


def null_error(name: str, dtype: str, count: int, where: str) -> ProblemError:
    """A column of ``dtype`` (int64 or bool) with nulls, which its tensor cannot hold: the column, where, the fix."""
    if dtype == "bool":
        return ProblemError(
            f"column {name!r} has {count} null value(s) {where}, and a bool tensor has no null: fill them in the "
            "transform (fill_missing with strategy constant or mode)"
        )
    return ProblemError(
        f"column {name!r} has {count} null value(s) {where}, and an integer tensor has no null: fill them in the "
        "transform (fill_missing), or pass int_null=<value> to encode them as that value (a serving signature "
        f"reads INT_NULL, {INT_NULL}, as null)"
    )


def _text_array(column: Any) -> np.ndarray:
    encoded = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
    values = pc.cast(encoded.dictionary, pa.binary()).to_numpy(zero_copy_only=False)
    indices = encoded.indices
    if indices.null_count:
        values = np.append(values, np.array([b""], dtype=object))
        indices = pc.fill_null(indices, len(values) - 1)
    return values[indices.to_numpy(zero_copy_only=False)]
