"""``export: tflite``: a Keras model and its transform as one TensorFlow Lite file that takes raw features.

What a device app runs with LiteRT (``ai_edge_litert``, TFLite's runtime):
``<model>/tflite/model.tflite``, the raw-feature SavedModel of
``serving_model`` converted by ``tf.lite.TFLiteConverter`` to TFLite's
**builtin ops only**. Its ``serving_default`` signature takes one 1-d tensor
per raw column (float32 with NaN, string with ``""``, int64 with
``INT_NULL``) and gives ``scores`` and ``classes`` (classifiers) or
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
"""

from __future__ import annotations

import os
import re
import tempfile
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
TOLERANCE = 1e-3
"""Largest accepted difference of an unquantized file's scores from the Keras model's (float32 rounding: ~1e-6)."""
OPS_GUIDE = "https://ai.google.dev/edge/litert/models/ops_compatibility"


class TFLiteExportError(ProblemError):
    """The model cannot be written as a TFLite file of builtin ops, or the file does not predict what it does."""


def export_tflite(packaged: PackagedModel, model_dir: str, rows: pa.Table, quantize: str = "none") -> dict[str, Any]:
    """Write ``model_dir/tflite/model.tflite`` and check it on raw ``rows``; returns what to record.

    ``quantize``: ``none``, or ``dynamic`` (weights stored as int8, TFLite's
    dynamic range quantization).
    """
    data = convert(packaged, quantize)
    path = os.path.join(model_dir, TFLITE_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    checked = check(data, packaged, rows)
    if quantize == "none" and not checked["max_difference"] <= TOLERANCE:
        raise TFLiteExportError(
            f"the TFLite file's scores differ from the Keras model's by {checked['max_difference']:.3g} on "
            f"{checked['rows']} rows, more than {TOLERANCE:g}: not exported (please report this)"
        )
    return {"path": TFLITE_FILE, "quantize": quantize, "size_bytes": len(data), **checked}


def convert(packaged: PackagedModel, quantize: str = "none") -> bytes:
    """The packaged Keras model (transform in front) as TFLite flatbuffer bytes of builtin ops only."""
    info = packaged.info
    if info.flavor != "keras":
        raise TFLiteExportError(
            f"export: tflite converts Keras models; this model is {info.flavor} "
            f"({type(packaged.estimator).__name__}): set export: onnx for a scikit-learn model, or export: none"
        )
    with tempfile.TemporaryDirectory(prefix="headrace-tflite-") as scratch:
        saved = os.path.join(scratch, "saved_model")
        try:
            export_saved_model(packaged, saved, float_dtype="float32")
        except NotExpressibleInKeras as exc:
            raise TFLiteExportError(f"export: tflite converts the transform as Keras layers, and {exc}") from None
        converter = tf.lite.TFLiteConverter.from_saved_model(saved)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        try:
            data = converter.convert()
        except Exception as exc:  # ConverterError: an op TFLite has no builtin for
            raise TFLiteExportError(unsupported(str(exc))) from None
    return numbered_tables(data)


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


def tflite_feed(runner: Any, rows: pa.Table) -> dict[str, np.ndarray]:
    """The inputs of the file's signature runner for raw ``rows``: one array per raw column, nulls encoded."""
    feed = {}
    for name, detail in runner.get_input_details().items():
        if name not in rows.column_names:
            raise TFLiteExportError(
                f"the rows lack column {name!r}, which the TFLite model takes (send a null for an unknown value, "
                "never leave a column out)"
            )
        dtype = "string" if detail["dtype"] in (np.object_, np.bytes_) else np.dtype(detail["dtype"]).name
        feed[name] = column_array(name, rows.column(name), int_null=INT_NULL, dtype=dtype)
    return feed


def check(data: bytes, packaged: PackagedModel, rows: pa.Table) -> dict[str, Any]:
    """LiteRT's interpreter on raw ``rows`` against the packaged (Keras) model's predictions."""
    runner = Interpreter(model_content=data).get_signature_runner(SIGNATURE)
    feed = tflite_feed(runner, rows)
    try:
        got = runner(**feed)
    except (RuntimeError, ValueError) as exc:  # a file the converter wrote but the runtime cannot run
        raise TFLiteExportError(
            f"export: tflite: the converted file fails in LiteRT's interpreter on {rows.num_rows} raw rows: "
            f"{str(exc).strip()}; a layer of the model converts to ops that do not run here: build it from other "
            "ops, or set export: none (the MLflow model still serves)"
        ) from None
    frame = rows.to_pandas()
    recorded: dict[str, Any] = {
        "inputs": {name: "string" if a.dtype == object else a.dtype.name for name, a in feed.items()},
        "outputs": sorted(got),
        "int8_tensors": _int8_tensors(data),
        "rows": rows.num_rows,
    }
    if packaged.info.task != "classification":
        return {**recorded, "max_difference": prediction_difference(got["predictions"], packaged.predict(frame), False)}
    difference = prediction_difference(got["scores"], packaged.predict_proba(frame), True)
    labels = [str(v) for v in packaged.predict(frame)]
    classes = [v.decode() if isinstance(v, bytes) else str(v) for v in got["classes"]]
    agreement = float(np.mean([a == b for a, b in zip(classes, labels, strict=True)])) if labels else 1.0
    return {**recorded, "max_difference": difference, "class_agreement": agreement}


def _int8_tensors(data: bytes) -> int:
    """How many weight tensors quantization stored as int8 (dynamic range quantization skips small ones)."""
    interpreter = Interpreter(model_content=data)
    return sum(1 for t in interpreter.get_tensor_details() if t["dtype"] == np.int8)
