"""The statistics component on real Parquet files, real Beam pipelines and a real dask cluster."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from headrace.components.artifacts import Examples, Statistics
from headrace.components.contract import Context
from headrace.components.engines import choose_engine
from headrace.components.ingest import Ingest, IngestParameters
from headrace.components.sketch_quantiles import QuantileSketch
from headrace.components.validator.formats import DatasetStatistics
from headrace.components.validator.statistics_component import StatisticsComponent, StatisticsParameters
from tests.examples_files import write_examples

ROOT = Path(__file__).resolve().parents[1]
PENGUINS = Path("/work/shared/data/penguins/penguins.csv")
if not PENGUINS.exists():
    PENGUINS = ROOT / "examples" / "penguin" / "data" / "penguins.csv"


def run_statistics(examples: Examples, out: Path, beam_options: dict | None = None, **params) -> Statistics:
    ctx = Context(
        component="stats",
        inputs={"examples": examples},
        outputs={"statistics": Statistics(uri=str(out))},
        params=StatisticsParameters(**params),
        beam_options=beam_options or {"runner": "DirectRunner"},
        log=logging.getLogger("test.statistics"),
    )
    StatisticsComponent().run(ctx)
    return ctx.outputs["statistics"]


def load(statistics: Statistics) -> DatasetStatistics:
    return DatasetStatistics.model_validate_json(Path(statistics.uri, "statistics.json").read_text())


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> Examples:
    tmp = tmp_path_factory.mktemp("penguins")
    ctx = Context(
        component="ingest",
        inputs={},
        outputs={"examples": Examples(uri=str(tmp / "examples"))},
        params=IngestParameters(source=str(PENGUINS)),
        log=logging.getLogger("test.ingest"),
    )
    Ingest().run(ctx)
    return ctx.outputs["examples"]


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Examples:
    """Three files per split with nulls, NaN, zeros, strings and binary: merges happen in every engine."""
    rng = np.random.default_rng(7)
    tables = []
    for _ in range(3):
        n = 400
        x = rng.normal(10, 3, n)
        x[rng.random(n) < 0.05] = np.nan
        x[rng.random(n) < 0.05] = 0.0
        tables.append(
            pa.table(
                {
                    "x": pa.array(x, mask=rng.random(n) < 0.1),
                    "i": pa.array(rng.integers(-5, 50, n)),
                    "s": pa.array(rng.choice(["a", "bb", "ccc", "dddd"], n).tolist(), mask=rng.random(n) < 0.2),
                    "flag": pa.array(rng.random(n) < 0.3),
                    "raw": pa.array([b"ok", b"\xff\xfe", b"fine"] * (n // 3) + [b"ok"] * (n % 3), pa.binary()),
                }
            )
        )
    return write_examples(tmp_path_factory.mktemp("mixed"), {"train": tables, "eval": tables[:1]})


def assert_same_statistics(a: DatasetStatistics, b: DatasetStatistics) -> None:
    """Counts, extremes and top values exactly; moments to 1e-9 relative; quantiles within the sketch bound."""
    assert a.splits.keys() == b.splits.keys()
    for name, split in a.splits.items():
        other = b.splits[name]
        assert split.num_rows == other.num_rows
        assert split.columns.keys() == other.columns.keys()
        for column, ca in split.columns.items():
            cb = other.columns[column]
            assert (ca.type, ca.kind, ca.count, ca.missing, ca.string) == (
                cb.type,
                cb.kind,
                cb.count,
                cb.missing,
                cb.string,
            )
            if ca.numeric is None:
                assert cb.numeric is None
                continue
            na, nb = ca.numeric, cb.numeric
            assert (na.min, na.max, na.zeros, na.nan) == (nb.min, nb.max, nb.zeros, nb.nan)
            assert na.mean == pytest.approx(nb.mean, rel=1e-9)
            assert na.std_dev == pytest.approx(nb.std_dev, rel=1e-9)
            bound = max(na.quantile_error or 0.0, nb.quantile_error or 0.0)
            if bound == 0.0:
                assert na.quantiles == nb.quantiles and na.histogram == nb.histogram
            else:
                assert len(na.quantiles) == len(nb.quantiles)


# -- figures ------------------------------------------------------------------


def test_penguins_figures_match_pyarrow_and_files_are_written(penguins, tmp_path):
    statistics = run_statistics(penguins, tmp_path / "stats")  # its fixed cost: benchmarks/statistics.py
    assert statistics.properties["splits"] == ["train", "eval"]
    assert statistics.properties["num_rows"] == penguins.properties["row_counts"]
    assert statistics.properties["columns"] == 8
    assert statistics.properties["engine"] == "in_process"
    assert (tmp_path / "stats" / "statistics.html").read_text().startswith("<!doctype html>")
    stats = load(statistics)
    table = penguins.to_table("train")
    train = stats.splits["train"]
    assert train.num_rows == table.num_rows

    mass = train.columns["body_mass_g"]
    values = table.column("body_mass_g").drop_null().to_numpy().astype(float)
    assert (mass.type, mass.kind, mass.count, mass.missing) == (
        "int64",
        "numeric",
        len(values),
        table.column("body_mass_g").null_count,
    )
    assert mass.numeric.min == values.min() and mass.numeric.max == values.max()
    assert mass.numeric.mean == pytest.approx(values.mean(), rel=1e-12)
    assert mass.numeric.std_dev == pytest.approx(values.std(), rel=1e-12)
    assert mass.numeric.quantile_error == 0.0
    expected_q = np.quantile(values, np.linspace(0, 1, 11), method="inverted_cdf")
    assert mass.numeric.quantiles == pytest.approx(expected_q.tolist())
    expected_h, edges = np.histogram(values, bins=10, range=(values.min(), values.max()))
    assert mass.numeric.histogram.boundaries == pytest.approx(edges.tolist())
    assert mass.numeric.histogram.counts == expected_h.tolist()

    species = train.columns["species"]
    counted = pc.value_counts(table.column("species")).to_pylist()
    expected_top = sorted(((d["values"], d["counts"]) for d in counted), key=lambda x: (-x[1], x[0]))
    assert [(v.value, v.count) for v in species.string.top_values] == expected_top
    assert species.string.distinct == 3 and species.string.distinct_is_exact
    lengths = pc.utf8_length(table.column("species")).to_numpy()
    assert species.string.avg_length == pytest.approx(lengths.mean())
    assert train.columns["sex"].missing == table.column("sex").null_count


def test_nan_zeros_booleans_and_invalid_utf8(mixed, tmp_path):
    stats = load(run_statistics(mixed, tmp_path / "stats", engine="in_process", batch_size=128))
    table = mixed.to_table("train")
    x = stats.splits["train"].columns["x"]
    raw = table.column("x").drop_null().to_numpy()
    finite = raw[~np.isnan(raw)]
    assert x.count == len(raw) and x.missing == table.column("x").null_count
    assert x.numeric.nan == int(np.isnan(raw).sum()) and x.numeric.zeros == int((finite == 0).sum())
    assert x.numeric.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert x.numeric.std_dev == pytest.approx(finite.std(), rel=1e-12)
    assert sum(x.numeric.histogram.counts) == len(finite)
    flag = stats.splits["train"].columns["flag"]
    assert flag.kind == "boolean"
    assert {v.value: v.count for v in flag.string.top_values} == {
        "true": int(pc.sum(table.column("flag")).as_py()),
        "false": table.num_rows - int(pc.sum(table.column("flag")).as_py()),
    }
    raw_bytes = stats.splits["train"].columns["raw"]
    assert raw_bytes.type == "binary"
    assert raw_bytes.string.invalid_utf8 == sum(v == b"\xff\xfe" for v in table.column("raw").to_pylist())
    assert "\\xff\\xfe" in [v.value for v in raw_bytes.string.top_values]


def test_in_process_and_direct_runner_agree(mixed, tmp_path):
    local = load(run_statistics(mixed, tmp_path / "local", engine="in_process", batch_size=100))
    beam = load(run_statistics(mixed, tmp_path / "beam", engine="beam", batch_size=100))
    assert_same_statistics(local, beam)
    assert not [p for p in (tmp_path / "beam").iterdir() if p.name.startswith("_beam")]


# -- sketches -----------------------------------------------------------------


def test_quantile_sketch_stays_within_its_reported_bound_after_merges():
    rng = np.random.default_rng(3)
    data = np.concatenate([rng.lognormal(0, 1, 150_000), rng.normal(-3, 0.5, 50_000)])
    sketches = []
    for chunk in np.array_split(data, 7):
        s = QuantileSketch(k=64)
        for piece in np.array_split(chunk, 13):
            s.add(piece)
        sketches.append(s)
    total = sketches[0]
    for s in sketches[1:]:
        total.merge(s)
    bound = total.error_bound()
    assert 0 < bound < 0.1 and total.count == len(data)
    retained = sum(len(p) for parts in total.levels for p in parts)
    assert retained < 64 * 2 * 20
    ordered = np.sort(data)
    quantiles = total.quantiles(20, float(ordered[0]), float(ordered[-1]))
    for i, value in enumerate(quantiles):
        target = i / 20 * len(data)
        lo, hi = np.searchsorted(ordered, value, "left"), np.searchsorted(ordered, value, "right")
        assert lo - bound * len(data) <= target <= hi + bound * len(data), (i, value, lo, hi, target)


def test_distinct_past_the_cap_is_flagged_approximate_and_keeps_the_heavy_hitters(tmp_path):
    rng = np.random.default_rng(5)
    n = 60_000
    ids = [f"id-{i}" for i in rng.integers(0, 30_000, n)]
    ids[::4] = ["hot"] * len(ids[::4])
    ids[1::10] = ["warm"] * len(ids[1::10])
    table = pa.table({"id": ids})
    examples = write_examples(tmp_path / "ex", {"train": [table.slice(0, 25_000), table.slice(25_000)]})
    stats = load(run_statistics(examples, tmp_path / "stats", engine="in_process", batch_size=5000, distinct_cap=1000))
    column = stats.splits["train"].columns["id"].string
    exact = len(set(ids))
    assert not column.distinct_is_exact
    assert abs(column.distinct - exact) / exact < 0.1
    assert [v.value for v in column.top_values[:2]] == ["hot", "warm"]
    assert column.top_values[0].count <= ids.count("hot")
    assert column.top_values[0].count >= ids.count("hot") - n / 1001


# -- bad input ----------------------------------------------------------------


def test_empty_split_reports_zero_rows_and_the_schema_columns(tmp_path):
    table = pa.table({"a": pa.array([1.0, 2.0]), "b": pa.array(["x", "y"])})
    examples = write_examples(tmp_path / "ex", {"train": [table], "eval": [table.slice(0, 0)]})
    for engine in ("in_process", "beam"):
        stats = load(run_statistics(examples, tmp_path / engine, engine=engine))
        empty = stats.splits["eval"]
        assert empty.num_rows == 0 and list(empty.columns) == ["a", "b"]
        assert empty.columns["a"].type == "double" and empty.columns["a"].count == 0
        assert empty.columns["a"].numeric.mean is None and empty.columns["b"].string.distinct == 0
        assert stats.splits["train"].columns["a"].numeric.mean == 1.5


def test_column_entirely_null(tmp_path):
    table = pa.table({"n": pa.nulls(50, pa.float64()), "s": pa.nulls(50, pa.string()), "k": pa.array(range(50))})
    stats = load(run_statistics(write_examples(tmp_path / "ex", {"train": [table]}), tmp_path / "stats"))
    n = stats.splits["train"].columns["n"]
    assert (n.count, n.missing) == (0, 50)
    assert n.numeric.min is None and n.numeric.mean is None and n.numeric.std_dev is None
    assert n.numeric.histogram is None and n.numeric.quantiles == []
    s = stats.splits["train"].columns["s"]
    assert (s.count, s.string.distinct, s.string.top_values, s.string.avg_length) == (0, 0, [], None)


def test_mixed_types_across_files_name_both_files_and_the_column(tmp_path):
    first = pa.table({"a": pa.array([1, 2]), "b": pa.array(["x", "y"])})
    second = pa.table({"a": pa.array(["1", "2"]), "b": pa.array(["x", "y"])})
    examples = write_examples(tmp_path / "ex", {"train": [first, second]})
    for engine in ("in_process", "beam"):
        with pytest.raises(ValueError) as error:
            run_statistics(examples, tmp_path / engine, engine=engine)
        message = str(error.value)
        assert "'a'" in message and "part-00000.parquet" in message and "part-00001.parquet" in message
        assert "int64" in message and "string" in message


def test_ten_thousand_columns_are_all_described(tmp_path):
    """How long it takes: benchmarks/wide_table.py."""
    rng = np.random.default_rng(11)
    rows = 300
    columns = {f"f{i}": rng.normal(size=rows) for i in range(9_000)}
    columns.update({f"s{i}": pa.array(rng.choice(["a", "b", "c"], rows).tolist()) for i in range(1_000)})
    examples = write_examples(tmp_path / "ex", {"train": [pa.table(columns)]})
    statistics = run_statistics(examples, tmp_path / "stats")
    assert statistics.properties["columns"] == 10_000
    stats = load(statistics)
    assert stats.splits["train"].columns["f123"].numeric.mean == pytest.approx(columns["f123"].mean())


# -- engines --------------------------------------------------------------------


def test_auto_engine_is_in_process_only_for_small_data_on_the_direct_runner():
    assert choose_engine("auto", runner="DirectRunner", small=344 <= 2_000_000) == "in_process"
    assert choose_engine("auto", runner="DirectRunner", small=3_000_000 <= 2_000_000) == "beam"
    assert choose_engine("auto", runner="DaskRunner", small=True) == "beam"
    assert choose_engine("in_process", runner="DaskRunner", small=False) == "in_process"


@pytest.mark.timeout(180)
def test_dask_runner_gives_the_direct_runner_statistics(mixed, penguins, dask_cluster, tmp_path):
    options = {"runner": "DaskRunner", "dask_client_address": dask_cluster.scheduler_address, "dask_npartitions": 2}
    for name, examples in (("mixed", mixed), ("penguins", penguins)):
        direct = load(run_statistics(examples, tmp_path / f"{name}-direct", engine="beam", batch_size=64))
        dask = run_statistics(examples, tmp_path / f"{name}-dask", beam_options=options, batch_size=64)
        assert dask.properties["engine"] == "beam"
        assert_same_statistics(direct, load(dask))
