"""``engines.combine_per_split``: one CombineFn over each split, the same result in-process and on Beam."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from headrace.components.artifacts import Examples
from headrace.components.engines import choose_engine, combine_per_split
from headrace.components.examples_io import SOURCE_KEY, SplitFiles, SplitWriter, list_split
from headrace.components.files import filesystem


@dataclass
class SumAndFiles:
    """A tiny analyzer: the sum of column x, the rows, and which files the batches came from."""

    column: str

    def create_accumulator(self) -> tuple[float, int, frozenset[str]]:
        return 0.0, 0, frozenset()

    def add_input(self, acc: tuple[float, int, frozenset[str]], batch: pa.RecordBatch) -> tuple:
        source = (batch.schema.metadata or {}).get(SOURCE_KEY, b"").decode()
        total = pa.compute.sum(batch.column(self.column)).as_py() or 0
        return acc[0] + total, acc[1] + batch.num_rows, acc[2] | {Path(source).name}

    def merge_accumulators(self, accumulators) -> tuple:
        accumulators = list(accumulators)
        return (
            sum(a[0] for a in accumulators),
            sum(a[1] for a in accumulators),
            frozenset().union(*(a[2] for a in accumulators)),
        )

    def extract_output(self, acc: tuple) -> dict:
        return {"sum": acc[0], "rows": acc[1], "files": sorted(acc[2])}


def _examples(root: Path) -> Examples:
    """Examples written with the shared SplitWriter: train in two part files, eval empty."""
    schema = pa.schema([("x", pa.float64())])
    fs, base = filesystem(str(root))
    for name, rows in (("train", list(range(10))), ("eval", [])):
        fs.create_dir(f"{base}/Split-{name}", recursive=True)
        writer = SplitWriter(fs, f"{base}/Split-{name}", schema, rows_per_file=6)
        if rows:
            writer.write(pa.table({"x": [float(r) for r in rows]}, schema=schema))
        writer.close(write_empty=True)
    return Examples(
        uri=str(root), properties={"splits": ["train", "eval"], "schema": [{"name": "x", "type": "double"}]}
    )


def test_in_process_and_beam_give_the_same_result_per_split(tmp_path: Path) -> None:
    examples = _examples(tmp_path / "examples")
    splits = [list_split(examples, s) for s in examples.splits]
    assert [(s.name, len(s.paths), s.num_rows) for s in splits] == [("train", 2, 10), ("eval", 1, 0)]

    def fn_for(split: SplitFiles) -> SumAndFiles:
        return SumAndFiles("x")

    local = combine_per_split(fn_for, splits, engine="in_process", batch_size=4)
    beam = combine_per_split(
        fn_for,
        splits,
        engine="beam",
        batch_size=4,
        beam_options={"runner": "DirectRunner"},
        work_uri=str(tmp_path / "w"),
    )
    expected_train = {"sum": 45.0, "rows": 10, "files": ["part-00000-00000.parquet", "part-00000-00001.parquet"]}
    assert local == beam == {"train": expected_train, "eval": {"sum": 0.0, "rows": 0, "files": []}}
    assert list(local) == ["train", "eval"]  # in split order
    assert not any((tmp_path / "w").iterdir())  # the Beam scratch results are removed


@dataclass
class ColumnNames:
    """Which columns the batches carried."""

    def create_accumulator(self) -> frozenset[str]:
        return frozenset()

    def add_input(self, acc: frozenset[str], batch: pa.RecordBatch) -> frozenset[str]:
        return acc | set(batch.schema.names)

    def merge_accumulators(self, accumulators) -> frozenset[str]:
        return frozenset().union(*accumulators)

    def extract_output(self, acc: frozenset[str]) -> list[str]:
        return sorted(acc)


def test_a_combine_reads_only_the_columns_it_asks_for(tmp_path: Path) -> None:
    """A transform pass that needs 4 of 40 columns decodes 4: the same projection on both engines."""
    table = pa.table({"a": [1, 2], "b": ["x", "y"], "c": [0.5, 1.5]})
    (tmp_path / "examples" / "Split-train").mkdir(parents=True)
    pq.write_table(table, tmp_path / "examples" / "Split-train" / "part-00000.parquet")
    examples = Examples(uri=str(tmp_path / "examples"), properties={"splits": ["train"]})
    splits = [list_split(examples, "train")]
    local = combine_per_split(lambda _: ColumnNames(), splits, engine="in_process", columns=["c", "a"])
    beam = combine_per_split(
        lambda _: ColumnNames(),
        splits,
        engine="beam",
        beam_options={"runner": "DirectRunner"},
        work_uri=str(tmp_path / "w"),
        columns=["a"],
    )
    assert local == {"train": ["a", "c"]} and beam == {"train": ["a"]}
    assert combine_per_split(lambda _: ColumnNames(), splits, engine="in_process") == {"train": ["a", "b", "c"]}


def test_beam_needs_a_directory_workers_can_write_to(tmp_path: Path) -> None:
    examples = _examples(tmp_path / "examples")
    splits = [list_split(examples, s) for s in examples.splits]
    with pytest.raises(ValueError, match="work_uri"):
        combine_per_split(lambda split: SumAndFiles("x"), splits, engine="beam")


def test_auto_stays_in_process_only_for_small_data_on_a_local_runner() -> None:
    asked = []

    def small() -> bool:
        asked.append(True)
        return True

    assert choose_engine("auto", runner="DirectRunner", small=small) == "in_process"
    assert choose_engine("auto", runner="apache_beam.runners.direct.DirectRunner", small=False) == "beam"
    assert choose_engine("auto", runner="DaskRunner", small=small) == "beam"
    assert len(asked) == 1, "the size is measured only when it decides"
    assert choose_engine("beam", runner="DirectRunner", small=True) == "beam"


def test_a_split_with_files_of_different_columns_is_a_clear_error(tmp_path: Path) -> None:
    split = tmp_path / "Split-train"
    split.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1.0]}), split / "part-00000.parquet")
    pq.write_table(pa.table({"y": [1.0]}), split / "part-00001.parquet")
    examples = Examples(uri=str(tmp_path), properties={"splits": ["train"]})
    with pytest.raises(ValueError, match=r"column '[xy]' is in .*part-0000\d\.parquet but not in .*every file"):
        list_split(examples, "train")


def test_direct_runner_never_detours_through_prism(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``DirectRunner`` in a pipeline file is Beam's Python runner: no Prism download attempt, online or not."""
    from apache_beam.runners.portability import prism_runner

    tried: list[bool] = []
    original = prism_runner.PrismRunner.__init__

    def noting(self, *args, **kwargs) -> None:
        tried.append(True)
        original(self, *args, **kwargs)

    monkeypatch.setattr(prism_runner.PrismRunner, "__init__", noting)
    splits = [list_split(_examples(tmp_path / "examples"), "train")]
    for options in ({"runner": "DirectRunner"}, {"runner": "DirectRunner", "direct_running_mode": "multi_threading"}):
        result = combine_per_split(
            lambda _: SumAndFiles("x"), splits, engine="beam", beam_options=options, work_uri=str(tmp_path / "w")
        )
        assert result["train"]["sum"] == 45.0
    assert not tried
