"""A Keras ``fit`` inside ``train(ctx)`` shows its epochs as the trainer's live progress and in its log.

model.py asks for nothing (``verbose=0``, its own callback): the run's observers hear ``epoch 1/3: loss ...``
to ``epoch 3/3``, ``headrace logs`` has each epoch's line, the user's callback still ran, and ``keras.Model.fit``
is Keras' own again afterwards, also when ``train`` raised. Skipped where the TensorFlow extra is not installed.
"""

from __future__ import annotations

import importlib.util
import logging
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


class Count(keras.callbacks.Callback):
    epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        Count.epochs += 1


def train(ctx):
    inputs = [keras.Input(shape=(1,), name=n) for n in ctx.features if n != "year"]
    x = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()(inputs))
    model = keras.Model(inputs, keras.layers.Dense(len(ctx.classes), activation="softmax")(x))
    model.compile(keras.optimizers.Adam(0.02), "sparse_categorical_crossentropy", metrics=["accuracy"])
    data = ctx.train.tf_dataset(32, shuffle=True, features=[i.name for i in inputs])
    model.fit(data, epochs=3, verbose=0, callbacks=[Count()])
    ctx.log_metric("user_callback_epochs", Count.epochs)
    if ctx.hyperparameters.get("fail"):
        raise RuntimeError("after fit")
    return model
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    pipeline = write_training_project(str(tmp_path_factory.mktemp("fit_progress")), KERAS_MODEL, raw_examples=False)
    heard = Recording()
    loaded = load_pipeline(pipeline)
    run_pipeline(loaded, MetadataStore(loaded.metadata_url), heard, parallelism=1)
    return pipeline, heard.events


def test_each_epoch_of_a_silent_fit_is_the_trainers_progress_and_logged(project):
    import keras

    pipeline, events = project
    notes = [e[2] for e in events if e[:2] == ("progress", "trainer")]
    epochs = [n for n in notes if n.startswith("epoch ") and ", batch" not in n]  # a slow epoch tells batches
    assert [n.split(":")[0] for n in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"], notes
    assert re.fullmatch(r"epoch 3/3: loss \d+\.\d{3}, accuracy \d\.\d{3} \(\d+(\.\d)? s\)", epochs[-1]), epochs
    assert notes.index(epochs[0]) > notes.index(next(n for n in notes if n.startswith("training: model.py:")))
    found = outputs(pipeline)
    model = found["trainer"][1]["model"]
    assert model.properties["metrics"]["user_callback_epochs"] == 3  # the user's callback ran beside ours
    code, out = run("logs", found["trainer"][0].run_id, "trainer", "-p", pipeline)
    assert code == 0, out
    for epoch in (1, 2, 3):
        assert re.search(rf"epoch {epoch}/3: loss \d+\.\d{{3}}, accuracy \d\.\d{{3}} \(\d+\.\d s\)", out), out
    assert "fit" not in vars(keras.Model)  # Keras' own fit again (inherited from its backend's trainer)


def test_fit_is_restored_when_train_raises(project):
    import keras

    pipeline, _ = project
    original = keras.Model.fit
    code, out = run("run", pipeline, "--set", "components.trainer.params.hyperparameters.fail=true")
    assert code == 1 and "RuntimeError: after fit" in out, out
    assert keras.Model.fit is original and "fit" not in vars(keras.Model)


def test_a_slow_epoch_tells_its_batches_and_a_nested_fit_is_told_once():
    import keras
    import numpy as np

    from headrace.components.tensorflow.fit_progress import reported_fits

    class Outer(keras.Sequential):
        def fit(self, *args, **kwargs):  # a user's subclass: its fit calls Keras'
            return super().fit(*args, **kwargs)

    model = Outer([keras.Input(shape=(2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    notes: list[str] = []
    original = keras.Model.fit
    x, y = np.zeros((40, 2), "float32"), np.zeros((40, 1), "float32")
    with reported_fits(notes.append, logging.getLogger("test"), every=0.0):
        model.fit(x, y, batch_size=10, epochs=2, verbose=0)
    assert notes[:4] == [n for n in notes[:4] if n.startswith("epoch 1/2, batch ")]
    assert notes[0].startswith("epoch 1/2, batch 1/4: loss ") and notes[3].startswith("epoch 1/2, batch 4/4: ")
    assert [n.split(":")[0] for n in notes if ", batch" not in n] == ["epoch 1/2", "epoch 2/2"]  # once each
    assert keras.Model.fit is original
