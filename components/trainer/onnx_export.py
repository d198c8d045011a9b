"""``export: onnx``: the fitted transform and a scikit-learn estimator as ONE ONNX graph, for edge runtimes.

TFLite's role for scikit-learn models: ``<model>/onnx/model.onnx`` takes the
raw columns (one input per column the model reads, shape ``[N, 1]``:
numbers as double with NaN for a missing value, text as string with ``""``
for a missing value) and gives ``label`` and ``probabilities`` (classifiers)
or ``prediction`` (regressors). The transform's frozen values become ONNX
constants (``onnx_transform``); the estimator is converted by skl2onnx,
in the precision that reproduces it.

The YAML ops that have an ONNX form: ``fill_missing``, ``scale_to_z_score``,
``scale_to_0_1``, ``log1p``, ``clip``, ``bucketize``, ``vocabulary``,
``compute_and_apply_vocabulary`` (with at most one OOV bucket), ``one_hot``,
``drop``, ``rename``. ``hash_bucket``, ``cross``, more OOV buckets and a
``preprocessing_fn`` have none (their hashing and Python code do not map to
ONNX operators): exporting such a transform is an error naming the op.

Every export is checked before it is kept: onnxruntime runs it on the
model's input example and its labels must equal, and its probabilities lie
within ``TOLERANCE`` of, what the MLflow model predicts.
"""

from __future__ import annotations

import math
import os
from typing import Any

from headrace.components.trainer.onnx_transform import OnnxExportError, OnnxTransform

ONNX_FILE = "onnx/model.onnx"
TOLERANCE = 1e-4
"""Largest accepted difference between ONNX and MLflow probabilities (or regression values, relative to 1 + |y|)."""
SAMPLE_ROWS = 10_000
"""Transformed training rows the estimator's conversion is checked on."""


def export_onnx(model_dir: str, estimator: Any, fitted: Any, info: Any, example: Any, sample: Any) -> dict[str, Any]:
    """Write ``model_dir/onnx/model.onnx`` and check it against the packaged model; returns what to record.

    ``example``: raw rows (pandas) the whole graph is checked on; ``sample``: transformed training rows (Arrow)
    that choose the estimator's precision.
    """
    import onnx

    if info.flavor != "sklearn":
        raise OnnxExportError(
            f"export: onnx converts scikit-learn models (with skl2onnx); this model is {info.flavor} "
            f"({type(estimator).__name__}): set export: none, or export it with that library's own converter"
        )
    graph = OnnxTransform(fitted, info)
    features = graph.features()
    estimator_model, precision = _convert_estimator(estimator, info, sample)
    model = graph.merge(estimator_model, features, precision)
    onnx.checker.check_model(model, full_check=True)
    path = os.path.join(model_dir, ONNX_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = model.SerializeToString(deterministic=True)
    with open(path, "wb") as f:
        f.write(data)
    difference = _check_against_model(data, estimator, fitted, info, example)
    return {
        "path": ONNX_FILE,
        "inputs": [i.name for i in model.graph.input],
        "outputs": [o.name for o in model.graph.output],
        "estimator_precision": precision,
        "max_difference": difference,
        "tolerance": TOLERANCE,
    }


# -- the estimator --------------------------------------------------------------------------------------------------


def _convert_estimator(estimator: Any, info: Any, sample: Any) -> tuple[Any, str]:
    """The estimator as an ONNX model on input ``features`` [N, width], in the precision that reproduces it.

    Double first (a linear model then agrees to the last bits); float where
    the converter or onnxruntime has no double kernel, or where the model
    compares in float itself (scikit-learn's trees cast their input to
    float32: compared in double, a value next to a split goes the other way).
    ``sample`` (transformed training rows, an Arrow Table) decides.
    """
    import onnxruntime as ort
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    from headrace.components.model_package import estimator_input

    width = len(info.features)
    classifier = info.task == "classification" and hasattr(estimator, "predict_proba")
    options = {"zipmap": False} if classifier else None
    reference = estimator_input(estimator, info.flavor, sample, info.features)
    expected = estimator.predict_proba(reference) if classifier else estimator.predict(reference)
    matrix = _as_matrix(reference)
    said = ""
    for precision, tensor, dtype in (("double", DoubleTensorType, "float64"), ("float", FloatTensorType, "float32")):
        try:
            model = convert_sklearn(estimator, initial_types=[("features", tensor([None, width]))], options=options)
            session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # skl2onnx: no converter; onnxruntime: no kernel for this precision
            said = said or str(exc).splitlines()[0][:300]
            continue
        got = session.run(None, {"features": matrix.astype(dtype)})[-1]
        difference = prediction_difference(got, expected, classifier)
        if difference <= TOLERANCE:
            return model, precision
        said = f"converted in {precision} precision, its predictions differ from the model's by {difference:.3g}"
    raise OnnxExportError(
        f"skl2onnx cannot convert a {type(estimator).__name__} to ONNX that predicts what it does: {said}; it "
        "converts scikit-learn's linear models, trees, forests, gradient boosting (also HistGradientBoosting), MLP, "
        "SVM, k-NN, naive Bayes and pipelines of its transformers; set export: none for other models"
    )


def _as_matrix(reference: Any) -> Any:
    import numpy as np

    return np.asarray(reference.to_numpy() if hasattr(reference, "to_numpy") else reference, dtype=np.float64)


def prediction_difference(got: Any, expected: Any, classifier: bool) -> float:
    """Largest difference of an export's probabilities from the model's, or of its values relative to 1 + |value|
    (the ONNX and the TFLite exports are checked with it)."""
    import numpy as np

    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if not classifier:
        got, expected = got.reshape(-1), expected.reshape(-1)
        return float(np.max(np.abs(got - expected) / (1.0 + np.abs(expected)), initial=0.0))
    return float(np.max(np.abs(got - expected), initial=0.0))


# -- using and checking it --------------------------------------------------------------------------------------------


def onnx_feed(rows: Any, session: Any) -> dict[str, Any]:
    """The inputs of an exported model's ``session.run`` for raw ``rows`` (a pandas DataFrame).

    Numbers become double ``[N, 1]`` arrays (missing: NaN), text becomes
    string arrays (missing: ``""``).
    """
    import numpy as np

    missing = [spec.name for spec in session.get_inputs() if spec.name not in rows.columns]
    if missing:
        raise ValueError(
            f"the rows lack column(s) {', '.join(repr(m) for m in missing)} the ONNX model takes (send NaN or '' for "
            "an unknown value, never leave a column out)"
        )
    feed = {}
    for spec in session.get_inputs():
        values = rows[spec.name]
        if spec.type == "tensor(string)":
            column = np.array(["" if _missing(v) else str(v) for v in values], dtype=object)
        else:
            column = np.array([np.nan if _missing(v) else float(v) for v in values], dtype=np.float64)
        feed[spec.name] = column.reshape(-1, 1)
    return feed


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("<NA>", "nan")


def _check_against_model(data: bytes, estimator: Any, fitted: Any, info: Any, example: Any) -> float:
    """onnxruntime on the example rows against the packaged model's own predictions; the largest difference."""
    import onnxruntime as ort

    from headrace.components.model_package import PackagedModel

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    results = dict(
        zip([o.name for o in session.get_outputs()], session.run(None, onnx_feed(example, session)), strict=True)
    )
    packaged = PackagedModel(info, fitted, estimator)
    if info.task == "classification":
        labels = packaged.predict(example)
        if "label" in results and [str(v) for v in results["label"]] != [str(v) for v in labels]:
            raise OnnxExportError(
                f"the ONNX export predicts {list(results['label'])} where the model predicts {list(labels)} on the "
                "input example: not exported (please report this)"
            )
        if "probabilities" not in results or not hasattr(estimator, "predict_proba"):
            return 0.0
        difference = prediction_difference(results["probabilities"], packaged.predict_proba(example), True)
    else:
        difference = prediction_difference(results["prediction"], packaged.predict(example), False)
    if not difference <= TOLERANCE:
        raise OnnxExportError(
            f"the ONNX export's predictions differ from the model's by {difference:.3g} on the input example, "
            f"more than {TOLERANCE:g}: not exported (please report this)"
        )
    return difference
