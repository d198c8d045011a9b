"""The Beam side of ``engines.combine_per_split``: files -> RecordBatches -> CombinePerKey, per split.

Imported only when Beam is actually used, because importing Beam costs about
a second.

The pipeline is built from the primitives every runner translates:
``Create``, ``ParDo``, ``GroupByKey`` (inside ``CombinePerKey``). Beam's
``ReadFromParquetBatched`` is a ``Read`` of a ``BoundedSource``, which
DaskRunner 2.77 does not translate (its ``_Read`` override maps to a no-op,
see ``apache_beam/runners/dask/transform_evaluator.py::TRANSLATIONS``), so the
files are read by a DoFn instead. DaskRunner also returns no values to the
driver, so each split's output is pickled under ``work_uri`` by the last DoFn
and read back here. Runners that lift combiners (DirectRunner, Dataflow,
Flink, Spark) add batches into per-bundle accumulators before the shuffle, so
only accumulators cross the network.
"""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam

from headrace.components.beam_options import pipeline_options, run_pipeline
from headrace.components.engines import BatchCombineFn
from headrace.components.examples_io import SplitFiles, read_batches
from headrace.components.files import filesystem


class SplitCombineFn(beam.CombineFn):
    """Each split's own ``BatchCombineFn``, behind the one CombineFn of a ``CombinePerKey(split)``.

    One branch per split would be simpler, but DaskRunner 2.77 runs only one of
    several independent branches; so every split flows through one chain and
    each input carries its split, ``(split, batch)``, for the accumulator to
    pick its fn. An accumulator is ``None`` (nothing added yet) or
    ``(split, the split fn's accumulator)``.
    """

    def __init__(self, fns: dict[str, BatchCombineFn[Any, Any]]) -> None:
        super().__init__()
        self.fns = fns

    def create_accumulator(self) -> Any:
        return None

    def add_input(self, accumulator: Any, element: tuple[str, Any]) -> Any:
        split, batch = element
        fn = self.fns[split]
        inner = fn.create_accumulator() if accumulator is None else accumulator[1]
        return split, fn.add_input(inner, batch)

    def merge_accumulators(self, accumulators: Any) -> Any:
        present = [a for a in accumulators if a is not None]
        if not present:
            return None
        split = present[0][0]
        return split, self.fns[split].merge_accumulators([a[1] for a in present])

    def extract_output(self, accumulator: Any) -> Any:
        if accumulator is None:
            return None  # a key without inputs: never produced by CombinePerKey
        split, inner = accumulator
        return self.fns[split].extract_output(inner)


class ReadRecordBatches(beam.DoFn):
    """``(split, path)`` -> ``(split, (split, RecordBatch))`` for every batch of the Parquet file."""

    def __init__(self, batch_size: int, columns: Sequence[str] | None = None) -> None:
        self.batch_size = batch_size
        self.columns = list(columns) if columns is not None else None

    def process(self, element: tuple[str, str]) -> Iterator[tuple[str, Any]]:
        split, path = element
        for batch in read_batches(path, self.batch_size, self.columns):
            yield split, (split, batch)


class WriteSplitResult(beam.DoFn):
    """``(split, output)`` -> ``<work_uri>/<split>.pickle``, for the driver to read back."""

    def __init__(self, work_uri: str) -> None:
        self.work_uri = work_uri

    def process(self, element: tuple[str, Any]) -> Iterator[str]:
        split, output = element
        fs, root = filesystem(self.work_uri)
        fs.create_dir(root, recursive=True)
        with fs.open_output_stream(f"{root}/{split}.pickle") as out:
            out.write(pickle.dumps(output))
        yield split


def combine_on_beam(
    fns: dict[str, BatchCombineFn[Any, Any]],
    splits: Sequence[SplitFiles],
    batch_size: int,
    beam_options: dict[str, Any],
    work_uri: str,
    columns: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Each split combined by its own CombineFn in one Beam pipeline; outputs by split name."""
    scratch = f"{work_uri.rstrip('/')}/_beam-{uuid.uuid4().hex[:8]}"
    pipeline = beam.Pipeline(options=pipeline_options(beam_options))
    files = [(split.name, path) for split in splits for path in split.paths]
    _ = (
        pipeline
        | "Files" >> beam.Create(files)
        | "ReadRecordBatches" >> beam.ParDo(ReadRecordBatches(batch_size, columns))
        | "CombinePerSplit" >> beam.CombinePerKey(SplitCombineFn(dict(fns)))
        | "WriteResults" >> beam.ParDo(WriteSplitResult(scratch))
    )
    run_pipeline(pipeline)

    fs, root = filesystem(scratch)
    results: dict[str, Any] = {}
    try:
        for split in splits:
            path = f"{root}/{split.name}.pickle"
            try:
                with fs.open_input_stream(path) as handle:
                    results[split.name] = pickle.loads(handle.read())
            except FileNotFoundError:
                raise RuntimeError(
                    f"the Beam pipeline finished without a result for split {split.name!r} (expected {path}); "
                    "the runner dropped the output of the combine step"
                ) from None
    finally:
        fs.delete_dir(root)
    return results
