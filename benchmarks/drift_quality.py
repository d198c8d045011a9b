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

    .venv/bin/python benchmarks/drift_quality.py [--quick] [ROWS ...]
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections import defaultdict
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
    for key in NUMERIC_MEASURES if family == "numeric" else CATEGORICAL_MEASURES:
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


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
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


if __name__ == "__main__":
    main()
