"""TF Serving's REST predict API over a packaged model: request bodies to raw rows, predictions to its answers.

``headrace serve`` answers ``POST /v1/models/<name>:predict`` the way TF
Serving answers it for the pusher's SavedModel of the same model, so a client
written for one works with the other:

- a row-form request ``{"instances": [{column: value, ...}, ...]}`` gets
  ``{"predictions": [...]}``, one entry per instance;
- a columnar request ``{"inputs": {column: [value, ...], ...}}`` gets
  ``{"outputs": ...}``;
- the outputs are the SavedModel's: for a classifier ``classes`` (the
  predicted label, as a string) and ``scores`` (one per class, in the order
  of the model's classes), so an instance's prediction is
  ``{"classes": "Gentoo", "scores": [0.01, 0.02, 0.97]}``; for a regressor
  the one output ``predictions``, so a prediction is the number itself (TF
  Serving names no output when there is one);
- a value is a scalar per column, bytes (an encoded image) as TF Serving
  takes them, ``{"b64": "<base64>"}``, and for a tensor image column the
  pixels as nested lists ``[height][width][channels]``; a missing value is ``null`` or the
  signature's own null: ``NaN`` for a float, ``""`` for a string, ``INT_NULL``
  (-2^63) for an integer (TF Serving's JSON has no null, so its clients send
  those; here both mean "missing", as in the SavedModel; ``NaN`` does in any
  column, as pandas writes a missing string);
- every column the model reads (``info.required_columns``, the SavedModel's
  inputs) must be given, and no column the model lacks (TF Serving refuses an
  input its signature lacks, and so does this); a raw column the model never
  reads (an image folder's ``path``) may be sent here and is ignored, though
  the SavedModel refuses it;
- a bad request is answered 400 with ``{"error": "..."}`` saying what is
  wrong and what is accepted.

Neither TensorFlow nor the SavedModel is used: the predictions come from the
packaged model (``PackagedModel``), which the SavedModel equals by test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from headrace.components.model_package import PackagedModel

SIGNATURE = "serving_default"
FORMATS = (
    '{"instances": [{"column": value, ...}, ...]} (row form) or {"inputs": {"column": [value, ...], ...}} '
    "(columnar form)"
)


class BadRequest(ValueError):
    """A request the model cannot answer; the message says what is wrong and what is accepted (HTTP 400)."""


@dataclass(frozen=True)
class PredictRequest:
    rows: pa.Table  # the raw columns, typed as the transform was fitted on, nulls as nulls
    columnar: bool  # asked in the columnar form ("inputs"): answered as "outputs"


def parse(body: Any, schema: pa.Schema, required: list[str] | None = None) -> PredictRequest:
    """A decoded JSON body as raw rows of the columns of ``schema`` (the model's raw columns), or ``BadRequest``.

    ``required``: the columns a request must carry (default: all); one it leaves out is sent null.
    """
    needed = frozenset(schema.names if required is None else required)
    if not isinstance(body, dict):
        raise BadRequest(f"the request is a JSON {_kind(body)}; send an object: {FORMATS}")
    signature = body.get("signature_name", SIGNATURE)
    if signature != SIGNATURE:
        raise BadRequest(f"signature_name {signature!r}: this model has the one signature {SIGNATURE!r}")
    forms = [key for key in ("instances", "inputs") if key in body]
    if len(forms) != 1:
        keys = ", ".join(repr(k) for k in body) or "none"
        raise BadRequest(f"the request has keys {keys}; it takes exactly one of 'instances' and 'inputs': {FORMATS}")
    if forms[0] == "instances":
        columns = _row_form(body["instances"], schema, needed)
    else:
        columns = _columnar_form(body["inputs"], schema, needed)
    return PredictRequest(
        pa.table([_array(field, columns[field.name]) for field in schema], schema=schema), forms[0] == "inputs"
    )


def _row_form(instances: Any, schema: pa.Schema, needed: frozenset[str]) -> dict[str, list[Any]]:
    if not isinstance(instances, list) or not instances:
        raise BadRequest(f"'instances' is a JSON {_kind(instances)}; it takes a non-empty list: {FORMATS}")
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for i, instance in enumerate(instances):
        if not isinstance(instance, dict):
            raise BadRequest(
                f"instances[{i}] is a JSON {_kind(instance)}; each instance is an object of the raw columns, "
                f"{{column: value}}, as the signature takes named inputs: {', '.join(schema.names)}"
            )
        _check_columns(f"instances[{i}]", instance, schema, needed)
        for name in schema.names:
            columns[name].append(_scalar(f"instances[{i}].{name}", instance.get(name), _is_tensor(schema, name)))
    return columns


def _columnar_form(inputs: Any, schema: pa.Schema, needed: frozenset[str]) -> dict[str, list[Any]]:
    if not isinstance(inputs, dict):
        raise BadRequest(
            f"'inputs' is a JSON {_kind(inputs)}; it takes an object of one list per raw column: {FORMATS}"
        )
    _check_columns("'inputs'", inputs, schema, needed)
    given = [name for name in schema.names if name in inputs]
    lengths = {name: len(inputs[name]) if isinstance(inputs[name], list) else None for name in given}
    if None in lengths.values():
        scalar = next(name for name, n in lengths.items() if n is None)
        raise BadRequest(f"inputs.{scalar} is not a list; in the columnar form each column is a list of values")
    if len(set(lengths.values())) != 1 or not next(iter(lengths.values())):
        said = ", ".join(f"{name}: {n}" for name, n in lengths.items())
        raise BadRequest(f"the columns of 'inputs' must be non-empty lists of one length; they have {said}")
    count = len(inputs[given[0]])
    return {
        name: [
            _scalar(f"inputs.{name}[{i}]", v, _is_tensor(schema, name))
            for i, v in enumerate(inputs.get(name, [None] * count))
        ]
        for name in schema.names
    }


def _check_columns(where: str, given: dict[str, Any], schema: pa.Schema, needed: frozenset[str]) -> None:
    missing = [name for name in schema.names if name not in given and name in needed]
    unknown = [name for name in given if name not in schema.names]
    if missing or unknown:
        said = []
        if missing:
            said.append(f"lacks column(s) {', '.join(repr(m) for m in missing)}")
        if unknown:
            said.append(f"has column(s) {', '.join(repr(u) for u in unknown)} the model does not take")
        optional = [name for name in schema.names if name not in needed]
        raise BadRequest(
            f"{where} {' and '.join(said)}; this model needs {', '.join(n for n in schema.names if n in needed)}"
            + (f" (and takes {', '.join(optional)} if given)" if optional else "")
            + " (send null for an unknown value, never leave a needed column out)"
        )


def _is_tensor(schema: pa.Schema, name: str) -> bool:
    return isinstance(schema.field(name).type, pa.FixedShapeTensorType)


def _scalar(where: str, value: Any, tensor: bool = False) -> Any:
    """One input's value; ``tensor``: a tensor column's, which is nested lists of pixels."""
    if tensor:
        return value
    if isinstance(value, dict) and set(value) == {"b64"} and isinstance(value["b64"], str):
        import base64
        import binascii

        try:  # TF Serving's JSON form of bytes (an encoded image): {"b64": "<base64>"}
            return base64.b64decode(value["b64"], validate=True)
        except binascii.Error as exc:
            raise BadRequest(f"{where} is not valid base64 in its {{'b64': ...}} form: {exc}") from None
    if isinstance(value, (list, dict)):
        raise BadRequest(f"{where} is a JSON {_kind(value)}; each input takes one value per instance")
    return value


def _array(field: pa.Field, values: list[Any]) -> pa.Array:
    """One column's values as the type the transform was fitted on; the signature's null encodings become nulls."""
    from headrace.components.tensorflow.tensors import INT_NULL

    if isinstance(field.type, pa.FixedShapeTensorType):
        from headrace.components.images import ImageError, tensor_array

        try:
            return tensor_array(field.name, values, field.type)
        except (ImageError, ValueError, TypeError) as exc:
            raise BadRequest(str(exc)) from None
    kind = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
    values = [None if isinstance(v, float) and math.isnan(v) else v for v in values]  # NaN: no value, in any column
    _check_json_kinds(field, kind, values)
    if pa.types.is_integer(kind):
        values = [None if v == INT_NULL else v for v in values]
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = [None if v == "" else v for v in values]
    try:
        return pa.array(values).cast(field.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        shown = ", ".join(repr(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
        raise BadRequest(f"column {field.name!r} takes {field.type} values, not {shown}: {exc}") from None


def _check_json_kinds(field: pa.Field, kind: pa.DataType, values: list[Any]) -> None:
    """Refuse a JSON value of the wrong kind, as TF Serving does: Arrow would parse ``"2009"`` into an int64 column
    and print ``3`` into a string one, so a client's mistake would pass here and fail against the SavedModel."""
    if pa.types.is_integer(kind):
        wanted, fits = "integers", lambda v: _kind(v) == "number" and float(v).is_integer()
    elif pa.types.is_floating(kind):
        wanted, fits = "numbers", lambda v: _kind(v) == "number"
    elif pa.types.is_boolean(kind):
        wanted, fits = "true or false", lambda v: _kind(v) == "boolean"
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        wanted, fits = "strings", lambda v: _kind(v) == "string"
    else:
        return
    wrong = [v for v in values if v is not None and not fits(v)]
    if wrong:
        shown = ", ".join(repr(v) for v in wrong[:5]) + (", ..." if len(wrong) > 5 else "")
        raise BadRequest(
            f"column {field.name!r} takes {field.type} values, not {shown}: send {wanted} (JSON "
            f"{_kind(wrong[0])} given), as TF Serving takes them for the SavedModel"
        )


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def outputs(packaged: PackagedModel, rows: pa.Table) -> dict[str, list[Any]]:
    """The SavedModel's outputs for raw rows: ``classes`` and ``scores``, or ``predictions`` (a regressor)."""
    if packaged.info.task != "classification":
        return {"predictions": [float(v) for v in packaged.predict(rows)]}
    labels, probabilities = packaged.predict_with_probabilities(rows)
    found: dict[str, list[Any]] = {"classes": [str(v) for v in labels]}
    if probabilities is not None:  # else a classifier without probabilities: the labels alone
        found["scores"] = [[float(s) for s in row] for row in probabilities]
    return found


def answer(found: dict[str, list[Any]], columnar: bool) -> dict[str, Any]:
    """TF Serving's answer: ``predictions`` per instance (row form) or ``outputs`` per output (columnar)."""
    if columnar:
        return {"outputs": next(iter(found.values())) if len(found) == 1 else found}
    if len(found) == 1:
        return {"predictions": next(iter(found.values()))}
    count = len(next(iter(found.values())))
    return {"predictions": [{name: values[i] for name, values in found.items()} for i in range(count)]}


def predict(packaged: PackagedModel, body: Any) -> dict[str, Any]:
    """A decoded TF Serving request body answered by ``packaged``; ``BadRequest`` for a request it cannot take."""
    raw = packaged.transform.input_schema
    schema = pa.schema([raw.field(name) for name in packaged.info.raw_columns])
    request = parse(body, schema, packaged.info.required_columns)
    return answer(outputs(packaged, request.rows), request.columnar)


TF_DTYPES = {
    "float64": "DT_DOUBLE",
    "float32": "DT_FLOAT",
    "float16": "DT_HALF",
    "int64": "DT_INT64",
    "int32": "DT_INT32",
    "int16": "DT_INT16",
    "int8": "DT_INT8",
    "uint8": "DT_UINT8",
    "uint16": "DT_UINT16",
    "string": "DT_STRING",
    "bool": "DT_BOOL",
}
"""TensorFlow's names of the dtypes a serving signature's tensors have, as TF Serving's metadata gives them."""


def metadata(packaged: PackagedModel, name: str, version: str) -> dict[str, Any]:
    """TF Serving's model metadata answer (``GET /v1/models/<name>/metadata``): ``serving_default`` as the pusher's
    SavedModel has it, so a client can read what to send before it sends anything.

    Inputs: the columns the model reads (``required_columns``), with the SavedModel's dtypes (floats float64,
    integers int64, text and image bytes string, pixels their own type) and shapes (``[-1]``, pixels
    ``[-1, h, w, c]``). Outputs: ``classes`` and ``scores`` (when the model gives probabilities), or
    ``predictions`` (a regressor).
    """
    from headrace.components.tensorflow.tensors import image_shape, raw_dtype

    raw = packaged.transform.input_schema
    inputs = {}
    for column in packaged.info.required_columns:
        arrow_type = raw.field(column).type
        shape = image_shape(arrow_type)
        inputs[column] = _tensor_info(
            raw_dtype(column, arrow_type), [-1, *(shape or ())], f"serving_default_{column}:0"
        )
    info = packaged.info
    if info.task != "classification":
        outputs = {"predictions": _tensor_info("float32", [-1])}
    else:
        outputs = {"classes": _tensor_info("string", [-1])}
        if info.flavor == "keras" or hasattr(packaged.estimator, "predict_proba"):
            outputs["scores"] = _tensor_info("float32", [-1, len(info.classes or [])])
    signature = {"inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}
    return {
        "model_spec": {"name": name, "signature_name": "", "version": version},
        "metadata": {"signature_def": {"signature_def": {"serving_default": signature}}},
    }


def _tensor_info(dtype: str, dims: list[int], name: str | None = None) -> dict[str, Any]:
    """One TensorInfo in TF Serving's JSON (int64 sizes as strings, as protobuf's JSON writes them)."""
    tensor = {
        "dtype": TF_DTYPES.get(dtype, f"DT_{dtype.upper()}"),
        "tensor_shape": {"dim": [{"size": str(n), "name": ""} for n in dims], "unknown_rank": False},
    }
    return {**tensor, "name": name} if name else tensor
