"""The ``statistics`` component (TFX's StatisticsGen): per-split column statistics of Examples.

Writes ``<uri>/statistics.json`` (``formats.DatasetStatistics``) and
``<uri>/statistics.html``, and sets the artifact properties ``splits``,
``num_rows`` (per split) and ``columns``. How the figures are computed and
which engine runs them: ``combiners`` and ``statistics_pipeline``. Nothing
heavy is imported here, so the CLI can load this module to check a pipeline
file in milliseconds.
"""

from __future__ import annotations

import os
import time
from typing import Literal

from pydantic import Field

from headrace.components.artifacts import Examples, Statistics
from headrace.components.contract import Component, Context, Input, Parameters
from headrace.components.files import write_text


class StatisticsParameters(Parameters):
    """What to compute and where to compute it."""

    engine: Literal["auto", "beam", "in_process"] = Field(
        "auto",
        description="Where the statistics CombineFn runs: 'beam' (a Beam pipeline on the pipeline's runner), "
        "'in_process' (the same CombineFn called directly, no Beam start-up), or 'auto': in_process when the "
        "data has at most in_process_max_rows rows and the runner is the local DirectRunner, else beam.",
    )
    in_process_max_rows: int = Field(
        2_000_000,
        ge=0,
        description="Largest total row count that engine 'auto' computes in-process.",
    )
    batch_size: int = Field(
        65_536,
        ge=1,
        description="Rows per Arrow RecordBatch read from Parquet; memory grows with it.",
    )
    num_quantiles: int = Field(
        10,
        ge=2,
        le=1000,
        description="Quantiles per numeric column: values at ranks 0, 1/q, ..., 1 (q+1 values).",
    )
    histogram_buckets: int = Field(10, ge=1, le=1000, description="Equal-width histogram buckets per numeric column.")
    top_k: int = Field(
        50,
        ge=0,
        le=10_000,
        description="Most frequent values reported per string or boolean column (schema inference gives a column a domain only when all its values are listed).",
    )
    distinct_cap: int = Field(
        10_000,
        ge=10,
        description="Distinct values counted exactly per string column; past it, distinct count and top values "
        "are approximate (distinct_is_exact: false).",
    )
    quantile_sketch_size: int = Field(
        2048,
        ge=8,
        description="Values kept per level of the quantile sketch (k); rank error is about log2(n/k)/(2k) at worst.",
    )

    image_label_column: str = Field(
        "label",
        description="Image columns: the column naming each image's class, for the report's thumbnails per class.",
    )
    image_path_column: str = Field(
        "path",
        description="Image columns: the column naming each image's file; thumbnails are the files with the "
        "smallest hash of it, so every run and runner shows the same ones.",
    )
    samples_per_class: int = Field(
        4, ge=0, le=100, description="Image columns: thumbnails kept per class for the report."
    )
    sample_classes: int = Field(
        20, ge=0, le=1000, description="Image columns: classes (the first in sorted order) that get thumbnails."
    )

    def options(self):  # -> StatisticsOptions, imported lazily with pyarrow/numpy
        from headrace.components.validator.combiners import StatisticsOptions
        from headrace.components.validator.image_statistics import ImageOptions

        return StatisticsOptions(
            num_quantiles=self.num_quantiles,
            histogram_buckets=self.histogram_buckets,
            top_k=self.top_k,
            distinct_cap=self.distinct_cap,
            quantile_sketch_size=self.quantile_sketch_size,
            images=ImageOptions(
                label_column=self.image_label_column,
                path_column=self.image_path_column,
                samples_per_class=self.samples_per_class,
                sample_classes=self.sample_classes,
            ),
        )


class StatisticsComponent(Component[StatisticsParameters]):
    type = "statistics"
    version = "3"  # 2: percentiles and kurtosis for the drift measures; 3: image columns
    description = "Per-split column statistics of Examples (counts, moments, histograms, quantiles, top values)."
    inputs = {"examples": Input(Examples, description="The data to describe.")}
    outputs = {"statistics": Statistics}
    Parameters = StatisticsParameters
    requires = ("pyarrow", "apache-beam")

    def run(self, ctx: Context[StatisticsParameters]) -> None:
        from headrace.components.validator.reports.statistics_html import render_statistics_html
        from headrace.components.validator.statistics_pipeline import compute_statistics

        examples = ctx.input("examples", Examples)
        params = ctx.params
        output = ctx.outputs["statistics"]
        work_uri = output.uri if "://" in output.uri else os.path.abspath(output.uri)
        started = time.perf_counter()
        stats, engine = compute_statistics(
            examples,
            params.options(),
            engine=params.engine,
            in_process_max_rows=params.in_process_max_rows,
            batch_size=params.batch_size,
            beam_options=ctx.beam_options or {"runner": "DirectRunner"},
            work_uri=work_uri,
            log=ctx.log,
            progress=ctx.progress,
        )
        write_text(output.path("statistics.json"), stats.model_dump_json(indent=1))
        write_text(
            output.path("statistics.html"),
            render_statistics_html(stats, f"Statistics of examples {examples.content_label}"),
        )
        output.properties.update(
            splits=list(stats.splits),
            num_rows={name: s.num_rows for name, s in stats.splits.items()},
            columns=max((len(s.columns) for s in stats.splits.values()), default=0),
            engine=engine,
        )
        ctx.metrics.log("statistics_seconds", time.perf_counter() - started)
        ctx.metrics.log("rows", sum(s.num_rows for s in stats.splits.values()))
