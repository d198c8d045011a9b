"""The digits example as a user runs it: write the PNG folder tree, run the pipeline, train, evaluate, push.

The same pipeline.yaml, with only its source changed, runs on an RGB folder of
another size and class count: nothing in it or in model.py is sized for digits.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.projects import cli as run
from tests.projects import latest_outputs as outputs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCURACY = 0.9  # the example's threshold; its CNN measures about 0.96 on the eval split (20 epochs, seed 0)


def copy_example(target: Path) -> Path:
    shutil.copytree(os.path.join(REPO, "examples", "digits"), target, ignore=shutil.ignore_patterns("runs", "data"))
    return target / "pipeline.yaml"


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    target = tmp_path_factory.mktemp("digits") / "example"
    pipeline = copy_example(target)
    made = subprocess.run([sys.executable, "make_data.py"], cwd=target, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert len(list((target / "data").glob("*/*.png"))) == 1797
    code, out = run("run", str(pipeline))
    assert code == 0, out
    return target, outputs(str(pipeline))


def test_the_digits_example_ingests_describes_and_validates_its_images(digits):
    _, found = digits
    examples = found["ingest"][1]["examples"].properties
    assert sum(examples["row_counts"].values()) == 1797 and examples["bad_rows"]["count"] == 0
    assert examples["classes"] == [str(d) for d in range(10)] and examples["image_shape"] == [8, 8, 1]
    anomalies = found["validator"][1]["anomalies"]
    assert anomalies.properties["counts"] == {"error": 0, "warning": 0}
    statistics = found["statistics"][1]["statistics"].uri
    splits = json.loads(Path(statistics, "statistics.json").read_text())["splits"]
    image = splits["train"]["columns"]["image"]["image"]
    assert image["shapes"] == [{"height": 8, "width": 8, "count": examples["row_counts"]["train"]}]
    assert 0 < image["pixel_mean"] < 255 and image["undecodable"] == 0
    assert Path(statistics, "statistics.html").read_text().count("<img") >= 10  # thumbnails of every class


def eval_rows(found: dict):
    from headrace.components.artifacts import Examples

    raw = found["ingest"][1]["examples"]
    return Examples(uri=raw.uri, properties=raw.properties).to_table("eval")


def test_the_digits_cnn_is_accurate_blessed_and_pushed_and_serves_from_the_image_alone(digits):
    from headrace.components.model_package import load_model

    target, found = digits
    metrics = json.loads(Path(found["evaluator"][1]["evaluation"].uri, "metrics.json").read_text())
    accuracy = metrics["model"]["metrics"]["accuracy"]
    assert (
        accuracy > ACCURACY
        and metrics["rows"]["evaluated"] == found["ingest"][1]["examples"].properties["row_counts"]["eval"]
    )
    assert found["evaluator"][1]["blessing"].properties["blessed"] is True
    rows = eval_rows(found)
    packaged = load_model(found["trainer"][1]["model"].uri)
    assert packaged.info.required_columns == ["image"] and "path" in packaged.info.raw_columns
    only_image = rows.select(["image"]).to_pandas()
    predicted = packaged.predict(only_image)  # no path: the model never reads it
    truth = rows["label"].to_numpy(zero_copy_only=False)
    assert np.mean(predicted == truth) == pytest.approx(accuracy)  # what the evaluator measured, on these rows
    with pytest.raises(Exception, match=r"lacks column.*'image'.*needs image"):
        packaged.predict(rows.select(["path"]).to_pandas())

    import mlflow.pyfunc

    served = mlflow.pyfunc.load_model(found["trainer"][1]["model"].uri)  # the signature marks path optional
    inputs = {spec.name: spec.required for spec in served.metadata.get_input_schema().inputs}
    assert inputs == {"image": True, "path": False}
    assert list(served.predict(only_image.head(20))) == list(predicted[:20])

    import base64

    from headrace.components import tf_serving_rest

    first = [{"b64": base64.b64encode(b).decode()} for b in rows["image"].to_pylist()[:5]]
    answer = tf_serving_rest.predict(packaged, {"instances": [{"image": b} for b in first]})  # headrace serve's way
    assert [p["classes"] for p in answer["predictions"]] == [str(p) for p in predicted[:5]]
    with pytest.raises(tf_serving_rest.BadRequest, match=r"lacks column\(s\) 'image'.*takes path if given"):
        tf_serving_rest.predict(packaged, {"instances": [{"path": "0/0000.png"}]})

    import tensorflow as tf

    versions = list((target / "serving" / "digits").iterdir())
    assert len(versions) == 1 and (versions[0] / "saved_model.pb").exists()  # TF Serving's <name>/<version>/
    loaded = tf.saved_model.load(str(versions[0]))
    for name in ("serving_default", "serving_pixels"):  # a TF Serving client sends the image alone, no dummy path
        assert set(loaded.signatures[name].structured_input_signature[1]) == {"image"}, name
    answer = loaded.signatures["serving_default"](image=tf.constant(rows["image"].to_pylist()))
    assert [c.decode() for c in answer["classes"].numpy()] == [str(p) for p in predicted]
    np.testing.assert_allclose(answer["scores"].numpy(), packaged.predict_proba(only_image), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="path"):  # the signature refuses what the model never reads
        loaded.signatures["serving_default"](image=tf.constant(rows["image"].to_pylist()[:1]), path=tf.constant([""]))
    signature = tf_serving_rest.metadata(packaged, "digits", "1")["metadata"]["signature_def"]["signature_def"]
    served_inputs = signature["serving_default"]["inputs"]  # what headrace serve's /metadata says
    assert list(served_inputs) == ["image"] and served_inputs["image"]["dtype"] == "DT_STRING"
    scores = signature["serving_default"]["outputs"]["scores"]["tensor_shape"]["dim"]
    assert [d["size"] for d in scores] == ["-1", str(len(packaged.info.classes))]


def test_a_second_run_is_cached_and_the_pusher_pushes_nothing_new(digits):
    target, _ = digits
    code, out = run("run", str(target / "pipeline.yaml"))
    assert code == 0 and "(8 cached)" in out, out
    assert len(list((target / "serving" / "digits").iterdir())) == 1


def test_the_same_pipeline_runs_on_an_rgb_folder_of_another_size_and_class_count(tmp_path):
    from PIL import Image

    from headrace.components.model_package import load_model

    pipeline = copy_example(tmp_path / "example")
    rng = np.random.default_rng(0)
    classes = ["blue", "green", "red"]
    for i in range(90):  # 20 high, 16 wide, RGB; the class is the brightest channel
        name = classes[i % 3]
        pixels = rng.integers(0, 100, (20, 16, 3), dtype=np.uint8)
        pixels[:, :, 2 - i % 3] += 120
        folder = tmp_path / "colours" / name
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")
    code, out = run("run", str(pipeline), "--set", f"components.ingest.params.source={tmp_path / 'colours'}")
    assert code == 0, out
    found = outputs(str(pipeline))
    examples = found["ingest"][1]["examples"].properties
    assert examples["classes"] == classes and examples["image_shape"] == [20, 16, 3]
    packaged = load_model(found["trainer"][1]["model"].uri)
    assert packaged.classes == classes and packaged.info.required_columns == ["image"]
    rows = eval_rows(found)
    predicted = packaged.predict(rows.select(["image"]).to_pandas())
    assert np.mean(predicted == rows["label"].to_numpy(zero_copy_only=False)) > ACCURACY
    assert found["evaluator"][1]["blessing"].properties["blessed"] is True
    assert list((tmp_path / "example" / "serving" / "digits").iterdir())
