"""The few Keras layers a transform needs beyond Keras's own: null handling, and reshaping lookups' results.

Keras's preprocessing layers (``Normalization``, ``StringLookup``,
``Discretization``, ``CategoryEncoding``) do the transform's work; these
layers make their results follow the transform's semantics exactly: nulls
(encoded as ``tensors`` says: NaN, ``int_null``, ``""``) stay null where the
transform keeps them null, and out-of-vocabulary values go where the
transform puts them. Each is registered under the package ``headrace``, so a
model saved in the ``.keras`` format loads again once this module is
imported; a SavedModel needs nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headrace.components.tensorflow import missing_tensorflow

try:
    import keras
    import tensorflow as tf
except ImportError as exc:
    raise missing_tensorflow(__name__, exc) from exc


@keras.saving.register_keras_serializable(package="headrace")
class DoubleNormalization(keras.layers.Normalization):
    """``Normalization`` whose frozen mean and variance stay doubles, also when a ``.keras`` file is loaded.

    Keras turns a Python float into a float32 tensor before casting it to the
    layer's dtype, and a saved config holds Python floats: a float64
    ``Normalization`` would come back with its mean rounded to float32.
    """

    def __init__(self, mean: Any, variance: Any, **kwargs: Any) -> None:
        super().__init__(mean=np.float64(mean), variance=np.float64(variance), **kwargs)


def is_null(x: Any, int_null: int) -> Any:
    """A bool tensor: where ``x`` holds the null of its dtype (bool tensors have no null)."""
    if x.dtype.is_floating:
        return tf.math.is_nan(x)
    if x.dtype == tf.string:
        return tf.equal(x, "")
    if x.dtype == tf.bool:
        return tf.zeros_like(x)
    return tf.equal(x, tf.constant(int_null, x.dtype))


class _NullAware(keras.layers.Layer):
    """A layer over null-encoded tensors; never casts its inputs (``autocast`` off)."""

    def __init__(self, int_null: int, **kwargs: Any) -> None:
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.int_null = int(int_null)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "int_null": self.int_null}


@keras.saving.register_keras_serializable(package="headrace")
class AsFloat(_NullAware):
    """A numeric column as ``float_dtype``, an integer null becoming NaN (the transform casts numbers to double;
    float32 where the runtime computes in nothing else, as TFLite's builtin ops)."""

    def __init__(self, int_null: int, float_dtype: str = "float64", **kwargs: Any) -> None:
        super().__init__(int_null, **kwargs)
        self.float_dtype = float_dtype

    def call(self, x: Any) -> Any:
        y = tf.cast(x, self.float_dtype)
        if x.dtype.is_floating:
            return y
        return tf.where(is_null(x, self.int_null), tf.constant(float("nan"), self.float_dtype), y)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "float_dtype": self.float_dtype}


@keras.saving.register_keras_serializable(package="headrace")
class FillNull(_NullAware):
    """Nulls (and NaN) replaced by ``value``: ``fill_missing``."""

    def __init__(self, value: Any, int_null: int, **kwargs: Any) -> None:
        super().__init__(int_null, **kwargs)
        self.value = value

    def call(self, x: Any) -> Any:
        return tf.where(is_null(x, self.int_null), tf.constant(self.value, x.dtype), x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "value": self.value}


@keras.saving.register_keras_serializable(package="headrace")
class ClipNullable(_NullAware):
    """``clip`` as Arrow computes it: a null or NaN becomes the lower bound (the upper one if there is no lower)."""

    def __init__(self, low: float | int | None, high: float | int | None, int_null: int, **kwargs: Any) -> None:
        super().__init__(int_null, **kwargs)
        self.low = low
        self.high = high

    def call(self, x: Any) -> Any:
        y = x
        if self.low is not None:
            y = tf.maximum(y, tf.constant(self.low, x.dtype))
        if self.high is not None:
            y = tf.minimum(y, tf.constant(self.high, x.dtype))
        bound = self.low if self.low is not None else self.high
        if bound is None:
            return y
        if self.low is not None and self.high is not None:
            bound = min(self.low, self.high)
        return tf.where(is_null(x, self.int_null), tf.constant(bound, x.dtype), y)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "low": self.low, "high": self.high}


@keras.saving.register_keras_serializable(package="headrace")
class NullBucket(_NullAware):
    """``[x, bucket]`` -> the bucket, or ``int_null`` where x is null or NaN (``bucketize`` keeps nulls null)."""

    def call(self, inputs: Any) -> Any:
        x, bucket = inputs
        bucket = tf.cast(bucket, tf.int64)
        return tf.where(tf.math.is_nan(x), tf.constant(self.int_null, tf.int64), bucket)


@keras.saving.register_keras_serializable(package="headrace")
class AsText(_NullAware):
    """A categorical column as strings, as Arrow casts it: ints in decimal, bools as true/false, null as ``""``."""

    def call(self, x: Any) -> Any:
        if x.dtype == tf.string:
            return x
        if x.dtype == tf.bool:
            return tf.where(x, tf.constant("true"), tf.constant("false"))
        return tf.where(is_null(x, self.int_null), tf.constant(""), tf.strings.as_string(x))


@keras.saving.register_keras_serializable(package="headrace")
class FilledIndex(_NullAware):
    """``[text, StringLookup index]`` -> the index, ``fill_index`` where the text is null (``""``).

    ``fill_missing`` of a string column followed by a lookup, without a string
    ``where``: TFLite's builtin ops select numbers but not strings, so the
    fill is applied to the looked-up index (the fill value's own index).
    """

    def __init__(self, fill_index: int, int_null: int, **kwargs: Any) -> None:
        super().__init__(int_null, **kwargs)
        self.fill_index = int(fill_index)

    def call(self, inputs: Any) -> Any:
        text, index = inputs
        index = tf.cast(index, tf.int64)
        return tf.where(tf.equal(text, ""), tf.constant(self.fill_index, tf.int64), index)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fill_index": self.fill_index}


@keras.saving.register_keras_serializable(package="headrace")
class VocabularyIndex(_NullAware):
    """``[text, StringLookup index]`` -> the transform's index: vocabulary position, ``unseen``, or null.

    ``StringLookup`` with one OOV index gives 0 for an unseen value and
    ``i + 1`` for the value at position ``i``; the transform gives ``i``, and
    ``len(vocabulary)`` (one OOV bucket) or ``default_value`` (none) for an
    unseen value, and keeps a null null (unless ``nullable`` is false: the
    text was filled, its nulls are already in the index).
    """

    def __init__(self, unseen: int, int_null: int, nullable: bool = True, **kwargs: Any) -> None:
        super().__init__(int_null, **kwargs)
        self.unseen = int(unseen)
        self.nullable = bool(nullable)

    def call(self, inputs: Any) -> Any:
        text, index = inputs
        index = tf.cast(index, tf.int64)
        known = tf.where(tf.equal(index, 0), tf.constant(self.unseen, tf.int64), index - 1)
        if not self.nullable:
            return known
        return tf.where(tf.equal(text, ""), tf.constant(self.int_null, tf.int64), known)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unseen": self.unseen, "nullable": self.nullable}


@keras.saving.register_keras_serializable(package="headrace")
class OneHotColumns(_NullAware):
    """``[text, CategoryEncoding one-hot]`` -> one int64 0/1 column per vocabulary value, then the OOV column.

    The one-hot input has the OOV slot first (StringLookup's index 0); a null
    is neither a value nor out of the vocabulary, so its row is all zeros
    (unless ``nullable`` is false: the text was filled, its nulls are already
    in the encoding).
    """

    def __init__(self, size: int, oov_column: bool, int_null: int, nullable: bool = True, **kwargs: Any) -> None:
        super().__init__(int_null, **kwargs)
        self.size = int(size)
        self.oov_column = bool(oov_column)
        self.nullable = bool(nullable)

    def call(self, inputs: Any) -> Any:
        text, encoded = inputs
        encoded = tf.cast(encoded, tf.int64)
        columns = [encoded[:, i + 1] for i in range(self.size)]
        if self.oov_column:
            oov = encoded[:, 0]
            columns.append(oov * tf.cast(tf.not_equal(text, ""), tf.int64) if self.nullable else oov)
        return columns

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "oov_column": self.oov_column, "nullable": self.nullable}


@keras.saving.register_keras_serializable(package="headrace")
class JoinText(_NullAware):
    """``cross`` without buckets: the columns' texts joined by ``|``; null (``""``) if any of them is null."""

    def call(self, inputs: Any) -> Any:
        joined = tf.strings.join(list(inputs), separator="|")
        missing = tf.reduce_any(tf.stack([tf.equal(t, "") for t in inputs]), axis=0)
        return tf.where(missing, tf.constant(""), joined)
