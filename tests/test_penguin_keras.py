"""The Keras penguin example end to end through the CLI: trained from tf_dataset, blessed, pushed, served raw rows.

One run of the example for the module: its pusher writes the MLflow model and
the SavedModel for TF Serving, which ``tf.saved_model.load`` and ``headrace
serve`` (one server for the module) answer with the evaluator's predictions.
Skipped where the TensorFlow extra is not installed (scripts/test.sh installs it).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.projects import HEADRACE, PENGUINS
from tests.projects import cli as run
from tests.projects import latest_outputs as outputs
from tests.trainer_projects import write_training_project

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None,
    reason="needs the TensorFlow extra: pip install 'headrace[tensorflow]'",
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROWS = pd.DataFrame(
    {
        "island": ["Biscoe", "Anvers", "Dream", None, "Torgersen"],  # Anvers: an island the model never saw
        "bill_length_mm": [47.2, None, 49.0, 38.9, 39.1],
        "bill_depth_mm": [13.7, 18.0, 19.5, None, 18.7],
        "flipper_length_mm": [214.0, 190.0, 210.0, 185.0, None],
        "body_mass_g": [4925.0, None, 4000.0, 3600.0, 3750.0],
        "sex": ["female", None, "male", "female", None],
        "year": [2009, 2009, 2008, 2007, 2007],
    }
)


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    """The example copied with what it references (the penguin example's data and schema), run once."""
    examples = tmp_path_factory.mktemp("examples")
    ignore = shutil.ignore_patterns("runs", "serving", "__pycache__")
    shutil.copytree(os.path.join(REPO, "examples", "penguin_keras"), examples / "penguin_keras", ignore=ignore)
    shutil.copytree(os.path.join(REPO, "examples", "penguin"), examples / "penguin", ignore=ignore)
    pipeline = str(examples / "penguin_keras" / "pipeline.yaml")
    code, out = run("run", pipeline)
    assert code == 0, out
    return pipeline, outputs(pipeline)


def test_the_keras_model_is_trained_from_tf_dataset_blessed_and_pushed(example):
    _, found = example
    model = found["trainer"][1]["model"]
    assert model.properties["flavor"] == "keras" and model.properties["task"] == "classification"
    assert model.properties["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert "year" not in model.properties["features"] and "island_Biscoe" in model.properties["features"]
    assert "eval_loss" in model.properties["metrics"]  # logged by model.py from ctx.eval.tf_dataset
    evaluation = found["evaluator"][1]["evaluation"]
    assert evaluation.properties["metrics"]["accuracy"] >= 0.9
    assert evaluation.properties["metrics"]["log_loss"] is not None  # a Keras model's scores are its probabilities
    assert found["evaluator"][1]["blessing"].properties["blessed"] is True
    assert found["pusher"][1]["pushed_model"].properties["pushed"] is True


def test_the_pushed_keras_model_predicts_raw_rows_as_the_evaluator_does(example):
    import mlflow.pyfunc

    from headrace.components.model_package import load_model

    _, found = example
    pushed = found["pusher"][1]["pushed_model"].properties["path"]
    evaluated = load_model(found["trainer"][1]["model"].uri)  # the evaluator's code path
    served = mlflow.pyfunc.load_model(pushed)
    expected = evaluated.predict(ROWS)
    assert list(served.predict(ROWS)) == list(expected)
    assert set(expected) <= {"Adelie", "Chinstrap", "Gentoo"}
    assert list(expected[[0, 2, 4]]) == ["Gentoo", "Chinstrap", "Adelie"]  # clear cases, whatever else the rows hold
    probabilities = served.predict(ROWS, params={"output": "probabilities"})
    assert list(probabilities.columns) == ["Adelie", "Chinstrap", "Gentoo"]
    assert np.allclose(probabilities.to_numpy().sum(axis=1), 1.0, atol=1e-5)
    assert list(probabilities.columns[np.argmax(probabilities.to_numpy(), axis=1)]) == list(expected)
    features = evaluated.features(ROWS)  # the Keras model's named inputs, as tf_dataset fed them
    assert set(features) == set(evaluated.info.features)
    assert features["island_OOV"].tolist() == [0, 1, 0, 1, 0]  # Anvers, and a missing island filled as "unknown"


# -- the SavedModel for TF Serving, and headrace serve --------------------------------------------------------------


def raw_penguins() -> pd.DataFrame:
    """Every penguin of the data (nulls included) and ROWS (an unseen island, more nulls): raw rows, no label."""
    return pd.concat([pd.read_csv(PENGUINS).drop(columns=["species"]), ROWS], ignore_index=True)


def signature_inputs(function, rows: pd.DataFrame) -> dict:
    """``rows`` as a TF Serving client feeds the signature: its dtypes, nulls as NaN, "" and INT_NULL."""
    import tensorflow as tf

    from headrace.components.tensorflow.tensors import INT_NULL

    _, specs = function.structured_input_signature
    features = {}
    for name, spec in specs.items():
        column = rows[name]
        if spec.dtype == tf.string:
            features[name] = tf.constant(column.fillna("").astype(str).tolist(), tf.string)
        elif spec.dtype == tf.int64:
            features[name] = tf.constant(column.astype("Int64").fillna(INT_NULL).to_numpy("int64"), tf.int64)
        else:
            features[name] = tf.constant(column.to_numpy("float64"), spec.dtype)
    return features


def test_the_push_writes_a_saved_model_in_tf_servings_layout_beside_the_mlflow_model(example):
    pipeline, found = example
    serving = Path(pipeline).parent / "serving"
    assert sorted(os.listdir(serving)) == ["1", "penguin_keras"]  # MLflow's version 1, TF Serving's model folder
    assert sorted(os.listdir(serving / "penguin_keras")) == ["1"]  # the same version number, nothing staged left
    saved = serving / "penguin_keras" / "1"
    assert {"saved_model.pb", "variables", "assets"} <= set(os.listdir(saved))
    assert any(name.startswith("variables.data") for name in os.listdir(saved / "variables"))
    pushed = found["pusher"][1]["pushed_model"]
    assert pushed.properties["model_name"] == "penguin_keras"  # the pipeline's name
    assert pushed.properties["saved_model"] == str(saved)
    assert f"SavedModel {saved}" in pushed.properties["summary"]
    record = json.loads(Path(pushed.uri, "pushed_model.json").read_text())
    assert record["saved_model"] == "penguin_keras/1"  # relative: the same push gives the same file anywhere
    assert str(serving) not in json.dumps(record)


def test_the_saved_model_answers_raw_rows_with_the_evaluators_predictions(example):
    import tensorflow as tf

    from headrace.components.model_package import load_model

    pipeline, found = example
    evaluated = load_model(found["trainer"][1]["model"].uri)  # the evaluator's code path
    loaded = tf.saved_model.load(str(Path(pipeline).parent / "serving" / "penguin_keras" / "1"))
    serve = loaded.signatures["serving_default"]
    features = ["island", "bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g", "sex"]
    assert evaluated.info.required_columns == features  # year is no feature: the transform passes it by, unread
    assert set(serve.structured_input_signature[1]) == set(features)  # the columns the model reads, no year
    rows = raw_penguins()
    assert rows.isna().any(axis=1).sum() >= 10 and "Anvers" in set(rows["island"])  # nulls and an unseen island
    answer = serve(**signature_inputs(serve, rows))
    assert sorted(answer) == ["classes", "scores"]
    classes = [c.decode() for c in answer["classes"].numpy()]
    assert classes == [str(c) for c in evaluated.predict(rows)]
    assert answer["scores"].dtype == tf.float32 and answer["scores"].shape == (len(rows), 3)
    np.testing.assert_allclose(answer["scores"].numpy(), evaluated.predict_proba(rows), atol=1e-6)


def test_a_push_of_the_same_model_writes_the_saved_model_when_that_version_has_none(example):
    pipeline, _ = example
    saved = Path(pipeline).parent / "serving" / "penguin_keras"
    shutil.rmtree(saved)  # as after a push by a pusher that wrote none
    code, out = run("run", pipeline, "--only", "pusher", "--no-cache")
    assert code == 0, out
    assert "already pushed as version 1" in out
    assert sorted(os.listdir(saved)) == ["1"] and (saved / "1" / "saved_model.pb").is_file()
    assert sorted(os.listdir(saved.parent)) == ["1", "penguin_keras"]  # no second MLflow version


def test_serve_finds_tf_servings_model_name_from_the_pipeline_the_push_dir_or_the_version(example):
    from headrace.pipelines.model_serving import find_model

    pipeline, _ = example
    serving = Path(pipeline).parent / "serving"
    for target in (pipeline, str(serving), str(serving / "1")):
        found = find_model(target)
        assert (found.path, found.name, found.version) == (str(serving / "1"), "penguin_keras", 1), target


@pytest.fixture(scope="module")
def server(example, tmp_path_factory):
    """``headrace serve PIPELINE`` on a free loopback port: its URL (one server for the module)."""
    from headrace.components import local_server

    pipeline, _ = example
    port = local_server.free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [HEADRACE, "serve", pipeline, "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        local_server.wait_until_up(process, f"{url}/ping", timeout=180, what="headrace serve", said=log.read_text)
        yield url, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def post(url: str, body: object):
    """POST ``body`` as JSON to ``url``: (HTTP status, decoded answer)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_serve_answers_tf_servings_request_formats_as_mlflows(example, server):
    from headrace.components import model_server
    from headrace.components.model_package import load_model
    from headrace.components.tensorflow.tensors import INT_NULL

    url, _ = server
    _, found = example
    evaluated = load_model(found["trainer"][1]["model"].uri)
    expected = [str(c) for c in evaluated.predict(ROWS)]
    instances = json.loads(ROWS.to_json(orient="records"))  # nulls as null
    assert instances[1]["bill_length_mm"] is None and instances[1]["island"] == "Anvers"
    mlflow = model_server.invoke(url, model_server.dataframe_split(ROWS))
    assert mlflow.status == 200 and mlflow.body == {"predictions": expected}

    status, rows = post(f"{url}/v1/models/penguin_keras:predict", {"instances": instances})
    assert status == 200, rows
    assert [p["classes"] for p in rows["predictions"]] == expected  # TF Serving's answer for the SavedModel
    scores = [p["scores"] for p in rows["predictions"]]
    np.testing.assert_allclose(scores, evaluated.predict_proba(ROWS), atol=1e-6)  # in the order of the classes
    encoded = {  # nulls as a TF Serving client must send them to the SavedModel: NaN, "", INT_NULL
        "island": ROWS["island"].fillna("").tolist(),
        "sex": ROWS["sex"].fillna("").tolist(),
        "flipper_length_mm": ROWS["flipper_length_mm"].astype("Int64").fillna(INT_NULL).tolist(),
        **{column: ROWS[column].tolist() for column in ("bill_length_mm", "bill_depth_mm", "body_mass_g")},
    }  # no year: the SavedModel's signature takes the columns the model reads
    assert "" in encoded["island"] and INT_NULL in encoded["flipper_length_mm"]
    status, columns = post(f"{url}/v1/models/penguin_keras/versions/1:predict", {"inputs": encoded})
    assert status == 200, columns
    assert columns["outputs"]["classes"] == expected
    assert columns["outputs"]["scores"] == scores
    status, answer = post(f"{url}/invocations", {"instances": instances})  # MLflow's path: MLflow's answer
    assert (status, answer) == (200, {"predictions": expected})


def test_serve_answers_a_bad_tf_serving_request_400_saying_what_is_wrong(server):
    url, _ = server
    predict = f"{url}/v1/models/penguin_keras:predict"
    rows = json.loads(ROWS.drop(columns=["island"]).to_json(orient="records"))
    status, answer = post(predict, {"instances": rows})
    assert status == 400
    assert answer["error"].startswith("instances[0] lacks column(s) 'island'; this model needs island, bill_length_mm")
    status, answer = post(predict, {"dataframe_split": {"columns": [], "data": []}})
    assert status == 400
    assert (
        "it takes exactly one of 'instances' and 'inputs'" in answer["error"] and "(columnar form)" in answer["error"]
    )
    status, answer = post(
        predict, {"instances": [dict(json.loads(ROWS.head(1).to_json(orient="records"))[0], year="x")]}
    )
    assert status == 400 and "column 'year' takes int64 values, not 'x'" in answer["error"]
    first = json.loads(ROWS.head(1).to_json(orient="records"))[0]
    status, answer = post(predict, {"instances": [dict(first, body_mass_g="4000")]})  # a string is no number here
    assert status == 400 and "column 'body_mass_g' takes int64 values, not '4000': send integers" in answer["error"]
    status, answer = post(predict, {"instances": [dict(first, island=3)]})
    assert status == 400 and "column 'island' takes string values, not 3: send strings" in answer["error"]
    status, answer = post(f"{url}/v1/models/penguin:predict", {"instances": rows})
    assert status == 404 and "this server serves model 'penguin_keras'" in answer["error"]
    status, answer = post(f"{url}/invocations", {"instances": rows})
    assert status == 400 and "missing inputs ['island']" in answer["message"]


def test_serve_gives_tf_servings_metadata_the_saved_models_signature(example, server):
    """A TF Serving client reads the signature first: the served metadata is the pushed SavedModel's, dtype by dtype."""
    import urllib.error
    import urllib.request

    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    url, _ = server
    pipeline, _ = example
    with urllib.request.urlopen(f"{url}/v1/models/penguin_keras/metadata", timeout=60) as response:
        answer = json.loads(response.read())
    assert answer["model_spec"] == {"name": "penguin_keras", "signature_name": "", "version": "1"}
    served = answer["metadata"]["signature_def"]["signature_def"]["serving_default"]
    serve = tf.saved_model.load(str(Path(pipeline).parent / "serving" / "penguin_keras" / "1")).signatures[
        "serving_default"
    ]

    def described(spec: tf.TensorSpec) -> tuple[str, list[str]]:
        return types_pb2.DataType.Name(spec.dtype.as_datatype_enum), [str(n or -1) for n in spec.shape]

    def shown(info: dict) -> tuple[str, list[str]]:
        return info["dtype"], [d["size"] for d in info["tensor_shape"]["dim"]]

    wanted = serve.structured_input_signature[1]
    assert {name: shown(info) for name, info in served["inputs"].items()} == {
        name: described(spec) for name, spec in wanted.items()
    }
    assert {name: shown(info) for name, info in served["outputs"].items()} == {
        name: described(spec) for name, spec in serve.structured_outputs.items()
    }
    assert served["inputs"]["body_mass_g"]["name"] == "serving_default_body_mass_g:0"
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{url}/v1/models/penguin_keras/versions/2/metadata", timeout=60)
    assert missing.value.code == 404


PREPROCESSING_FN = """\
import pyarrow as pa
import pyarrow.compute as pc


def preprocessing_fn(inputs, tx):
    mass = pc.cast(inputs["body_mass_g"], pa.float64())
    return {"mass": pc.fill_null(pc.divide(mass, tx.max(mass)), 0.5), "species": inputs["species"]}
"""


def keras_package(folder: Path, **transform) -> str:
    """A Keras penguin classifier packaged behind a transform with ``transform``'s parameters; the model's path."""
    import keras

    from headrace.components import Examples
    from headrace.components.model_package import save_model
    from headrace.components.transform.run import run_transform
    from headrace.components.transform.spec import TransformParameters
    from tests.examples_files import penguin_examples

    raw = penguin_examples(folder / "raw")
    transformed = Examples(uri=str(folder / "transformed"))
    parameters = TransformParameters.model_validate({"engine": "in_process", **transform})
    run_transform(raw, None, parameters, transformed=transformed, graph_uri=str(folder / "graph"))
    train = transformed.to_pandas("train").dropna(subset=["species"])
    features = [c for c in train.columns if c != "species"]
    classes = sorted(train["species"].unique())
    inputs = [keras.Input(shape=(1,), name=name) for name in features]
    joined = keras.layers.Concatenate()(inputs) if len(inputs) > 1 else inputs[0]
    model = keras.Model(inputs, keras.layers.Dense(len(classes), activation="softmax")(joined))
    model.compile("adam", "sparse_categorical_crossentropy")
    x = {name: train[name].to_numpy("float32").reshape(-1, 1) for name in features}
    model.fit(x, train["species"].map(classes.index).to_numpy(), epochs=1, verbose=0)
    path = str(folder / "model")
    save_model(
        path,
        model,
        str(folder / "graph"),
        label="species",
        task="classification",
        features=features,
        input_example=raw.to_pandas("train").head(5),
        classes=classes,
    )
    return path


@pytest.mark.parametrize(
    ("transform", "refusal"),
    [
        (
            {
                "ops": [
                    {"fill_missing": {"select": {"type": "numeric"}, "strategy": "mean"}},
                    {"hash_bucket": {"columns": ["island", "sex"], "num_buckets": 4}},
                ]
            },
            "ops[1]: hash_bucket over column 'island' cannot be rebuilt as Keras layers: ",
        ),
        (
            {"ops": [], "module": "prep.py"},
            "the transform runs preprocessing_fn 'preprocessing_fn' (preprocessing.py): ",
        ),
    ],
    ids=["hash_bucket", "preprocessing_fn"],
)
def test_a_transform_without_a_keras_form_refuses_the_saved_model_and_the_mlflow_model_is_pushed(
    tmp_path, transform, refusal
):
    from headrace.components.artifacts import Model
    from tests.test_pusher import blessing, push

    if "module" in transform:
        (tmp_path / "prep.py").write_text(PREPROCESSING_FN)
        transform["module"] = str(tmp_path / "prep.py")
    model = Model(uri=keras_package(tmp_path, **transform), id=11)
    pushed = push(tmp_path, model, blessing())
    said = pushed.properties["saved_model_refused"]
    assert said.startswith(refusal)
    assert "the MLflow model, which applies the TransformGraph itself, still serves" in said
    assert pushed.properties["warnings"] == [f"no SavedModel: {said}"]  # the run's summary ends with it
    assert pushed.properties["pushed"] is True and pushed.properties["version"] == 1
    assert "; no SavedModel for TF Serving (the warning says why)" in pushed.properties["summary"]
    assert sorted(os.listdir(tmp_path / "serving")) == ["1"]  # the MLflow model alone, nothing staged left
    assert json.loads(Path(pushed.uri, "pushed_model.json").read_text())["saved_model"] is None


def test_columns_the_transform_drops_are_no_inputs_of_the_saved_model(tmp_path):
    """A dropped column is never read: serving rows may leave it out, and the SavedModel takes no input for it."""
    import tensorflow as tf

    from headrace.components.model_package import load_model
    from headrace.components.tensorflow.serving_model import export_saved_model

    measurements = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    ops = [
        {"drop": {"columns": ["island", "sex", "year"]}},
        {"fill_missing": {"select": {"type": "numeric"}, "strategy": "mean"}},
    ]
    packaged = load_model(keras_package(tmp_path, ops=ops))
    assert packaged.info.required_columns == measurements and "island" in packaged.info.raw_columns
    rows = raw_penguins()[measurements]  # no island, sex or year
    expected = packaged.predict_proba(rows)
    loaded = tf.saved_model.load(export_saved_model(packaged, str(tmp_path / "saved" / "1")))
    serve = loaded.signatures["serving_default"]
    assert set(serve.structured_input_signature[1]) == set(measurements)
    answer = serve(**signature_inputs(serve, rows))
    np.testing.assert_allclose(answer["scores"].numpy(), expected, rtol=1e-5, atol=1e-6)
    assert [c.decode() for c in answer["classes"].numpy()] == [str(c) for c in packaged.predict(rows)]


KERAS_MODEL = """\
import keras


def train(ctx):
    inputs = [keras.Input(shape=(1,), name=n) for n in ctx.features]
    x = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(len(ctx.classes), activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    {fit}
    return model
"""


@pytest.mark.parametrize(
    ("fit", "message"),
    [
        ("", "model.py:4: train returned a Keras model that was never fitted (its optimizer took no step); call "),
        (
            "model.fit(ctx.train.tf_dataset(32, label='specis'), epochs=1, verbose=0)",
            "model.py:9: ctx.train.tf_dataset(): label 'specis' is not a column of the data; its columns are: "
            "species, island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, sex, year; "
            "did you mean 'species'?",
        ),
    ],
)
def test_a_keras_mistake_is_named_with_its_fix(tmp_path, fit, message):
    pipeline = write_training_project(str(tmp_path), KERAS_MODEL.format(fit=fit))
    code, out = run("run", pipeline)
    assert code == 1
    said = " ".join(out.split())
    assert "trainer failed" in said and message in said


def test_a_keras_model_never_compiled_is_refused_and_what_ran_before_stays_cached(tmp_path):
    uncompiled = KERAS_MODEL.format(fit="").replace('model.compile("adam", "sparse_categorical_crossentropy")', "")
    pipeline = write_training_project(str(tmp_path), uncompiled)
    code, out = run("run", pipeline)
    assert code == 1
    said = " ".join(out.split())
    assert (
        "model.py:4: train returned a Keras model that was never compiled; call model.compile(optimizer, loss)" in said
    )
    failed = outputs(pipeline)
    assert failed["trainer"][0].state == "failed" and failed["transform"][0].state == "complete"

    fixed = KERAS_MODEL.format(fit="model.fit(ctx.train.tf_dataset(32, shuffle=True), epochs=1, verbose=0)")
    (tmp_path / "model.py").write_text(fixed)
    code, out = run("run", pipeline)
    assert code == 0, out
    found = outputs(pipeline)
    assert found["ingest"][0].state == "cached" and found["transform"][0].state == "cached"
    assert found["transform"][0].cached_from == failed["transform"][0].id  # the failed run's outputs were kept
    assert found["trainer"][0].state == "complete"


MATRIX_MODEL = """\
import keras
import numpy as np


def train(ctx):
    X, y = ctx.train.to_numpy()
    inputs = keras.Input(shape=(X.shape[1],))
    model = keras.Model(inputs, keras.layers.Dense(len(ctx.classes), activation="softmax")(inputs))
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(X, np.array([ctx.classes.index(v) for v in y]), epochs=1, verbose=0)
    return model
"""


def test_a_keras_model_of_one_matrix_input_is_refused_naming_the_columns(tmp_path):
    code, out = run("run", write_training_project(str(tmp_path), MATRIX_MODEL))
    assert code == 1
    said = " ".join(out.split())
    assert "model.py:5: train returned a Keras model with inputs named 'keras_tensor" in said  # Keras's default name
    assert "one input per feature column it reads, named for the column (keras.Input(shape=(1,), name=column))" in said


def test_a_keras_model_saved_twice_gives_the_same_bytes_and_loads(tmp_path):
    """Two equal models built apart differ in their archives' save time and object ids; made reproducible, not."""
    import keras

    from headrace.components.keras_archive import make_reproducible

    paths = []
    for n in range(2):
        keras.backend.clear_session()  # layer names as in a fresh process (dense, not dense_1)
        keras.utils.set_random_seed(0)
        inputs = [keras.Input(shape=(1,), name=name) for name in ("a", "b")]
        x = keras.layers.Dense(4, activation="relu")(keras.layers.Concatenate()(inputs))
        model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x))
        path = str(tmp_path / f"model{n}.keras")
        model.save(path)
        make_reproducible(path)
        paths.append(path)
    first, second = (Path(p).read_bytes() for p in paths)
    assert first == second
    loaded = keras.saving.load_model(paths[0])
    rows = {"a": np.array([0.5, -1.0], "float32"), "b": np.array([1.0, 2.0], "float32")}
    assert np.array_equal(loaded.predict(rows, verbose=0), model.predict(rows, verbose=0))
