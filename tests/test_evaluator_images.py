"""The evaluator's page of worst-classified images, on real pipelines whose rows carry images.

No component trains on images yet, so the data is a table naming image files
(ingest's ``image_column``) beside numeric features made from the same pixels
(quadrant means of 8x8 digits; mean red, green and blue of 96x128 colour
images): a scikit-learn model (``tests.models:train``) learns from the
numbers, the transform passes the image column through, and the evaluator
reads the raw rows, images included, as serving would send them. The worst
rows are checked against the packaged model's own probabilities on the eval
split, the thumbnails against the image files, and the page in Chromium.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pytest
from click.testing import CliRunner

from headrace.components.evaluator.worst import BY_MISTAKE, BY_PROBABILITY, WorstImages
from headrace.components.images import image_field
from headrace.metadata.store import MetadataStore
from headrace.pipelines.cli import main
from headrace.pipelines.loader import load_pipeline
from tests.browser import chromium_path, render_page

PIPELINE = """
name: {name}
root: ./runs
metadata: sqlite:///runs/metadata.db
components:
  ingest: {{type: ingest, params: {{source: {data}, image_column: file, splits: {{train: 8, eval: 2}}}}}}
  transform:
    type: transform
    inputs: {{examples: ingest.examples}}
    params:
      ops:
        - scale_to_z_score: {{select: {{type: numeric, exclude: [label]}}}}
  trainer:
    type: tests.models:train
    inputs: {{examples: transform.transformed_examples, transform_graph: transform.transform_graph,
              raw_examples: ingest.examples}}
    params: {{label: label, drop: [image, file]}}
  evaluator:
    type: evaluator
    inputs: {{model: trainer.model, examples: ingest.examples}}
    params: {{image_path_column: file{extra}}}
"""
DUPLICATES = 4
"""Copies of one digit 0 labelled 6, all in the eval split (identical probabilities, among the lowest): the ties."""


def eval_names(count: int) -> list[str]:
    """The first ``count`` names ``images/copy_NNN.png`` that ingest's hash split puts in eval (train 8, eval 2)."""
    from headrace.components.ingest.splits import assign_splits

    names = [f"images/copy_{k:03d}.png" for k in range(200)]
    split = assign_splits(pa.table({"file": names}), [8, 2], "file")
    return [name for name, s in zip(names, split, strict=True) if s == 1][:count]


def write_digits(folder: Path, count: int = 900) -> None:
    """scikit-learn's 8x8 digits as PNGs with their four quadrant means, plus DUPLICATES mislabelled copies."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    (folder / "images").mkdir(parents=True)
    rows = []
    items = [(f"images/{i:04d}.png", digits.images[i], int(digits.target[i])) for i in range(count)]
    zero = next(i for i in range(count) if digits.target[i] == 0)
    items += [(name, digits.images[zero], 6) for name in eval_names(DUPLICATES)]
    for name, image, target in items:
        pixels = np.rint(image * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).save(folder / name)
        quadrants = [pixels[:4, :4], pixels[:4, 4:], pixels[4:, :4], pixels[4:, 4:]]
        rows.append([name, target, *(f"{q.mean():.3f}" for q in quadrants)])
    _write_index(folder, ["file", "label", "q0", "q1", "q2", "q3"], rows)


def write_colours(folder: Path, count: int = 150) -> None:
    """96x128 RGB images of three tinted classes with noise, and each image's mean red, green and blue."""
    from PIL import Image

    rng = np.random.default_rng(7)
    tints = {"red": (170, 90, 90), "green": (90, 170, 90), "blue": (90, 90, 170)}
    (folder / "images").mkdir(parents=True)
    rows = []
    for i in range(count):
        name = list(tints)[i % 3]
        base = np.array(tints[name], dtype=float) + rng.normal(0, 45, size=3)  # overlapping classes: mistakes
        pixels = np.clip(base + rng.normal(0, 30, size=(96, 128, 3)), 0, 255).astype(np.uint8)
        pixels[30:60, 40:90] = 255 - pixels[30:60, 40:90]  # a shape, so the thumbnail shows something
        Image.fromarray(pixels).save(folder / "images" / f"{i:03d}.png")
        means = pixels.reshape(-1, 3).mean(axis=0)
        rows.append([f"images/{i:03d}.png", name, *(f"{m:.3f}" for m in means)])
    _write_index(folder, ["file", "label", "red", "green", "blue"], rows)


def _write_index(folder: Path, header: list[str], rows: list[list[Any]]) -> None:
    with (folder / "index.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def run(pipeline: Path, *overrides: str) -> dict[str, Any]:
    """Run the pipeline; the evaluator's and trainer's artifacts by output name, and the eval Examples."""
    args = ["run", str(pipeline)]
    for override in overrides:
        args += ["--set", override]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    definition = load_pipeline(str(pipeline))
    store = MetadataStore(definition.metadata_url)
    run_id = store.list_runs(pipeline=definition.name, limit=1)[0].id
    found: dict[str, Any] = {}
    for execution in store.executions(run_id):
        for name, artifact in store.outputs_of(execution.id).items():
            found[f"{execution.component}.{name}"] = artifact
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("evaluator_images")
    write_digits(folder / "digits")
    write_colours(folder / "colours")
    (folder / "digits.yaml").write_text(PIPELINE.format(name="digits", data="digits", extra=""))
    (folder / "colours.yaml").write_text(PIPELINE.format(name="colours", data="colours", extra=", worst_images: 9"))
    return folder


@pytest.fixture(scope="module")
def digits(project: Path) -> dict[str, Any]:
    return run(project / "digits.yaml")


@pytest.fixture(scope="module")
def colours(project: Path) -> dict[str, Any]:
    return run(project / "colours.yaml")


def metrics(found: dict[str, Any]) -> dict[str, Any]:
    return json.loads(Path(found["evaluator.evaluation"].uri, "metrics.json").read_text())


def page(found: dict[str, Any]) -> Path:
    return Path(found["evaluator.evaluation"].uri, "evaluation.html")


def expected_worst(found: dict[str, Any], n: int) -> list[tuple[float, str]]:
    """The packaged model's probability of the true class on every raw eval row (image column and all): the n
    lowest, ties by path."""
    from headrace.components.model_package import load_model

    model = load_model(found["trainer.model"].uri)
    table = ds.dataset(Path(found["ingest.examples"].uri, "Split-eval"), format="parquet").to_table()  # images too
    frame = table.to_pandas()
    proba = model.predict_proba(frame)  # a DataFrame carrying the image column is accepted
    assert np.allclose(proba, model.predict_proba(table))
    index = {c: i for i, c in enumerate(model.classes)}
    true_p = proba[np.arange(len(frame)), [index[v] for v in frame["label"]]]
    return sorted(zip(true_p.tolist(), frame["file"], strict=True))[:n]


def thumbnails(html: str) -> list[tuple[str, bytes]]:
    """The worst-image section's thumbnails: (title = path, decoded bytes) in page order."""
    section = html[html.index('id="worst-images"') :]
    found = re.findall(r'<img[^>]*src="data:(image/\w+);base64,([^"]+)"[^>]*title="([^"]*)"', section)
    return [(title, base64.b64decode(data)) for _, data, title in found]


# -- the worst rows ---------------------------------------------------------------------------------------------------


def test_the_worst_rows_are_the_lowest_true_class_probabilities_ties_by_path(digits):
    worst = metrics(digits)["worst_images"]
    expected = expected_worst(digits, 24)
    assert worst["by"] == BY_PROBABILITY and worst["column"] == "image" and worst["path_column"] == "file"
    assert [r["path"] for r in worst["rows"]] == [path for _, path in expected]
    assert [r["probability"] for r in worst["rows"]] == pytest.approx([p for p, _ in expected], abs=1e-12)
    copies = [r["path"] for r in worst["rows"] if r["path"].startswith("images/copy_")]
    assert copies == eval_names(DUPLICATES)  # identical rows, identical probability: by path
    assert len({r["probability"] for r in worst["rows"] if r["path"] in copies}) == 1
    assert all(r["label"] == 6 and r["predicted"] == 0 for r in worst["rows"] if r["path"] in copies)


def test_the_worst_rows_do_not_depend_on_the_batch_size(digits, project):
    small = run(project / "digits.yaml", "components.evaluator.params.batch_size=37")
    assert metrics(small)["worst_images"]["rows"] == metrics(digits)["worst_images"]["rows"]


def test_the_confusion_matrix_covers_every_class_and_the_thumbnails_are_the_images(digits, project):
    from PIL import Image

    found = metrics(digits)
    assert found["model"]["confusion_matrix"]["labels"] == list(range(10))
    html = page(digits).read_text()
    shown = thumbnails(html)
    assert [path for path, _ in shown] == [r["path"] for r in found["worst_images"]["rows"]]
    for path, data in shown:
        with Image.open(io.BytesIO(data)) as thumb, Image.open(project / "digits" / path) as original:
            assert thumb.size == (8, 8) and np.array_equal(np.asarray(thumb), np.asarray(original))  # exact pixels
    assert 'class="px"' in html  # 8x8 images are enlarged with crisp pixels
    assert "base64" not in json.dumps(found)  # the JSON holds paths, labels and probabilities, not images


def test_larger_colour_images_get_small_jpeg_thumbnails(colours, project):
    from PIL import Image

    worst = metrics(colours)["worst_images"]
    assert [r["path"] for r in worst["rows"]] == [p for _, p in expected_worst(colours, 9)]
    html = page(colours).read_text()
    shown = thumbnails(html)
    assert len(shown) == 9
    for path, data in shown:
        with Image.open(io.BytesIO(data)) as thumb, Image.open(project / "colours" / path) as original:
            assert thumb.format == "JPEG" and thumb.size == (96, 72) and original.size == (128, 96)
            difference = np.abs(np.asarray(thumb, dtype=float) - np.asarray(original.resize((96, 72)), dtype=float))
            assert difference.mean() < 20  # the same picture, downscaled
    assert len(html.encode()) < 150_000


def test_worst_images_0_leaves_the_page_out(digits, project):
    found = run(project / "digits.yaml", "components.evaluator.params.worst_images=0")
    assert "worst_images" not in metrics(found) and "Worst-classified" not in page(found).read_text()


# -- the collector on its own -----------------------------------------------------------------------------------------


def _batch(paths: list[str], images: list[bytes]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array(paths), pa.array(images, type=pa.binary())],
        schema=pa.schema([pa.field("path", pa.string()), image_field("image")]),
    )


def test_streaming_keeps_only_n_rows_and_finds_the_n_lowest_with_ties_by_path():
    rng = np.random.default_rng(3)
    classes = ["a", "b", "c"]
    total, n = 1000, 10
    labels = rng.choice(classes, size=total)
    proba = rng.dirichlet([1, 1, 1], size=total).round(2)  # rounded: many exact ties
    paths = [f"img/{rng.integers(1_000_000):07d}_{i}.png" for i in range(total)]
    worst = WorstImages("image", "path", n, classes)
    for start in range(0, total, 64):
        rows = slice(start, start + 64)
        batch = _batch(paths[rows], [p.encode() for p in paths[rows]])
        worst.add(batch, labels[rows], labels[rows], proba[rows])
        assert len(worst.kept) <= n
    true_p = proba[np.arange(total), [classes.index(v) for v in labels]]
    expected = sorted(zip(true_p.tolist(), paths, strict=True))[:n]
    assert [(w.probability, w.path) for w in worst.kept] == expected
    assert [w.image for w in worst.kept] == [p.encode() for _, p in expected]  # each row keeps its own image


def test_without_probabilities_the_misclassified_rows_by_path():
    worst = WorstImages("image", None, 3, ["a", "b"])
    y = np.array(["a", "b", "a", "b", "a"])
    predicted = np.array(["a", "a", "b", "a", "b"])
    worst.add(_batch(["x"] * 5, [b"not an image"] * 5), y, predicted, None)
    assert worst.by == BY_MISTAKE
    assert [(w.path, w.label, w.predicted, w.probability) for w in worst.kept] == [
        ("row 1", "b", "a", None),
        ("row 2", "a", "b", None),
        ("row 3", "b", "a", None),
    ]
    assert worst.thumbnails()[0]["problem"].startswith("not an image")  # shown as text, not a broken image


# -- the page in a browser --------------------------------------------------------------------------------------------

VISIBLE_CARDS = "[...document.querySelectorAll('.worst .card')].filter(c => c.offsetParent !== null).length"


@pytest.mark.skipif(chromium_path() is None, reason="no Chromium installed (apt-get install chromium)")
@pytest.mark.parametrize("which", ["digits", "colours"])
def test_the_worst_images_page_in_a_browser(which, request, tmp_path):
    found = request.getfixturevalue(which)
    rows = metrics(found)["worst_images"]["rows"]
    first = sorted({r["label"] for r in rows}, key=str)[0]
    script = (
        "(() => { const imgs = [...document.querySelectorAll('.worst img')];"
        " const all = " + VISIBLE_CARDS + "; document.querySelector('label[for=worst-0]').click();"
        " const heat = document.querySelector('table.heat').getBoundingClientRect().width;"
        " return {loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length, all, narrow: heat < 560,"
        " filtered: " + VISIBLE_CARDS + "}; })()"
    )
    shot = tmp_path / f"{which}.png"
    rendered = render_page(page(found), screenshot=shot, full_page=True, evaluate=script)
    assert rendered.console_errors == [] and rendered.remote_requests == []
    assert "Worst-classified images" in rendered.text and "p(true) = " in rendered.text
    assert rendered.value == {
        "loaded": len(rows),
        "all": len(rows),
        "narrow": True,  # ten classes' confusion matrix fits twice (beside the baseline's) in a 1280 pixel window
        "filtered": sum(r["label"] == first for r in rows),
    }
    assert shot.stat().st_size > 0


def test_a_tensor_image_column_keeps_its_pixels_and_gets_thumbnails():
    from PIL import Image

    pixels = np.arange(5 * 6 * 4, dtype=np.uint8).reshape(5, 6, 4) * 2  # five 6x4 gray images
    tensor = pa.FixedShapeTensorArray.from_numpy_ndarray(pixels)
    batch = pa.RecordBatch.from_arrays([pa.array([f"t{i}" for i in range(5)]), tensor], names=["path", "pixels"])
    worst = WorstImages("pixels", "path", 2, [0, 1])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    worst.add(batch, np.array([0, 0, 0, 1, 1]), np.array([0, 1, 0, 1, 0]), proba)
    assert [(w.path, w.probability) for w in worst.kept] == [("t1", 0.2), ("t4", 0.5)]
    shown = worst.thumbnails()
    with Image.open(io.BytesIO(base64.b64decode(shown[0]["data"]))) as thumb:
        assert thumb.size == (4, 6) and np.array_equal(np.asarray(thumb), pixels[1])


def test_an_image_path_column_the_rows_lack_fails_the_evaluator_naming_it_and_its_place(digits, project):
    result = CliRunner().invoke(
        main,
        ["run", str(project / "digits.yaml"), "--set", "components.evaluator.params.image_path_column=fil"],
        catch_exceptions=False,
    )
    assert result.exit_code != 0
    assert "image_path_column 'fil' is not in split 'eval'" in result.output
    assert "digits.yaml" in result.output and "did you mean 'file'?" in result.output
