"""Arrow arrays and scalars from Python and numpy values, and numpy views of Arrow arrays, without pandas.

In pyarrow 25 every conversion of Python or numpy values (``pa.array``,
``pa.scalar``, a Python number handed to a ``pyarrow.compute`` function,
``Array.to_numpy``) first asks whether pandas is installed and imports it:
a third of a second, more than a whole small transform or statistics run
takes. Arrays built from their buffers skip that question, so platform code
that makes constants (a fill value, a vocabulary, bucket indices) builds them
here. Types without a buffer recipe below (dates, decimals, nested) fall back
to ``pa.array`` and pay the import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa


def float_view(array: pa.Array) -> np.ndarray:
    """A float64 array's values as numpy, without copying (null slots read as whatever the buffer holds)."""
    data = np.frombuffer(array.buffers()[1], dtype=np.float64)
    return data[array.offset : array.offset + len(array)]


def from_numpy(values: np.ndarray, arrow_type: pa.DataType, missing: np.ndarray | None = None) -> pa.Array:
    """A fixed-width numpy array as an Arrow array (no copy when it is contiguous); ``missing``: True = null."""
    data = pa.py_buffer(np.ascontiguousarray(values))
    if missing is None or not missing.any():
        return pa.Array.from_buffers(arrow_type, len(values), [None, data])
    validity = pa.py_buffer(np.packbits(~missing, bitorder="little"))
    return pa.Array.from_buffers(arrow_type, len(values), [validity, data], null_count=int(missing.sum()))


def array_of(values: Sequence[Any], arrow_type: pa.DataType) -> pa.Array:
    """``pa.array(values, arrow_type)``: numbers, booleans and text without nulls are built from buffers.

    Anything else (nulls, values of another Python type than the Arrow type
    holds, other types) goes to ``pa.array``, which converts or explains.
    """
    values = list(values)
    if any(v is None for v in values):
        return pa.array(values, type=arrow_type)
    if pa.types.is_integer(arrow_type) and all(type(v) is int for v in values):
        kind = "i" if pa.types.is_signed_integer(arrow_type) else "u"
        try:
            return from_numpy(np.asarray(values, dtype=np.dtype(f"{kind}{arrow_type.bit_width // 8}")), arrow_type)
        except OverflowError:
            return pa.array(values, type=arrow_type)  # pyarrow's own error names the value
    if pa.types.is_floating(arrow_type) and all(type(v) in (int, float) for v in values):
        return from_numpy(np.asarray(values, dtype=np.dtype(f"f{arrow_type.bit_width // 8}")), arrow_type)
    if pa.types.is_boolean(arrow_type) and all(type(v) is bool for v in values):
        bits = pa.py_buffer(np.packbits(np.asarray(values, dtype=bool), bitorder="little"))
        return pa.Array.from_buffers(arrow_type, len(values), [None, bits])
    text = pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)
    if text or pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        if not all(isinstance(v, str if text else bytes) for v in values):
            return pa.array(values, type=arrow_type)  # let pyarrow say what does not fit
        encoded = [v.encode("utf-8", "surrogatepass") if text else v for v in values]
        large = pa.types.is_large_string(arrow_type) or pa.types.is_large_binary(arrow_type)
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64 if large else np.int32)
        np.cumsum([len(v) for v in encoded], out=offsets[1:])
        data = pa.py_buffer(b"".join(encoded))
        return pa.Array.from_buffers(arrow_type, len(encoded), [None, pa.py_buffer(offsets), data])
    return pa.array(values, type=arrow_type)


def scalar_of(value: Any, arrow_type: pa.DataType | None = None) -> pa.Scalar:
    """``pa.scalar(value, arrow_type)``; without a type, the type pyarrow would infer for a bool, int, float, str, bytes."""
    if arrow_type is None:
        arrow_type = _inferred_type(value)
    return array_of([value], arrow_type)[0]


def _inferred_type(value: Any) -> pa.DataType:
    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    if isinstance(value, str):
        return pa.string()
    if isinstance(value, bytes):
        return pa.binary()
    return pa.scalar(value).type
