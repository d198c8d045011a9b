"""Images as a Parquet fixed-shape tensor column (Arrow's FixedShapeTensorArray) train like an image folder.

scikit-learn's digits as a uint8 ``[8, 8, 1]`` tensor column ``image`` beside
an integer ``label``, run through examples/digits' own pipeline and CNN with
only the source changed: accurate, blessed and pushed; the SavedModel, the
MLflow model, ``headrace serve``'s JSON and the int8 TFLite file all take the
pixels and agree. Then the parts a user meets on their own: ``tf_dataset`` of
a raw tensor column, the frozen pixel moments, and bad tensors and ops.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

tf = pytest.importorskip("tensorflow", reason="the TensorFlow path needs the extra: pip install 'headrace[tensorflow]'")

from headrace.components.model_package import load_model  # noqa: E402
from tests.projects import cli as run  # noqa: E402
from tests.projects import latest_outputs as outputs  # noqa: E402
from tests.test_digits_example import ACCURACY, copy_example, eval_rows  # noqa: E402
from tests.test_image_transform import fit  # noqa: E402


def digits_pixels() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 digits as uint8 pixels ``(n, 8, 8, 1)`` (0..16 scaled to 0..255, as make_data.py does)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None], digits.target.astype(np.int64)


def tensor_table(pixels: np.ndarray, labels: np.ndarray) -> pa.Table:
    return pa.table({"image": pa.FixedShapeTensorArray.from_numpy_ndarray(pixels), "label": pa.array(labels)})


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    target = tmp_path_factory.mktemp("tensors") / "example"
    pipeline = copy_example(target)
    pq.write_table(tensor_table(*digits_pixels()), target / "digits.parquet")
    code, out = run(
        "run",
        str(pipeline),
        "--set",
        "components.ingest.params.source=digits.parquet",
        "--set",
        "components.trainer.params.export=tflite",
        "--set",
        "components.trainer.params.quantize=int8",
    )
    assert code == 0, out
    return target, outputs(str(pipeline))


def test_the_digits_pipeline_trains_on_a_tensor_column_and_every_served_form_takes_pixels(digits):
    target, found = digits
    metrics = json.loads(Path(found["evaluator"][1]["evaluation"].uri, "metrics.json").read_text())
    accuracy = metrics["model"]["metrics"]["accuracy"]
    assert accuracy > ACCURACY and found["evaluator"][1]["blessing"].properties["blessed"] is True
    html = Path(found["evaluator"][1]["evaluation"].uri, "evaluation.html").read_text()
    assert "Worst-classified images" in html and html.count("data:image/png;base64") >= 10  # pixels as thumbnails

    rows = eval_rows(found)
    pixels = rows["image"].combine_chunks().to_numpy_ndarray()
    truth = rows["label"].to_numpy()
    model_uri = found["trainer"][1]["model"].uri
    packaged = load_model(model_uri)
    predicted = packaged.predict(rows)
    assert np.mean(predicted == truth) == pytest.approx(accuracy)  # what the evaluator measured, on these rows

    versions = list((target / "serving" / "digits").iterdir())
    loaded = tf.saved_model.load(str(versions[0]))
    signature = loaded.signatures["serving_default"]
    assert set(loaded.signatures) == {"serving_default"}  # the pixels are the input: no second signature
    assert signature.structured_input_signature[1]["image"] == tf.TensorSpec((None, 8, 8, 1), tf.uint8, "image")
    answer = signature(image=tf.constant(pixels))
    assert [c.decode() for c in answer["classes"].numpy()] == [str(p) for p in predicted]

    import mlflow.pyfunc
    import pandas as pd

    served = mlflow.pyfunc.load_model(model_uri)
    as_arrays = pd.DataFrame({"image": list(pixels[:20])})
    as_lists = pd.DataFrame({"image": [p.tolist() for p in pixels[:20]]})
    assert list(served.predict(as_arrays)) == list(served.predict(as_lists)) == list(predicted[:20])

    from headrace.components import tf_serving_rest

    answer = tf_serving_rest.predict(packaged, {"instances": [{"image": p.tolist()} for p in pixels[:5]]})
    assert [p["classes"] for p in answer["predictions"]] == [str(p) for p in predicted[:5]]
    with pytest.raises(tf_serving_rest.BadRequest, match=r"row 0: pixels of shape \[2, 2\].*takes \[8, 8, 1\]"):
        tf_serving_rest.predict(packaged, {"instances": [{"image": [[1, 2], [3, 4]]}]})

    exported = found["trainer"][1]["model"].properties["export"]
    assert exported["quantize"] == "int8" and exported["inputs"]["image"] == "uint8 pixels"
    assert exported["int8_tensors"] > 0 and exported["accuracy"] >= exported["float"]["accuracy"] - 0.02


def test_tf_dataset_of_a_raw_tensor_column_gives_float_pixels_with_a_channel(tmp_path):
    from headrace.components.tensorflow.datasets import tf_dataset

    pixels = np.random.default_rng(0).integers(0, 256, (10, 5, 4), dtype=np.uint8)  # [h, w]: one channel
    batch = pa.record_batch({"image": pa.FixedShapeTensorArray.from_numpy_ndarray(pixels), "label": np.arange(10)})
    data = tf_dataset(lambda: [batch], label="label", batch_size=4)
    spec = data.element_spec[0]["image"]
    assert spec.shape.as_list() == [None, 5, 4, 1] and spec.dtype == tf.float32
    got = np.concatenate([features["image"].numpy() for features, _ in data])
    assert np.array_equal(got, pixels[..., None].astype(np.float32))


def test_the_z_score_is_per_channel_over_the_tensor_pixels_on_both_engines_and_tf_dataset_applies_it(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (30, 6, 6, 3), dtype=np.uint8)
    pixels[..., 2] //= 4  # a darker blue: channels differ
    table = tensor_table(pixels, np.arange(30) % 2)
    ops = [{"decode_image": {"select": {"type": "image"}}}, {"scale_to_z_score": {"select": {"type": "image"}}}]
    fitted, transformed = fit(tmp_path / "a", ops, train=table, eval=table.slice(0, 6))
    beam, _ = fit(tmp_path / "b", ops, engine="beam", train=table, eval=table.slice(0, 6))
    assert beam.to_document()["ops"] == fitted.to_document()["ops"]
    chain = fitted.image_chains()["image"]
    normalize = chain.steps[-1]
    flat = pixels.reshape(-1, 3).astype(np.float64)
    assert normalize["mean"] == pytest.approx(flat.mean(axis=0)) and normalize["variance"] == pytest.approx(flat.var(0))
    assert chain.tensor == {"shape": [6, 6, 3], "dtype": "uint8"}

    from headrace.components.tensorflow.datasets import examples_dataset

    data = examples_dataset(transformed, "train", label="label", batch_size=30, transform=fitted)
    got = next(iter(data))[0]["image"].numpy()
    expected = (pixels - flat.mean(axis=0)) / flat.std(axis=0)
    assert got.shape == (30, 6, 6, 3) and np.allclose(got, expected, atol=1e-4)


def test_bad_tensors_and_ops_are_errors_naming_the_column_and_the_fix(tmp_path):
    from headrace.components.transform.scope import TransformError

    gray = tensor_table(np.zeros((6, 4, 4, 1), np.uint8), np.arange(6) % 2)
    with pytest.raises(TransformError, match=r"tensor column of shape \[4, 4, 1\].*asks for 3.*channels: 1"):
        fit(tmp_path / "a", [{"decode_image": {"columns": ["image"], "channels": 3}}], train=gray, eval=gray)
    floats = tensor_table(np.zeros((6, 4, 4, 1), np.float32), np.arange(6) % 2)
    with pytest.raises(TransformError, match=r"float32 pixels.*divides by 255.*scale_to_z_score"):
        fit(tmp_path / "b", [{"scale_to_0_1": {"columns": ["image"]}}], train=floats, eval=floats)
    volumes = tensor_table(np.zeros((6, 2, 4, 4, 1), np.uint8), np.arange(6) % 2)  # 4 dims: not an image
    with pytest.raises(TransformError, match=r"'image'.*not an image column.*\[height, width, channels\]"):
        fit(tmp_path / "c", [{"decode_image": {"columns": ["image"]}}], train=volumes, eval=volumes)


def test_a_resize_to_zero_is_refused_at_its_yaml_line(tmp_path):
    pipeline = copy_example(tmp_path / "example")
    text = pipeline.read_text().replace(
        "# - resize: {select: {type: image}, height: 32, width: 32}", "- resize: {select: {type: image}, height: 0}"
    )
    pipeline.write_text(text)
    code, out = run("validate", str(pipeline))
    line = 1 + text.splitlines().index(next(x for x in text.splitlines() if "height: 0" in x))
    assert code != 0 and f"pipeline.yaml:{line}:" in out and "height" in out, out


def test_without_image_ops_the_transform_model_passes_the_tensor_pixels_as_float(tmp_path):
    from headrace.components.tensorflow.transform_layers import raw_features, transform_model

    pixels = np.random.default_rng(2).integers(0, 256, (8, 4, 4, 1), dtype=np.uint8)
    table = tensor_table(pixels, np.arange(8) % 2).append_column("x", [np.arange(8, dtype=float)])
    fitted, _ = fit(tmp_path, [{"scale_to_z_score": {"columns": ["x"]}}], train=table, eval=table)
    assert fitted.image_chains() == {}
    model = transform_model(fitted, exclude=["label"])
    assert model.input["image"].dtype == "uint8" and tuple(model.input["image"].shape) == (None, 4, 4, 1)
    out = model(raw_features(model, table))
    assert out["image"].dtype == tf.float32 and np.array_equal(out["image"].numpy(), pixels.astype(np.float32))
