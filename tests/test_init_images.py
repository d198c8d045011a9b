"""``headrace init DIR --data FOLDER`` on an image folder: examples/digits' pipeline, sized from the data, run as written.

A small generated folder (three classes of 8x8 grayscale PNGs, unequal counts) gets a pipeline that validates and runs
end to end: the CNN trains (a few epochs via --set), clears the majority-class bar, and is pushed. The label is the
class folder, so --label is not needed; one naming another column, a single class, or a regression are errors that
write nothing. A table of images (``--data TABLE --label COLUMN``) gets the same pipeline: a Parquet of pixels (a
fixed-shape tensor column) and a CSV whose column names PNG files, each validated, run and pushed.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.projects import cli, latest_outputs
from tests.test_image_transform import png

pytest.importorskip("tensorflow", reason="the image pipeline's CNN needs the extra: pip install 'headrace[tensorflow]'")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNTS = {"dark": 30, "grey": 24, "light": 18}
BRIGHTNESS = {"dark": 30, "grey": 128, "light": 225}


def image_folder(root: Path, counts: dict[str, int] = COUNTS, other_size: int = 0) -> Path:
    """``root/<class>/<i>.png``: 8x8 grayscale images whose class is their brightness, with noise.

    ``other_size``: every third image is that size (square) instead.
    """
    rng = np.random.default_rng(0)
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            side = other_size if other_size and i % 3 == 2 else 8
            pixels = np.clip(rng.normal(BRIGHTNESS[name], 20, (side, side, 1)), 0, 255).astype(np.uint8)
            (root / name / f"{i}.png").write_bytes(png(pixels))
    return root


def test_an_image_folder_gets_a_pipeline_that_validates_and_runs_end_to_end(tmp_path: Path) -> None:
    data = image_folder(tmp_path / "shades")
    project = tmp_path / "p"
    code, out = cli("init", str(project), "--data", str(data))
    assert code == 0, out
    assert "classification of 3 classes (the class folders) from 72 images" in out
    assert sorted(os.listdir(project)) == ["headrace.schema.json", "model.py", "pipeline.yaml"]
    text = (project / "pipeline.yaml").read_text()
    spec = yaml.safe_load(text)
    steps = spec["components"]
    assert list(steps) == ["ingest", "statistics", "schema", "validator", "transform", "trainer", "evaluator", "pusher"]
    assert steps["ingest"]["params"]["source"] == "../shades"
    assert steps["transform"]["params"]["ops"] == [
        {"decode_image": {"select": {"type": "image"}, "channels": "auto"}},
        {"scale_to_z_score": {"select": {"type": "image"}}},
    ]
    assert steps["trainer"]["params"]["label"] == "label"
    assert steps["evaluator"]["params"]["thresholds"] == {"accuracy": {"min": 0.41}}  # 30 of 72 are 'dark'
    said = " ".join(line.lstrip("# ") for line in text.splitlines())  # the comments, unwrapped
    assert "('dark', 42% of the images)" in said and "(3 classes: dark, grey, light; 72 images)" in said
    assert "All the images are 8x8, so the model takes that size and refuses another" in said
    assert "- resize: {select: {type: image}, height: 8, width: 8}" in said and "sizes (" not in said
    # the model is examples/digits' CNN itself, not a second copy
    with open(os.path.join(REPO, "examples", "digits", "model.py"), encoding="utf-8") as f:
        assert (project / "model.py").read_text() == f.read()

    pipeline = str(project / "pipeline.yaml")
    code, out = cli("validate", pipeline)
    assert code == 0, out
    code, out = cli("run", pipeline, "--set", "components.trainer.params.hyperparameters.epochs=8")
    assert code == 0, out
    assert "succeeded" in out
    outputs = {name: artifacts for name, (_, artifacts) in latest_outputs(pipeline).items()}
    assert outputs["evaluator"]["blessing"].properties["blessed"] is True
    pushed = outputs["pusher"]["pushed_model"].properties
    assert pushed["pushed"] is True, pushed
    from headrace.components.model_package import load_model

    model = load_model(pushed["path"])
    import pyarrow as pa

    from headrace.components.images import image_field

    light = (data / "light" / "0.png").read_bytes()
    rows = pa.table(
        [pa.array([light]), pa.array(["light/0.png"])], schema=pa.schema([image_field("image"), ("path", pa.string())])
    )
    assert model.predict(rows).tolist() == ["light"]


def test_a_folder_of_mixed_sizes_gets_a_resize_so_the_served_model_takes_any_size(tmp_path: Path) -> None:
    data = image_folder(tmp_path / "shades", other_size=12)  # 48 images 8x8, 24 12x12
    project = tmp_path / "p"
    code, out = cli("init", str(project), "--data", str(data))
    assert code == 0, out
    text = (project / "pipeline.yaml").read_text()
    steps = yaml.safe_load(text)["components"]
    assert steps["transform"]["params"]["ops"] == [
        {"decode_image": {"select": {"type": "image"}, "channels": "auto"}},
        {"resize": {"select": {"type": "image"}, "height": 8, "width": 8}},
        {"scale_to_z_score": {"select": {"type": "image"}}},
    ]
    said = " ".join(line.lstrip("# ") for line in text.splitlines())
    assert "The images have 2 sizes (8x8: 48, 12x12: 24): ingest resizes each to the most common, 8x8" in said
    assert "this resize makes the served model do the same to an image of any size it is sent" in said

    pipeline = str(project / "pipeline.yaml")
    code, out = cli("run", pipeline, "--set", "components.trainer.params.hyperparameters.epochs=8")
    assert code == 0 and "succeeded" in out, out
    outputs = {name: artifacts for name, (_, artifacts) in latest_outputs(pipeline).items()}
    assert outputs["ingest"]["examples"].properties["image_shape"] == [8, 8, 1]
    pushed = outputs["pusher"]["pushed_model"].properties
    assert pushed["pushed"] is True, pushed
    import pyarrow as pa

    from headrace.components.images import image_field
    from headrace.components.model_package import load_model

    model = load_model(pushed["path"])
    sent = [(data / "light" / "0.png").read_bytes(), (data / "light" / "2.png").read_bytes()]  # 8x8 and 12x12
    rows = pa.table(
        [pa.array(sent), pa.array(["a.png", "b.png"])], schema=pa.schema([image_field("image"), ("path", pa.string())])
    )
    assert model.predict(rows).tolist() == ["light", "light"]


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (["--label", "kind"], "--label 'kind': in an image folder the label is each image's class folder"),
        (["--task", "regression"], "--task regression: an image folder's classes are categories"),
    ],
)
def test_a_label_other_than_the_class_folder_or_a_regression_is_an_error(tmp_path: Path, more, message) -> None:
    data = image_folder(tmp_path / "shades")
    code, out = cli("init", str(tmp_path / "p"), "--data", str(data), *more)
    assert code == 2, out
    assert f"{data}: error: {message}" in out and "nothing written" in out
    assert not (tmp_path / "p").exists()
    code, out = cli("init", str(tmp_path / "p"), "--data", str(data), "--label", "label")
    assert code == 0, out


def test_a_single_class_or_an_empty_class_folder_writes_nothing(tmp_path: Path) -> None:
    one = image_folder(tmp_path / "one", {"dark": 5})
    code, out = cli("init", str(tmp_path / "p"), "--data", str(one))
    assert code == 2 and "one class folder ('dark'); a classifier needs at least two classes" in out, out
    empty = image_folder(tmp_path / "empty", {"dark": 5, "grey": 5})
    (empty / "light").mkdir()
    code, out = cli("init", str(tmp_path / "p"), "--data", str(empty))
    assert code == 2 and "hold no images" in out and "light" in out, out
    assert not (tmp_path / "p").exists()


def test_a_table_still_needs_a_label(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("a,y\n1,x\n")
    code, out = cli("init", str(tmp_path / "p"), "--data", str(data))
    assert code == 2 and "--data needs --label COLUMN" in out


def pushed_model(pipeline: str):
    """The model the pipeline's newest run pushed (asserting it was blessed and pushed)."""
    from headrace.components.model_package import load_model

    outputs = {name: artifacts for name, (_, artifacts) in latest_outputs(pipeline).items()}
    assert outputs["evaluator"]["blessing"].properties["blessed"] is True
    pushed = outputs["pusher"]["pushed_model"].properties
    assert pushed["pushed"] is True, pushed
    return load_model(pushed["path"])


def test_a_parquet_of_pixels_gets_the_image_pipeline_with_the_tensor_column_as_the_only_input(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tests.test_tensor_images import digits_pixels

    pixels, digits = digits_pixels()
    table = pa.table(
        {
            "pixels": pa.FixedShapeTensorArray.from_numpy_ndarray(pixels[:300]),
            "digit": digits[:300],
            "writer": np.arange(300) % 7,  # a number the CNN does not take
        }
    )
    pq.write_table(table, tmp_path / "digits.parquet")
    project = tmp_path / "p"
    code, out = cli("init", str(project), "--data", str(tmp_path / "digits.parquet"), "--label", "digit")
    assert code == 0, out
    assert "classification of 'digit' into 10 classes from 300 images (the column 'pixels', pixels)" in out
    assert "1 other column not model inputs (see the trainer step)" in out
    text = (project / "pipeline.yaml").read_text()
    steps = yaml.safe_load(text)["components"]
    assert steps["ingest"]["params"] == {"source": "../digits.parquet", "splits": {"train": 8, "eval": 2}}
    assert steps["trainer"]["params"]["label"] == "digit" and steps["evaluator"]["params"]["slices"] == [["digit"]]
    said = " ".join(line.lstrip("# ") for line in text.splitlines())
    assert "Its column pixels holds each image's pixels (uint8, 8x8x1), taken as they are." in said
    assert "the table's other column (writer) stays in the examples, but model.py feeds the CNN the image alone" in said
    assert 'features=["pixels"]' in (project / "model.py").read_text()  # the CNN reads the tensor column by its name

    pipeline = str(project / "pipeline.yaml")
    code, out = cli("validate", pipeline)
    assert code == 0, out
    code, out = cli("run", pipeline, "--set", "components.trainer.params.hyperparameters.epochs=15")
    assert code == 0 and "succeeded" in out, out
    model = pushed_model(pipeline)
    predicted = model.predict(table.select(["pixels"]))  # the pixels alone: the other column is not an input
    assert np.mean(predicted == digits[:300]) > 0.5


def test_a_csv_naming_png_files_gets_the_image_pipeline_with_its_image_column(tmp_path: Path) -> None:
    data = tmp_path / "data"
    image_folder(data / "pics", other_size=12)  # every third image 12x12
    files = sorted((data / "pics").rglob("*.png"))
    lines = [f"{path.relative_to(data).as_posix()},{path.parent.name}" for path in files]
    (data / "shades.csv").write_text("file,shade\n" + "\n".join(lines) + "\n")
    project = tmp_path / "p"
    code, out = cli("init", str(project), "--data", str(data / "shades.csv"), "--label", "shade")
    assert code == 0, out
    assert "classification of 'shade' into 3 classes from 72 images (the column 'file', file names)" in out
    text = (project / "pipeline.yaml").read_text()
    steps = yaml.safe_load(text)["components"]
    assert steps["ingest"]["params"]["source"] == "../data/shades.csv"
    assert steps["ingest"]["params"]["image_column"] == "file"
    assert {"resize": {"select": {"type": "image"}, "height": 8, "width": 8}} in steps["transform"]["params"]["ops"]
    said = " ".join(line.lstrip("# ") for line in text.splitlines())
    assert "The images have 2 sizes (8x8: 48, 12x12: 24): ingest resizes each to the most common, 8x8" in said
    with open(os.path.join(REPO, "examples", "digits", "model.py"), encoding="utf-8") as f:
        assert (project / "model.py").read_text() == f.read()  # ingest puts the files' bytes into "image"

    pipeline = str(project / "pipeline.yaml")
    code, out = cli("validate", pipeline)
    assert code == 0, out
    code, out = cli("run", pipeline, "--set", "components.trainer.params.hyperparameters.epochs=8")
    assert code == 0 and "succeeded" in out, out
    import pyarrow as pa

    from headrace.components.images import image_field

    sent = [(data / "pics" / "light" / "0.png").read_bytes(), (data / "pics" / "light" / "2.png").read_bytes()]
    rows = pa.table(
        [pa.array(sent), pa.array(["a.png", "b.png"])], schema=pa.schema([image_field("image"), ("file", pa.string())])
    )
    assert pushed_model(pipeline).predict(rows).tolist() == ["light", "light"]  # 8x8 and 12x12


def test_a_table_of_images_with_a_quantity_label_or_paths_that_lead_nowhere_writes_nothing(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pixels = np.zeros((40, 4, 4), dtype=np.uint8)
    table = pa.table({"image": pa.FixedShapeTensorArray.from_numpy_ndarray(pixels), "size": np.linspace(0, 1, 40)})
    pq.write_table(table, tmp_path / "t.parquet")
    code, out = cli("init", str(tmp_path / "p"), "--data", str(tmp_path / "t.parquet"), "--label", "size")
    assert code == 2, out
    assert "a regression of 'size' on the images in 'image' (a floating label): the image starter classifies" in out
    code, out = cli("init", str(tmp_path / "p"), "--data", str(tmp_path / "t.parquet"), "--label", "sise")
    assert code == 2 and "--label 'sise' names no column" in out and "did you mean 'size'?" in out, out

    (tmp_path / "moved.csv").write_text("file,shade\npics/a.png,dark\npics/b.png,light\n")
    code, out = cli("init", str(tmp_path / "p"), "--data", str(tmp_path / "moved.csv"), "--label", "shade")
    assert code == 2, out
    assert "the column 'file' names image files, but none of the first 2 exists where ingest looks for them" in out
    assert str(tmp_path / "pics" / "a.png") in out and "nothing written" in out
    assert not (tmp_path / "p").exists()
