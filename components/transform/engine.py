"""Where the transform's work runs: in this process, or as one Beam pipeline on the pipeline's runner.

Two kinds of work, each one implementation on both engines:

- an analyze pass, ``analysis.AnalyzePassFn``: a CombineFn over the
  RecordBatches of the analyze split, one accumulator per file
  (``engines.accumulate_file``), merged; in-process by the shared
  ``engines.combine_in_process``, on Beam per file in parallel and folded
  into the analysis state (``transform_beam``);
- the transform pass, ``transform_file``: one input Parquet file -> one
  output Parquet file, streamed batch by batch through
  ``FittedTransform.transform_batch`` (the very function ``TransformGraph.load``
  serves with): a loop here, the end of the same pipeline on Beam.
  Elements are RecordBatches, never rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from headrace.components.engines import ChosenEngine, combine_in_process
from headrace.components.examples_io import SplitFiles, read_batches
from headrace.components.files import filesystem
from headrace.components.read_ahead import read_ahead
from headrace.components.transform.analysis import AnalysisState, AnalyzePassFn, finish
from headrace.components.transform.graph import FittedTransform


@dataclass(frozen=True)
class FileTask:
    """Transform one Parquet file of a split into one output file (same part number, same row order)."""

    split: str
    source: str
    target: str


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


@dataclass(frozen=True)
class EngineSettings:
    """Where the work runs and in what pieces: for Beam, its options and a folder every worker can write to."""

    engine: ChosenEngine
    batch_size: int
    beam_options: dict[str, Any]
    work_uri: str


def fit_and_transform(
    state: AnalysisState,
    analyzed: SplitFiles,
    tasks: list[FileTask],
    settings: EngineSettings,
    log: logging.Logger,
    progress: Callable[[str], None] = lambda note: None,
) -> FittedTransform:
    """Finish the analysis that ``state`` started over ``analyzed``, then transform every task's file.

    In this process: pass after pass, each the shared ``combine_in_process``,
    then the files one after the other. On Beam: one pipeline for the
    remaining passes and the transform pass (``transform_beam``).
    """
    if settings.engine == "in_process":

        def run_pass(fn: AnalyzePassFn) -> dict[str, Any]:
            return combine_in_process(fn, analyzed.paths, settings.batch_size, fn.columns)

        fitted = finish(state, run_pass, log, progress)
        progress(f"transform pass over {len(tasks)} file(s)")
        for task in tasks:
            transform_file(fitted, task, settings.batch_size)
        return fitted
    from headrace.components.transform.transform_beam import fit_and_transform_on_beam

    return fit_and_transform_on_beam(state, analyzed.paths, tasks, settings, log, progress)
