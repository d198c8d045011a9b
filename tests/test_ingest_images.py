"""Ingest of images: image folders, tables naming image files, tensor columns; what a user checks after a run."""

from __future__ import annotations

import importlib.util
import io
import logging
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from PIL import Image

from headrace.components.artifacts import Examples
from headrace.components.contract import Context
from headrace.components.images import decode, is_image_field
from headrace.components.ingest import Ingest, IngestError, IngestParameters
from tests.projects import cli
from tests.test_ingest import file_hashes

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("digits_make_data", REPO / "examples" / "digits" / "make_data.py")
assert _spec is not None and _spec.loader is not None
make_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_data)


def run_ingest(tmp_path: Path, out: str = "out", engine: str = "in_process", **params) -> Examples:
    ctx = Context(
        component="ingest",
        inputs={},
        outputs={"examples": Examples(uri=str(tmp_path / out))},
        params=IngestParameters(engine=engine, **params),
        beam_options={"runner": "DirectRunner"},
        log=logging.getLogger("test.ingest.images"),
        base_dir=str(tmp_path),
    )
    Ingest().run(ctx)
    return ctx.outputs["examples"]


def rows(examples: Examples) -> pa.Table:
    return pa.concat_tables([examples.to_table(s) for s in examples.splits])


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    """The first 300 of scikit-learn's digits as <tmp>/digits/<digit>/<index>.png."""
    make_data.write_digits(tmp_path / "digits", limit=300)
    return tmp_path / "digits"


def test_make_data_writes_scaled_grayscale_pngs_once(tmp_path):
    from sklearn.datasets import load_digits

    assert make_data.write_digits(tmp_path / "d", limit=40) == 40
    assert make_data.write_digits(tmp_path / "d", limit=40) == 0  # idempotent
    first = load_digits()
    pixels = decode((tmp_path / "d" / str(first.target[0]) / "0000.png").read_bytes())
    assert pixels.shape == (8, 8, 1) and pixels.dtype == np.uint8
    assert np.array_equal(pixels[:, :, 0], np.rint(first.images[0] * 255 / 16).astype(np.uint8))
    assert pixels.max() == 255 or first.images[0].max() < 16


def test_image_folder_gives_marked_images_labels_and_paths(tmp_path, digits):
    examples = run_ingest(tmp_path, source="digits")
    table = rows(examples)
    assert table.column_names == ["image", "label", "path"] and is_image_field(table.schema.field("image"))
    assert examples.properties["format"] == "images"
    assert examples.properties["classes"] == [str(d) for d in range(10)]
    assert examples.properties["image_shape"] == [8, 8, 1]
    on_disk = {str(p.relative_to(digits)): p for p in digits.rglob("*.png")}
    assert table.num_rows == len(on_disk) == 300
    assert sum(examples.properties["row_counts"].values()) == 300
    for label in examples.properties["classes"]:
        ingested = table.filter(pa.compute.equal(table.column("label"), label)).num_rows
        assert ingested == len(list((digits / label).glob("*.png")))
    for image, label, path in zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True):
        assert image == on_disk[path].read_bytes()  # the file's bytes, untouched
        assert path.split("/")[0] == label
    train = examples.to_table("train").column("path").to_pylist()
    assert train == sorted(train)  # deterministic: class folders, then files, in sorted order
    assert 0.7 < examples.properties["row_counts"]["train"] / 300 < 0.9


def test_adding_images_moves_no_image_to_another_split(tmp_path):
    make_data.write_digits(tmp_path / "digits", limit=200)
    before = run_ingest(tmp_path, "before", source="digits")
    make_data.write_digits(tmp_path / "digits", limit=320)
    after = run_ingest(tmp_path, "after", source="digits")

    def split_of(examples: Examples) -> dict[str, str]:
        return {p: s for s in examples.splits for p in examples.to_table(s).column("path").to_pylist()}

    old, new = split_of(before), split_of(after)
    assert len(old) == 200 and len(new) == 320
    assert all(new[path] == split for path, split in old.items())
    # moving the folder does not reshuffle either: the hash is of the path below the folder
    shutil.move(tmp_path / "digits", tmp_path / "moved")
    assert split_of(run_ingest(tmp_path, "moved", source="moved")) == new


def test_beam_engine_writes_the_bytes_of_the_in_process_engine(tmp_path, digits):
    (digits / "3" / "broken.png").write_bytes((digits / "3" / "0003.png").read_bytes()[:40])
    params = {"source": "digits", "on_bad_rows": "skip", "rows_per_file": 20, "block_size": 1024}
    local = run_ingest(tmp_path, "local", "in_process", **params)
    beam = run_ingest(tmp_path, "beam", "beam", **params)
    assert file_hashes(tmp_path / "local") == file_hashes(tmp_path / "beam")
    assert (local.properties.pop("engine"), beam.properties.pop("engine")) == ("in_process", "beam")
    assert local.properties == beam.properties and local.properties["bad_rows"]["count"] == 1


def test_damaged_and_foreign_files(tmp_path, digits, caplog):
    truncated = digits / "3" / "truncated.png"
    truncated.write_bytes((digits / "3" / "0003.png").read_bytes()[:60])  # cut inside the pixel data
    (digits / "4" / "text.png").write_text("not an image")
    (digits / "5" / "notes.txt").write_text("labelled by hand")
    (digits / "README.md").write_text("the digits")
    (digits / "6" / ".DS_Store").write_bytes(b"\0\0")
    with pytest.raises(IngestError) as err:
        run_ingest(tmp_path, source="digits")
    message = str(err.value)
    assert f"{truncated}: error: a damaged image" in message and "on_bad_rows: skip" in message
    examples = run_ingest(tmp_path, "skip", source="digits", on_bad_rows="skip")
    bad = examples.properties["bad_rows"]
    assert bad["count"] == 2
    assert [e["file"] for e in bad["examples"]] == [str(truncated), str(digits / "4" / "text.png")]
    assert "not an image Pillow can read" in bad["examples"][1]["reason"]
    assert rows(examples).num_rows == 300
    (warning,) = examples.properties["warnings"]
    assert "skipped 2 file(s)" in warning and str(digits / "5" / "notes.txt") in warning
    assert str(digits / "README.md") in warning and ".DS_Store" not in warning


def test_a_failed_run_says_which_image_in_its_summary_and_history(tmp_path, digits):
    truncated = digits / "3" / "truncated.png"
    truncated.write_bytes((digits / "3" / "0003.png").read_bytes()[:60])
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        "name: damaged\nroot: runs\nmetadata: sqlite:///runs/metadata.db\n"
        "components:\n  ingest:\n    type: ingest\n    params: {source: digits}\n"
    )
    code, out = cli("run", str(pipeline))
    assert code != 0
    # the table row and the history give the error's own line, not the hint printed below it in full
    (row,) = [line for line in out.splitlines() if line.split()[:3] == ["ingest", "ingest", "failed"]]
    assert "IngestError:" in row and "hint:" not in row
    run_id = out.split()[1]  # "run <id> of damaged: ..."
    code, shown = cli("show", run_id, "--pipeline", str(pipeline))
    assert f"IngestError: {truncated}: error: a damaged image" in " ".join(shown.split()), shown
    assert "hint: replace or remove the file, or set on_bad_rows: skip" in out


def _add(folder: Path, name: str, pixels: np.ndarray) -> Path:
    path = folder / name
    path.write_bytes(png(pixels))
    return path


def test_mixed_sizes_are_resized_to_the_most_common_or_refused(tmp_path, digits):
    big = _add(digits / "0", "big.png", np.full((16, 12), 200, np.uint8))
    examples = run_ingest(tmp_path, "default", source="digits")
    shapes = {decode(b).shape for b in rows(examples).column("image").to_pylist()}
    assert shapes == {(8, 8, 1)}
    table = rows(examples)
    resized = table.filter(pa.compute.equal(table.column("path"), "0/big.png")).column("image")[0].as_py()
    assert resized.startswith(b"\x89PNG") and decode(resized).mean() == 200

    examples = run_ingest(tmp_path, "asked", source="digits", image_size={"height": 16, "width": 16})
    assert {decode(b).shape for b in rows(examples).column("image").to_pylist()} == {(16, 16, 1)}
    assert examples.properties["image_shape"] == [16, 16, 1]

    with pytest.raises(IngestError, match=r"big\.png: error: the image is 16x12 \(height x width\), not 8x8"):
        run_ingest(tmp_path, "refused", source="digits", on_size_mismatch="refuse")
    examples = run_ingest(tmp_path, "skipped", source="digits", on_size_mismatch="refuse", on_bad_rows="skip")
    assert examples.properties["bad_rows"]["examples"][0]["file"] == str(big)
    assert rows(examples).num_rows == 300


def test_grayscale_and_rgb_mixed(tmp_path, digits):
    color = np.zeros((8, 8, 3), np.uint8)
    color[:, :, 0] = 255
    rgb = _add(digits / "1", "red.png", color)
    examples = run_ingest(tmp_path, "auto", source="digits")  # grayscale is the most common
    assert {decode(b).shape for b in rows(examples).column("image").to_pylist()} == {(8, 8, 1)}
    examples = run_ingest(tmp_path, "rgb", source="digits", channels=3)
    table = rows(examples)
    assert {decode(b).shape for b in table.column("image").to_pylist()} == {(8, 8, 3)}
    red = table.filter(pa.compute.equal(table.column("path"), "1/red.png")).column("image")[0].as_py()
    assert red == rgb.read_bytes()  # already RGB: kept as it is
    with pytest.raises(IngestError, match=r"red\.png: error: the image has 3 channel\(s\) \(RGB\), not 1"):
        run_ingest(tmp_path, "refused", source="digits", on_channel_mismatch="refuse")


def _folder(tmp_path: Path, *classes: str) -> Path:
    root = tmp_path / "imgs"
    for name in classes:
        (root / name).mkdir(parents=True)
        _add(root / name, "a.png", np.zeros((4, 4), np.uint8))
    return root


@pytest.mark.parametrize(
    ("classes", "empty", "expected"),
    [
        (["0", "1"], ["2"], r"class folder\(s\) .*/imgs/2 hold no images .*add its images, or remove the folder"),
        (["cats"], [], r"1 class folder \(cats\): a classifier needs at least two classes"),
        (["Cat", "cat", "dog"], [], r"'.*/imgs/Cat', '.*/imgs/cat' differ only by case.*merge them"),
        (["cat ", "dog"], [], r"starts or ends with spaces.*rename it to 'cat'"),
        (["a\tb", "dog"], [], r"control character"),
    ],
)
def test_class_folders_that_would_break_a_later_step(tmp_path, classes, empty, expected):
    root = _folder(tmp_path, *classes)
    for name in empty:
        (root / name).mkdir()
    with pytest.raises(IngestError, match=expected):
        run_ingest(tmp_path, source="imgs", format="images")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.parquet"))


def test_digit_and_spaced_class_names_are_fine_and_images_need_class_folders(tmp_path):
    root = _folder(tmp_path, "7", "my class", "_unused")
    examples = run_ingest(tmp_path, source="imgs")
    assert examples.properties["classes"] == ["7", "my class"]  # _unused is hidden, as in table sources
    loose = tmp_path / "loose"
    loose.mkdir()
    _add(loose, "a.png", np.zeros((4, 4), np.uint8))
    with pytest.raises(IngestError, match=r"holds no class folders of images.*move the images into class folders"):
        run_ingest(tmp_path, "l", source="loose", format="images")
    with pytest.raises(IngestError, match="is a pattern, but an image folder source is a folder"):
        run_ingest(tmp_path, "g", source="imgs/*", format="images")
    with pytest.raises(IngestError, match="is a file, but format: images reads a folder"):
        run_ingest(tmp_path, "f", source=str(root / "7" / "a.png"), format="images")


def test_table_naming_image_files(tmp_path, digits):
    files = sorted(str(p.relative_to(tmp_path)) for p in digits.rglob("*.png"))[:60]
    table = pa.table({"file": files, "label": [f.split("/")[1] for f in files], "weight": [1.5] * len(files)})
    pacsv.write_csv(table, tmp_path / "index.csv")
    examples = run_ingest(tmp_path, source="index.csv", image_column="file")
    got = rows(examples)
    assert got.column_names == ["file", "label", "weight", "image"] and is_image_field(got.schema.field("image"))
    for path, image in zip(got.column("file").to_pylist(), got.column("image").to_pylist(), strict=True):
        assert image == (tmp_path / path).read_bytes()
    assert got.num_rows == 60 and examples.properties["image_shape"] == [8, 8, 1]
    assert got.schema.field("weight").type == pa.float64()
    assert examples.properties["warnings"] == []
    moved = tmp_path / "project"
    moved.mkdir()
    shutil.copy(tmp_path / "index.csv", moved / "index.csv")
    shutil.copytree(digits, moved / "digits")
    folder = run_ingest(tmp_path, "folder", source="project", image_column="file")  # the table found inside
    assert folder.properties["warnings"] == [] and rows(folder).equals(got)

    # a missing file is a bad row naming it; the split is by path, so the other rows keep theirs
    pacsv.write_csv(
        pa.concat_tables([table, pa.table({"file": ["digits/9/missing.png"], "label": ["9"], "weight": [1.0]})]),
        tmp_path / "index.csv",
    )
    with pytest.raises(IngestError, match=r"missing\.png: error: the image file does not exist \(named in column"):
        run_ingest(tmp_path, "missing", source="index.csv", image_column="file")
    again = run_ingest(tmp_path, "skip", source="index.csv", image_column="file", on_bad_rows="skip")
    assert again.properties["bad_rows"]["examples"][0]["file"] == str(tmp_path / "digits" / "9" / "missing.png")
    for split in examples.splits:
        assert examples.to_table(split).equals(again.to_table(split))

    # a Parquet column named image holds the paths: the bytes take its place, the paths move to path
    pq.write_table(table.rename_columns(["image", "label", "weight"]), tmp_path / "index.parquet")
    examples = run_ingest(tmp_path, "pq", source="index.parquet", image_column="image")
    assert rows(examples).column_names == ["image", "label", "weight", "path"]
    assert sorted(rows(examples).column("path").to_pylist()) == files
    assert (
        rows(examples).column("image").to_pylist()[0]
        == (tmp_path / rows(examples).column("path")[0].as_py()).read_bytes()
    )
    with pytest.raises(IngestError, match="image_column 'nope' is not a column"):
        run_ingest(tmp_path, "nope", source="index.csv", image_column="nope")
    with pytest.raises(IngestError, match="image_size applies to images"):
        run_ingest(tmp_path, "opts", source="index.csv", image_size={"height": 8, "width": 8})


def test_parquet_fixed_shape_tensor_column_is_kept_and_split_by_pixels(tmp_path):
    generator = np.random.default_rng(0)
    pixels = generator.integers(0, 256, size=(200, 8, 8), dtype=np.uint8)
    tensors = pa.FixedShapeTensorArray.from_numpy_ndarray(pixels)
    labels = pa.array(["a", "b"] * 100)
    pq.write_table(pa.table({"pixels": tensors, "label": labels}), tmp_path / "t.parquet")
    examples = run_ingest(tmp_path, source="t.parquet")
    table = rows(examples)
    field = table.schema.field("pixels")
    assert isinstance(field.type, pa.FixedShapeTensorType) and is_image_field(field)
    assert table.num_rows == 200
    kept = np.sort(table.column("pixels").combine_chunks().to_numpy_ndarray().reshape(200, -1), axis=0)
    assert np.array_equal(kept, np.sort(pixels.reshape(200, -1), axis=0))
    for split in examples.splits:  # hashed by the pixels, not only the label: both labels in both splits
        assert set(examples.to_table(split).column("label").to_pylist()) == {"a", "b"}


def test_image_options_are_checked_at_their_yaml_place(tmp_path):
    (tmp_path / "pipeline.yaml").write_text(
        "name: imgs\ncomponents:\n  ingest:\n    type: ingest\n    params:\n      source: imgs\n"
        "      image_size: {height: 0, width: 8}\n      channels: 2\n"
    )
    code, out = cli("validate", str(tmp_path / "pipeline.yaml"))
    assert code != 0
    assert "pipeline.yaml:7:" in out and "height" in out
    assert "pipeline.yaml:8:" in out and "channels" in out


def test_digits_example_runs(tmp_path):
    example = tmp_path / "digits"
    shutil.copytree(REPO / "examples" / "digits", example, ignore=shutil.ignore_patterns("runs", "data", "__pycache__"))
    make_data.write_digits(example / "data", limit=150)
    code, out = cli("run", str(example / "pipeline.yaml"))
    assert code == 0, out
    assert "succeeded" in out


def test_presplit_image_folders_and_a_class_whose_images_are_all_bad(tmp_path, digits):
    shutil.copytree(digits, tmp_path / "eval")
    shutil.rmtree(tmp_path / "eval" / "9")
    examples = run_ingest(tmp_path, source={"train": "digits", "eval": "eval"})
    assert examples.properties["row_counts"] == {"train": 300, "eval": 300 - len(list((digits / "9").glob("*.png")))}
    assert "has no class folder for '9'" in examples.properties["warnings"][0]
    with pytest.raises(IngestError, match="column_types does not apply to an image folder"):
        run_ingest(tmp_path, "types", source="digits", column_types={"label": "int64"})
    for image in (digits / "9").glob("*.png"):
        image.write_bytes(b"broken")
    with pytest.raises(IngestError, match=r"every image of class folder .*/digits/9 is a bad row \(\d+ skipped"):
        run_ingest(tmp_path, "bad", source="digits", on_bad_rows="skip")


def test_an_edited_image_a_table_names_re_runs_ingest(tmp_path, digits):
    files = sorted(str(p.relative_to(tmp_path)) for p in digits.rglob("*.png"))[:40]
    pacsv.write_csv(pa.table({"file": files, "label": [f.split("/")[1] for f in files]}), tmp_path / "index.csv")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        "name: table_of_images\nroot: ./runs\nmetadata: sqlite:///runs/metadata.db\ncomponents:\n"
        "  ingest:\n    type: ingest\n    params: {source: index.csv, image_column: file}\n"
    )
    code, out = cli("run", str(pipeline))
    assert code == 0, out
    code, out = cli("run", str(pipeline))
    assert code == 0 and "ingest: cached" in out, out
    edited = tmp_path / files[7]
    edited.write_bytes(png(255 - decode(edited.read_bytes())[:, :, 0]))  # the table is unchanged, one image is not
    code, out = cli("run", str(pipeline))
    assert code == 0 and "ingest: running (the files the data names have new content)" in out, out
