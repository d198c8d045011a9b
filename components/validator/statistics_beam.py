"""The Beam engine of the statistics: files -> RecordBatches -> CombinePerKey(split).

Imported only when Beam is actually used (``statistics_pipeline`` decides),
because importing Beam costs about a second.

The pipeline is deliberately built from the primitives every runner
translates: ``Create``, ``ParDo``, ``GroupByKey`` (inside ``CombinePerKey``).
Beam's ``ReadFromParquetBatched`` is a ``Read`` of a ``BoundedSource``, which
DaskRunner 2.77 does not translate (its ``_Read`` override maps to a no-op,
see ``apache_beam/runners/dask/transform_evaluator.py::TRANSLATIONS``), so the
files are read by a DoFn instead. DaskRunner also returns no values to the
driver, so each split's result is written as JSON under ``work_uri`` by the
last DoFn and read back here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow.fs as pafs

from headrace.components.beam_options import RUNNER_PATHS, pipeline_options, run_pipeline  # noqa: F401 (re-exported)
from headrace.components.validator.combiners import (
    SplitAccumulator,
    StatisticsCombineFn,
    StatisticsOptions,
)
from headrace.components.validator.formats import SplitStatistics
from headrace.components.validator.statistics_pipeline import SplitFiles, read_batches


class BeamStatisticsCombineFn(beam.CombineFn):
    """Hands ``StatisticsCombineFn`` to Beam unchanged: one implementation for every engine."""

    def __init__(self, fn: StatisticsCombineFn) -> None:
        super().__init__()
        self.fn = fn

    def create_accumulator(self) -> SplitAccumulator:
        return self.fn.create_accumulator()

    def add_input(self, accumulator: SplitAccumulator, batch: Any) -> SplitAccumulator:
        return self.fn.add_input(accumulator, batch)

    def merge_accumulators(self, accumulators: Any) -> SplitAccumulator:
        return self.fn.merge_accumulators(accumulators)

    def extract_output(self, accumulator: SplitAccumulator) -> SplitStatistics:
        return self.fn.extract_output(accumulator)


class ReadRecordBatches(beam.DoFn):
    """``(split, path)`` -> ``(split, RecordBatch)`` for every batch of the Parquet file."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def process(self, element: tuple[str, str]) -> Iterator[tuple[str, Any]]:
        split, path = element
        for batch in read_batches(path, self.batch_size):
            yield split, batch


class WriteSplitResult(beam.DoFn):
    """``(split, SplitStatistics)`` -> ``<work_uri>/<split>.json``, for the driver to read back."""

    def __init__(self, work_uri: str) -> None:
        self.work_uri = work_uri

    def process(self, element: tuple[str, SplitStatistics]) -> Iterator[str]:
        split, stats = element
        filesystem, root = pafs.FileSystem.from_uri(self.work_uri)
        filesystem.create_dir(root, recursive=True)
        with filesystem.open_output_stream(f"{root}/{split}.json") as out:
            out.write(stats.model_copy(update={"name": split}).model_dump_json().encode())
        yield split


def run_beam(
    splits: list[SplitFiles],
    options: StatisticsOptions,
    batch_size: int,
    beam_options: dict[str, Any],
    work_uri: str,
) -> dict[str, SplitStatistics]:
    """Statistics of each split computed by one Beam pipeline (one CombinePerKey over all splits)."""
    results: dict[str, SplitStatistics] = {}
    for split in splits:  # no rows: nothing to combine; columns come from the footer schema
        if split.num_rows == 0:
            empty = StatisticsCombineFn(options, split.schema)
            results[split.name] = empty.extract_output(empty.create_accumulator()).model_copy(
                update={"name": split.name}
            )
    files = [(s.name, path) for s in splits if s.num_rows for path in s.paths]
    if not files:
        return results

    scratch = f"{work_uri.rstrip('/')}/_beam-{uuid.uuid4().hex[:8]}"
    fn = BeamStatisticsCombineFn(StatisticsCombineFn(options))
    pipeline = beam.Pipeline(options=pipeline_options(beam_options))
    _ = (
        pipeline
        | "Files" >> beam.Create(files)
        | "ReadRecordBatches" >> beam.ParDo(ReadRecordBatches(batch_size))
        | "StatisticsPerSplit" >> beam.CombinePerKey(fn)
        | "WriteResults" >> beam.ParDo(WriteSplitResult(scratch))
    )
    run_pipeline(pipeline)

    filesystem, root = pafs.FileSystem.from_uri(scratch)
    try:
        for split in splits:
            if split.num_rows == 0:
                continue
            path = f"{root}/{split.name}.json"
            try:
                with filesystem.open_input_stream(path) as handle:
                    results[split.name] = SplitStatistics.model_validate_json(handle.read())
            except FileNotFoundError:
                raise RuntimeError(
                    f"the Beam pipeline finished without a result for split {split.name!r} (expected {path}); "
                    "the runner dropped the output of the statistics step"
                ) from None
    finally:
        filesystem.delete_dir(root)
    return results
