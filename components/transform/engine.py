"""Where the transform's work runs: in this process, or as Beam pipelines on the pipeline's runner.

Two kinds of work, each one implementation:

- an analyze pass, ``analysis.AnalyzePassFn``, a CombineFn over the
  RecordBatches of the analyze split: called directly (one accumulator per
  Parquet file, merged as a runner would) or as ``CombineGlobally`` in Beam;
- the transform pass, ``transform_file``: one input Parquet file -> one
  output Parquet file, streamed batch by batch through
  ``FittedTransform.transform_batch`` (the function ``TransformGraph.load``
  serves with): a loop here, or a ``ParDo`` over the files in Beam.

Elements in Beam are RecordBatches, never rows. DaskRunner returns no values
to the driver, so the analyze result is written as JSON under the output's
staging folder and read back, as the statistics component does.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from queue import Empty, Queue
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from headrace.components.transform.analysis import AnalyzePassFn
from headrace.components.transform.graph import FittedTransform


def read_batches(path: str, batch_size: int, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
    """A Parquet file (local path or URI) as RecordBatches of ``batch_size`` rows, only ``columns`` if given."""
    filesystem, inner = _filesystem(path)
    with filesystem.open_input_file(inner) as handle:
        yield from pq.ParquetFile(handle).iter_batches(batch_size=batch_size, columns=columns)


def read_ahead(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """``items`` produced on a background thread, so decoding the next batch overlaps work on this one.

    Parquet decoding and Arrow kernels release the GIL, so on two cores this is
    nearly free throughput; memory grows by ``depth`` batches at most.
    """
    done = object()
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                queue.put((item, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put((None, exc))
            return
        queue.put((done, None))

    thread = threading.Thread(target=produce, name="transform-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = queue.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                queue.get_nowait()
            except Empty:
                thread.join(0.01)


@dataclass(frozen=True)
class FileTask:
    """Transform one Parquet file of a split into one output file (same part number, same row order)."""

    split: str
    source: str
    target: str


def analyze_in_process(fn: AnalyzePassFn, paths: list[str], batch_size: int) -> dict[str, Any]:
    total = fn.create_accumulator()
    for path in paths:
        accumulator = fn.create_accumulator()
        for batch in read_ahead(read_batches(path, batch_size, fn.columns)):
            accumulator = fn.add_input(accumulator, batch)
        total = fn.merge_accumulators([total, accumulator])
    return fn.extract_output(total)


def transform_file(fitted: FittedTransform, task: FileTask, batch_size: int) -> int:
    """Stream ``task.source`` through the transform into ``task.target``; returns the rows written."""
    schema = fitted.output_schema
    assert schema is not None
    filesystem, path = _filesystem(task.target)
    filesystem.create_dir(path.rpartition("/")[0], recursive=True)
    rows = 0
    with filesystem.open_output_stream(path) as sink, pq.ParquetWriter(sink, schema) as writer:
        # read and transform on one thread, encode and write on this one
        for out in read_ahead(fitted.transform_batch(batch) for batch in read_batches(task.source, batch_size)):
            writer.write_batch(out)
            rows += out.num_rows
    return rows


def transform_in_process(fitted: FittedTransform, tasks: list[FileTask], batch_size: int) -> None:
    for task in tasks:
        transform_file(fitted, task, batch_size)


def _filesystem(uri: str) -> tuple[Any, str]:
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), uri


# -- Beam (transform_beam imports Beam; only when this engine runs) -----------------------


def analyze_on_beam(
    fn: AnalyzePassFn, paths: list[str], batch_size: int, beam_options: dict[str, Any], work_uri: str
) -> dict[str, Any]:
    from headrace.components.transform.transform_beam import run_analyze_pass

    return run_analyze_pass(fn, paths, batch_size, beam_options, work_uri)


def transform_on_beam(
    fitted: FittedTransform, tasks: list[FileTask], batch_size: int, beam_options: dict[str, Any]
) -> None:
    from headrace.components.transform.transform_beam import run_transform_pass

    run_transform_pass(fitted, tasks, batch_size, beam_options)
