"""Image ops in the transform, frozen into the TransformGraph, run by the same Keras layers in tf.data and serving.

Small generated PNGs (8x8 and 16x16, three classes told apart by colour), a
tiny CNN trained a couple of epochs: the frozen pixel moments against NumPy,
in-process against Beam, tf_dataset's tensors against the layers and NumPy,
bad ops named at their YAML line, and the SavedModel's two signatures (bytes
and pixels) against PackagedModel.predict on raw rows.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from headrace.components import TransformGraph
from headrace.components.artifacts import Examples
from headrace.components.images import decode, image_field, is_image_field
from headrace.components.transform.graph import FittedTransform
from headrace.components.transform.run import run_transform
from headrace.components.transform.spec import TransformParameters
from tests.examples_files import write_examples

CLASSES = ("red", "green", "blue")
Z_SCORED = [
    {"decode_image": {"select": {"type": "image"}, "channels": 3}},
    {"scale_to_0_1": {"select": {"type": "image"}}},
    {"scale_to_z_score": {"select": {"type": "image"}}},
]


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(out, format="PNG")
    return out.getvalue()


def write_colour_folder(root: Path, count: int, size: int = 8) -> None:
    """``count`` noisy RGB PNGs in ``root/<colour>/``, each brightest in its class's channel (seeded: same files)."""
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / CLASSES[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 120, (size, size, 3), dtype=np.uint8)
        pixels[:, :, i % 3] += 120
        (folder / f"{i}.png").write_bytes(png(pixels))


def images(n: int, seed: int, size: int = 8, channels: int = 3) -> tuple[pa.Table, list[np.ndarray]]:
    """``n`` noisy images whose class is the colour channel that is brightest."""
    rng = np.random.default_rng(seed)
    pixels, labels = [], []
    for i in range(n):
        image = rng.integers(0, 120, (size, size, channels), dtype=np.uint8)
        if channels == 3:
            image[:, :, i % 3] += 120
        pixels.append(image)
        labels.append(CLASSES[i % 3])
    schema = pa.schema([image_field("image"), pa.field("label", pa.string()), pa.field("x", pa.float64())])
    table = pa.table(
        [pa.array([png(p) for p in pixels], pa.binary()), pa.array(labels), pa.array(np.arange(n, dtype=float))],
        schema=schema,
    )
    return table, pixels


def fit(
    tmp_path: Path, ops: list[dict], *, train: pa.Table, eval: pa.Table, **params
) -> tuple[FittedTransform, Examples]:
    examples = write_examples(tmp_path / "examples", {"train": [train], "eval": [eval]})
    transformed = Examples(uri=str(tmp_path / "transformed"))
    parameters = TransformParameters.model_validate({"ops": ops, "engine": "in_process", **params})
    run_transform(examples, None, parameters, transformed=transformed, graph_uri=str(tmp_path / "graph"))
    return TransformGraph.load(str(tmp_path / "graph")), transformed


@pytest.fixture(scope="module")
def data() -> dict:
    train, train_pixels = images(60, seed=1)
    eval_table, eval_pixels = images(12, seed=2)
    return {"train": train, "eval": eval_table, "train_pixels": train_pixels, "eval_pixels": eval_pixels}


def test_frozen_pixel_moments_are_numpys_over_the_decoded_pixels(tmp_path, data):
    fitted, transformed = fit(tmp_path, [*Z_SCORED, {"scale_to_z_score": {"columns": ["x"]}}], **_splits(data))
    chain = fitted.image_chains()["image"]
    normalize = chain.steps[-1]
    pixels = np.stack(data["train_pixels"]).reshape(-1, 3).astype(np.float64) / 255.0
    np.testing.assert_allclose(normalize["mean"], pixels.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(normalize["variance"], pixels.var(axis=0), rtol=1e-12)
    assert [s["op"] for s in chain.steps] == ["decode_image", "rescale", "normalize"] and chain.size == (8, 8)
    # the image column passes through the Arrow transform unchanged, still marked as images
    out = transformed.to_table("eval")
    assert is_image_field(out.schema.field("image"))
    assert out["image"].to_pylist() == data["eval"]["image"].to_pylist()
    assert abs(float(np.mean(out["x"].to_numpy()))) > 0  # the numeric column was scaled as before
    document = json.loads((tmp_path / "graph" / "transform_graph.json").read_text())
    assert document["version"] == 2 and document["input_schema"][0]["image"] is True
    report = (tmp_path / "graph" / "transform.html").read_text()
    assert "decode to 3 channels" in report and "8x8" in report and "std" in report


def _splits(data: dict) -> dict:
    return {"train": data["train"], "eval": data["eval"]}


def test_auto_channels_default_size_and_mixed_channel_counts(tmp_path):
    gray, gray_pixels = images(7, seed=3, size=16, channels=1)
    rgb, _ = images(3, seed=4, size=16)
    table = pa.concat_tables([gray, rgb])
    ops = [{"resize": {"columns": ["image"]}}, {"scale_to_z_score": {"columns": ["image"]}}]
    fitted, _ = fit(tmp_path, ops, train=table, eval=gray)
    chain = fitted.image_chains()["image"]
    decode_step, resize, normalize = chain.steps
    assert decode_step == {"op": "decode_image", "channels": 1, "index": 0, "where": "ops[0] (implied)"}
    assert (resize["height"], resize["width"]) == (16, 16)
    # an RGB image counts as its ITU-R 601 gray value
    grays = [p[:, :, 0].astype(np.float64) for p in gray_pixels]
    for image in rgb["image"].to_pylist():
        rgb_pixels = decode(image).astype(np.float64)
        grays.append(rgb_pixels @ np.array([0.299, 0.587, 0.114]))
    values = np.concatenate([g.ravel() for g in grays])
    np.testing.assert_allclose(normalize["mean"], [values.mean()], rtol=1e-12)
    np.testing.assert_allclose(normalize["variance"], [values.var()], rtol=1e-9)


def test_beam_freezes_the_graph_the_in_process_engine_does(tmp_path, data):
    ops = [*Z_SCORED, {"resize": {"columns": ["image"], "height": 4, "width": 4}}]
    ops = [Z_SCORED[0], ops[3], *Z_SCORED[1:]]
    in_process, _ = fit(tmp_path / "a", ops, **_splits(data))
    beam, transformed = fit(tmp_path / "b", ops, engine="beam", **_splits(data))
    assert beam.to_document()["ops"] == in_process.to_document()["ops"]
    assert transformed.to_table("train")["image"].to_pylist() == data["train"]["image"].to_pylist()


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        (
            "        - resize: {columns: [x], height: 4, width: 4}",
            "pipeline.yaml:11:11: ops[0]: resize over column 'x': not an image column: its type is double",
        ),
        (
            "        - decode_image: {columns: [label]}",
            "pipeline.yaml:11:11: ops[0]: decode_image over column 'label': not an image column: its type is string",
        ),
        (
            "        - scale_to_z_score: {columns: [image]}\n        - decode_image: {columns: [image]}",
            "pipeline.yaml:12:11: ops[1]: decode_image over column 'image': the column is decoded already, by ops[0] "
            "(implied",
        ),
        (
            "        - fill_missing: {columns: [image], strategy: mode}",
            "ops[0]: fill_missing over column 'image': it is an image column (encoded bytes)",
        ),
    ],
)
def test_bad_image_ops_are_named_at_their_yaml_line(tmp_path, data, ops, expected):
    import pyarrow.parquet as pq  # the source: a Parquet file of the table, its image column marked
    from click.testing import CliRunner

    from headrace.pipelines.cli import main

    pq.write_table(data["train"], tmp_path / "images.parquet")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"""name: t
components:
  ingest:
    type: ingest
    params: {{source: images.parquet}}
  transform:
    type: transform
    inputs: {{examples: ingest.examples}}
    params:
      ops:
{ops}
"""
    )
    result = CliRunner().invoke(main, ["run", str(pipeline)], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert expected in result.output, result.output
    assert "Traceback" not in result.output
