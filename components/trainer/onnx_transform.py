"""The fitted transform's YAML ops as ONNX nodes: one tensor per column, numbers as double, text as string.

Missing values travel as NaN (numbers) and ``""`` (text), so each op keeps
the null semantics of its Arrow form: ``fill_missing`` replaces them, a
vocabulary lookup leaves them missing (NaN), ``one_hot`` gives all zeros.
Text is compared through ``LabelEncoder`` tables (ai.onnx.ml), which every
opset has; ONNX's ``Equal`` takes strings only from opset 19 on, and the
estimator's graph decides the opset.
"""

from __future__ import annotations

import json
import math
from typing import Any

from headrace.components.contract import ComponentError

OPSET = 13  # Where, IsNaN, GreaterOrEqual, ReduceSum with axes as an input
ML_OPSET = 2  # LabelEncoder with keys_strings / values_int64s


class OnnxExportError(ComponentError):
    """The model or its transform has no ONNX form; the message says which part and what to do."""


class OnnxTransform:
    """The transform's ops replayed as ONNX nodes over one tensor per column (numbers double, text string)."""

    def __init__(self, fitted: Any, info: Any) -> None:
        import pyarrow as pa

        if fitted.plan.user is not None:
            raise OnnxExportError(
                "export: onnx cannot export a transform with a preprocessing_fn (Python code has no ONNX form); "
                "write the transform as YAML ops, or set export: none"
            )
        self.fitted = fitted
        self.info = info
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.inputs: dict[str, Any] = {}
        self.columns: dict[str, tuple[str, str]] = {}  # column -> (tensor name, "number" | "string")
        self._count = 0
        for field in fitted.input_schema:
            if field.name == info.label:
                continue
            t = field.type.value_type if pa.types.is_dictionary(field.type) else field.type
            if pa.types.is_integer(t) or pa.types.is_floating(t):
                self.columns[field.name] = (self._input(field.name, "number"), "number")
            elif pa.types.is_string(t) or pa.types.is_large_string(t):
                self.columns[field.name] = (self._input(field.name, "string"), "string")
            else:
                self.columns[field.name] = ("", f"unsupported {field.type}")
        for op in fitted.plan.ops:
            self._apply(op)

    # building blocks

    def _name(self, hint: str) -> str:
        self._count += 1
        return f"headrace_{self._count}_{hint}"

    def _input(self, column: str, kind: str) -> str:
        from onnx import TensorProto, helper

        element = TensorProto.DOUBLE if kind == "number" else TensorProto.STRING
        self.inputs[column] = helper.make_tensor_value_info(column, element, [None, 1])
        return column

    def _node(self, op_type: str, inputs: list[str], hint: str, domain: str = "", **attributes: Any) -> str:
        from onnx import helper

        out = self._name(hint)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, domain=domain, **attributes))
        return out

    def _const(self, value: Any, hint: str) -> str:
        """An initializer: text as strings, axes and codes as int64 (``hint == "axis"``), numbers as double."""
        import numpy as np
        from onnx import numpy_helper

        array = np.asarray(value)
        if array.dtype.kind in "US":
            array = array.astype(object)
        else:
            array = array.astype(np.int64 if hint == "axis" else np.float64)
        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def _number(self, op: Any, column: str) -> str:
        tensor, kind = self.columns[column]
        if kind != "number":
            raise self._unsupported(op, column, f"the column is {kind}, not a number")
        return tensor

    def _unsupported(self, op: Any, column: str | None, why: str) -> OnnxExportError:
        on = f" over column {column!r}" if column else ""
        return OnnxExportError(
            f"the transform's {op.where}: {op.name}{on} has no ONNX form ({why}); export: onnx supports fill_missing, "
            "scale_to_z_score, scale_to_0_1, log1p, clip, bucketize, vocabulary, compute_and_apply_vocabulary (at "
            "most 1 OOV bucket), one_hot, drop and rename over numbers and text; change the op or set export: none"
        )

    def _frozen(self, op: Any, column: str) -> dict[str, Any]:
        return dict(self.fitted.values.get(op.key(column)) or {})

    # the ops

    def _apply(self, op: Any) -> None:
        from headrace.components.transform.ops import replace_with

        columns = list(op.columns or [])
        if op.name == "drop":
            for column in columns:
                self.columns.pop(column, None)
            return
        if op.name == "rename":
            mapping = op.args["columns"]
            self.columns = {mapping.get(k, k): v for k, v in self.columns.items()}
            return
        handler = getattr(self, f"_op_{op.name}", None)
        if handler is None:
            raise self._unsupported(op, None, "hashing and Python code have no ONNX operators")
        for column in columns:
            if column not in self.columns:
                raise self._unsupported(op, column, "the column is not an input the ONNX model has")
            if self.columns[column][1].startswith("unsupported"):
                raise self._unsupported(op, column, f"its type is {self.columns[column][1][12:]}")
            target = column + op.args["suffix"] if op.args.get("suffix") else column
            result = handler(op, column)
            if isinstance(result, dict):  # one_hot: the column becomes several, in its place
                self.columns = replace_with(self.columns, column, result)
            else:
                self.columns[target] = result

    def _op_vocabulary(self, op: Any, column: str) -> tuple[str, str]:
        return self.columns[column]

    def _op_fill_missing(self, op: Any, column: str) -> tuple[str, str]:
        tensor, kind = self.columns[column]
        strategy = op.args["strategy"]
        frozen = self._frozen(op, column)
        if strategy == "mean":
            fill = frozen.get("mean")
        elif strategy == "median":
            fill = (frozen.get("boundaries") or [0.0])[0]
        elif strategy == "mode":
            fill = (frozen.get("values") or [None])[0]
        else:
            fill = op.args["value"]
        if fill is None:
            return tensor, kind
        if kind == "number":
            missing = self._node("IsNaN", [tensor], "missing")
            return self._node("Where", [missing, self._const([float(fill)], "fill"), tensor], "filled"), kind
        missing = self._is_empty(tensor)
        return self._node("Where", [missing, self._const([str(fill)], "fill"), tensor], "filled"), kind

    def _op_scale_to_z_score(self, op: Any, column: str) -> tuple[str, str]:
        x = self._number(op, column)
        moments = self._frozen(op, column)
        centred = self._node("Sub", [x, self._const([moments["mean"]], "mean")], "centred")
        std = math.sqrt(moments["var"])
        return (self._node("Div", [centred, self._const([std], "std")], "z") if std > 0 else centred), "number"

    def _op_scale_to_0_1(self, op: Any, column: str) -> tuple[str, str]:
        x = self._number(op, column)
        moments = self._frozen(op, column)
        shifted = self._node("Sub", [x, self._const([moments["min"]], "min")], "shifted")
        span = moments["max"] - moments["min"]
        divisor = self._const([span if span > 0 else math.inf], "span")  # x / inf = 0 for a constant column
        return self._node("Div", [shifted, divisor], "scaled"), "number"

    def _op_log1p(self, op: Any, column: str) -> tuple[str, str]:
        x = self._number(op, column)
        return self._node("Log", [self._node("Add", [x, self._const([1.0], "one")], "plus_one")], "log1p"), "number"

    def _op_clip(self, op: Any, column: str) -> tuple[str, str]:
        x = self._number(op, column)
        if op.args.get("min") is not None:
            x = self._node("Max", [x, self._const([float(op.args["min"])], "low")], "clipped")
        if op.args.get("max") is not None:
            x = self._node("Min", [x, self._const([float(op.args["max"])], "high")], "clipped")
        return x, "number"

    def _op_bucketize(self, op: Any, column: str) -> tuple[str, str]:
        x = self._number(op, column)
        boundaries = self._const([self._frozen(op, column)["boundaries"]], "boundaries")  # [1, k]
        above = self._node("Cast", [self._node("GreaterOrEqual", [x, boundaries], "above")], "above", to=11)
        count = self._node("ReduceSum", [above, self._const([1], "axis")], "bucket", keepdims=1)
        nan = self._const([math.nan], "nan")
        return self._node("Where", [self._node("IsNaN", [x], "missing"), nan, count], "bucket"), "number"

    def _op_compute_and_apply_vocabulary(self, op: Any, column: str) -> tuple[str, str]:
        tensor, kind = self.columns[column]
        if kind != "string":
            raise self._unsupported(op, column, f"the column is {kind}, not text")
        oov = op.args.get("num_oov_buckets", 1)
        if oov > 1:
            raise self._unsupported(op, column, f"num_oov_buckets {oov}: unseen values are hashed")
        vocabulary = [str(v) for v in self._frozen(op, column).get("values", [])]
        default = len(vocabulary) if oov == 1 else int(op.args.get("default_value", -1))
        index = self._label_encoder(tensor, {v: i for i, v in enumerate(vocabulary)}, default, "index")
        as_number = self._node("Cast", [index], "index", to=11)
        missing = self._is_empty(tensor)
        return self._node("Where", [missing, self._const([math.nan], "nan"), as_number], "index"), "number"

    def _op_one_hot(self, op: Any, column: str) -> dict[str, tuple[str, str]]:
        tensor, kind = self.columns[column]
        if kind != "string":
            raise self._unsupported(op, column, f"the column is {kind}, not text")
        values = [str(v) for v in self._frozen(op, column).get("values", [])]
        code = self._label_encoder(tensor, {**{v: i for i, v in enumerate(values)}, "": -2}, -1, "code")
        out: dict[str, tuple[str, str]] = {}
        for i, value in enumerate(values):
            hit = self._node("Equal", [code, self._const([i], "axis")], "is")
            out[f"{column}_{value}"] = (self._node("Cast", [hit], "one_hot", to=11), "number")
        if op.args.get("oov_column", True):
            unseen = self._node("Equal", [code, self._const([-1], "axis")], "oov")
            out[f"{column}_OOV"] = (self._node("Cast", [unseen], "oov", to=11), "number")
        return out

    def _label_encoder(self, tensor: str, mapping: dict[str, int], default: int, hint: str) -> str:
        """Text to int64 by a table (ONNX compares text only from opset 19 on; this works in every opset)."""
        return self._node(
            "LabelEncoder",
            [tensor],
            hint,
            domain="ai.onnx.ml",
            keys_strings=list(mapping),
            values_int64s=list(mapping.values()),
            default_int64=default,
        )

    def _is_empty(self, tensor: str) -> str:
        """True where a text value is missing (the empty string)."""
        return self._node("Cast", [self._label_encoder(tensor, {"": 1}, 0, "empty")], "missing", to=9)

    # the whole

    def features(self) -> list[str]:
        """The estimator's input columns as tensors, each checked to be a number."""
        tensors = []
        for name in self.info.features:
            if name not in self.columns:
                raise OnnxExportError(f"the model's feature {name!r} is not made by the exported transform")
            tensor, kind = self.columns[name]
            if kind != "number":
                raise OnnxExportError(f"the model's feature {name!r} is {kind}: an ONNX estimator takes numbers")
            tensors.append(tensor)
        return tensors

    def merge(self, estimator_model: Any, features: list[str], precision: str) -> Any:
        """One model: these nodes, a Concat into ``features``, then the estimator's nodes; outputs renamed."""
        from onnx import helper

        joined = self._node("Concat", features, "features", axis=1) if len(features) > 1 else features[0]
        if precision == "float":
            joined = self._node("Cast", [joined], "features", to=1)
        self.nodes.append(helper.make_node("Identity", [joined], ["features"], name="headrace_features"))
        graph = estimator_model.graph
        renamed = {"variable": "prediction"}
        nodes = [*self.nodes]
        for node in graph.node:
            node.output[:] = [renamed.get(o, o) for o in node.output]
            nodes.append(node)
        outputs = []
        for output in graph.output:
            output.name = renamed.get(output.name, output.name)
            outputs.append(output)
        nodes, used = _needed(nodes, {o.name for o in outputs})
        inputs = [value for name, value in self.inputs.items() if name in used]
        initializers = [i for i in [*self.initializers, *graph.initializer] if i.name in used]
        merged = helper.make_graph(nodes, "headrace_model", inputs, outputs, initializer=initializers)
        versions: dict[str, int] = {"": OPSET, "ai.onnx.ml": ML_OPSET}
        for opset in estimator_model.opset_import:
            versions[opset.domain] = max(versions.get(opset.domain, 0), opset.version)
        model = helper.make_model(
            merged,
            opset_imports=[helper.make_opsetid(domain, version) for domain, version in sorted(versions.items())],
            producer_name="headrace",
            ir_version=estimator_model.ir_version,
        )
        model.functions.extend(estimator_model.functions)
        helper.set_model_props(
            model,
            {
                "headrace.label": self.info.label,
                "headrace.task": self.info.task,
                "headrace.classes": json.dumps(self.info.classes),
                "headrace.features": json.dumps(self.info.features),
                "headrace.missing_values": "numbers: NaN; text: empty string",
            },
        )
        return model


def _needed(nodes: list[Any], outputs: set[str]) -> tuple[list[Any], set[str]]:
    """The nodes the outputs depend on (in order) and every name they read: ops over columns no feature uses go."""
    needed = set(outputs)
    kept = []
    for node in reversed(nodes):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    return kept[::-1], needed
