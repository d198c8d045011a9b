"""``export: tflite`` of an image model: a file that takes uint8 pixels, float and full-integer (``quantize: int8``).

What a user relies on: TFLite's builtin ops cannot decode PNG, so the file
in the Model artifact takes an image column as uint8 pixels (what a device
app decodes) and resizes and normalizes inside; LiteRT runs it on the eval
images and it classifies them as the Keras model does; ``quantize: int8``
calibrates on sampled train rows, gives a smaller file whose accuracy is
recorded beside the float file's; int8 without raw train rows is refused
naming the option and the fix.
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="the TensorFlow path needs the extra: pip install 'headrace[tensorflow]'")
litert = pytest.importorskip("ai_edge_litert.interpreter", reason="needs the extra: pip install 'headrace[tensorflow]'")

from headrace.components.artifacts import Examples  # noqa: E402
from headrace.components.images import decode  # noqa: E402
from headrace.components.model_package import load_model  # noqa: E402
from tests.projects import cli as run  # noqa: E402
from tests.test_image_transform import CLASSES, write_colour_folder  # noqa: E402

# Two convolutions: enough weights (~5,000) that int8 storage outweighs the quantization parameters it adds.
MODEL = """
import keras


def train(ctx):
    keras.utils.set_random_seed(ctx.seed)
    image = keras.Input(shape=(8, 8, 3), name="image")
    x = keras.layers.Conv2D(16, 3, activation="relu")(image)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model({"image": image}, keras.layers.Dense(len(ctx.classes), activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit(ctx.train.tf_dataset(batch_size=16, shuffle=True, features=["image"]), epochs=4, verbose=0)
    return model
"""

PIPELINE = """name: images
components:
  ingest:
    type: ingest
    params: {source: data, splits: {train: 3, eval: 1}}
  transform:
    type: transform
    inputs: {examples: ingest.examples}
    params:
      ops:
        - decode_image: {select: {type: image}}
        - resize: {select: {type: image}, height: 8, width: 8}
        - scale_to_0_1: {select: {type: image}}
        - scale_to_z_score: {select: {type: image}}
  trainer:
    type: trainer
    inputs: {examples: transform.transformed_examples, transform_graph: transform.transform_graph%s}
    params: {module: model.py, label: label, seed: 0, export: tflite, quantize: %s}
"""


def write_project(root, quantize: str, raw: bool = True) -> str:
    """60 coloured 10x10 PNGs in three class folders (the transform resizes them to 8x8), and the pipeline."""
    write_colour_folder(root / "data", 60, size=10)
    (root / "model.py").write_text(MODEL)
    pipeline = root / "pipeline.yaml"
    pipeline.write_text(PIPELINE % (", raw_examples: ingest.examples" if raw else "", quantize))
    return str(pipeline)


def trained(pipeline: str) -> tuple:
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.loader import load_pipeline

    store = MetadataStore(load_pipeline(pipeline).metadata_url)
    model = store.latest_artifact("Model", component="trainer")
    raw = store.latest_artifact("Examples", component="ingest")
    assert model is not None and raw is not None
    metrics = store.producer(model.id).metrics or {}
    return model, Examples(uri=raw.uri, properties=raw.properties).to_table("eval"), metrics


@pytest.fixture(scope="module")
def int8(tmp_path_factory):
    pipeline = write_project(tmp_path_factory.mktemp("int8"), "int8")
    code, out = run("run", pipeline)
    assert code == 0, out
    return trained(pipeline)


def test_the_int8_file_takes_pixels_and_classifies_as_keras_does(int8):
    model, rows, metrics = int8
    exported = model.properties["export"]
    assert exported["quantize"] == "int8" and exported["inputs"]["image"] == "uint8 pixels"
    assert exported["representative_rows"] == metrics["rows_train"] and exported["int8_tensors"] > 0
    # what a device app does: decode the image itself, give LiteRT the pixels (10x10: the file resizes)
    runner = litert.Interpreter(model_path=f"{model.uri}/tflite/model.tflite").get_signature_runner()
    pixels = np.stack([decode(b) for b in rows["image"].to_pylist()])
    assert list(runner.get_input_details()) == ["image"]  # the pixels alone: no path, which the model never reads
    got = runner(image=pixels)
    assert got["scores"].dtype == np.float32 and got["scores"].shape == (rows.num_rows, 3)
    predicted = load_model(model.uri).predict(rows).tolist()
    agree = np.mean([c.decode() == p for c, p in zip(got["classes"], predicted, strict=True)])
    assert agree >= 0.8 and agree == pytest.approx(exported["class_agreement"])
    assert abs(exported["accuracy"] - exported["keras_accuracy"]) <= 0.2
    # the float file was checked too: it matches Keras to float32 rounding, and is larger
    plain = exported["float"]
    assert plain["max_difference"] <= 1e-3 and plain["class_agreement"] == 1.0
    assert plain["accuracy"] == exported["keras_accuracy"]
    assert exported["size_bytes"] < plain["size_bytes"]
    assert metrics["tflite_accuracy"] == exported["accuracy"]
    assert metrics["tflite_float_size_bytes"] == plain["size_bytes"]


def test_int8_without_raw_train_rows_is_refused_naming_the_fix(tmp_path):
    pipeline = write_project(tmp_path, "int8", raw=False)
    code, out = run("run", pipeline)
    assert code != 0
    assert "pipeline.yaml:18:" in out and "quantize: int8 calibrates on raw train rows" in out
    assert "give the trainer raw_examples" in out and "trainer failed" in out
    assert "progress (training" not in out  # refused before the user's code trains


def test_the_float_file_takes_pixels_of_any_size_and_scores_as_keras(int8):
    from headrace.components.tensorflow.tflite_export import convert

    model, rows, _ = int8
    packaged = load_model(model.uri)
    runner = litert.Interpreter(model_content=convert(packaged, "none")).get_signature_runner()
    assert runner.get_input_details()["image"]["dtype"] == np.uint8
    pixels = np.stack([decode(b) for b in rows["image"].to_pylist()])  # 10x10: resized to 8x8 inside
    got = runner(image=pixels)
    np.testing.assert_allclose(got["scores"], packaged.predict_proba(rows), atol=1e-5)
    assert [c.decode() for c in got["classes"]] == packaged.predict(rows).tolist()


def test_a_network_of_pixels_and_a_number_without_a_resize_converts_float_and_int8(tmp_path):
    """No resize: the file takes the model's own size (8x8); a number beside the image is an input too."""
    import keras

    from headrace.components.model_package import save_model
    from headrace.components.tensorflow.tflite_export import check, convert
    from tests.test_image_transform import Z_SCORED, fit, images

    train, _ = images(30, seed=3)
    eval_rows, _ = images(9, seed=4)
    fit(tmp_path, Z_SCORED, train=train, eval=eval_rows)
    keras.utils.set_random_seed(0)
    image, x = keras.Input(shape=(8, 8, 3), name="image"), keras.Input(shape=(1,), name="x")
    pooled = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, activation="relu")(image))
    joined = keras.layers.Concatenate()([pooled, keras.layers.Rescaling(0.1)(x)])
    network = keras.Model({"image": image, "x": x}, keras.layers.Dense(3, activation="softmax")(joined))
    features = eval_rows.drop_columns(["label"])
    save_model(
        str(tmp_path / "model"),
        network,
        str(tmp_path / "graph"),
        label="label",
        task="classification",
        features=["image", "x"],
        input_example=features.to_pandas(),
        classes=list(CLASSES),
    )
    packaged = load_model(str(tmp_path / "model"))
    plain = convert(packaged, "none")
    runner = litert.Interpreter(model_content=plain).get_signature_runner()
    assert list(runner.get_input_details()["image"]["shape"][1:]) == [8, 8, 3]
    labels = eval_rows["label"].to_pylist()
    checked = check(plain, packaged, features, labels)
    assert checked["max_difference"] <= 1e-5 and checked["class_agreement"] == 1.0
    assert checked["inputs"] == {"image": "uint8 pixels", "x": "float32"}
    assert checked["accuracy"] == checked["keras_accuracy"]
    quantized = check(convert(packaged, "int8", train.drop_columns(["label"])), packaged, features, labels)
    assert quantized["int8_tensors"] > 0 and quantized["max_difference"] <= 0.1
