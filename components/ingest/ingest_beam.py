"""The Beam engine of ingest: ``Create(files) | ParDo(IngestFile)``.

Imported only when Beam is actually used (``ingestion`` decides), because
importing Beam costs about a second.

Elements are file descriptors ``(file index, path)``; inside the DoFn the work
is ``ingestion.ingest_file`` (the same function the in-process engine calls),
which streams the file as Arrow tables, never rows, and writes that file's
part files straight under the output artifact's (staging) URI. Its summary is
written as ``<output>/_ingest-<id>/summary-<index>.json`` and read back here,
since DaskRunner returns no values to the driver; the directory is then
removed. An ``IngestError`` in a worker (a bad row with ``on_bad_rows:
error``) is recorded in the summary rather than raised, so the driver raises
the very message the in-process engine would, whatever the runner does to
exceptions.

Only ``Create`` and ``ParDo`` are used: every runner translates them,
DaskRunner 2.77 included (its ``_Read`` is a no-op, so no Beam IO source).
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from headrace.components.beam_options import pipeline_options, run_pipeline, runner_name
from headrace.components.ingest.errors import IngestError
from headrace.components.ingest.ingestion import IngestPlan, ingest_file
from headrace.components.ingest.sources import filesystem

_DASK_MAX_PARTITIONS = 1024


class IngestFile(beam.DoFn):
    """``(index, path)`` -> the file's part files under the output, and ``summary-<index>.json`` under ``work_uri``."""

    def __init__(self, plan: IngestPlan, work_uri: str) -> None:
        self.plan = plan
        self.work_uri = work_uri

    def process(self, element: tuple[int, str]) -> Iterator[int]:
        index, path = element
        if self.plan.files[index] != path:
            raise ValueError(f"file #{index} is {self.plan.files[index]}, not {path}")
        try:
            summary = ingest_file(self.plan, index)
        except IngestError as exc:
            summary = {"index": index, "file": path, "error": str(exc)}
        logging.getLogger("headrace.ingest").info("ingest: %s done: %s", path, summary.get("rows", summary))
        fs, root = filesystem(self.work_uri)
        fs.create_dir(root, recursive=True)
        with fs.open_output_stream(f"{root}/summary-{index:05d}.json") as out:
            out.write(json.dumps(summary).encode())
        yield index


def _with_dask_partitions(beam_options: dict[str, Any], files: int) -> dict[str, Any]:
    """DaskRunner puts up to 128 elements in one partition by default; here an element is a whole file."""
    if runner_name(beam_options).rsplit(".", 1)[-1] != "DaskRunner":
        return beam_options
    if beam_options.get("dask_npartitions") or beam_options.get("dask_partition_size"):
        return beam_options
    return {**beam_options, "dask_npartitions": max(1, min(files, _DASK_MAX_PARTITIONS))}


def run_beam(plan: IngestPlan, beam_options: dict[str, Any]) -> list[dict[str, Any]]:
    """Every file ingested by one Beam pipeline; the files' summaries in file order."""
    fs, root = filesystem(plan.output_uri)
    work = f"{root.rstrip('/')}/_ingest-{uuid.uuid4().hex[:8]}"
    work_uri = plan.output_uri.rstrip("/") + work[len(root.rstrip("/")) :]
    pipeline = beam.Pipeline(options=pipeline_options(_with_dask_partitions(beam_options, len(plan.files))))
    _ = (
        pipeline
        | "Files" >> beam.Create(list(enumerate(plan.files)))
        | "IngestFile" >> beam.ParDo(IngestFile(plan, work_uri))
    )
    try:
        run_pipeline(pipeline)
        summaries = []
        for index, file in enumerate(plan.files):
            path = f"{work}/summary-{index:05d}.json"
            try:
                with fs.open_input_stream(path) as handle:
                    summaries.append(json.loads(handle.read()))
            except FileNotFoundError:
                raise RuntimeError(
                    f"the Beam pipeline finished without a summary for {file} (expected {path}); "
                    "the runner dropped the output of the ingest step"
                ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            fs.delete_dir(work)
    return summaries
