"""Deterministic hash splitting: a row's split depends only on its values.

The hash is computed with numpy over Arrow buffers (no Python loop per row,
no pandas conversion): strings get a polynomial hash of their UTF-8 bytes,
numbers the bits of their int64 / float64 value, each mixed with splitmix64.
It is the same in every process, machine and batch layout, so rows with equal
``split_key`` values always land in the same split. Nested columns (lists,
structs) do not take part in whole-row hashing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_BASE = np.uint64(0x100000001B3)
_NULL = np.uint64(0x9E3779B97F4A7C15)
_ROW = np.uint64(0xD6E8FEB86659FD93)


def _mix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _string_hash(array: Any) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_string_view(array.type) or pa.types.is_binary_view(array.type):
        array = array.cast(pa.large_binary())
    wide = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    _, offsets_buffer, data_buffer = array.buffers()[:3]
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64 if wide else np.int32)
    offsets = offsets[array.offset : array.offset + len(array) + 1].astype(np.int64)
    lengths = np.diff(offsets)
    hashes = np.zeros(len(array), dtype=np.uint64)
    lo, hi = int(offsets[0]), int(offsets[-1])
    if hi > lo:
        data = np.frombuffer(data_buffer, dtype=np.uint8)[lo:hi].astype(np.uint64) + np.uint64(1)
        starts = offsets[:-1] - lo
        position = np.arange(hi - lo, dtype=np.int64) - np.repeat(starts, lengths)
        powers = np.cumprod(np.full(int(lengths.max()), _BASE, dtype=np.uint64))
        powers = np.concatenate([np.ones(1, dtype=np.uint64), powers[:-1]])
        contributions = data * powers[position]
        nonempty = lengths > 0
        hashes[nonempty] = np.add.reduceat(contributions, starts[nonempty].astype(np.intp))
    return _mix(hashes ^ lengths.astype(np.uint64))


def _fixed_width_values(array: Any, dtype: Any) -> np.ndarray:
    """The values buffer of a fixed-width array; what null slots hold is undefined (callers mask them).

    Read directly rather than through ``fill_null(0)``, whose Python scalar
    makes pyarrow import pandas (a third of a second for a small ingest).
    """
    buffer = array.buffers()[1]
    if buffer is None or not len(array):
        return np.zeros(len(array), dtype=dtype)
    return np.frombuffer(buffer, dtype=dtype, count=len(array), offset=array.offset * np.dtype(dtype).itemsize)


def _valid_mask(array: Any) -> np.ndarray:
    """True where ``array`` has a value, from its validity bitmap (no pandas-backed conversion)."""
    bitmap = array.buffers()[0]
    if bitmap is None:
        return np.full(len(array), array.null_count == 0)
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[array.offset : array.offset + len(array)].astype(bool)


def _values_hash(array: Any) -> np.ndarray | None:
    """uint64 hash of each value; None for types that take no part (nested)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if isinstance(kind, pa.FixedShapeTensorType):
        return _string_hash(_tensor_bytes(array))
    if pa.types.is_dictionary(kind):
        array = array.cast(kind.value_type)
        kind = array.type
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_binary_view(kind)
    ):
        # hashing the distinct values only: columns of repeated strings cost one pass in C
        encoded = pc.dictionary_encode(array)
        indices = _fixed_width_values(encoded.indices, np.int32)
        if encoded.indices.null_count:
            indices = np.where(_valid_mask(encoded.indices), indices, 0)
        hashes = (
            _string_hash(encoded.dictionary)[indices] if len(encoded.dictionary) else np.zeros(len(array), np.uint64)
        )
    elif pa.types.is_floating(kind):
        values = _fixed_width_values(array.cast(pa.float64()), np.float64) + 0.0
        values = np.where(np.isnan(values), np.nan, values)
        hashes = _mix(values.view(np.uint64))
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        values = _fixed_width_values(array.cast(pa.int64()), np.int64)
        hashes = _mix(values.view(np.uint64))
    elif pa.types.is_temporal(kind):
        width = pa.int32() if kind.bit_width == 32 else pa.int64()
        values = _fixed_width_values(array.view(width).cast(pa.int64()), np.int64)
        hashes = _mix(values.view(np.uint64))
    elif pa.types.is_decimal(kind):
        return _values_hash(pc.cast(array, pa.string()))
    elif pa.types.is_null(kind):
        hashes = np.zeros(len(array), dtype=np.uint64)
    else:
        return None
    if array.null_count:
        valid = _valid_mask(array)
        hashes = np.where(valid, hashes, _NULL)
    return hashes


def _tensor_bytes(array: Any) -> Any:
    """Each tensor's values as one binary value (zero-copy), so an image tensor column is hashed by its pixels."""
    import pyarrow as pa

    storage = array.storage
    values = storage.values
    width = values.type.bit_width // 8
    size = storage.type.list_size * width
    offsets = np.arange(len(storage) + 1, dtype=np.int32) * size
    start = (values.offset + storage.offset * storage.type.list_size) * width
    data = values.buffers()[1]
    return pa.Array.from_buffers(
        pa.binary(), len(storage), [None, pa.py_buffer(offsets), data.slice(start, len(storage) * size)]
    )


def row_hashes(batch: Any, columns: list[str] | None = None) -> np.ndarray:
    """One uint64 per row from the given columns (all hashable ones when None)."""
    hashes = np.zeros(batch.num_rows, dtype=np.uint64)
    for name in columns or batch.schema.names:
        column = batch.column(name)
        if hasattr(column, "combine_chunks"):
            column = column.combine_chunks()
        values = _values_hash(column)
        if values is None:
            if columns:
                raise ValueError(f"split_key column {name!r} has type {column.type}, which cannot be hashed")
            continue
        hashes = _mix(hashes * _ROW + values)
    return hashes


def assign_splits(batch: Any, weights: list[int], key: str | None) -> np.ndarray:
    """The index (into ``weights``) of the split of every row: bucket ``hash % sum(weights)``."""
    bounds = np.cumsum(np.asarray(weights, dtype=np.uint64))
    buckets = row_hashes(batch, [key] if key else None) % bounds[-1]
    return np.searchsorted(bounds, buckets, side="right")
