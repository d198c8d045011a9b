"""Run the statistics CombineFn over every split: in this process or as a Beam pipeline.

There is one implementation of the statistics, ``combiners.StatisticsCombineFn``;
this module only decides *where* its four methods are called.

``engine`` (a parameter of the component):

- ``"beam"``: a Beam pipeline on the runner from the pipeline file's
  ``beam: {runner, options}``. Elements are RecordBatches read by a DoFn from
  each Parquet file (``ParquetFile.iter_batches``), keyed by split and
  combined with ``CombinePerKey``; runners that lift combiners (the
  DirectRunner, Dataflow, Flink, Spark) add batches into per-bundle
  accumulators before the shuffle, so only accumulators cross the network.
- ``"in_process"``: the same CombineFn called directly, one accumulator per
  Parquet file, merged into the split's total with ``merge_accumulators``,
  exactly as a runner would. Beam is not even imported (its import alone
  costs about a second), which keeps a small pipeline fast.
- ``"auto"`` (default): ``in_process`` when the data has at most
  ``in_process_max_rows`` rows (counted from the Parquet footers, without
  reading data) and the runner is the local DirectRunner; otherwise ``beam``.
  A configured distributed runner is always used as configured.

Both engines read with ``batch_size`` rows per RecordBatch, so memory is
bounded by batch size and sketch sizes, never by the number of rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from headrace.components.artifacts import Examples
from headrace.components.beam_options import LOCAL_RUNNERS, is_local_runner  # noqa: F401 (LOCAL_RUNNERS re-exported)
from headrace.components.validator.combiners import (
    SOURCE_KEY,
    StatisticsCombineFn,
    StatisticsOptions,
)
from headrace.components.validator.formats import DataProblem, DatasetStatistics, SplitStatistics

Engine = Literal["auto", "beam", "in_process"]


@dataclass(frozen=True)
class SplitFiles:
    """The Parquet files of one split, their shared schema and their row count (from footers)."""

    name: str
    paths: list[str]
    schema: pa.Schema
    num_rows: int


def list_split(examples: Examples, split: str) -> SplitFiles:
    """Read the footers of a split's files: paths, rows, and a schema they must all share."""
    uri = examples.split_uri(split)
    filesystem, root = pafs.FileSystem.from_uri(uri)
    try:
        infos = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    except FileNotFoundError:
        raise DataProblem(f"split {split!r}: the Examples artifact has no directory {uri}") from None
    paths = sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet"))
    schema: pa.Schema | None = None
    first = ""
    rows = 0
    for path in paths:
        with filesystem.open_input_file(path) as handle:
            metadata = pq.ParquetFile(handle).metadata
        file_schema = metadata.schema.to_arrow_schema()
        rows += metadata.num_rows
        if schema is None:
            schema, first = file_schema, path
            continue
        _check_same_columns(split, first, schema, path, file_schema)
    if schema is None:
        schema = _schema_from_properties(examples)
    full = [_full_uri(uri, root, p) for p in paths]
    return SplitFiles(split, full, schema.remove_metadata(), rows)


def _full_uri(uri: str, root: str, path: str) -> str:
    """A file path from a selector made addressable again by ``FileSystem.from_uri``."""
    if "://" not in uri:
        return path
    scheme = uri.split("://", 1)[0]
    return f"{scheme}://{path}"


def _check_same_columns(split: str, first: str, a: pa.Schema, second: str, b: pa.Schema) -> None:
    types_a = {f.name: f.type for f in a}
    types_b = {f.name: f.type for f in b}
    for name in types_a.keys() | types_b.keys():
        if name not in types_a or name not in types_b:
            has, lacks = (second, first) if name not in types_a else (first, second)
            raise DataProblem(
                f"split {split!r}: column {name!r} is in {has} but not in {lacks}; "
                "every file of a split must have the same columns"
            )
        if types_a[name] != types_b[name]:
            raise DataProblem(
                f"split {split!r}: column {name!r} has type {types_a[name]} in {first} but "
                f"{types_b[name]} in {second}; every file of a split must have the same column types "
                "(re-ingest the data, or cast the column to one type with ingest's column_types)"
            )


def _schema_from_properties(examples: Examples) -> pa.Schema:
    from headrace.components.ingest.component import parse_arrow_type

    fields = examples.properties.get("schema") or []
    return pa.schema([pa.field(f["name"], parse_arrow_type(f["type"]), f.get("nullable", True)) for f in fields])


def read_batches(path: str, batch_size: int) -> Iterator[pa.RecordBatch]:
    """A Parquet file as RecordBatches tagged with their file, for error messages that name it."""
    filesystem, inner = pafs.FileSystem.from_uri(path) if "://" in path else (pafs.LocalFileSystem(), path)
    with filesystem.open_input_file(inner) as handle:
        parquet = pq.ParquetFile(handle)
        metadata = {SOURCE_KEY: path.encode()}
        for batch in parquet.iter_batches(batch_size=batch_size):
            yield batch.replace_schema_metadata(metadata)


def choose_engine(engine: Engine, rows: int, max_rows: int, runner: str) -> Literal["beam", "in_process"]:
    if engine != "auto":
        return engine
    local = is_local_runner(runner)
    return "in_process" if local and rows <= max_rows else "beam"


def run_in_process(split: SplitFiles, options: StatisticsOptions, batch_size: int) -> SplitStatistics:
    """The CombineFn's four methods called as a runner would: per-file accumulators, then merges."""
    fn = StatisticsCombineFn(options, split.schema)
    total = fn.create_accumulator()
    for path in split.paths:
        accumulator = fn.create_accumulator()
        for batch in read_batches(path, batch_size):
            accumulator = fn.add_input(accumulator, batch)
        total = fn.merge_accumulators([total, accumulator])
    return fn.extract_output(total).model_copy(update={"name": split.name})


def compute_statistics(
    examples: Examples,
    options: StatisticsOptions,
    *,
    engine: Engine = "auto",
    in_process_max_rows: int = 2_000_000,
    batch_size: int = 65_536,
    beam_options: dict[str, Any] | None = None,
    work_uri: str | None = None,
    log: logging.Logger | None = None,
    progress: Callable[[str], None] = lambda note: None,
) -> tuple[DatasetStatistics, str]:
    """Statistics of every split of ``examples`` and the engine that computed them.

    ``work_uri`` is a directory every Beam worker can write to (the output
    artifact's staging URI); the Beam engine leaves per-split results there
    for the driver to read back, as DaskRunner returns no values.
    """
    log = log or logging.getLogger("headrace.statistics")
    beam_options = dict(beam_options or {"runner": "DirectRunner"})
    splits = [list_split(examples, s) for s in examples.splits]
    rows = sum(s.num_rows for s in splits)
    chosen = choose_engine(engine, rows, in_process_max_rows, str(beam_options.get("runner", "DirectRunner")))
    log.info("statistics over %d rows in %d split(s), engine=%s", rows, len(splits), chosen)
    if chosen == "in_process":
        results = {}
        for number, split in enumerate(splits, 1):
            progress(f"split {split.name} ({number} of {len(splits)}, {split.num_rows:,} rows)")
            results[split.name] = run_in_process(split, options, batch_size)
    else:
        if work_uri is None:
            raise ValueError("the beam engine needs work_uri: a directory every worker can write to")
        from headrace.components.validator.statistics_beam import run_beam

        progress(f"{rows:,} rows on {beam_options.get('runner', 'DirectRunner')}")

        results = run_beam(splits, options, batch_size, beam_options, work_uri)
    return DatasetStatistics(splits={s.name: results[s.name] for s in splits}), chosen
