"""The trainer's ``export: tflite``: a Keras model and its transform as one TFLite file of builtin ops, raw rows in.

What a user relies on: ``tflite/model.tflite`` in the Model artifact runs in
LiteRT's interpreter on raw rows (nulls and an unseen island included) and
predicts what the Keras model does, to float32 rounding (looser, measured, for
``quantize: dynamic``); its size and differences are recorded; the same model
gives the same bytes; a model or op TFLite cannot take fails at the trainer,
naming the option, the op and the fix.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

tf = pytest.importorskip("tensorflow", reason="the TensorFlow path needs the extra: pip install 'headrace[tensorflow]'")
keras = pytest.importorskip("keras", reason="the TensorFlow path needs the extra: pip install 'headrace[tensorflow]'")
litert = pytest.importorskip("ai_edge_litert.interpreter", reason="needs the extra: pip install 'headrace[tensorflow]'")

from headrace.components.model_package import load_model  # noqa: E402
from headrace.components.tensorflow.tensors import INT_NULL  # noqa: E402
from headrace.components.tensorflow.tflite_export import (  # noqa: E402
    TFLITE_FILE,
    TFLiteExportError,
    check,
    convert,
    tflite_feed,
)
from headrace.components.tensorflow.transform_layers import transform_model  # noqa: E402
from tests.projects import cli as run  # noqa: E402
from tests.projects import latest_outputs as outputs  # noqa: E402
from tests.test_penguin_keras import ROWS  # noqa: E402
from tests.test_tensorflow_transform import assert_same_features, fit, penguins  # noqa: E402,F401
from tests.trainer_projects import FOREST, write_training_project  # noqa: E402

# Wide enough that dynamic range quantization stores a weight as int8 (it skips tensors under 1024 values).
WIDE_KERAS_MODEL = """\
import keras


def train(ctx):
    features = [c for c in ctx.features if c != "year"]  # unscaled, it would swamp int8 activations (see README)
    inputs = [keras.Input(shape=(1,), name=n) for n in features]
    x = keras.layers.Dense(256, activation="relu")(keras.layers.Concatenate()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(len(ctx.classes), activation="softmax")(x))
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    model.fit(ctx.train.tf_dataset(32, shuffle=True, features=features), epochs=8, verbose=0)
    return model
"""


def interpreter_predictions(path: str, rows: pa.Table) -> dict:
    """What a device app gets: LiteRT's signature runner on raw rows."""
    runner = litert.Interpreter(model_path=path).get_signature_runner("serving_default")
    return runner(**tflite_feed(runner, rows))


def raw_rows() -> pa.Table:
    """ROWS as Arrow: nulls, and an island the model never saw."""
    return pa.Table.from_pandas(ROWS, preserve_index=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The small penguin project with a Keras model, run with export: tflite then with quantize: dynamic."""
    folder = tmp_path_factory.mktemp("tflite")
    pipeline = write_training_project(str(folder), WIDE_KERAS_MODEL, extra="export: tflite")
    code, out = run("run", pipeline)
    assert code == 0, out
    plain = outputs(pipeline)
    code, out = run("run", pipeline, "--set", "components.trainer.params.quantize=dynamic")
    assert code == 0, out
    return plain, outputs(pipeline)


def test_the_tflite_file_predicts_raw_rows_as_the_keras_model(exported):
    plain, _ = exported
    execution, found = plain["trainer"]
    model = found["model"]
    export = model.properties["export"]
    path = Path(model.uri) / TFLITE_FILE
    assert export["path"] == TFLITE_FILE and path.is_file()
    assert export["size_bytes"] == path.stat().st_size and execution.metrics["tflite_size_bytes"] == path.stat().st_size
    assert export["checked_on"] == "raw_examples eval" and export["rows"] > 50
    assert export["max_difference"] <= 1e-4 and execution.metrics["tflite_max_difference"] == export["max_difference"]
    assert export["class_agreement"] == 1.0 and execution.metrics["tflite_class_agreement"] == 1.0
    assert export["inputs"]["bill_length_mm"] == "float32" and export["inputs"]["island"] == "string"
    assert "year" not in export["inputs"]  # the model's features, not every raw column: year is read by nothing
    assert export["int8_tensors"] == 0

    packaged = load_model(model.uri)
    got = interpreter_predictions(str(path), raw_rows())
    expected = list(packaged.predict(ROWS))
    assert [c.decode() for c in got["classes"]] == expected
    np.testing.assert_allclose(got["scores"], packaged.predict_proba(ROWS), atol=1e-4, rtol=0)
    one_at_a_time = [interpreter_predictions(str(path), raw_rows().slice(i, 1))["classes"][0] for i in range(len(ROWS))]
    assert [c.decode() for c in one_at_a_time] == expected  # as a device app asks, one row per call


def test_the_same_model_gives_the_same_bytes(exported):
    plain, _ = exported
    model = plain["trainer"][1]["model"]
    assert convert(load_model(model.uri)) == (Path(model.uri) / TFLITE_FILE).read_bytes()


def test_quantize_dynamic_stores_int8_weights_and_reports_how_far_it_moved(exported):
    plain, quantized = exported
    states = {name: e.state for name, (e, _) in quantized.items()}
    assert states == {"ingest": "cached", "transform": "cached", "trainer": "complete"}
    before = plain["trainer"][1]["model"].properties["export"]
    model = quantized["trainer"][1]["model"]
    export = model.properties["export"]
    assert export["quantize"] == "dynamic" and export["int8_tensors"] >= 1
    assert export["size_bytes"] < before["size_bytes"]
    assert 0 < export["max_difference"] <= 0.05 and export["class_agreement"] >= 0.95
    got = interpreter_predictions(str(Path(model.uri) / TFLITE_FILE), raw_rows())
    np.testing.assert_allclose(got["scores"], load_model(model.uri).predict_proba(ROWS), atol=0.05, rtol=0)


def test_quantize_int8_of_a_tabular_model_calibrates_on_raw_train_rows(exported, tmp_path):
    plain = exported[0]["trainer"][1]["model"].properties["export"]
    pipeline = write_training_project(str(tmp_path), WIDE_KERAS_MODEL, extra="export: tflite\nquantize: int8")
    code, out = run("run", pipeline)
    assert code == 0, out
    model = outputs(pipeline)["trainer"][1]["model"]
    export = model.properties["export"]
    assert export["quantize"] == "int8" and export["int8_tensors"] > plain["int8_tensors"]
    assert export["float"]["size_bytes"] == plain["size_bytes"] and export["float"]["max_difference"] <= 1e-3
    assert export["keras_accuracy"] >= 0.9 and abs(export["accuracy"] - export["keras_accuracy"]) <= 0.03
    got = interpreter_predictions(str(Path(model.uri) / TFLITE_FILE), raw_rows())  # nulls, an unseen island
    assert got["scores"].dtype == np.float32
    assert np.mean([c.decode() for c in got["classes"]] == load_model(model.uri).predict(ROWS)) >= 0.9


def test_quantizing_a_network_fed_an_unscaled_input_warns(tmp_path):
    """A raw year (2008) next to z-scores: int8 activations keep the year and lose the rest."""
    unscaled = WIDE_KERAS_MODEL.replace('[c for c in ctx.features if c != "year"]', "ctx.features")
    pipeline = write_training_project(str(tmp_path), unscaled, extra="export: tflite\nquantize: dynamic")
    code, out = run("run", pipeline)
    assert code == 0, out
    execution, found = outputs(pipeline)["trainer"]
    assert found["model"].properties["export"]["class_agreement"] < 0.99
    code, log = run("logs", execution.run_id, "trainer", "-p", pipeline)
    said = " ".join(log.split())
    assert "quantize: dynamic: the TFLite file predicts another class than the Keras model on " in said
    assert "scale every input in the transform), or set quantize: none" in said


def test_the_transform_runs_on_tflite_builtin_ops_as_it_transforms(penguins, tmp_path):  # noqa: F811
    """String fills reach the lookups through the index (TFLite selects no strings); floats in float32."""
    ops = [
        {"fill_missing": {"select": {"type": "numeric", "pattern": "_(mm|g)$"}, "strategy": "mean"}},
        {"scale_to_z_score": {"columns": ["bill_length_mm", "bill_depth_mm"]}},
        {"bucketize": {"columns": ["flipper_length_mm"], "num_buckets": 4, "suffix": "_bucket"}},
        {"log1p": {"columns": ["body_mass_g"], "suffix": "_log"}},
        {"clip": {"columns": ["body_mass_g"], "min": 3000, "max": 5000}},
        {"fill_missing": {"columns": ["island"], "strategy": "constant", "value": "nowhere"}},
        {"one_hot": {"columns": ["island"], "top_k": 2}},
        {"fill_missing": {"columns": ["sex"], "strategy": "mode", "suffix": "_mode"}},
        {"compute_and_apply_vocabulary": {"columns": ["sex_mode", "sex"]}},
    ]
    fitted, _ = fit(penguins, tmp_path, ops)
    transform = transform_model(fitted, exclude=["species"], float_dtype="float32")
    archive = keras.export.ExportArchive()
    archive.track(transform)
    specs = {name: tf.TensorSpec((None,), t.dtype, name=name) for name, t in transform.input.items()}
    archive.add_endpoint("serving_default", tf.function(lambda features: transform(features), input_signature=[specs]))
    archive.write_out(str(tmp_path / "saved"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    (tmp_path / "t.tflite").write_bytes(converter.convert())

    rows = penguins.to_table("eval")  # ends with an unseen island and a row of nulls
    got = interpreter_predictions(str(tmp_path / "t.tflite"), rows.drop_columns(["species"]))
    want = fitted.transform(rows)
    got = {n: v.astype(np.float64) if v.dtype == np.float32 else v for n, v in got.items()}
    assert_same_features(
        {n: v for n, v in got.items() if v.dtype != np.float64}, want.drop_columns(_floats(want)), absent=("species",)
    )
    for name in _floats(want):  # computed in float32: to float32 rounding of values near 1
        np.testing.assert_allclose(got[name], want[name].to_numpy(zero_copy_only=False), atol=1e-5, rtol=1e-5)
    assert got["island_OOV"][-2:].tolist() == [1, 1]  # unseen, and null filled as "nowhere" (not in the top 2)
    assert got["sex"][-2] == INT_NULL and got["sex_mode"][-2] == got["sex"][-1] == 0  # filled: the most frequent


def _floats(table: pa.Table) -> list[str]:
    return [f.name for f in table.schema if pa.types.is_floating(f.type) and f.name != "species"]


def test_without_raw_examples_the_file_is_checked_on_the_input_example(tmp_path):
    pipeline = write_training_project(str(tmp_path), WIDE_KERAS_MODEL, raw_examples=False, extra="export: tflite")
    code, out = run("run", pipeline)
    assert code == 0, out
    export = outputs(pipeline)["trainer"][1]["model"].properties["export"]
    assert export["checked_on"] == "input example" and export["rows"] == 1
    assert export["max_difference"] <= 1e-4 and export["class_agreement"] == 1.0


def test_export_tflite_without_litert_says_what_to_install(tmp_path, monkeypatch):
    pipeline = write_training_project(str(tmp_path), WIDE_KERAS_MODEL, extra="export: tflite")
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    code, out = run("validate", pipeline)
    assert code == 2
    said = " ".join(out.split())
    assert "export: tflite needs ai-edge-litert, not installed here" in said
    assert "pip install 'headrace[tensorflow]', or set export: none" in said


def test_a_file_the_interpreter_cannot_run_is_refused_with_its_message(tmp_path):
    """The converter may write ops that fail when LiteRT prepares them; the check says so rather than crash."""
    module = tf.Module()
    module.serve = tf.function(
        lambda x: {"y": tf.reshape(x, (2, -1))}, input_signature=[tf.TensorSpec((None,), tf.float32, name="x")]
    )
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve.get_concrete_function()})
    data = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path)).convert()
    with pytest.raises(TFLiteExportError) as refused:
        check(data, None, pa.table({"x": pa.array([1.0, 2.0, 3.0])}))  # 3 values: no (2, -1) shape
    said = str(refused.value)
    assert "export: tflite: the converted file fails in LiteRT's interpreter on 3 raw rows: " in said
    assert "or set export: none (the MLflow model still serves)" in said


def test_quantize_without_export_tflite_fails_validation(tmp_path):
    pipeline = write_training_project(str(tmp_path), WIDE_KERAS_MODEL, extra="quantize: dynamic")
    code, out = run("validate", pipeline)
    assert code == 2
    said = " ".join(out.split())
    assert "quantize: dynamic quantizes the TFLite export, and export is none" in said
    assert "set export: tflite, or leave quantize out" in said
    assert "pipeline.yaml:" in said


def test_tflite_of_a_scikit_learn_model_is_refused_with_the_fix(tmp_path):
    pipeline = write_training_project(str(tmp_path), FOREST, extra="export: tflite")
    code, out = run("run", pipeline)
    assert code == 1
    said = " ".join(out.split())
    assert (
        "export: tflite converts Keras models; model.py:4: train returned a sklearn model (RandomForestClassifier)"
        in said
    )
    assert "set export: onnx for a scikit-learn model, or export: none" in said


UNSUPPORTED_OP = """\
import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="tests")
class CumulativeProduct(keras.layers.Layer):
    def call(self, x):
        return tf.math.cumprod(x, axis=1)


def train(ctx):
    inputs = [keras.Input(shape=(1,), name=n) for n in ctx.features]
    x = CumulativeProduct(name="cumulative_product")(keras.layers.Concatenate()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(len(ctx.classes), activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(ctx.train.tf_dataset(64), epochs=1, verbose=0)
    return model
"""


def test_an_op_tflite_lacks_fails_at_the_trainer_naming_it_and_the_fix(tmp_path):
    pipeline = write_training_project(str(tmp_path), UNSUPPORTED_OP, extra="export: tflite")
    code, out = run("run", pipeline)
    assert code == 1
    said = " ".join(out.split())
    assert "trainer failed" in said and "export: tflite: TensorFlow Lite has no builtin op for Cumprod (in " in said
    assert "cumulative_product" in said  # the layer it came from
    assert "or set export: none (the MLflow model still serves)" in said
    states = {name: e.state for name, (e, _) in outputs(pipeline).items()}
    assert states == {"ingest": "complete", "transform": "complete", "trainer": "failed"}
