"""How often drift is caught, and how often chance is mistaken for it: the power curve of the drift measures.

A population is made from the Palmer penguins (rows drawn with replacement,
measurements jittered as in ``penguin_data``). For each size (rows per
sample) and seed, a baseline and a control (a fresh sample of the same
population) are drawn, then controlled drifts of the current sample:

- ``shift``: body_mass_g moved by a number of its standard deviations;
- ``scale``: body_mass_g spread around its mean by a factor;
- ``share``: a share of island moved from Biscoe to Dream (points);
- ``new value``: a share of rows given a new island, Anvers;
- ``missing``: a share of sex's values set to null.

Statistics come from the statistics component's own ``StatisticsCombineFn``
over Arrow RecordBatches (what its in-process engine runs), the verdicts from
the validator's own measures. For each kind and magnitude the table gives the
detection rate of the inferred schema's defaults (``default``: any of the
column's default measures) and of each measure alone at its usual threshold;
the control rows give the false alarm rate over every column. ``presence`` is
the schema's missing-share check, which is what sees missing values (every
drift measure compares the values that are present).

Then the validator component's run time on the statistics of 1M rows.

Then images (``--images`` runs only this part, in about 40 s): an image
column's drift and skew compare the per-image brightness and contrast
(``IMAGE_QUANTITIES``) with the image defaults (``DEFAULT_THRESHOLDS["image"]``,
what the inferred schema writes for an image column's ``skew`` and ``drift``).
Two sources, their statistics from the same CombineFn over PNG bytes:

- ``digits``: scikit-learn's 1,797 8x8 digits (grey levels 0-16 times 16),
  cut at random 80/20 as ingest's hash split cuts train and eval; the eval
  part is the control, the same part changed is the drift;
- ``photos``: generated 16x16 grey images (a background from dark to light,
  a blob of random size, place and tone, sensor noise), disjoint samples of
  300 and of 2,000 per side from one pool; the second sample is the control.

The changes are made to the pixels of every image before encoding: a
brightness shift of N grey levels (clipped to 0-255), and a contrast change
(each image's pixels spread around its own mean by a factor).

    .venv/bin/python benchmarks/drift_quality.py [--quick] [--images] [ROWS ...]
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as csv

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from penguin_data import PENGUINS  # noqa: E402

from headrace.components.validator.combiners import StatisticsCombineFn  # noqa: E402
from headrace.components.validator.drift_measures import (  # noqa: E402
    DEFAULT_THRESHOLDS,
    MEASURES,
    family_of,
    measure,
    measure_all,
    too_little_data,
)
from headrace.components.validator.formats import ColumnStatistics, DatasetStatistics, SplitStatistics  # noqa: E402

SEEDS = {1_000: 200, 100_000: 10, 1_000_000: 5}
NOISE = {"bill_length_mm": 1.5, "bill_depth_mm": 0.6, "flipper_length_mm": 4.0, "body_mass_g": 150.0}
MASS, ISLAND, SEX = "body_mass_g", "island", "sex"
NUMERIC_MEASURES = ["wasserstein", "std_change", "psi", "jensen_shannon_distance", "jensen_shannon"]
CATEGORICAL_MEASURES = ["linf", "psi", "jensen_shannon_distance", "jensen_shannon"]
COLUMNS = ["default", "wasserstein", "std_change", "linf", "psi", "jensen_shannon_distance", "jensen_shannon"]
HEADERS = ["default", "wass.", "std", "linf", "psi", "JS dist", "JS div"]

Table = dict[str, np.ndarray]
"""Numbers as float64 (NaN = missing); categories as int codes into ``CATEGORIES[name]`` (-1 = missing)."""
Drift = Callable[[Table, np.random.Generator], Table]
CATEGORIES: dict[str, list[str]] = {}
NEW_ISLAND = "Anvers"


class Population:
    """The penguins as numpy columns; ``sample`` draws rows with replacement and jitters the measurements."""

    def __init__(self) -> None:
        table = csv.read_csv(PENGUINS, convert_options=csv.ConvertOptions(strings_can_be_null=True))
        self.columns: Table = {}
        for name in table.column_names:
            column = table.column(name)
            if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
                self.columns[name] = column.to_numpy(zero_copy_only=False).astype(float)  # nulls become NaN
            else:
                values = column.to_pylist()
                CATEGORIES[name] = sorted({v for v in values if v is not None}) + (
                    [NEW_ISLAND] if name == ISLAND else []
                )
                self.columns[name] = np.array([CATEGORIES[name].index(v) if v is not None else -1 for v in values])
        self.rows = table.num_rows

    def sample(self, n: int, rng: np.random.Generator) -> Table:
        rows = rng.integers(0, self.rows, n)
        out = {}
        for name, values in self.columns.items():
            picked = values[rows]
            if name in NOISE:
                picked = picked + rng.normal(0.0, NOISE[name], n)
            out[name] = picked
        return out


def arrow(table: Table, names: list[str] | None = None) -> pa.RecordBatch:
    arrays = {}
    for name in names or list(table):
        values = table[name]
        if name in CATEGORIES:  # as a dictionary array: built without a Python object per row
            codes = pa.array(values, mask=values < 0, type=pa.int32())
            arrays[name] = pa.DictionaryArray.from_arrays(codes, pa.array(CATEGORIES[name]))
        else:
            arrays[name] = pa.array(values, mask=np.isnan(values), type=pa.float64())
    return pa.record_batch(arrays)


def statistics(table: Table, names: list[str] | None = None) -> SplitStatistics:
    """The statistics component's CombineFn over RecordBatches of 65,536 rows, as its in-process engine runs it."""
    fn = StatisticsCombineFn()
    batch = arrow(table, names)
    accumulator = fn.create_accumulator()
    for start in range(0, batch.num_rows, 65_536):
        accumulator = fn.add_input(accumulator, batch.slice(start, 65_536))
    return fn.extract_output(fn.merge_accumulators([accumulator]))


def shift(sds: float) -> Drift:
    def drift(table: Table, rng: np.random.Generator) -> Table:
        mass = table[MASS]
        return {**table, MASS: mass + sds * np.nanstd(mass)}

    return drift


def scale(factor: float) -> Drift:
    def drift(table: Table, rng: np.random.Generator) -> Table:
        mass = table[MASS]
        mean = np.nanmean(mass)
        return {**table, MASS: mean + (mass - mean) * factor}

    return drift


def share(points: float) -> Drift:
    def drift(table: Table, rng: np.random.Generator) -> Table:
        island = table[ISLAND].copy()
        biscoe = island == CATEGORIES[ISLAND].index("Biscoe")
        island[biscoe & (rng.random(len(island)) < points / biscoe.mean())] = CATEGORIES[ISLAND].index("Dream")
        return {**table, ISLAND: island}

    return drift


def new_value(fraction: float) -> Drift:
    def drift(table: Table, rng: np.random.Generator) -> Table:
        island = table[ISLAND].copy()
        island[rng.random(len(island)) < fraction] = CATEGORIES[ISLAND].index(NEW_ISLAND)
        return {**table, ISLAND: island}

    return drift


def missing(fraction: float) -> Drift:
    def drift(table: Table, rng: np.random.Generator) -> Table:
        sex = table[SEX].copy()
        sex[rng.random(len(sex)) < fraction] = -1
        return {**table, SEX: sex}

    return drift


DRIFTS: list[tuple[str, str, str, Drift]] = [
    *[("shift", f"{s:g} sd", MASS, shift(s)) for s in (0.1, 0.25, 0.5, 1.0)],
    *[("scale", f"x{f:g}", MASS, scale(f)) for f in (1.1, 1.2, 0.8, 1.5)],
    *[("share", f"{p * 100:g} points", ISLAND, share(p)) for p in (0.02, 0.05, 0.1, 0.2)],
    *[("new value", f"{f:.0%} of rows", ISLAND, new_value(f)) for f in (0.01, 0.02, 0.05, 0.1)],
    *[("missing", f"+{f:.0%} of rows", SEX, missing(f)) for f in (0.02, 0.05, 0.1)],
]


def verdicts(old: ColumnStatistics, new: ColumnStatistics) -> dict[str, bool]:
    """Whether the column's default measures, and each measure alone at its usual threshold, flag new against old."""
    family = family_of(old)
    assert family is not None
    if too_little_data(old, new):
        return {}
    out = {"default": any(m.exceeded for m in measure_all(old, new, DEFAULT_THRESHOLDS[family]))}
    for key in CATEGORICAL_MEASURES if family == "categorical" else NUMERIC_MEASURES:
        result = measure(key, old, new, MEASURES[key].default)
        out[key] = bool(result and result.exceeded)
    return out


def presence_flags(old: ColumnStatistics, new: ColumnStatistics) -> bool:
    """The inferred schema's presence check: the share present fell below the baseline's, floored and less 2 points."""
    from headrace.components.validator.schema_inference import InferenceOptions, _min_fraction

    wanted = _min_fraction(old, InferenceOptions())
    return new.count / (new.count + new.missing) < wanted - 1e-12


def run_size(population: Population, rows: int, seeds: int) -> tuple[dict, dict, float]:
    hits: dict[tuple[str, str], dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    alarms: dict[str, list[bool]] = defaultdict(list)
    started = time.perf_counter()
    for seed in range(seeds):
        rng = np.random.default_rng([rows, seed])
        baseline = population.sample(rows, rng)
        base = statistics(baseline)
        control = statistics(population.sample(rows, rng))
        for name, column in base.columns.items():
            for key, flagged in verdicts(column, control.columns[name]).items():
                alarms[key].append(flagged)
            if column.missing:
                alarms["presence"].append(presence_flags(column, control.columns[name]))
        current = population.sample(rows, rng)
        for kind, magnitude, name, drift in DRIFTS:
            new = statistics(drift(current, rng), [name]).columns[name]
            found = verdicts(base.columns[name], new)
            if kind == "missing":
                found = {"presence": presence_flags(base.columns[name], new), **found}
            for key, flagged in found.items():
                hits[(kind, magnitude)][key].append(flagged)
    return hits, alarms, time.perf_counter() - started


def rate(values: list[bool]) -> str:
    return f"{100 * sum(values) / len(values):.0f}%" if values else "-"


def print_size(rows: int, seeds: int, hits: dict, alarms: dict, seconds: float) -> None:
    print(f"\n{rows:,} rows per sample, {seeds} seeds ({seconds:.1f} s): detection rate; control = false alarms")
    print(f"{'kind':<10} {'magnitude':<14}" + "".join(f"{h:>9}" for h in HEADERS))
    for (kind, magnitude), found in hits.items():
        extra = f"   presence {rate(found['presence'])}" if "presence" in found else ""
        print(f"{kind:<10} {magnitude:<14}" + "".join(f"{rate(found.get(c, [])):>9}" for c in COLUMNS) + extra)
    tests = len(alarms["default"])
    print(
        f"{'control':<10} {f'{tests} columns':<14}"
        + "".join(f"{rate(alarms.get(c, [])):>9}" for c in COLUMNS)
        + f"   presence {rate(alarms['presence'])}"
    )


def validator_seconds(population: Population, rows: int = 1_000_000) -> float:
    """The validator component's run() on statistics of ``rows`` rows (train/eval split 80/20) and a baseline."""
    from headrace.components.artifacts import Anomalies, Schema, Statistics
    from headrace.components.contract import Context
    from headrace.components.validator.schema_file import write_schema_file
    from headrace.components.validator.schema_inference import infer_schema
    from headrace.components.validator.validator_component import ValidatorComponent, ValidatorParameters

    rng = np.random.default_rng(7)

    def dataset() -> DatasetStatistics:
        train = statistics(population.sample(rows * 8 // 10, rng)).model_copy(update={"name": "train"})
        evaluation = statistics(population.sample(rows * 2 // 10, rng)).model_copy(update={"name": "eval"})
        return DatasetStatistics(splits={"train": train, "eval": evaluation})

    current, baseline = dataset(), dataset()
    with tempfile.TemporaryDirectory() as tmp:
        for name, stats in (("current", current), ("baseline", baseline)):
            Path(tmp, name).mkdir()
            Path(tmp, name, "statistics.json").write_text(stats.model_dump_json(indent=1))
        Path(tmp, "schema").mkdir()
        write_schema_file(f"{tmp}/schema/schema.yaml", infer_schema(baseline))
        best = float("inf")
        for attempt in range(5):
            ctx = Context(
                component="validator",
                inputs={
                    "statistics": Statistics(uri=f"{tmp}/current"),
                    "schema": Schema(uri=f"{tmp}/schema"),
                    "baseline": Statistics(uri=f"{tmp}/baseline"),
                },
                outputs={"anomalies": Anomalies(uri=f"{tmp}/out{attempt}")},
                params=ValidatorParameters(fail_on="never"),
                log=logging.getLogger("bench"),
            )
            started = time.perf_counter()
            ValidatorComponent().run(ctx)
            best = min(best, time.perf_counter() - started)
    return best


# -- images ----------------------------------------------------------------------------------------------------

IMAGE_DRIFTS: list[tuple[str, str, Callable[[np.ndarray], np.ndarray]]] = [
    *[("brightness", f"{d:+d} grey levels", lambda px, d=d: px + d) for d in (5, 10, 20, -20)],
    *[
        ("contrast", f"x{f:g}", lambda px, f=f: px.mean(axis=(1, 2), keepdims=True) * (1 - f) + px * f)
        for f in (0.9, 0.8, 1.2)
    ],
]
IMAGE_SEEDS = {"digits": 30, "photos 300": 40, "photos 2,000": 5}


def png_column(pixels: np.ndarray) -> np.ndarray:
    """Each image ``[n, h, w]`` (any numeric dtype; clipped to 0-255) as PNG bytes, in an object array."""
    import io

    from PIL import Image

    out = np.empty(len(pixels), dtype=object)
    for index, image in enumerate(np.clip(np.rint(pixels), 0, 255).astype(np.uint8)):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "PNG")
        out[index] = buffer.getvalue()
    return out


def image_statistics(pngs: np.ndarray) -> ColumnStatistics:
    """The image column's statistics from the statistics component's CombineFn, over RecordBatches of 65,536 rows."""
    from headrace.components.images import image_field

    fn = StatisticsCombineFn()
    batch = pa.record_batch([pa.array(list(pngs), pa.binary())], schema=pa.schema([image_field("image")]))
    accumulator = fn.create_accumulator()
    for start in range(0, batch.num_rows, 65_536):
        accumulator = fn.add_input(accumulator, batch.slice(start, 65_536))
    return fn.extract_output(fn.merge_accumulators([accumulator])).columns["image"]


def digit_pixels() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().images * 16.0  # grey levels 0-16 -> 0-256, clipped to 255 when encoded


def photo_pixels(count: int, rng: np.random.Generator, side: int = 16) -> np.ndarray:
    """Grey "photos": a background from dark to light, a blob of random size, place and tone, noise."""
    y, x = np.mgrid[0:side, 0:side]
    background = rng.uniform(30, 200, (count, 1, 1))
    tone = rng.uniform(-120, 120, (count, 1, 1))
    cy, cx = rng.uniform(0, side, (2, count, 1, 1))
    radius = rng.uniform(2, side / 2, (count, 1, 1))
    blob = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * radius**2))
    return background + tone * blob + rng.normal(0, 8, (count, side, side))


def image_variants(pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The images' PNG bytes as they are (``control``) and under each change of ``IMAGE_DRIFTS``."""
    variants = {"control": png_column(pixels)}
    for kind, magnitude, change in IMAGE_DRIFTS:
        variants[f"{kind} {magnitude}"] = png_column(change(pixels.astype(float)))
    return variants


def run_images(name: str, variants: dict[str, np.ndarray], baseline_rows: int, rows: int, seeds: int) -> None:
    """Verdicts of every change (and of the control) against a disjoint baseline, over ``seeds`` random cuts."""
    found: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    at: dict[str, list[str]] = defaultdict(list)
    pool = len(variants["control"])
    started = time.perf_counter()
    for seed in range(seeds):
        order = np.random.default_rng([pool, seed]).permutation(pool)
        base = image_statistics(variants["control"][order[:baseline_rows]])
        current = order[baseline_rows : baseline_rows + rows]
        for case, pngs in variants.items():
            new = image_statistics(pngs[current])
            for key, flagged in verdicts(base, new).items():
                found[case][key].append(flagged)
            flagged_by = [m for m in measure_all(base, new, DEFAULT_THRESHOLDS["image"]) if m.exceeded]
            at[case] += [f"{m.at} {m.measure}" for m in flagged_by]
    seconds = time.perf_counter() - started
    images = base.image
    assert images is not None and images.brightness is not None and images.contrast is not None
    print(f"\n{name}: {baseline_rows:,} baseline images against {rows:,}, {seeds} seeds ({seconds:.1f} s)")
    print(
        f"across the baseline's images: brightness {images.brightness.mean:.0f} grey levels, sd "
        f"{images.brightness.std_dev:.1f}; contrast {images.contrast.mean:.0f}, sd {images.contrast.std_dev:.1f}"
    )
    print(f"{'change':<28}" + "".join(f"{h:>9}" for h in HEADERS if h != "linf") + "   defaults flagged by")
    for case in sorted(found, key=lambda c: c == "control"):  # the changes, then the control
        verdict = found[case]
        label = f"{case} (false alarms)" if case == "control" else case
        rates = "".join(f"{rate(verdict.get(c, [])):>9}" for c in COLUMNS if c != "linf")
        by = ", ".join(f"{k} {v}" for k, v in sorted(Counter(at[case]).items()))
        print(f"{label:<28}{rates}   {by or '-'}")


def images(quick: bool) -> None:
    started = time.perf_counter()
    seeds = {k: max(2, v // 10) if quick else v for k, v in IMAGE_SEEDS.items()}
    digits = image_variants(digit_pixels())
    train = len(digits["control"]) * 8 // 10
    run_images("digits (8x8), train against eval", digits, train, len(digits["control"]) - train, seeds["digits"])
    photos = image_variants(photo_pixels(4_000, np.random.default_rng(0)))
    run_images("photos (16x16), 300 per side", photos, 300, 300, seeds["photos 300"])
    run_images("photos (16x16), 2,000 per side", photos, 2_000, 2_000, seeds["photos 2,000"])
    print(f"\nimages in {time.perf_counter() - started:.0f} s")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    if "--images" in sys.argv:
        images(quick)
        return
    sizes = [int(a) for a in args] or list(SEEDS)
    population = Population()
    started = time.perf_counter()
    for rows in sizes:
        seeds = SEEDS.get(rows, 3)
        if quick:
            seeds = max(2, seeds // 10)
        print_size(rows, seeds, *run_size(population, rows, seeds))
    print(f"\npower curve in {time.perf_counter() - started:.0f} s")
    print(f"validator on the statistics of 1,000,000 rows: {validator_seconds(population):.3f} s (best of 5 runs)")
    images(quick)


if __name__ == "__main__":
    main()
