"""The trainer's ``augment``: random image changes on the train split of ``tf_dataset``, never on eval or serving.

What a user relies on: the train batches' pixels change (anew each epoch)
while their labels, the eval batches and ``augment=False`` batches stay as
they were; the same seed gives the same batches (the parallel map's order
does not matter); bad settings are named at their YAML place; and a pipeline
with augment trains a CNN whose packaged model takes un-augmented images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="the TensorFlow path needs the extra: pip install 'headrace[tensorflow]'")

from headrace.components.trainer.context import Split  # noqa: E402
from tests.projects import cli  # noqa: E402
from tests.test_image_transform import CLASSES, Z_SCORED, fit, images, write_colour_folder  # noqa: E402

AUGMENT = {"flip": "horizontal", "rotation": 0.1, "translation": 0.1, "zoom": 0.1, "contrast": 0.2, "brightness": 0.1}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("augment")
    train, _ = images(40, seed=1)
    eval_table, _ = images(12, seed=2)
    _, transformed = fit(root, Z_SCORED, train=train, eval=eval_table)
    return transformed, str(root / "graph")


def split(fitted: tuple, name: str, augment: dict | None, seed: int = 0) -> Split:
    transformed, graph = fitted
    options = {"classes": list(CLASSES), "seed": seed, "transform_graph": graph, "augment": augment}
    return Split(transformed, name, ["image", "x"], "label", **options)


def epoch(dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    features, labels = zip(*dataset, strict=True)
    pixels = np.concatenate([f["image"].numpy() for f in features])
    return pixels, np.concatenate([f["x"].numpy() for f in features]), np.concatenate([y.numpy() for y in labels])


def test_train_pixels_change_each_epoch_and_labels_eval_and_augment_false_do_not(fitted):
    plain, plain_x, plain_y = epoch(split(fitted, "train", None).tf_dataset(batch_size=16, shuffle=True))
    augmented = split(fitted, "train", AUGMENT).tf_dataset(batch_size=16, shuffle=True)
    first, first_x, first_y = epoch(augmented)
    second, _, _ = epoch(augmented)
    assert first.shape == plain.shape == (40, 8, 8, 3)
    np.testing.assert_array_equal(first_x, plain_x)  # the same rows in the same order, with their labels
    np.testing.assert_array_equal(first_y, plain_y)
    changed = np.abs(first - plain).reshape(40, -1).max(axis=1)
    assert (changed > 0.1).all()  # every image changed, not just some batches
    assert not np.array_equal(first, second)  # drawn anew each epoch
    off, _, _ = epoch(split(fitted, "train", AUGMENT).tf_dataset(batch_size=16, shuffle=True, augment=False))
    np.testing.assert_array_equal(off, plain)


def test_the_same_seed_gives_the_same_batches_and_another_seed_others(fitted):
    def first_two_epochs(seed: int) -> list[np.ndarray]:
        dataset = split(fitted, "train", AUGMENT, seed=seed).tf_dataset(batch_size=8, shuffle=True)
        return [epoch(dataset)[0] for _ in range(2)]

    again = first_two_epochs(0)
    for a, b in zip(first_two_epochs(0), again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first_two_epochs(1)[0], again[0])


def test_the_same_seed_trains_the_same_network(fitted):
    keras = pytest.importorskip("keras")

    def trained() -> list[np.ndarray]:
        keras.utils.set_random_seed(0)
        image = keras.Input(shape=(8, 8, 3), name="image")
        x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(image))
        model = keras.Model({"image": image}, keras.layers.Dense(3, activation="softmax")(x))
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
        data = split(fitted, "train", AUGMENT).tf_dataset(batch_size=8, shuffle=True, features=["image"])
        model.fit(data, epochs=2, verbose=0)
        return model.get_weights()

    for a, b in zip(trained(), trained(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_flip_alone_mirrors_images_exactly(fitted):
    plain, _, _ = epoch(split(fitted, "train", None).tf_dataset(batch_size=40))
    flipped, _, _ = epoch(split(fitted, "train", {"flip": "horizontal"}).tf_dataset(batch_size=40))
    mirrored = np.array([np.array_equal(f, p[:, ::-1]) for f, p in zip(flipped, plain, strict=True)])
    kept = np.array([np.array_equal(f, p) for f, p in zip(flipped, plain, strict=True)])
    assert (mirrored | kept).all() and 5 < mirrored.sum() < 35  # about half, each exactly left-right


@pytest.mark.parametrize(
    ("augment", "expected"),
    [
        ("{flip: sideways}", "Input should be 'horizontal', 'vertical' or 'horizontal_and_vertical'"),
        ("{rotaton: 0.1}", "unknown key 'rotaton'"),
        ("{zoom: 1.5}", "Input should be less than 1"),
        ("{rotation: -0.1}", "Input should be greater than or equal to 0"),
        ("{}", "augment changes nothing: set flip, or a factor above 0 of rotation, translation, zoom"),
    ],
)
def test_bad_augment_settings_are_named_at_their_yaml_place(tmp_path, augment, expected):
    pipeline = _pipeline(tmp_path, augment=augment)
    code, out = cli("validate", str(pipeline))
    said = " ".join(out.split())
    assert code == 2 and expected in said, out
    line = next(n for n, text in enumerate(pipeline.read_text().splitlines(), 1) if "augment:" in text)
    assert f"pipeline.yaml:{line}:" in said
    if "rotaton" in augment:
        assert "did you mean 'rotation'?" in said


def test_augment_without_an_image_column_is_an_error_naming_the_option(tmp_path):
    pipeline = _pipeline(tmp_path, augment="{flip: horizontal}", ops="[{drop: {columns: [image]}}]")
    code, out = cli("run", str(pipeline))
    said = " ".join(out.split())
    line = next(n for n, text in enumerate(pipeline.read_text().splitlines(), 1) if "augment:" in text)
    assert code == 1 and f"pipeline.yaml:{line}:" in said, out
    assert "augment changes images, and the transformed examples have no image column" in said
    assert "Traceback" not in out


MODEL = """
import keras
import numpy as np


def train(ctx):
    assert ctx.eval.augment is None and ctx.train.augment["flip"] == "horizontal"
    keras.utils.set_random_seed(ctx.seed)
    image = keras.Input(shape=(8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model({"image": image}, keras.layers.Dense(len(ctx.classes), activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    model.fit(ctx.train.tf_dataset(batch_size=16, shuffle=True, features=["image"]), epochs=2, verbose=0)
    # what the model sees of the eval rows: un-augmented pixels, kept for the test to compare with serving
    features, _ = next(iter(ctx.eval.tf_dataset(batch_size=1000, features=["image"])))
    np.save("{scores}", model.predict(features, verbose=0))
    return model
"""


IMAGE_OPS = "[{decode_image: {select: {type: image}}}, {scale_to_z_score: {select: {type: image}}}]"


def _pipeline(tmp_path: Path, *, augment: str, ops: str = IMAGE_OPS, extra: str = "") -> Path:
    write_colour_folder(tmp_path / "data", 36)
    (tmp_path / "model.py").write_text(MODEL.replace("{scores}", str(tmp_path / "eval_scores.npy")))
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"""name: augmented
components:
  ingest:
    type: ingest
    params: {{source: data, splits: {{train: 3, eval: 1}}}}
  transform:
    type: transform
    inputs: {{examples: ingest.examples}}
    params:
      ops: {ops}
  trainer:
    type: trainer
    inputs: {{examples: transform.transformed_examples, transform_graph: transform.transform_graph}}
    params:
      module: model.py
      label: label
      augment: {augment}
{extra}"""
    )
    return pipeline


@pytest.mark.parametrize("distribution", ["", "{strategy: mirrored, devices: 2}"], ids=["one_device", "mirrored"])
def test_a_pipeline_with_augment_trains_and_serves_un_augmented_images(tmp_path, distribution):
    """Under a distribution the worker rebuilds ctx: its train split augments (the module asserts it), eval not."""
    from headrace.components.artifacts import Examples
    from headrace.components.model_package import load_model
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.loader import load_pipeline

    extra = f"      distribution: {distribution}\n" if distribution else ""
    pipeline = _pipeline(
        tmp_path, augment="{flip: horizontal, rotation: 0.1, translation: 0.1, zoom: 0.1}", extra=extra
    )
    code, out = cli("run", str(pipeline))
    assert code == 0, out
    store = MetadataStore(load_pipeline(str(pipeline)).metadata_url)
    model = store.latest_artifact("Model", component="trainer")
    raw = store.latest_artifact("Examples", component="ingest")
    assert model is not None and raw is not None
    packaged = load_model(model.uri)
    assert not [layer for layer in packaged.estimator.layers if "Random" in type(layer).__name__]
    rows = Examples(uri=raw.uri, properties=raw.properties).to_table("eval")
    # the served model's answer on the raw eval rows is the trained network's on the un-augmented pixels
    np.testing.assert_allclose(
        packaged.predict_proba(rows), np.load(tmp_path / "eval_scores.npy"), rtol=1e-5, atol=1e-6
    )
