"""Fine-tuning a pretrained Keras network through a pipeline: importer (KerasModel) -> trainer's base_model.

A small network over the penguins' transformed measurements is pretrained here and saved as a .keras file;
the pipeline imports that file and the user's train(ctx) fine-tunes it (its body frozen, its head trained
again). Skipped where the TensorFlow extra is not installed (scripts/test.sh installs it).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import textwrap

import numpy as np
import pandas as pd
import pytest

from tests.projects import PENGUINS, headrace
from tests.projects import cli as run
from tests.projects import latest_outputs as outputs

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None,
    reason="needs the TensorFlow extra: pip install 'headrace[tensorflow]'",
)

MEASUREMENTS = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]

PIPELINE = """\
name: finetune
root: ./runs
metadata: sqlite:///runs/metadata.db
components:
  ingest:
    type: ingest
    params: {source: data/penguins.csv}
  transform:
    type: transform
    inputs: {examples: ingest.examples}
    params:
      ops:
        - fill_missing: {select: {type: numeric, pattern: "_(mm|g)$"}, strategy: mean}
        - scale_to_z_score: {select: {type: numeric, pattern: "_(mm|g)$"}}
        - fill_missing: {select: {type: categorical, exclude: [species]}, strategy: constant, value: unknown}
        - one_hot: {select: {type: categorical, exclude: [species]}}
  base:
    type: importer
    params:
      source: models/base.keras
      artifact_type: KerasModel
      properties: {licence: CC0}
  trainer:
    type: trainer
    inputs:
      examples: transform.transformed_examples
      transform_graph: transform.transform_graph
      raw_examples: ingest.examples
      base_model: base.result
    params:
      module: finetune.py
      label: species
      hyperparameters: {epochs: 5}
"""

FINETUNE = """\
import keras


def train(ctx):
    model = ctx.load_base_model()                 # the imported .keras file, compiled as it was saved
    model.get_layer("body").trainable = False    # keep what pretraining learnt; train the head again
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    features = [tensor.name for tensor in model.inputs]
    ctx.log_metric("base_inputs", len(features))
    model.fit(ctx.train.tf_dataset(32, shuffle=True, features=features), epochs=ctx.hyperparameters["epochs"], verbose=0)
    return model
"""


def pretrained_network(path: str, seed: int, epochs: int) -> None:
    """A network over the z-scored measurements, pretrained on the penguins (this test's stand-in for a hub)."""
    import keras

    frame = pd.read_csv(PENGUINS).dropna(subset=[*MEASUREMENTS, "species"])
    values = {c: ((frame[c] - frame[c].mean()) / frame[c].std()).to_numpy("float32")[:, None] for c in MEASUREMENTS}
    labels = frame["species"].map(CLASSES.index).to_numpy()
    keras.utils.set_random_seed(seed)
    inputs = [keras.Input(shape=(1,), name=name) for name in MEASUREMENTS]
    body = keras.layers.Dense(8, activation="relu", name="body")(keras.layers.Concatenate()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(len(CLASSES), activation="softmax", name="head")(body))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit(values, labels, epochs=epochs, batch_size=32, verbose=0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.save(path)


def weights(model, layer: str) -> list[np.ndarray]:
    return [np.asarray(w) for w in model.get_layer(layer).get_weights()]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("finetune")
    os.makedirs(folder / "data")
    shutil.copy(PENGUINS, folder / "data" / "penguins.csv")
    (folder / "finetune.py").write_text(FINETUNE)
    (folder / "pipeline.yaml").write_text(PIPELINE)
    pretrained_network(str(folder / "models" / "base.keras"), seed=1, epochs=20)
    done = headrace("run", str(folder / "pipeline.yaml"))  # the console script, which ends without unloading TF
    assert done.returncode == 0, done.stdout + done.stderr
    assert "succeeded" in done.stdout.splitlines()[-1]  # printed in full before the quick exit
    return folder, outputs(str(folder / "pipeline.yaml"))


def test_the_imported_network_is_fine_tuned_and_the_packaged_model_predicts_well(project):
    import keras

    from headrace.components import Examples
    from headrace.components.model_package import load_model

    folder, found = project
    imported = found["base"][1]["result"]
    assert imported.type == "KerasModel"  # recorded as the type the parameter named
    assert imported.properties["source"] == "models/base.keras" and imported.properties["licence"] == "CC0"
    assert os.listdir(imported.uri) == ["base.keras"]
    assert imported.properties["bytes"] == os.path.getsize(folder / "models" / "base.keras")
    trainer, made = found["trainer"]
    with open(trainer.log_uri) as log:
        assert log.read().rstrip().endswith("done")  # the component's log was flushed before the quick exit
    assert made["model"].properties["flavor"] == "keras"
    assert made["model"].properties["features"] == MEASUREMENTS  # the base network's inputs
    assert trainer.metrics["base_inputs"] == 4

    packaged = load_model(made["model"].uri)
    ingested = found["ingest"][1]["examples"]
    rows = Examples(ingested.uri, ingested.properties).to_pandas("eval")
    accuracy = float(np.mean(packaged.predict(rows.drop(columns=["species"])) == rows["species"].to_numpy()))
    assert accuracy >= 0.9, accuracy

    base = keras.models.load_model(str(folder / "models" / "base.keras"))
    tuned = packaged.estimator
    assert all(np.array_equal(a, b) for a, b in zip(weights(base, "body"), weights(tuned, "body"), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(weights(base, "head"), weights(tuned, "head"), strict=True))


def test_a_new_base_model_file_re_runs_the_importer_and_the_trainer_not_the_data(project):
    folder, first = project
    pipeline = str(folder / "pipeline.yaml")
    pretrained_network(str(folder / "models" / "base.keras"), seed=2, epochs=20)  # the hub's next version
    code, out = run("run", pipeline)
    assert code == 0, out
    found = outputs(pipeline)
    assert found["ingest"][0].state == "cached" and found["transform"][0].state == "cached"
    assert found["base"][0].state == "complete"
    assert found["base"][0].reason == "source `models/base.keras` has new content"
    assert found["trainer"][0].state == "complete"
    assert found["trainer"][0].reason == "input `base_model` has new content"
    assert found["trainer"][1]["model"].fingerprint != first["trainer"][1]["model"].fingerprint

    os.rename(folder / "models" / "base.keras", folder / "models" / "renamed.keras")
    with open(pipeline) as f:
        text = f.read()
    with open(pipeline, "w") as f:
        f.write(text.replace("models/base.keras", "models/renamed.keras"))
    code, out = run("run", pipeline)
    assert code == 0, out
    assert {e.state for e, _ in outputs(pipeline).values()} == {"cached"}  # a renamed file is the same content


def test_load_base_model_without_a_base_model_input_says_how_to_wire_one():
    from headrace.components.contract import ComponentError
    from headrace.components.trainer.context import TrainerContext

    ctx = TrainerContext(None, None, [], "species", "classification", {}, 0)  # type: ignore[arg-type]
    with pytest.raises(ComponentError, match=r"no base_model input; wire one \(inputs: \{base_model: importer"):
        ctx.load_base_model()


def test_a_base_model_keras_cannot_load_names_the_fix(tmp_path):
    from headrace.components.contract import ComponentError
    from headrace.components.trainer.context import TrainerContext

    source = textwrap.dedent(
        """
        import keras

        @keras.saving.register_keras_serializable(package="mine")
        class Twice(keras.layers.Layer):
            def call(self, x):
                return 2 * x
        """
    )
    namespace: dict = {}
    exec(compile(source, "layers.py", "exec"), namespace)
    import keras

    inputs = keras.Input(shape=(1,), name="x")
    keras.Model(inputs, namespace["Twice"]()(inputs)).save(tmp_path / "custom.keras")
    registered = keras.saving.get_custom_objects()
    registered.pop("mine>Twice")  # as in a fresh process: the class is not registered there
    ctx = TrainerContext(None, None, [], "y", "regression", {}, 0, base_model=str(tmp_path / "custom.keras"))  # type: ignore[arg-type]
    with pytest.raises(
        ComponentError, match=r"uses 'mine>Twice', which is not registered.*custom_objects=\{'mine>Twice': Twice\}"
    ):
        ctx.load_base_model()
    loaded = ctx.load_base_model(custom_objects={"mine>Twice": namespace["Twice"]})  # as the message says
    assert loaded.predict(np.ones((1, 1)), verbose=0)[0, 0] == 2


def test_a_base_model_is_fine_tuned_under_a_distribution_strategy_too(project):
    folder, _ = project
    pipeline = str(folder / "pipeline.yaml")
    mirrored = ["--set", "components.trainer.params.distribution.strategy=mirrored"]
    code, out = run("run", pipeline, *mirrored, "--set", "components.trainer.params.distribution.devices=2")
    assert code == 0, out
    trainer, made = outputs(pipeline)["trainer"]
    assert trainer.state == "complete" and trainer.metrics["base_inputs"] == 4  # the worker loaded the base model
    assert made["model"].properties["features"] == MEASUREMENTS
    assert made["model"].properties["metrics"]["eval_accuracy"] >= 0.9
