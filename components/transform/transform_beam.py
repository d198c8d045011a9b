"""The transform pass on Beam: a ``ParDo`` over the input files, each written through the frozen transform.

Imported only when the Beam engine runs (importing Beam costs about a
second). Built from primitives every runner translates (``Create``,
``ParDo``); files are read by the DoFn itself, as DaskRunner does not
translate Beam's ``Read`` (see ``engines_beam``). The analyze passes run on
the shared ``engines.combine_per_split``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from headrace.components.beam_options import pipeline_options, run_pipeline
from headrace.components.transform.engine import FileTask, transform_file
from headrace.components.transform.graph import FittedTransform
from headrace.components.transform.plan import UserFunction


class TransformFiles(beam.DoFn):
    """A ``FileTask`` -> its output Parquet file, through the frozen transform (rebuilt once per worker)."""

    def __init__(self, document: dict[str, Any], user: UserFunction | None, batch_size: int) -> None:
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


def run_transform_pass_on_beam(
    fitted: FittedTransform, tasks: list[FileTask], batch_size: int, beam_options: dict[str, Any]
) -> None:
    pipeline = beam.Pipeline(options=pipeline_options(beam_options))
    _ = (
        pipeline
        | "Files" >> beam.Create(tasks)
        | "Transform" >> beam.ParDo(TransformFiles(fitted.to_document(), fitted.plan.user, batch_size))
    )
    run_pipeline(pipeline)
