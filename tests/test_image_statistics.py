"""Statistics, schema, anomalies, drift and the report of image columns, on real PNG bytes in real Parquet files."""

from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from headrace.components.artifacts import Examples
from headrace.components.images import decode, image_field
from headrace.components.validator.anomalies import ValidationOptions, find_anomalies
from headrace.components.validator.formats import ColumnStatistics, DatasetStatistics
from headrace.components.validator.reports import render_anomalies_html, render_statistics_html
from headrace.components.validator.schema_file import SchemaFileError, parse_schema, schema_to_yaml
from headrace.components.validator.schema_inference import infer_schema
from tests.browser import chromium_path, render_page
from tests.examples_files import write_examples
from tests.test_statistics import load, run_statistics

SCHEMA = pa.schema([image_field(), pa.field("label", pa.string()), pa.field("path", pa.string())])
CLASSES = ("0", "1", "2")


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels).save(buffer, "PNG")
    return buffer.getvalue()


def digit(rng: np.random.Generator, label: int, shape: tuple[int, ...] = (8, 8), lighter: int = 0) -> np.ndarray:
    """A blob whose place depends on the class, with noise: different classes look different in thumbnails."""
    h, w = shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    cy, cx = h * (0.3 + 0.2 * label), w * (0.7 - 0.2 * label)
    blob = 200 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (0.08 * h * w))
    pixels = np.clip(blob + rng.normal(0, 25, (h, w)) + lighter, 0, 255).astype(np.uint8)
    if len(shape) == 3:
        pixels = np.stack([pixels, pixels[::-1], 255 - pixels][: shape[2]], axis=-1)
    return pixels


def table(rows: list[tuple[bytes | None, str, str]]) -> pa.Table:
    images, labels, paths = zip(*rows, strict=True)
    return pa.table([pa.array(images, pa.binary()), pa.array(labels), pa.array(paths)], schema=SCHEMA)


def digits(rng: np.random.Generator, n: int, start: int = 0, lighter: int = 0, weights=None) -> pa.Table:
    labels = rng.choice(len(CLASSES), n, p=weights)
    return table(
        [
            (png(digit(rng, int(label), lighter=lighter)), CLASSES[label], f"{CLASSES[label]}/{start + i:04d}.png")
            for i, label in enumerate(labels)
        ]
    )


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Examples:
    """train: 8x8 gray digits in two files; eval: the same plus a 16x16 one, an RGB one, a truncated PNG, a null
    image and an unseen class."""
    rng = np.random.default_rng(17)
    good = png(digit(rng, 1))
    odd = table(
        [
            (png(digit(rng, 0, (16, 16))), "0", "0/big.png"),
            (png(digit(rng, 2, (8, 8, 3))), "2", "2/colour.png"),
            (good[: len(good) // 2], "1", "1/truncated.png"),
            (None, "1", "1/missing.png"),
            (png(digit(rng, 2)), "9", "9/new.png"),
        ]
    )
    return write_examples(
        tmp_path_factory.mktemp("digits"),
        {
            "train": [digits(rng, 70), digits(rng, 80, start=70)],
            "eval": [pa.concat_tables([digits(rng, 60, 500), odd])],
        },
    )


@pytest.fixture(scope="module")
def statistics(examples: Examples, tmp_path_factory: pytest.TempPathFactory) -> DatasetStatistics:
    return load(run_statistics(examples, tmp_path_factory.mktemp("stats"), engine="in_process", batch_size=32))


def decoded_images(examples: Examples, split: str) -> tuple[list[np.ndarray], list[str], list[str], list[int]]:
    import pyarrow.parquet as pq

    pixels, labels, paths, sizes = [], [], [], []
    for file in sorted(Path(examples.uri, f"Split-{split}").glob("*.parquet")):
        for row in pq.read_table(file).to_pylist():
            if row["image"] is None:
                continue
            try:
                pixels.append(decode(row["image"]))
            except Exception:
                continue
            labels.append(row["label"])
            paths.append(row["path"])
            sizes.append(len(row["image"]))
    return pixels, labels, paths, sizes


# -- statistics -------------------------------------------------------------------


def test_figures_are_the_decoded_pixels_figures(examples: Examples, statistics: DatasetStatistics) -> None:
    pixels, labels, paths, sizes = decoded_images(examples, "train")
    column = statistics.splits["train"].columns["image"]
    images = column.image
    assert column.kind == "image" and column.type == "binary" and column.string is None
    assert (column.count, column.missing, images.decoded, images.undecodable) == (150, 0, 150, 0)
    assert [(s.text, s.count) for s in images.shapes] == [("8x8", 150)]
    assert [(c.channels, c.count) for c in images.channels] == [(1, 150)]
    everything = np.concatenate([p.ravel().astype(np.int64) for p in pixels])
    total, squares, n = int(everything.sum()), int((everything * everything).sum()), everything.size
    assert images.pixel_mean == total / n  # exact: integer sums, one division
    assert images.pixel_std_dev == pytest.approx(float(np.std(everything)), rel=1e-12)
    assert images.pixel_std_dev == pytest.approx(np.sqrt(squares / n - (total / n) ** 2), rel=1e-15)
    [gray] = images.channel_moments
    assert (gray.channel, gray.values, gray.mean) == ("gray", n, total / n)
    per_image = np.array([p.mean() for p in pixels])
    assert images.brightness.mean == pytest.approx(per_image.mean(), rel=1e-12)
    assert images.brightness.min == per_image.min() and images.brightness.max == per_image.max()
    assert images.contrast.mean == pytest.approx(np.mean([p.std() for p in pixels]), rel=1e-12)
    assert (images.size_bytes.min, images.size_bytes.max) == (min(sizes), max(sizes))
    assert images.size_bytes.mean == pytest.approx(np.mean(sizes), rel=1e-12)
    # class counts are the label column's ordinary categorical statistics
    counts = {v.value: v.count for v in statistics.splits["train"].columns["label"].string.top_values}
    assert counts == {label: labels.count(label) for label in CLASSES}
    # thumbnails: per class the 4 paths with the smallest hashes, decoding to the image itself
    for label in CLASSES:
        kept = [s for s in images.samples if s.label == label]
        mine = sorted((p for p, lab in zip(paths, labels, strict=True) if lab == label), key=_hash)[:4]
        assert [s.path for s in kept] == mine
        thumb = decode(base64.b64decode(kept[0].data))
        assert (kept[0].media_type, kept[0].width, kept[0].height) == ("image/png", 8, 8)
        assert np.array_equal(thumb, pixels[paths.index(kept[0].path)])


def _hash(path: str) -> tuple[int, str]:
    return int.from_bytes(hashlib.blake2b(path.encode(), digest_size=8).digest(), "big"), path


def test_a_split_with_no_rows_still_has_its_image_column(tmp_path) -> None:
    empty = table([(None, "", "")]).slice(0, 0)
    examples = write_examples(tmp_path / "ex", {"train": [empty]})
    for engine in ("in_process", "beam"):
        column = load(run_statistics(examples, tmp_path / engine, engine=engine)).splits["train"].columns["image"]
        assert (column.kind, column.count, column.image.decoded, column.image.samples) == ("image", 0, 0, [])


def test_odd_images_are_counted_and_named(statistics: DatasetStatistics) -> None:
    column = statistics.splits["eval"].columns["image"]
    images = column.image
    assert (column.count, column.missing, images.undecodable, images.decoded) == (64, 1, 1, 63)
    assert images.undecodable_examples[0].startswith("1/truncated.png: a damaged image")
    assert {(s.text, s.count) for s in images.shapes} == {("8x8", 62), ("16x16", 1)}
    assert [(c.channels, c.count) for c in images.channels] == [(1, 62), (3, 1)]
    assert [m.channel for m in images.channel_moments] == ["gray", "red", "green", "blue"]


def test_in_process_and_direct_runner_agree(examples: Examples, statistics: DatasetStatistics, tmp_path) -> None:
    beam = load(run_statistics(examples, tmp_path / "beam", engine="beam", batch_size=32))
    for split in ("train", "eval"):
        a, b = statistics.splits[split].columns["image"].image, beam.splits[split].columns["image"].image
        exact = {"brightness", "contrast", "size_bytes"}
        assert a.model_dump(exclude=exact) == b.model_dump(exclude=exact)  # samples, shapes, pixel moments
        for quantity in exact:
            x, y = getattr(a, quantity), getattr(b, quantity)
            assert (x.min, x.max, x.percentiles) == (y.min, y.max, y.percentiles)
            assert x.mean == pytest.approx(y.mean, rel=1e-12) and x.std_dev == pytest.approx(y.std_dev, rel=1e-9)


def test_fixed_shape_tensor_column_reads_shape_and_pixels_from_the_tensor(tmp_path, monkeypatch) -> None:
    from headrace.components.validator import image_statistics

    monkeypatch.setattr(image_statistics, "CHUNK", 7)  # sums over several chunks of each 30-pixel image
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (60, 6, 5, 3), dtype=np.uint8)
    tensors = pa.FixedShapeTensorArray.from_numpy_ndarray(pixels)
    examples = write_examples(tmp_path / "ex", {"train": [pa.table({"pixels": tensors, "label": [7, 10] * 30})]})
    statistics = load(run_statistics(examples, tmp_path / "stats", engine="in_process"))
    column = statistics.splits["train"].columns["pixels"]
    images = column.image
    assert column.kind == "image" and images.size_bytes is None
    assert ([(s.text, s.count) for s in images.shapes], [(c.channels, c.count) for c in images.channels]) == (
        [("6x5", 60)],
        [(3, 60)],
    )
    assert images.pixel_mean == int(pixels.astype(np.int64).sum()) / pixels.size
    red = images.channel_moments[0]
    assert (red.channel, red.mean) == ("red", int(pixels[..., 0].astype(np.int64).sum()) / pixels[..., 0].size)
    # integer classes, no path column: picked by the pixels' hash, classes in text order
    assert [s.label for s in images.samples] == ["10"] * 4 + ["7"] * 4
    page = render_statistics_html(statistics)  # the type as a person reads it, not Arrow's extension name
    assert '<span class="type">uint8 [6, 5, 3]</span>' in page and "extension&lt;" not in page


# -- schema and anomalies -----------------------------------------------------------


def test_inferred_schema_accepts_train_and_flags_each_odd_image_in_eval(statistics: DatasetStatistics) -> None:
    schema = infer_schema(statistics)
    image = schema.columns["image"]
    assert (image.image.shapes, image.image.channels, image.image.max_undecodable_fraction) == (["8x8"], [1], 0.0)
    assert schema.columns["label"].domain == list(CLASSES)
    assert image.drift.wasserstein == 0.1 and image.drift.std_change == 0.1
    report = find_anomalies(statistics, schema, options=ValidationOptions(skew_splits=None))
    by_kind = {a.kind: a for a in report.anomalies}
    assert set(by_kind) == {"image_shape", "image_channels", "undecodable_image", "out_of_domain", "missing_fraction"}
    assert all(a.split == "eval" and a.severity == "error" for a in report.anomalies)
    shape = by_kind["image_shape"]
    assert shape.found == "1 other shape: 16x16 (1)"
    assert "1 image of 'image' in the eval split has a shape the schema does not accept: 16x16 (1)" in shape.explanation
    assert "Add 16x16 to columns.image.image.shapes in your curated schema.yaml" in shape.fix
    channels = by_kind["image_channels"]
    assert channels.found == "1 other channel count: 3 (1)" and "columns.image.image.channels" in channels.fix
    broken = by_kind["undecodable_image"]
    assert "1 image of 'image' in the eval split (1.6%) cannot be decoded, e.g. 1/truncated.png" in broken.explanation
    assert "columns.image.image.max_undecodable_fraction to 0.02" in broken.fix
    assert [e.value for e in by_kind["out_of_domain"].examples] == ["9"]
    assert not find_anomalies(statistics, schema, options=ValidationOptions(skew_splits=None)).not_checked


def test_schema_yaml_round_trips_and_a_bad_shape_names_its_line(statistics: DatasetStatistics) -> None:
    schema = infer_schema(statistics)
    text = schema_to_yaml(schema)
    assert "    image:\n      shapes: [8x8]\n      channels: [1]\n      max_undecodable_fraction: 0.0\n" in text
    assert "brightness (mean colour value) and contrast" in text  # the image family's comment above drift
    assert parse_schema(text) == schema
    curated = text.replace("shapes: [8x8]", "shapes: [8x8, 16by16]").replace("channels: [1]", "channels: [1, 3]")
    with pytest.raises(SchemaFileError) as error:
        parse_schema(curated, "schema.yaml")
    assert "columns.image.image.shapes: '16by16' is not HEIGHTxWIDTH; write it like 28x28" in str(error.value)
    accepted = parse_schema(curated.replace("16by16", "16x16"))
    report = find_anomalies(statistics, accepted, options=ValidationOptions(skew_splits=None))
    assert {a.kind for a in report.anomalies} == {"undecodable_image", "out_of_domain", "missing_fraction"}
    misfit = text.replace("wasserstein: 0.1", "linf: 0.1", 1)
    with pytest.raises(SchemaFileError, match="L-infinity distance does not apply to an image column"):
        parse_schema(misfit)


# -- drift ---------------------------------------------------------------------------


def split_statistics(rows: pa.Table, tmp: Path) -> DatasetStatistics:
    examples = write_examples(tmp / "examples", {"train": [rows]})
    return load(run_statistics(examples, tmp / "stats", engine="in_process"))


def test_brighter_images_drift_and_a_fresh_sample_does_not(tmp_path) -> None:
    rng = np.random.default_rng(5)
    baseline = split_statistics(digits(rng, 300), tmp_path / "baseline")
    schema = infer_schema(baseline)
    options = ValidationOptions(skew_splits=None)
    same = split_statistics(digits(rng, 300), tmp_path / "same")
    assert find_anomalies(same, schema, baseline, options).anomalies == []
    brighter = split_statistics(digits(rng, 300, lighter=15), tmp_path / "brighter")
    [drift] = find_anomalies(brighter, schema, baseline, options).anomalies
    assert (drift.kind, drift.column, drift.split) == ("drift", "image", "train")
    assert drift.found.startswith("Wasserstein distance of brightness")
    assert "The train split's image has moved away from the baseline's: brightness mean" in drift.explanation
    assert "pixel mean" in drift.explanation and "columns.image.drift.wasserstein" in drift.fix
    page = render_anomalies_html(find_anomalies(brighter, schema, baseline, options), brighter, baseline)
    # the brightness overlay (baseline grey, current outlined) above the table of measures
    assert "train over baseline · train</div><svg" in page
    assert "<td>Wasserstein distance of brightness</td>" in page
    tilted = split_statistics(digits(rng, 300, weights=[0.6, 0.2, 0.2]), tmp_path / "tilted")
    # class balance: the label's categorical drift (the image column may drift too: the classes differ in brightness)
    [balance] = [a for a in find_anomalies(tilted, schema, baseline, options).anomalies if a.column != "image"]
    assert (balance.kind, balance.column) == ("drift", "label")
    assert "the share of '0'" in balance.explanation


def photos(rng: np.random.Generator, n: int, contrast: float = 1.0, lighter: int = 0) -> pa.Table:
    """16x16 grey "photos" (backgrounds from dark to light, a blob, noise); ``contrast`` spreads each around its mean."""
    y, x = np.mgrid[0:16, 0:16]
    rows = []
    for i in range(n):
        cy, cx, radius = rng.uniform(0, 16), rng.uniform(0, 16), rng.uniform(2, 8)
        blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * radius**2))
        pixels = rng.uniform(30, 200) + rng.uniform(-120, 120) * blob + rng.normal(0, 8, (16, 16))
        pixels = pixels.mean() + (pixels - pixels.mean()) * contrast + lighter
        rows.append((png(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)), "0", f"0/{i:04d}.png"))
    return table(rows)


def test_a_contrast_change_in_a_few_hundred_varied_images_drifts_by_the_defaults(tmp_path) -> None:
    """At 300 images a side whose brightness varies widely, Wasserstein and std_change catch a 20% contrast change
    68% of the time (benchmarks/drift_quality.py --images) and PSI always; the image defaults include PSI."""
    rng = np.random.default_rng(3)
    baseline = split_statistics(photos(rng, 300), tmp_path / "baseline")
    schema = infer_schema(baseline)
    assert schema.columns["image"].drift.psi == 0.1 and schema.columns["image"].skew.psi == 0.1
    options = ValidationOptions(skew_splits=None)
    assert (
        find_anomalies(split_statistics(photos(rng, 300), tmp_path / "same"), schema, baseline, options).anomalies == []
    )
    for name, changed in {"contrast": photos(rng, 300, contrast=1.2), "lighter": photos(rng, 300, lighter=35)}.items():
        [drift] = find_anomalies(split_statistics(changed, tmp_path / name), schema, baseline, options).anomalies
        assert (drift.kind, drift.column) == ("drift", "image"), name
        assert f"PSI of {'contrast' if name == 'contrast' else 'brightness'}" in drift.found, drift.found


# -- report --------------------------------------------------------------------------


def test_report_shows_figures_and_thumbnails_per_class(statistics: DatasetStatistics) -> None:
    page = render_statistics_html(statistics, "Digits")
    assert "Image columns (1)" in page and "1 undecodable" in page and "2 shapes" in page
    assert page.count('class="thumb-row"') == 3  # one row per class of the first split
    assert page.count("data:image/png;base64,") == 4 * 3


needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="Chromium is not installed (apt-get install chromium)"
)


@needs_chromium
def test_report_renders_thumbnails_in_chromium(statistics: DatasetStatistics, tmp_path) -> None:
    path = tmp_path / "statistics.html"
    path.write_text(render_statistics_html(statistics, "Digits"), encoding="utf-8")
    shot = tmp_path / "digits.png"
    rendered = render_page(
        path,
        screenshot=shot,
        evaluate="[...document.images].map(i => [i.naturalWidth, i.width, getComputedStyle(i).imageRendering])",
    )
    assert rendered.console_errors == [] and rendered.remote_requests == []
    assert "samples from train, per class" in rendered.text and "1 undecodable" in rendered.text
    # every thumbnail decoded by the browser, each 8x8 digit drawn 5 times larger with crisp pixels
    assert rendered.value == [[8, 40, "pixelated"]] * 12
    assert shot.stat().st_size > 10_000


def test_anomalies_report_draws_an_image_column(statistics: DatasetStatistics) -> None:
    schema = infer_schema(statistics)
    report = find_anomalies(statistics, schema, options=ValidationOptions(skew_splits=None))
    page = render_anomalies_html(report, statistics=statistics)
    assert "columns.image.image.shapes" in page and "data:image/png;base64," in page


def test_column_statistics_without_images_still_load() -> None:
    old = {"name": "x", "type": "double", "kind": "numeric", "count": 1, "missing": 0}
    assert ColumnStatistics.model_validate(old).image is None  # statistics written before image columns


def test_an_ingested_image_folder_validates_clean_and_shows_every_class(tmp_path) -> None:
    """Ingest's image folder (scikit-learn's digits as PNGs) -> statistics -> inferred schema -> no anomalies."""
    from tests.test_ingest_images import make_data, run_ingest

    make_data.write_digits(tmp_path / "digits", limit=400)
    examples = run_ingest(tmp_path, source=str(tmp_path / "digits"), splits={"train": 8, "eval": 2})
    statistics = load(run_statistics(examples, tmp_path / "stats"))
    images = statistics.splits["train"].columns["image"].image
    assert [(s.text, c.channels) for s, c in zip(images.shapes, images.channels, strict=True)] == [("8x8", 1)]
    assert images.decoded == statistics.splits["train"].num_rows and images.undecodable == 0
    assert sorted({s.label for s in images.samples}) == [str(d) for d in range(10)]
    schema = infer_schema(statistics)
    assert schema.columns["label"].domain == [str(d) for d in range(10)]
    report = find_anomalies(statistics, schema)
    assert report.anomalies == [] and report.not_checked == []
    page = render_statistics_html(statistics)
    assert page.count('class="thumb-row"') == 10
