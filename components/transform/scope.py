"""``tx``: analyzers that are computed in the analyze pass and constants in the transform pass.

A ``preprocessing_fn(inputs, tx)`` (and every YAML op) asks ``tx`` for full-pass
values: ``tx.mean(column)``, ``tx.var``, ``tx.std``, ``tx.min``, ``tx.max``,
``tx.quantiles(column, num_buckets)``, ``tx.vocabulary(column)``. Calls are
identified by their order within one call of the function, so the function
must call the same analyzers, in the same order, on every batch (as in
tf.Transform, where analyzers are nodes of a traced graph).

During an analyze pass an analyzer whose value is not known yet feeds its
input column to an accumulator and returns a placeholder (or the previous
pass's provisional value); the pass driver (``analysis``) repeats passes until
every value is final. In the transform pass, and in ``TransformGraph.load``,
every analyzer returns its frozen value.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from headrace.components.arrow_values import array_of, float_view, from_numpy, scalar_of
from headrace.components.problems import ProblemError
from headrace.components.transform.analyzers import PLACEHOLDERS, Kind, new_accumulator


class TransformError(ProblemError):
    """A transform that cannot be computed as written: the op or user line, the column, and the fix."""


class Recording:
    """The accumulators of one analyze pass: analyzer key -> [kind, options, accumulator, ready, tainted].

    ``ready``: the input cannot depend on a value that is not final (the value is final after the pass).
    ``tainted``: the input did depend on one (the value is a guess, never final by comparison).
    """

    __slots__ = ("deferred", "entries")

    def __init__(self) -> None:
        self.entries: dict[str, list[Any]] = {}
        self.deferred: set[str] = set()
        """Analyzers not computed in this pass because their input depends on a value that is not final."""

    def add(self, key: str, kind: Kind, options: dict[str, Any], column: Any, ready: bool, tainted: bool) -> None:
        entry = self.entries.get(key)
        if entry is None:
            entry = self.entries[key] = [kind, options, new_accumulator(kind, options), ready, tainted]
        entry[2].add(column)
        entry[3] = entry[3] and ready
        entry[4] = entry[4] or tainted

    def merge(self, other: Recording) -> None:
        self.deferred |= other.deferred
        for key, (kind, options, accumulator, ready, tainted) in other.entries.items():
            mine = self.entries.get(key)
            if mine is None:
                self.entries[key] = [kind, options, accumulator, ready, tainted]
            else:
                mine[2].merge(accumulator)
                mine[3] = mine[3] and ready
                mine[4] = mine[4] or tainted

    def extract(self) -> dict[str, Any]:
        analyzers = {
            key: {"kind": kind, "value": accumulator.extract(), "ready": ready, "tainted": tainted}
            for key, (kind, options, accumulator, ready, tainted) in sorted(self.entries.items())
        }
        return {"analyzers": analyzers, "deferred": sorted(self.deferred)}


class AnalyzerScope:
    """The ``tx`` argument: analyzer values by call, plus the pure helpers that apply them."""

    def __init__(
        self,
        values: Mapping[str, Any],
        final: frozenset[str] | set[str],
        options: Mapping[str, Any],
        recording: Recording | None = None,
        images: frozenset[str] = frozenset(),
    ) -> None:
        self._values = values
        self._images = images
        self.image_columns: set[str] = set(images)
        """The image columns as the ops stand (renamed, dropped): ops over them record steps, not compute."""
        self.image_chains: dict[str, Any] = {}
        """Image column -> ``image_ops.ImageChain``: the steps recorded for it so far in this run."""
        self._final = final
        self._options = options
        self._recording = recording
        self._calls = 0
        self._handed_out_pending = False
        self._tainted_inputs = False
        self._prefix = "fn"
        self.pending_seen = False
        """Whether any analyzer returned a value that is not final (the pass must be repeated)."""

    # -- used by ops and the function driver --------------------------------

    def start_images(self) -> None:
        """A new run of the ops over raw columns: no image step recorded yet."""
        self.image_columns = set(self._images)
        self.image_chains = {}

    def start_function(self, prefix: str, tainted: bool = False) -> None:
        """A new call of a user function: calls are numbered from 1; ``tainted`` inputs make none of them ready."""
        self._prefix = prefix
        self._calls = 0
        self._handed_out_pending = tainted
        self._tainted_inputs = tainted

    def analyze(
        self, key: str, kind: Kind, column: Any, options: dict[str, Any], ready: bool, defer: bool = False
    ) -> tuple[Any, bool]:
        """The value of analyzer ``key`` over ``column`` and whether it is final.

        ``defer``: an analyzer whose input is known not to be ready (an op's
        tainted column) is not computed at all in this pass, only noted.
        """
        if key in self._final:
            return self._values[key], True
        if self._recording is None:
            raise TransformError(
                f"analyzer {key} has no frozen value: the function called an analyzer at transform time that it "
                "did not call while analyzing (analyzer calls must be the same on every batch, whatever the data)"
            )
        self.pending_seen = True
        provisional = self._values.get(key)
        if provisional is None or not provisional.get("count"):
            provisional = PLACEHOLDERS[kind]  # nothing usable yet: never hand out None where a number goes
        if defer and not ready:
            self._recording.deferred.add(key)
            return provisional, False
        tainted = not ready if defer else self._tainted_inputs
        self._recording.add(key, kind, {**options, **self._accumulator_options(kind)}, column, ready, tainted)
        return provisional, False

    def _accumulator_options(self, kind: Kind) -> dict[str, Any]:
        if kind == "quantiles":
            return {"sketch_size": self._options["sketch_size"]}
        if kind == "vocabulary":
            return {"cap": self._options["vocabulary_cap"]}
        return {}

    def _user_call(self, kind: Kind, column: Any, options: dict[str, Any], label: str) -> dict[str, Any]:
        column = _as_arrow_column(column, label)
        self._calls += 1
        key = f"{self._prefix}:{self._calls:03d}:{label}"
        value, final = self.analyze(key, kind, column, options, ready=not self._handed_out_pending)
        if not final:
            self._handed_out_pending = True
        elif value.get("count", 0) == 0:
            raise TransformError(
                f"{caller()}: tx.{label}(...) over a column with no values in the analyzed split "
                "(all null or NaN): there is nothing to compute it from; fill the column first or leave it out"
            )
        return value

    def _numeric_call(self, column: Any, label: str) -> dict[str, Any]:
        column = _as_arrow_column(column, label)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise TransformError(f"{caller()}: tx.{label}(...) needs a numeric column, got one of type {column.type}")
        return self._user_call("moments", column, {}, label)

    # -- the preprocessing_fn API -----------------------------------------------

    def mean(self, column: Any) -> float:
        """Mean of the column's non-null, non-NaN values over the analyzed split."""
        return float(self._numeric_call(column, "mean")["mean"])

    def var(self, column: Any) -> float:
        """Population variance (ddof=0)."""
        return float(self._numeric_call(column, "var")["var"])

    def std(self, column: Any) -> float:
        """Population standard deviation (ddof=0)."""
        return float(np.sqrt(self._numeric_call(column, "std")["var"]))

    def min(self, column: Any) -> float:
        return float(self._numeric_call(column, "min")["min"])

    def max(self, column: Any) -> float:
        return float(self._numeric_call(column, "max")["max"])

    def quantiles(self, column: Any, num_buckets: int) -> list[float]:
        """The ``num_buckets - 1`` inner boundaries splitting the values into buckets of equal population."""
        column = _as_arrow_column(column, "quantiles")
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
            raise TransformError(f"{caller()}: tx.quantiles(...) needs a numeric column, got type {column.type}")
        return list(self._user_call("quantiles", column, {"num_buckets": int(num_buckets)}, "quantiles")["boundaries"])

    def vocabulary(self, column: Any, top_k: int | None = None, frequency_threshold: int = 0) -> list[Any]:
        """Distinct values, most frequent first (ties by value), at least ``frequency_threshold`` times, at most ``top_k``."""
        options = {"top_k": top_k, "frequency_threshold": frequency_threshold}
        return list(self._user_call("vocabulary", column, options, "vocabulary")["values"])

    # -- pure helpers (no analysis) ----------------------------------------------

    @staticmethod
    def apply_vocabulary(column: Any, vocabulary: list[Any], num_oov_buckets: int = 1, default_value: int = -1) -> Any:
        """Index of each value in ``vocabulary`` (int64); unseen values to OOV buckets; null stays null."""
        return apply_vocabulary(column, vocabulary, num_oov_buckets, default_value)

    @staticmethod
    def bucketize(column: Any, boundaries: list[float]) -> Any:
        """Bucket index (int64): the number of boundaries <= x; null and NaN become null."""
        return bucketize(column, boundaries)

    @staticmethod
    def hash_bucket(column: Any, num_buckets: int) -> Any:
        """A stable hash of each value's text modulo ``num_buckets`` (int64); null stays null."""
        return hash_bucket(column, num_buckets)


def _as_arrow_column(column: Any, label: str) -> Any:
    if isinstance(column, (pa.Array, pa.ChunkedArray)):
        return column
    raise TransformError(
        f"{caller()}: tx.{label}(...) takes an Arrow column (inputs['name'], or a pyarrow.compute result), "
        f"got {type(column).__name__}"
    )


def caller() -> str:
    """``file.py:line`` of the first frame outside this package (the user's call)."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here:
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "preprocessing_fn"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


# -- pure column functions shared by the ops and tx ---------------------------------


def stable_hashes(values: list[Any]) -> np.ndarray:
    """A 64-bit blake2b hash of each value's text: the same in every process, machine and run."""
    out = np.empty(len(values), dtype=np.uint64)
    for i, value in enumerate(values):
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")
        out[i] = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")
    return out


def _combined(column: Any) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def hash_bucket(column: Any, num_buckets: int) -> pa.Array:
    array = _combined(column)
    encoded = array if pa.types.is_dictionary(array.type) else pc.dictionary_encode(array)
    buckets = (stable_hashes(encoded.dictionary.to_pylist()) % np.uint64(num_buckets)).astype(np.int64)
    return pc.take(from_numpy(buckets, pa.int64()), encoded.indices)


def apply_vocabulary(column: Any, vocabulary: list[Any], num_oov_buckets: int = 1, default_value: int = -1) -> pa.Array:
    array = _combined(column)
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    value_set = array_of(vocabulary, array.type)
    index = pc.cast(pc.index_in(array, value_set=value_set), pa.int64())
    unseen = pc.and_(pc.is_null(index), pc.is_valid(array))
    if not pc.any(unseen).as_py():
        return index
    if num_oov_buckets > 0:
        oov = pc.add(hash_bucket(array, num_oov_buckets), scalar_of(len(vocabulary)))
    else:
        oov = scalar_of(default_value, pa.int64())
    return pc.if_else(unseen, oov, index)


def bucketize(column: Any, boundaries: list[float]) -> pa.Array:
    array = _combined(column)
    values = float_view(pc.fill_null(pc.cast(array, pa.float64()), scalar_of(float("nan"))))
    missing = np.isnan(values)
    buckets = np.searchsorted(np.asarray(boundaries, dtype=np.float64), values, side="right").astype(np.int64)
    return from_numpy(buckets, pa.int64(), missing)
