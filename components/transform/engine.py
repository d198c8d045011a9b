"""Where the transform's work runs: in this process, or as Beam pipelines on the pipeline's runner.

Two kinds of work, each one implementation:

- an analyze pass, ``analysis.AnalyzePassFn``: a CombineFn over the
  RecordBatches of the analyze split, run by the shared
  ``engines.combine_per_split`` (called directly, or ``CombinePerKey`` on Beam);
- the transform pass, ``transform_file``: one input Parquet file -> one
  output Parquet file, streamed batch by batch through
  ``FittedTransform.transform_batch`` (the very function ``TransformGraph.load``
  serves with): a loop here, or a ``ParDo`` over the files on Beam
  (``transform_beam``). Elements are RecordBatches, never rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from headrace.components.engines import ChosenEngine, combine_per_split
from headrace.components.examples_io import SplitFiles, read_batches
from headrace.components.files import filesystem
from headrace.components.read_ahead import read_ahead
from headrace.components.transform.analysis import AnalyzePassFn
from headrace.components.transform.graph import FittedTransform


@dataclass(frozen=True)
class FileTask:
    """Transform one Parquet file of a split into one output file (same part number, same row order)."""

    split: str
    source: str
    target: str


def run_analyze_pass(
    fn: AnalyzePassFn,
    split: SplitFiles,
    *,
    engine: ChosenEngine,
    batch_size: int,
    beam_options: dict[str, Any],
    work_uri: str,
) -> dict[str, Any]:
    """One analyze pass over the split, reading only the columns the pass needs."""
    results = combine_per_split(
        lambda _: fn,
        [split],
        engine=engine,
        batch_size=batch_size,
        beam_options=beam_options,
        work_uri=work_uri,
        columns=fn.columns,
    )
    return results[split.name]


def transform_file(fitted: FittedTransform, task: FileTask, batch_size: int) -> int:
    """Stream ``task.source`` through the transform into ``task.target``; returns the rows written."""
    schema = fitted.output_schema
    assert schema is not None
    fs, path = filesystem(task.target)
    fs.create_dir(path.rpartition("/")[0], recursive=True)
    rows = 0
    with fs.open_output_stream(path) as sink, pq.ParquetWriter(sink, schema) as writer:
        # read and transform on one thread, encode and write on this one
        for out in read_ahead(
            (fitted.transform_batch(batch) for batch in read_batches(task.source, batch_size)), name="transform-reader"
        ):
            writer.write_batch(out)
            rows += out.num_rows
    return rows


def run_transform_pass(
    fitted: FittedTransform,
    tasks: list[FileTask],
    *,
    engine: ChosenEngine,
    batch_size: int,
    beam_options: dict[str, Any],
) -> None:
    if engine == "in_process":
        for task in tasks:
            transform_file(fitted, task, batch_size)
        return
    from headrace.components.transform.transform_beam import run_transform_pass_on_beam

    run_transform_pass_on_beam(fitted, tasks, batch_size, beam_options)
