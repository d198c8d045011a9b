"""The transform's Beam pipelines: an analyze pass (CombineGlobally) and the transform pass (ParDo over files).

Imported only when the Beam engine runs (importing Beam costs about a
second). Built from the primitives every runner translates (``Create``,
``ParDo``, ``CombineGlobally``); files are read by a DoFn, as DaskRunner does
not translate Beam's ``Read`` (see ``validator/statistics_beam.py``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pyarrow.fs as pafs

from headrace.components.beam_options import pipeline_options, run_pipeline
from headrace.components.transform.analysis import AnalyzePassFn
from headrace.components.transform.engine import FileTask, read_batches, transform_file
from headrace.components.transform.graph import FittedTransform
from headrace.components.transform.scope import Recording


class ReadRecordBatches(beam.DoFn):
    """A Parquet file path -> its RecordBatches."""

    def __init__(self, batch_size: int, columns: list[str] | None) -> None:
        self.batch_size = batch_size
        self.columns = columns

    def process(self, path: str) -> Iterator[Any]:
        yield from read_batches(path, self.batch_size, self.columns)


class BeamAnalyzePassFn(beam.CombineFn):
    """Hands ``AnalyzePassFn`` to Beam unchanged: one implementation for every engine."""

    def __init__(self, fn: AnalyzePassFn) -> None:
        super().__init__()
        self.fn = fn

    def create_accumulator(self) -> Recording:
        return self.fn.create_accumulator()

    def add_input(self, accumulator: Recording, batch: Any) -> Recording:
        return self.fn.add_input(accumulator, batch)

    def merge_accumulators(self, accumulators: Any) -> Recording:
        return self.fn.merge_accumulators(accumulators)

    def extract_output(self, accumulator: Recording) -> dict[str, Any]:
        return self.fn.extract_output(accumulator)


class WriteJson(beam.DoFn):
    """The pass's result -> a JSON file the driver reads back (DaskRunner returns nothing)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def process(self, result: dict[str, Any]) -> Iterator[str]:
        filesystem, path = _filesystem(self.uri)
        filesystem.create_dir(path.rpartition("/")[0], recursive=True)
        with filesystem.open_output_stream(path) as out:
            out.write(json.dumps(result).encode())
        yield self.uri


class TransformFiles(beam.DoFn):
    """A ``FileTask`` -> its output Parquet file, through the frozen transform (rebuilt once per worker)."""

    def __init__(self, document: dict[str, Any], user: Any, batch_size: int) -> None:
        self.document = document
        self.user = user
        self.batch_size = batch_size
        self._fitted: FittedTransform | None = None

    def setup(self) -> None:
        self._fitted = FittedTransform.from_document(self.document, "", user=self.user)

    def process(self, task: FileTask) -> Iterator[int]:
        if self._fitted is None:
            self.setup()
        assert self._fitted is not None
        yield transform_file(self._fitted, task, self.batch_size)


def run_analyze_pass(
    fn: AnalyzePassFn, paths: list[str], batch_size: int, beam_options: dict[str, Any], work_uri: str
) -> dict[str, Any]:
    result_uri = f"{work_uri.rstrip('/')}/_beam-{uuid.uuid4().hex[:8]}/analyzers.json"
    pipeline = beam.Pipeline(options=pipeline_options(beam_options))
    _ = (
        pipeline
        | "Files" >> beam.Create(paths)
        | "ReadRecordBatches" >> beam.ParDo(ReadRecordBatches(batch_size, fn.columns))
        | "Analyze" >> beam.CombineGlobally(BeamAnalyzePassFn(fn)).without_defaults()
        | "WriteResult" >> beam.ParDo(WriteJson(result_uri))
    )
    run_pipeline(pipeline)
    filesystem, path = _filesystem(result_uri)
    folder = path.rpartition("/")[0]
    try:
        with filesystem.open_input_stream(path) as handle:
            return json.loads(handle.read())
    except FileNotFoundError:
        return {}  # no batches at all: nothing was recorded
    finally:
        if filesystem.get_file_info(folder).type != pafs.FileType.NotFound:
            filesystem.delete_dir(folder)


def run_transform_pass(
    fitted: FittedTransform, tasks: list[FileTask], batch_size: int, beam_options: dict[str, Any]
) -> None:
    pipeline = beam.Pipeline(options=pipeline_options(beam_options))
    _ = (
        pipeline
        | "Files" >> beam.Create(tasks)
        | "Transform" >> beam.ParDo(TransformFiles(fitted.to_document(), fitted.plan.user, batch_size))
    )
    run_pipeline(pipeline)


def _filesystem(uri: str) -> tuple[Any, str]:
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), uri
