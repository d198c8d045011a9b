"""``export: tflite``: a Keras model and its transform as one TensorFlow Lite file that takes raw features.

What a device app runs with LiteRT (``ai_edge_litert``, TFLite's runtime):
``<model>/tflite/model.tflite``, the raw-feature SavedModel of
``serving_model`` converted by ``tf.lite.TFLiteConverter`` to TFLite's
**builtin ops only**. Its ``serving_default`` signature takes one 1-d tensor
per column the model reads, the SavedModel's inputs (``info.required_columns``;
float32 with NaN, string with ``""``, int64 with ``INT_NULL``) and gives ``scores`` and ``classes`` (classifiers) or
``predictions`` (regressors), as the SavedModel does.

Builtin ops only, because LiteRT's interpreter (Python's and a phone's
default one) cannot run TF Select ops: a file that needs them loads but fails
with "Select TensorFlow op(s) ... not supported by this interpreter". The
SavedModel's double-precision arithmetic is such an op (TFLite computes in
float32), so the file is converted from its float32 variant
(``float_dtype="float32"``): scores differ from the Keras model's by float32
rounding, which the check measures.

Every file is checked before it is kept: LiteRT's interpreter runs it on raw
rows (the eval split of the raw examples), and the largest difference of its
scores from the packaged model's, the agreement of the predicted classes and
the file's size are recorded. The bytes are reproducible: the converter
numbers hash tables by a fingerprint of a random name, renumbered here.

Images: TFLite's builtin ops cannot decode PNG or JPEG, so for a transform
with image columns the file takes an image column as **uint8 pixels**
``[batch, height, width, channels]`` (the SavedModel's ``serving_pixels``
signature) and resizes, rescales and normalizes inside; a device app decodes
the image itself, as every TFLite image app does. The check decodes the eval
rows' bytes with ``tf.io.decode_image`` and runs each group of one image size
as one batch. Other columns the model reads beside images are taken as for a
tabular model; an image folder's ``path``, which it never reads, is no input.

``quantize: int8``: full-integer post-training quantization. The converter
calibrates every activation's range on a representative dataset: a seeded
sample of ``REPRESENTATIVE_ROWS`` raw train rows, fed one at a time as the
check feeds them (images decoded to pixels). Weights and activations are int8
wherever TFLite has an int8 kernel; the inputs keep their types (uint8
pixels, float32, string) and the outputs stay float32 ``scores`` (quantized
internally, dequantized at the end), so the file is fed and read as the
float one; ops with no int8 kernel (string lookups) stay float. The float
file is converted and checked too, so the record has both, side by side.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from headrace.components.model_package import PackagedModel
from headrace.components.problems import ProblemError
from headrace.components.tensorflow import missing_tensorflow
from headrace.components.tensorflow.serving_model import SIGNATURE, export_saved_model
from headrace.components.tensorflow.tensors import INT_NULL, column_array
from headrace.components.tensorflow.transform_layers import NotExpressibleInKeras
from headrace.components.trainer.onnx_export import prediction_difference

try:
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter
except ImportError as exc:
    raise missing_tensorflow(__name__, exc) from exc

TFLITE_FILE = "tflite/model.tflite"
REPRESENTATIVE_ROWS = 200
"""Raw train rows the int8 quantization calibrates on (TFLite's guide: a hundred or a few hundred)."""
TOLERANCE = 1e-3
"""Largest accepted difference of an unquantized file's scores from the Keras model's (float32 rounding: ~1e-6)."""
OPS_GUIDE = "https://ai.google.dev/edge/litert/models/ops_compatibility"


class TFLiteExportError(ProblemError):
    """The model cannot be written as a TFLite file of builtin ops, or the file does not predict what it does."""


def export_tflite(
    packaged: PackagedModel,
    model_dir: str,
    rows: pa.Table,
    quantize: str = "none",
    *,
    labels: list[Any] | None = None,
    train_rows: pa.Table | None = None,
) -> dict[str, Any]:
    """Write ``model_dir/tflite/model.tflite`` and check it on raw ``rows``; returns what to record.

    ``quantize``: ``none``; ``dynamic`` (weights stored as int8, TFLite's dynamic range quantization); or
    ``int8`` (full-integer, calibrated on ``train_rows``, raw train rows; the float file is checked too and
    recorded under ``float``). ``labels``: the rows' labels, for the accuracy of the file and of Keras.
    """
    if quantize == "int8" and (train_rows is None or train_rows.num_rows == 0):
        raise TFLiteExportError(
            "quantize: int8 calibrates on raw train rows, and there are none: give the trainer raw_examples "
            "(the ingest's examples) with a train split, or set quantize: dynamic"
        )
    files = convert_variants(packaged, ["none", quantize] if quantize == "int8" else [quantize], train_rows)
    data = files[quantize]
    path = os.path.join(model_dir, TFLITE_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    checked = {name: check(content, packaged, rows, labels) for name, content in files.items()}
    plain = checked.get("none")
    if plain is not None and not plain["max_difference"] <= TOLERANCE:
        raise TFLiteExportError(
            f"the TFLite file's scores differ from the Keras model's by {plain['max_difference']:.3g} on "
            f"{plain['rows']} rows, more than {TOLERANCE:g}: not exported (please report this)"
        )
    recorded = {"path": TFLITE_FILE, "quantize": quantize, "size_bytes": len(data), **checked[quantize]}
    if quantize == "int8":
        recorded["float"] = {"size_bytes": len(files["none"]), **checked["none"]}
        recorded["representative_rows"] = min(REPRESENTATIVE_ROWS, train_rows.num_rows if train_rows else 0)
    return recorded


def convert(packaged: PackagedModel, quantize: str = "none", train_rows: pa.Table | None = None) -> bytes:
    """The packaged Keras model (transform in front) as TFLite flatbuffer bytes of builtin ops only."""
    return convert_variants(packaged, [quantize], train_rows)[quantize]


def convert_variants(
    packaged: PackagedModel, quantizations: list[str], train_rows: pa.Table | None
) -> dict[str, bytes]:
    """One TFLite file per quantization, converted from one float32 SavedModel (pixels in for images)."""
    info = packaged.info
    if info.flavor != "keras":
        raise TFLiteExportError(
            f"export: tflite converts Keras models; this model is {info.flavor} "
            f"({type(packaged.estimator).__name__}): set export: onnx for a scikit-learn model, or export: none"
        )
    pixels = bool(packaged.transform.image_chains())
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="headrace-tflite-") as scratch:
        saved = os.path.join(scratch, "saved_model")
        try:
            export_saved_model(packaged, saved, float_dtype="float32", pixels=pixels)
        except NotExpressibleInKeras as exc:
            raise TFLiteExportError(f"export: tflite converts the transform as Keras layers, and {exc}") from None
        for quantize in quantizations:
            representative = None
            if quantize == "int8":
                assert train_rows is not None
                representative = representative_dataset(files.get("none") or _converted(saved, "none"), train_rows)
            files[quantize] = _converted(saved, quantize, representative)
    return files


def _converted(saved: str, quantize: str, representative: Callable[[], Iterator[Any]] | None = None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize in ("dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if representative is not None:
        # int8 kernels where TFLite has them, float builtins for the rest (string lookups, the class gather)
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        data = converter.convert()
    except Exception as exc:  # ConverterError: an op TFLite has no builtin for
        raise TFLiteExportError(unsupported(str(exc))) from None
    return numbered_tables(data)


def sample_indices(count: int) -> pa.Array:
    """The rows (of ``count``) int8 quantization calibrates on: ``REPRESENTATIVE_ROWS`` of them, seeded, in order."""
    picked = np.sort(np.random.default_rng(0).permutation(count)[:REPRESENTATIVE_ROWS])
    return pa.array(picked, pa.int64())


def representative_dataset(float_file: bytes, train_rows: pa.Table) -> Callable[[], Iterator[Any]]:
    """Calibration feeds for int8: a seeded sample of raw train rows, one row per feed, as the check feeds them."""
    runner = Interpreter(model_content=float_file).get_signature_runner(SIGNATURE)
    sample = train_rows.take(sample_indices(train_rows.num_rows))
    feeds = [feed for _, feed in tflite_batches(runner, sample, one_row=True)]

    def rows() -> Iterator[Any]:
        yield from feeds

    return rows


def unsupported(message: str) -> str:
    """The converter's error as what a user acts on: the ops it could not convert, where, and the fix."""
    ops: list[str] = []
    for listed in re.findall(r"(?:TF Select ops|Custom ops): ([^\n]+)", message):
        ops += [op.strip() for op in listed.split(",") if op.strip() not in ops]
    where: dict[str, str] = {}
    for op, node in re.findall(r'fused\["(\w+):", "([^"@]+)@', message):
        where.setdefault(op, node.rsplit("/", 1)[0] if "/" in node else node)
    if not ops:
        lines = [line.strip() for line in message.splitlines() if "error" in line.lower()]
        said = (lines[-1] if lines else message.strip().splitlines()[-1])[:300]
        return f"export: tflite: TensorFlow Lite's converter failed: {said}; set export: none (the model still serves)"
    named = ", ".join(f"{op} (in {where[op]})" if op in where else op for op in ops)
    return (
        f"export: tflite: TensorFlow Lite has no builtin op for {named}, so the model does not convert (LiteRT's "
        "interpreter runs builtin ops only, not TF Select ops); build the model from layers TFLite has ops for "
        f"(Dense, Conv, pooling, normalization, the usual activations; see {OPS_GUIDE}), or set export: none (the "
        "MLflow model still serves)"
    )


def numbered_tables(data: bytes) -> bytes:
    """``data`` with its hash tables numbered 1, 2, ... in order of appearance, so the same model gives the same bytes.

    The converter numbers a table by a fingerprint of its TensorFlow name,
    which holds a random uuid (``hash_table_<uuid>``): a StringLookup gives
    other bytes at each conversion. A table's number only pairs the op that
    creates it in the initialisation subgraph with the one that finds it.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    numbers: dict[int, int] = {}
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            if isinstance(op.builtinOptions, schema.HashtableOptionsT):
                op.builtinOptions.tableId = numbers.setdefault(op.builtinOptions.tableId, len(numbers) + 1)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)) if numbers else data


def tflite_feed(
    runner: Any, rows: pa.Table, decoded: dict[str, list[np.ndarray]] | None = None
) -> dict[str, np.ndarray]:
    """The inputs of the file's signature runner for raw ``rows``: one array per input (the columns the model
    reads; other columns of ``rows`` are left out), nulls encoded.

    An image column (a ``uint8`` input of rank 4) is decoded to pixels; every image must have one size
    (:func:`tflite_batches` groups rows by size); ``decoded``: the column's pixels when decoded already.
    """
    feed = {}
    for name, detail in runner.get_input_details().items():
        if name not in rows.column_names:
            raise TFLiteExportError(
                f"the rows lack column {name!r}, which the TFLite model takes (send a null for an unknown value, "
                "never leave a column out)"
            )
        if _is_pixels(detail) and not _is_tensor(rows, name):
            images = (decoded or {}).get(name) or _pixels(rows.column(name).to_pylist(), int(detail["shape"][-1]))
            feed[name] = np.stack(images)
            continue
        dtype = "string" if detail["dtype"] in (np.object_, np.bytes_) else np.dtype(detail["dtype"]).name
        feed[name] = column_array(name, rows.column(name), int_null=INT_NULL, dtype=dtype)
    return feed


def tflite_batches(runner: Any, rows: pa.Table, *, one_row: bool = False) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """``(row indices, feed)`` per batch the file runs: all rows, or per image size (a batch holds one size)."""
    images = [
        name for name, detail in runner.get_input_details().items() if _is_pixels(detail) and not _is_tensor(rows, name)
    ]
    if one_row:
        return [(np.array([i]), tflite_feed(runner, rows.slice(i, 1))) for i in range(rows.num_rows)]
    if not images:
        return [(np.arange(rows.num_rows), tflite_feed(runner, rows))]
    details = runner.get_input_details()
    decoded = {n: _pixels(rows.column(n).to_pylist(), int(details[n]["shape"][-1])) for n in images}
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i in range(rows.num_rows):
        groups.setdefault(tuple(decoded[n][i].shape for n in images), []).append(i)
    batches = []
    for indices in groups.values():
        group = {n: [decoded[n][i] for i in indices] for n in images}
        batches.append((np.array(indices), tflite_feed(runner, rows.take(indices), group)))
    return batches


def _is_pixels(detail: dict[str, Any]) -> bool:
    return np.dtype(detail["dtype"]) == np.uint8 and len(detail["shape"]) == 4


def _is_tensor(rows: pa.Table, name: str) -> bool:
    """A tensor image column: its pixels are the input as they are (``column_array``), one size for all rows."""
    return name in rows.column_names and isinstance(rows.schema.field(name).type, pa.FixedShapeTensorType)


def _pixels(encoded: list[Any], channels: int) -> list[np.ndarray]:
    """Encoded images as uint8 ``[h, w, channels]`` arrays: ``tf.io.decode_image``, as the transform decodes."""
    out = []
    for data in encoded:
        if data is None:
            raise TFLiteExportError("an image of the rows is null: the TFLite file takes pixels for every row")
        out.append(tf.io.decode_image(data, channels=channels, expand_animations=False, dtype=tf.uint8).numpy())
    return out


def check(data: bytes, packaged: PackagedModel, rows: pa.Table, labels: list[Any] | None = None) -> dict[str, Any]:
    """LiteRT's interpreter on raw ``rows`` against the packaged (Keras) model's predictions (and ``labels``)."""
    runner = Interpreter(model_content=data).get_signature_runner(SIGNATURE)
    batches = tflite_batches(runner, rows)
    outputs: dict[str, list[Any]] = {}
    order: list[np.ndarray] = []
    try:
        for indices, feed in batches:
            for name, value in runner(**feed).items():
                outputs.setdefault(name, []).append(value)
            order.append(indices)
    except (RuntimeError, ValueError) as exc:  # a file the converter wrote but the runtime cannot run
        raise TFLiteExportError(
            f"export: tflite: the converted file fails in LiteRT's interpreter on {rows.num_rows} raw rows: "
            f"{str(exc).strip()}; a layer of the model converts to ops that do not run here: build it from other "
            "ops, or set export: none (the MLflow model still serves)"
        ) from None
    position = np.argsort(np.concatenate(order)) if order else np.array([], dtype=int)
    got = {name: np.concatenate(parts)[position] for name, parts in outputs.items()}
    frame = rows.to_pandas()
    recorded: dict[str, Any] = {
        "inputs": {
            name: "uint8 pixels"
            if _is_pixels(d)
            else "string"
            if d["dtype"] in (np.object_, np.bytes_)
            else np.dtype(d["dtype"]).name
            for name, d in runner.get_input_details().items()
        },
        "outputs": sorted(got),
        "int8_tensors": _int8_tensors(data),
        "rows": rows.num_rows,
    }
    if packaged.info.task != "classification":
        return {**recorded, "max_difference": prediction_difference(got["predictions"], packaged.predict(frame), False)}
    difference = prediction_difference(got["scores"], packaged.predict_proba(frame), True)
    predicted = [str(v) for v in packaged.predict(frame)]
    classes = [v.decode() if isinstance(v, bytes) else str(v) for v in got["classes"]]
    agreement = float(np.mean([a == b for a, b in zip(classes, predicted, strict=True)])) if predicted else 1.0
    recorded.update(max_difference=difference, class_agreement=agreement)
    if labels is not None:
        truth = [(i, str(v)) for i, v in enumerate(labels) if v is not None]
        if truth:
            recorded["accuracy"] = float(np.mean([classes[i] == v for i, v in truth]))
            recorded["keras_accuracy"] = float(np.mean([predicted[i] == v for i, v in truth]))
    return recorded


def _int8_tensors(data: bytes) -> int:
    """How many weight tensors quantization stored as int8 (dynamic range quantization skips small ones)."""
    interpreter = Interpreter(model_content=data)
    return sum(1 for t in interpreter.get_tensor_details() if t["dtype"] == np.int8)
