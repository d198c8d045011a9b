"""The drift and skew measures: each against scipy or a hand computation, then on generated data as a user meets it.

Statistics here come from the statistics component's own CombineFn over Arrow
batches, so the measures see exactly what the validator sees in a pipeline.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats as scipy_stats
from scipy.spatial.distance import jensenshannon

from headrace.components.validator import quantile_distances as qd
from headrace.components.validator.anomalies import ValidationOptions, find_anomalies
from headrace.components.validator.combiners import StatisticsCombineFn
from headrace.components.validator.distances import OTHER_VALUES, aligned_shares, jensen_shannon_divergence, psi
from headrace.components.validator.drift_measures import (
    MIN_VALUES,
    chi2_quantile,
    measure,
    normal_quantile,
)
from headrace.components.validator.formats import ColumnStatistics, DatasetStatistics, SplitStatistics
from headrace.components.validator.schema_inference import infer_schema
from tests.test_schema import strings


def column_statistics(values: np.ndarray | list, batch: int = 4096) -> ColumnStatistics:
    """One column's statistics, as the statistics component computes them (several batches, then merged)."""
    fn = StatisticsCombineFn()
    array = pa.array(values)
    parts = []
    for start in range(0, len(array), batch):
        parts.append(fn.add_input(fn.create_accumulator(), pa.record_batch({"x": array.slice(start, batch)})))
    return fn.extract_output(fn.merge_accumulators(parts)).columns["x"]


# -- each measure against scipy or by hand ----------------------------------------------------


def test_wasserstein_equals_scipy_on_the_percentiles_and_is_close_on_the_raw_data():
    rng = np.random.default_rng(1)
    a, b = rng.normal(10, 2, 20_000), rng.gamma(4, 1.5, 20_000)
    qa, qb = column_statistics(a).numeric.percentiles, column_statistics(b).numeric.percentiles
    assert len(qa) == 101 and qa[0] == a.min() and qa[-1] == a.max()
    # exactly W1 between the two sets of inner percentiles (each an equal-weight distribution)
    assert qd.wasserstein(qa, qb) == pytest.approx(scipy_stats.wasserstein_distance(qa[1:-1], qb[1:-1]), rel=1e-12)
    # and within a few percent of W1 on all 20,000 values: only the outer 1% is left out
    assert qd.wasserstein(qa, qb) == pytest.approx(scipy_stats.wasserstein_distance(a, b), rel=0.03)
    # a pure shift reads the shift; a change of scale s reads |s - 1| times the mean absolute deviation
    qs = column_statistics(a + 3).numeric.percentiles
    assert qd.wasserstein(qa, qs) == pytest.approx(3.0, rel=1e-9)


def test_percentiles_are_numpys_inverted_cdf_and_kurtosis_is_scipys():
    rng = np.random.default_rng(2)
    values = rng.exponential(2.0, 4_001)  # fewer than the sketch holds exactly
    numeric = column_statistics(values, batch=100).numeric
    assert numeric.quantile_error == 0
    span = values.max() - values.min()  # stored to a millionth of the span: short in JSON, exact for a measure
    assert numeric.percentiles[1:-1] == pytest.approx(
        np.quantile(values, np.arange(1, 100) / 100, method="inverted_cdf").tolist(), abs=span * 1e-6
    )
    assert (numeric.percentiles[0], numeric.percentiles[-1]) == (values.min(), values.max())
    # merged from 41 batches by the pairwise formulas: the same as one pass
    assert numeric.kurtosis == pytest.approx(scipy_stats.kurtosis(values, fisher=False), rel=1e-9)
    assert numeric.std_dev == pytest.approx(values.std(), rel=1e-12)


def test_noise_scale_of_a_uniform_column():
    q = [i / 100 for i in range(101)]  # uniform on [0, 1]: dQ = du
    u = np.linspace(0.01, 0.99, 100_001)
    expected = np.trapezoid(np.sqrt(u * (1 - u)), u)
    assert qd.noise_scale(q) == pytest.approx(expected, rel=1e-3)


def test_cdf_and_psi_bins_from_percentiles():
    q = [float(i) for i in range(101)]  # uniform on [0, 100]
    assert qd.cdf_at(q, -1) == 0.0 and qd.cdf_at(q, 100) == 1.0
    assert qd.cdf_at(q, 37.5) == pytest.approx(0.375)
    assert qd.decile_edges(q) == pytest.approx([10, 20, 30, 40, 50, 60, 70, 80, 90])
    assert qd.bin_shares(q, qd.decile_edges(q)) == pytest.approx([0.1] * 10)
    # a point mass: 70% zeros, then uniform on (0, 30]; the zeros are one bin, and no sliver bin is left after it
    zeros = [0.0] * 71 + [float(i) for i in range(1, 31)]
    assert qd.has_ties(zeros) and not qd.has_ties(q)
    assert qd.decile_edges(zeros) == pytest.approx([0.0, 10.0, 20.0])
    assert qd.cdf_at(zeros, 0.0) == pytest.approx(0.70)


def test_psi_by_hand_and_its_empty_bucket_rule():
    by_hand = (0.6 - 0.5) * math.log(0.6 / 0.5) + (0.4 - 0.5) * math.log(0.4 / 0.5)
    assert psi([0.5, 0.5], [0.6, 0.4], 1000, 1000) == pytest.approx(by_hand)
    # a value new on one side counts as half a value on the other: large, finite, and larger with more data
    new_small = psi([1.0, 0.0], [0.95, 0.05], 1000, 1000)
    new_large = psi([1.0, 0.0], [0.95, 0.05], 10_000_000, 10_000_000)
    assert new_small == pytest.approx((0.05 - 0.0005) * math.log(0.05 / 0.0005) - 0.05 * math.log(0.95), rel=1e-9)
    assert 0.2 < new_small < new_large < 1.0


def test_jensen_shannon_divergence_and_distance_are_scipys():
    p, q = [0.1, 0.4, 0.5], [0.3, 0.3, 0.4]
    assert jensen_shannon_divergence(p, q) == pytest.approx(jensenshannon(p, q, base=2) ** 2)
    a = strings("island", {"Biscoe": 50, "Dream": 30, "Torgersen": 20})
    b = strings("island", {"Biscoe": 30, "Dream": 30, "Torgersen": 20, "Anvers": 20})
    distance = measure("jensen_shannon_distance", a, b, 0.1)
    divergence = measure("jensen_shannon", a, b, 0.1)
    reference = jensenshannon([0, 50, 30, 20], [20, 30, 30, 20], base=2)
    assert distance.value == pytest.approx(reference) and divergence.value == pytest.approx(reference**2)


def test_shares_line_up_and_a_truncated_list_never_invents_a_missing_value():
    a = strings("island", {"Biscoe": 50, "Dream": 30, "Torgersen": 20})
    b = strings("island", {"Biscoe": 25, "Dream": 30, "Torgersen": 20, "Atlantis": 25})
    keys, x, y = aligned_shares(a, b)
    assert keys == ["Atlantis", "Biscoe", "Dream", "Torgersen"]  # a's list is complete: Atlantis is really absent
    assert x == [0.0, 0.5, 0.3, 0.2] and y == [0.25, 0.25, 0.3, 0.2]
    # b lists only its top value of many: whatever else a lists may just have fallen off b's list
    truncated = ColumnStatistics(
        name="x",
        type="string",
        kind="string",
        count=100,
        missing=0,
        string={"distinct": 30, "top_values": [{"value": "Biscoe", "count": 40}]},
    )
    keys, x, y = aligned_shares(a, truncated)
    assert keys == ["Biscoe", OTHER_VALUES] and x == [0.5, 0.5] and y == [0.4, 0.6]


def test_linf_names_the_value_that_moved_and_weighs_it_by_its_noise():
    a = strings("island", {"Biscoe": 5000, "Dream": 3000, "Torgersen": 2000})
    b = strings("island", {"Biscoe": 4500, "Dream": 3000, "Torgersen": 2000, "Anvers": 500})
    found = measure("linf", a, b, 0.04)
    assert found.at == "Anvers" and found.value == pytest.approx(0.05) and found.exceeded
    # the same move between 60 and 60 values is noise
    small = measure(
        "linf",
        strings("island", {"Biscoe": 30, "Dream": 18, "Torgersen": 12}),
        strings("island", {"Biscoe": 27, "Dream": 18, "Torgersen": 12, "Anvers": 3}),
        0.04,
    )
    assert small.value == pytest.approx(0.05) and small.noise > 0.05 and not small.exceeded


def test_std_change_and_the_noise_quantiles():
    rng = np.random.default_rng(3)
    a = column_statistics(rng.normal(0, 1.0, 50_000))
    b = column_statistics(rng.normal(0, 1.2, 50_000))
    found = measure("std_change", a, b, 0.1)
    assert found.value == pytest.approx(b.numeric.std_dev / a.numeric.std_dev - 1)
    assert found.exceeded and found.noise < 0.05  # 50,000 values pin a standard deviation to a few percent
    assert measure("std_change", b, a, 0.1).value == pytest.approx(found.value)  # either way
    assert normal_quantile(0.9995) == pytest.approx(scipy_stats.norm.ppf(0.9995), rel=1e-9)
    for dof in (1, 2, 3, 9, 49):  # a little high with few degrees of freedom: on the side of no false alarm
        exact = scipy_stats.chi2.ppf(0.999, dof)
        assert exact <= chi2_quantile(dof) < (1.04 if dof < 9 else 1.01) * exact


# -- what a user gets: drift caught, chance not mistaken for it, small data not guessed at ---------


def population(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    """A penguin-like table: a bimodal mass, a skewed island mix, a whole-number year."""
    species = rng.random(rows) < 0.45
    return {
        "mass": np.where(species, rng.normal(3700, 450, rows), rng.normal(5100, 500, rows)),
        "island": rng.choice(np.array(["Biscoe", "Dream", "Torgersen"]), rows, p=[0.49, 0.36, 0.15]),
        "year": rng.integers(2007, 2010, rows).astype(np.int64),
    }


def split_statistics(table: dict[str, np.ndarray], name: str = "train") -> SplitStatistics:
    fn = StatisticsCombineFn()
    batch = pa.record_batch({k: pa.array(v) for k, v in table.items()})
    accumulator = fn.create_accumulator()
    for start in range(0, batch.num_rows, 65_536):
        accumulator = fn.add_input(accumulator, batch.slice(start, 65_536))
    return fn.extract_output(accumulator).model_copy(update={"name": name})


def drift_report(baseline: dict[str, np.ndarray], current: dict[str, np.ndarray]):
    old = DatasetStatistics(splits={"train": split_statistics(baseline)})
    new = DatasetStatistics(splits={"train": split_statistics(current)})
    return find_anomalies(new, infer_schema(old), old, ValidationOptions(skew_splits=None))


def drifted(table: dict[str, np.ndarray], kind: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = dict(table)
    mass, island = table["mass"], table["island"].copy()
    if kind == "shift 0.5 sd":
        out["mass"] = mass + 0.5 * mass.std()
    elif kind == "scale x1.2":
        out["mass"] = mass.mean() + (mass - mass.mean()) * 1.2
    elif kind == "share 10 points":
        biscoe = island == "Biscoe"
        island[biscoe & (rng.random(len(island)) < 0.1 / biscoe.mean())] = "Dream"
        out["island"] = island
    elif kind == "new value at 5%":
        island[rng.random(len(island)) < 0.05] = "Anvers"
        out["island"] = island
    return out


@pytest.mark.parametrize("rows", [3_000, 200_000])
@pytest.mark.parametrize(
    ("kind", "column"),
    [("shift 0.5 sd", "mass"), ("scale x1.2", "mass"), ("share 10 points", "island"), ("new value at 5%", "island")],
)
def test_the_inferred_defaults_report_drift_a_user_would_call_drift(rows, kind, column):
    rng = np.random.default_rng([rows, 7])
    baseline, current = population(rng, rows), population(rng, rows)
    report = drift_report(baseline, drifted(current, kind, rng))
    assert [(a.column, a.kind) for a in report.anomalies if a.kind == "drift"] == [(column, "drift")]


@pytest.mark.parametrize("rows", [1_000, 200_000])
def test_a_fresh_sample_of_the_same_population_is_not_drift(rows):
    for seed in range(8 if rows < 10_000 else 2):
        rng = np.random.default_rng([rows, seed])
        report = drift_report(population(rng, rows), population(rng, rows))
        assert [a for a in report.anomalies if a.kind == "drift"] == [] and report.not_checked == []


def test_the_sentence_says_the_move_in_the_columns_own_terms():
    rng = np.random.default_rng(11)
    base = population(rng, 20_000)
    base["body_mass_g"] = base.pop("mass")
    current = dict(base, body_mass_g=base["body_mass_g"] * 1.10)
    report = drift_report(base, current)
    drift = next(a for a in report.anomalies if a.column == "body_mass_g" and a.kind == "drift")
    old, new = base["body_mass_g"], current["body_mass_g"]
    shift = (new.mean() - old.mean()) / old.std()
    assert f"mean {old.mean():,.0f} → {new.mean():,.0f} g, +{shift:.2f} standard deviations" in drift.explanation
    assert "Wasserstein distance" in drift.found and "PSI" in drift.explanation
    assert drift.comparison.old_is_baseline and drift.comparison.new_count == 20_000
    wasserstein = next(m for m in drift.comparison.measures if m.measure == "wasserstein")
    assert wasserstein.exceeded and wasserstein.threshold == 0.1 and wasserstein.value > 0.4


def test_too_little_data_is_said_not_guessed():
    rng = np.random.default_rng(5)
    few = {k: v[: MIN_VALUES - 1] for k, v in population(rng, 500).items()}
    baseline = population(rng, 500)
    few["mass"] = few["mass"] + 5_000  # moved a lot, but 49 values cannot say how often that happens by chance
    report = drift_report(baseline, few)
    assert [a for a in report.anomalies if a.kind == "drift"] == []
    assert {n.column for n in report.not_checked} == {"mass", "island", "year"}
    note = next(n for n in report.not_checked if n.column == "mass")
    assert (note.kind, note.split) == ("drift", "train")
    assert note.reason == (
        f"too little data: {MIN_VALUES - 1} values in the train split and 500 in the baseline; "
        f"drift is measured from {MIN_VALUES} values on each side"
    )
    assert "3 columns not measured: too little data" in report.compared["drift"]
