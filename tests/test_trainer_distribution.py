"""The trainer's ``distribution``: the penguin Keras model trained under MirroredStrategy (2 logical CPU devices) and
MultiWorkerMirroredStrategy (2 local worker processes with TF_CONFIG), as accurate as on one device; and its mistakes.

One project: the three trainings are three trainer steps of one pipeline (they run side by side); the failing
ones are later runs of it with the trainer's module or distribution overridden (ingest and transform cached).
Skipped where the TensorFlow extra is not installed (scripts/test.sh installs it).
"""

from __future__ import annotations

import importlib.util
import re

import pytest

from headrace.metadata.store import MetadataStore
from headrace.pipelines.loader import load_pipeline
from headrace.pipelines.local_runner import run_pipeline
from tests.projects import cli as run
from tests.projects import latest_outputs as outputs
from tests.test_tasks import Recording
from tests.trainer_projects import write_training_project

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None,
    reason="needs the TensorFlow extra: pip install 'headrace[tensorflow]'",
)

KERAS_MODEL = """\
import keras


def train(ctx):
    keras.utils.set_random_seed(ctx.seed)
    inputs = [keras.Input(shape=(1,), name=n) for n in ctx.features if n != "year"]
    x = keras.layers.Dense(16, activation="relu")(keras.layers.Concatenate()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(len(ctx.classes), activation="softmax")(x))
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    features = [i.name for i in inputs]
    model.fit(ctx.train.tf_dataset(32, shuffle=True, features=features), epochs=8, verbose=0)
    loss, _ = model.evaluate(ctx.eval.tf_dataset(32, features=features), verbose=0)  # under the strategy too
    ctx.log_metric("eval_loss", loss)
    replicas = ctx.strategy.num_replicas_in_sync if ctx.strategy is not None else 1
    ctx.log_metric("replicas", replicas)
    ctx.log_metric("workers", ctx.distribution.workers if ctx.distribution is not None else 1)
    ctx.log_metric("steps", int(model.optimizer.iterations.numpy()))  # global batches: each worker took its share
    ctx.log.info("trained on %d replicas", replicas)
    return model
"""

# the same trainer twice more, distributed
DISTRIBUTED_TRAINERS = """\
  trainer_mirrored:
    type: trainer
    inputs: {examples: transform.transformed_examples, transform_graph: transform.transform_graph}
    params:
      module: model.py
      label: species
      distribution: {strategy: mirrored, devices: 2}
  trainer_multi_worker:
    type: trainer
    inputs: {examples: transform.transformed_examples, transform_graph: transform.transform_graph}
    params:
      module: model.py
      label: species
      distribution: {strategy: multi_worker, workers: 2}
"""

DIES = """\
import os

from model import train as keras_train


def train(ctx):
    if ctx.distribution.worker_index == 1:
        os._exit(3)  # a worker that dies mid-way
    return keras_train(ctx)
"""

FOREST = """\
from sklearn.ensemble import RandomForestClassifier


def train(ctx):
    X, y = ctx.train.to_numpy()
    return RandomForestClassifier(n_estimators=5, random_state=ctx.seed).fit(X, y)
"""

HEARD: list[tuple] = []
"""What the run's observer heard (progress notes included)."""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distribution")
    pipeline = write_training_project(str(folder), KERAS_MODEL, raw_examples=False)
    with open(pipeline, "a") as f:
        f.write(DISTRIBUTED_TRAINERS)
    for name, source in (("dies.py", DIES), ("forest.py", FOREST)):
        (folder / name).write_text(source)
    heard = Recording()
    loaded = load_pipeline(pipeline)
    result = run_pipeline(loaded, MetadataStore(loaded.metadata_url), heard)  # the three trainers side by side
    assert result.state == "succeeded", heard.events
    HEARD[:] = heard.events
    return pipeline, outputs(pipeline)


def test_mirrored_and_multi_worker_train_as_accurately_as_one_device(project):
    _, found = project
    single = found["trainer"][1]["model"].properties
    mirrored = found["trainer_mirrored"][1]["model"].properties
    multi = found["trainer_multi_worker"][1]["model"].properties
    assert single["metrics"]["replicas"] == 1
    assert mirrored["metrics"]["replicas"] == 2 and mirrored["metrics"]["workers"] == 1
    assert multi["metrics"]["replicas"] == 2 and multi["metrics"]["workers"] == 2
    assert single["metrics"]["eval_accuracy"] >= 0.9
    assert single["metrics"]["steps"] == 8 * -(-single["metrics"]["rows_train"] // 32)
    for distributed in (mirrored, multi):
        assert distributed["metrics"]["steps"] == single["metrics"]["steps"]  # 32 rows a step across the replicas
        assert abs(distributed["metrics"]["eval_loss"] - single["metrics"]["eval_loss"]) < 0.05
        assert abs(distributed["metrics"]["eval_accuracy"] - single["metrics"]["eval_accuracy"]) <= 0.03
        assert distributed["flavor"] == "keras" and distributed["classes"] == single["classes"]
        assert distributed["features"] == single["features"]
        assert distributed["metrics"]["distribution_startup_seconds"] > 0


def test_the_distributed_model_is_packaged_and_predicts_raw_rows(project):
    from headrace.components.model_package import load_model

    _, found = project
    model = load_model(found["trainer_multi_worker"][1]["model"].uri)
    rows = {
        "island": ["Biscoe", "Torgersen"],
        "bill_length_mm": [47.2, 39.1],
        "bill_depth_mm": [13.7, 18.7],
        "flipper_length_mm": [214.0, 181.0],
        "body_mass_g": [4925.0, 3750.0],
        "sex": ["female", "male"],
        "year": [2009, 2007],
    }
    import pandas as pd

    assert list(model.predict(pd.DataFrame(rows))) == ["Gentoo", "Adelie"]


def test_the_workers_output_reaches_the_component_log(project):
    pipeline, found = project
    code, out = run("logs", found["trainer_multi_worker"][0].run_id, "trainer_multi_worker", "-p", pipeline)
    assert code == 0, out
    assert "worker 0: INFO headrace.trainer: worker 0 of 2: multi_worker, 2 replicas in sync" in out
    assert "worker 1: INFO headrace.trainer: trained on 2 replicas" in out
    assert re.search(r"worker 0: INFO headrace.trainer: epoch 8/8: loss \d\.\d{3}, accuracy", out), out
    assert "worker 1: INFO headrace.trainer: epoch" not in out  # the chief's epochs alone
    assert "headrace-progress" not in out  # the chief's progress lines are shown, not logged


def test_the_chiefs_epochs_are_the_distributed_trainers_progress(project):
    for node in ("trainer_mirrored", "trainer_multi_worker"):
        epochs = [
            e[2] for e in HEARD if e[:2] == ("progress", node) and e[2].startswith("epoch ") and ", batch" not in e[2]
        ]
        assert [n.split(":")[0] for n in epochs] == [f"epoch {i}/8" for i in range(1, 9)], HEARD


def test_zero_devices_is_refused_before_anything_runs(project, tmp_path):
    pipeline, _ = project
    with open(pipeline) as f:
        text = f.read().replace("devices: 2", "devices: 0")
    wrong = tmp_path / "pipeline.yaml"
    wrong.write_text(text)
    (tmp_path / "model.py").write_text(KERAS_MODEL)
    code, out = run("validate", str(wrong))
    assert code != 0
    line = text.splitlines().index("      distribution: {strategy: mirrored, devices: 0}") + 1
    assert (
        f"pipeline.yaml:{line}:51: error: invalid value for 'components.trainer_mirrored.params.distribution.devices': "
        "Input should be greater than or equal to 1 (got 0)"
    ) in " ".join(out.split())


def test_a_distribution_that_cannot_train_is_named_with_why(project):
    """Two failing trainings in one run (side by side): a worker that dies, and a model that is not Keras."""
    pipeline, _ = project
    overrides = {"trainer_multi_worker": "dies.py", "trainer_mirrored": "forest.py"}
    args = [
        a
        for node, module in overrides.items()
        for a in ("--only", node, "--set", f"components.{node}.params.module={module}")
    ]
    code, out = run("run", pipeline, *args)
    assert code == 1, out
    said = " ".join(out.split())
    line = _line_of(pipeline, "distribution: {strategy: multi_worker")
    assert (
        f"pipeline.yaml:{line}:7: distribution (multi_worker, 2 workers): worker 1 of 2 exited with code 3 before "
        "training finished; its last lines:"
    ) in said
    line = _line_of(pipeline, "distribution: {strategy: mirrored")
    assert (
        f"pipeline.yaml:{line}:7: distribution (mirrored, 2 devices): the worker: forest.py:4: train returned a "
        "RandomForestClassifier (sklearn), and distribution trains Keras models only (tf.distribute); return a Keras "
        "model built and compiled in train(ctx), or remove distribution"
    ) in said


def test_a_worker_that_does_not_start_in_time_is_stopped_and_named(project):
    pipeline, _ = project
    override = "components.trainer_mirrored.params.distribution.timeout=0.5"
    code, out = run("run", pipeline, "--only", "trainer_mirrored", "--set", override)
    assert code == 1, out
    assert (
        "distribution (mirrored, 2 devices): worker 0 did not start (import TensorFlow and make its strategy) "
        "within 0.5 s; the workers were stopped"
    ) in " ".join(out.split())


def _line_of(pipeline: str, text: str) -> int:
    with open(pipeline) as f:
        return next(n for n, line in enumerate(f, 1) if text in line)
