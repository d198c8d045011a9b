"""Image columns through TensorFlow: tf_dataset decodes them with the transform's layers, and serving does the same.

What a user relies on: ``ctx.train.tf_dataset`` gives a float32
``[batch, height, width, channels]`` tensor for an image column, equal to the
transform's Keras layers and to NumPy's arithmetic on the decoded pixels; a
CNN trained on it and packaged as usual predicts from raw rows (encoded bytes)
through ``PackagedModel.predict``, and its SavedModel answers the same through
``serving_default`` (bytes) and ``serving_pixels`` (uint8 pixels).
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="the TensorFlow path needs the extra: pip install 'headrace[tensorflow]'")
keras = pytest.importorskip("keras", reason="the TensorFlow path needs the extra: pip install 'headrace[tensorflow]'")

from headrace.components.images import decode  # noqa: E402
from headrace.components.tensorflow.image_layers import DecodeImage, image_model  # noqa: E402
from headrace.components.tensorflow.transform_layers import raw_features, transform_model  # noqa: E402
from headrace.components.trainer.context import Split  # noqa: E402
from tests.test_image_transform import CLASSES, Z_SCORED, fit, images, write_colour_folder  # noqa: E402


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    root = tmp_path_factory.mktemp("images")
    train, _ = images(60, seed=1)
    eval_table, _ = images(12, seed=2, size=16)  # another size: the resize makes it 8x8
    ops = [Z_SCORED[0], {"resize": {"columns": ["image"], "height": 8, "width": 8}}, *Z_SCORED[1:]]
    transform, transformed = fit(root, ops, train=train, eval=eval_table)
    return transform, transformed, root


def split(fitted: tuple, name: str) -> Split:
    _, transformed, root = fitted
    return Split(transformed, name, ["image", "x"], "label", classes=list(CLASSES), transform_graph=str(root / "graph"))


def test_tf_dataset_gives_pixels_the_layers_and_numpy_agree_on(fitted):
    transform = fitted[0]
    dataset = split(fitted, "train").tf_dataset(batch_size=16)
    features, label = next(iter(dataset))
    assert features["image"].dtype == tf.float32 and tuple(features["image"].shape) == (16, 8, 8, 3)
    assert features["x"].dtype == tf.float32 and label.dtype == tf.int64
    assert dataset.element_spec[0]["image"].shape.as_list() == [None, 8, 8, 3]
    rows = fitted[1].to_table("train").slice(0, 16)
    layers = image_model(transform.image_chains()["image"])
    np.testing.assert_array_equal(features["image"].numpy(), layers(tf.constant(rows["image"].to_pylist())).numpy())
    normalize = transform.image_chains()["image"].steps[-1]
    pixels = np.stack([decode(b) for b in rows["image"].to_pylist()]).astype(np.float64) / 255.0
    expected = (pixels - normalize["mean"]) / np.sqrt(normalize["variance"])
    np.testing.assert_allclose(features["image"].numpy(), expected, rtol=1e-5, atol=1e-5)
    assert label.numpy().tolist() == [CLASSES.index(c) for c in rows["label"].to_pylist()]


def test_a_cnn_trained_on_the_pipeline_serves_bytes_and_pixels_alike(fitted, tmp_path):
    from headrace.components.model_package import load_model, save_model
    from headrace.components.tensorflow.serving_model import export_saved_model

    _, transformed, root = fitted
    keras.utils.set_random_seed(0)
    image = keras.Input(shape=(8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model({"image": image}, keras.layers.Dense(3, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    ctx_train = Split(
        transformed, "train", ["image"], "label", classes=list(CLASSES), transform_graph=str(root / "graph")
    )
    model.fit(ctx_train.tf_dataset(batch_size=16, shuffle=True), epochs=2, verbose=0)

    raw = images(12, seed=2, size=16)[0]  # the raw eval rows: 16x16 PNG bytes
    save_model(
        str(tmp_path / "model"),
        model,
        str(root / "graph"),
        label="label",
        task="classification",
        features=["image"],
        input_example=raw.to_pandas(),
        classes=list(CLASSES),
    )
    packaged = load_model(str(tmp_path / "model"))
    predicted = packaged.predict(raw.to_pandas())
    scores = packaged.predict_proba(raw)
    assert len(set(predicted.tolist())) > 1  # it learned something from the pixels

    # headrace serve's TF Serving REST form: bytes as {"b64": ...}, as TF Serving takes them
    import base64

    from headrace.components.tf_serving_rest import predict as rest_predict

    body = {
        "instances": [
            {"image": {"b64": base64.b64encode(b).decode()}, "x": x}
            for b, x in zip(raw["image"].to_pylist(), raw["x"].to_pylist(), strict=True)
        ]
    }
    assert [p["classes"] for p in rest_predict(packaged, body)["predictions"]] == predicted.tolist()

    path = export_saved_model(packaged, str(tmp_path / "saved" / "1"))
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == {"serving_default", "serving_pixels"}
    assert packaged.info.required_columns == ["image"]  # x passes through the transform, and the CNN never reads it
    for name in ("serving_default", "serving_pixels"):
        assert set(loaded.signatures[name].structured_input_signature[1]) == {"image"}, name
    on_bytes = loaded.signatures["serving_default"](image=tf.constant(raw["image"].to_pylist()))
    assert [c.decode() for c in on_bytes["classes"].numpy()] == predicted.tolist()
    np.testing.assert_allclose(on_bytes["scores"].numpy(), scores, rtol=1e-5, atol=1e-6)
    pixels = np.stack([decode(b) for b in raw["image"].to_pylist()])  # [12, 16, 16, 3] uint8
    on_pixels = loaded.signatures["serving_pixels"](image=tf.constant(pixels))
    assert [c.decode() for c in on_pixels["classes"].numpy()] == predicted.tolist()
    np.testing.assert_allclose(on_pixels["scores"].numpy(), scores, rtol=1e-5, atol=1e-6)


def test_transform_model_takes_bytes_and_the_layers_round_trip_a_keras_file(fitted, tmp_path):
    transform = fitted[0]
    model = transform_model(transform, exclude=["label"])
    assert model.input["image"].dtype == "string"
    rows = fitted[1].to_table("eval")
    out = model(raw_features(model, rows))
    assert tuple(out["image"].shape) == (12, 8, 8, 3) and out["image"].dtype == "float32"
    assert any(isinstance(layer, keras.layers.Normalization) for layer in model.layers)
    layers = image_model(transform.image_chains()["image"])
    layers.save(tmp_path / "layers.keras")
    again = keras.models.load_model(tmp_path / "layers.keras")
    assert any(isinstance(layer, DecodeImage) for layer in again.layers)
    data = tf.constant(rows["image"].to_pylist())
    np.testing.assert_array_equal(again(data).numpy(), layers(data).numpy())


def test_an_image_of_another_size_without_a_resize_is_an_error_naming_the_size(tmp_path):
    train, _ = images(9, seed=5)
    odd, _ = images(3, seed=6, size=16)
    transform, _ = fit(tmp_path, Z_SCORED, train=train, eval=odd)
    layers = image_model(transform.image_chains()["image"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="not 8x8, the size the model takes; add a resize op"):
        layers(tf.constant(odd["image"].to_pylist()))


MODEL = """
import keras


def train(ctx):
    keras.utils.set_random_seed(ctx.seed)
    image = keras.Input(shape=(8, 8, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu")(image)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model({"image": image}, keras.layers.Dense(len(ctx.classes), activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    model.fit(ctx.train.tf_dataset(batch_size=16, shuffle=True, features=["image"]), epochs=2, verbose=0)
    return model
"""


def test_an_image_folder_trains_a_cnn_through_the_pipeline(tmp_path):
    from click.testing import CliRunner

    from headrace.components.model_package import load_model
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.cli import main
    from headrace.pipelines.loader import load_pipeline

    write_colour_folder(tmp_path / "data", 45)
    (tmp_path / "model.py").write_text(MODEL)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        """name: images
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
        - scale_to_0_1: {select: {type: image}}
        - scale_to_z_score: {select: {type: image}}
  trainer:
    type: trainer
    inputs: {examples: transform.transformed_examples, transform_graph: transform.transform_graph}
    params: {module: model.py, label: label, seed: 0}
  evaluator:
    type: evaluator
    inputs: {model: trainer.model, examples: ingest.examples}
    params: {thresholds: {accuracy: {min: 0.5}}}
  pusher:
    type: pusher
    inputs: {model: trainer.model, blessing: evaluator.blessing}
    params: {push_dir: serving, model_name: colours}
"""
    )
    result = CliRunner().invoke(main, ["run", str(pipeline)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    store = MetadataStore(load_pipeline(str(pipeline)).metadata_url)
    model = store.latest_artifact("Model", component="trainer")
    assert model is not None
    packaged = load_model(model.uri)
    raw = store.latest_artifact("Examples", component="ingest")
    assert raw is not None
    from headrace.components.artifacts import Examples

    rows = Examples(uri=raw.uri, properties=raw.properties).to_table("eval")
    predicted = packaged.predict(rows)
    assert len(predicted) == rows.num_rows and set(predicted) <= set(CLASSES)
    assert "train_accuracy" in (store.producer(model.id).metrics or {})
    # the pusher's SavedModel takes the image's bytes, and its pixels
    loaded = tf.saved_model.load(str(tmp_path / "serving" / "colours" / "1"))
    assert set(loaded.signatures) == {"serving_default", "serving_pixels"}
    assert set(loaded.signatures["serving_default"].structured_input_signature[1]) == {"image"}  # not path
    answer = loaded.signatures["serving_default"](image=tf.constant(rows["image"].to_pylist()))
    assert [c.decode() for c in answer["classes"].numpy()] == predicted.tolist()


def test_a_renamed_image_column_with_an_opaque_alpha_channel(tmp_path):
    """RGB images decoded to 4 channels get an alpha of 255: a constant channel is centred, not blown up."""
    train, _ = images(9, seed=7)
    ops = [
        {"decode_image": {"columns": ["image"], "channels": 4}},
        {"scale_to_z_score": {"columns": ["image"]}},
        {"rename": {"columns": {"image": "pixels"}}},
    ]
    transform, transformed = fit(tmp_path, ops, train=train, eval=train)
    chains = transform.image_chains()
    assert list(chains) == ["pixels"] and chains["pixels"].column == "pixels"
    normalize = chains["pixels"].steps[-1]
    assert normalize["mean"][3] == 255.0 and normalize["variance"][3] == 1.0
    from headrace.components.tensorflow.datasets import examples_dataset

    features, _ = next(iter(examples_dataset(transformed, "train", label="label", batch_size=9, transform=transform)))
    pixels = features["pixels"].numpy()
    assert pixels.shape == (9, 8, 8, 4) and np.isfinite(pixels).all() and (pixels[..., 3] == 0).all()
    served = transform_model(transform, exclude=["label"])
    assert "image" in served.input and served.output["pixels"].shape[1:] == (8, 8, 4)
