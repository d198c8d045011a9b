"""The Keras penguin example end to end through the CLI: trained from tf_dataset, blessed, pushed, served raw rows.

Skipped where the TensorFlow extra is not installed (scripts/test.sh installs it).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

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
        ("", "model.py:4: train returned a Keras model that was never fitted (its optimizer took no step)"),
        (
            "model.fit(ctx.train.tf_dataset(32, label='specis'), epochs=1, verbose=0)",
            "label 'specis' is not a column of the data; its columns are: ",
        ),
    ],
)
def test_a_keras_mistake_is_named_with_its_fix(tmp_path, fit, message):
    pipeline = write_training_project(str(tmp_path), KERAS_MODEL.format(fit=fit))
    code, out = run("run", pipeline)
    assert code == 1
    assert message in " ".join(out.split())


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
