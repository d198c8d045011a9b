"""The ``transform`` component (TFX's Transform): analyze the training split once, apply everywhere.

Inputs: ``examples`` (Examples) and optionally ``schema`` (Schema), which
makes selectors and type checks use the curated column kinds. Outputs:
``transformed_examples`` (Examples, one output Parquet file per input file,
same row order) and ``transform_graph`` (TransformGraph: the frozen transform,
``transform_graph.json`` plus the user module, and ``transform.html``).

Nothing heavy is imported here, so the CLI can check a pipeline in milliseconds.
"""

from __future__ import annotations

import os
import time

from headrace.components.artifacts import Examples, Schema, TransformGraph
from headrace.components.contract import ColumnProblem, Component, Context, Input
from headrace.components.transform.spec import TransformParameters


class TransformComponent(Component[TransformParameters]):
    type = "transform"
    version = "1"
    description = "Full-pass analyzers over the training split, frozen into a TransformGraph applied to every split."
    inputs = {
        "examples": Input(Examples, description="The data to analyze (its analyze_split) and transform (every split)."),
        "schema": Input(Schema, optional=True, description="Column kinds for selectors and type checks."),
    }
    outputs = {
        "transformed_examples": Examples,
        "transform_graph": TransformGraph,
    }
    Parameters = TransformParameters
    requires = ("pyarrow", "apache-beam")

    @classmethod
    def check_columns(cls, params: TransformParameters, columns: dict[str, list[str]]) -> list[ColumnProblem]:
        """Names in ``columns:`` lists and ``exclude:`` against a curated schema's columns, at validation time."""
        if "schema" not in columns:
            return []
        from headrace.components.transform.column_check import check_op_columns

        return check_op_columns(params, columns["schema"])

    def run(self, ctx: Context[TransformParameters]) -> None:
        from headrace.components.transform.run import run_transform

        started = time.perf_counter()
        graph = ctx.outputs["transform_graph"]
        transformed = ctx.outputs["transformed_examples"]
        assert isinstance(transformed, Examples)

        def where(index: int, op: str) -> str:
            place = ctx.location("ops", index, op)
            return f"{place}: ops[{index}]" if place else f"components.{ctx.component}.params.ops[{index}]"

        summary = run_transform(
            ctx.input("examples", Examples),
            ctx.optional_input("schema", Schema),
            ctx.params,
            transformed=transformed,
            graph_uri=graph.uri if "://" in graph.uri else os.path.abspath(graph.uri),
            resolve_path=ctx.resolve_path,
            beam_options=ctx.beam_options or {"runner": "DirectRunner"},
            log=ctx.log,
            progress=ctx.progress,
            where=where,
            cache_uri=ctx.cache_uri,
        )
        graph.properties.update(summary["graph"])
        ctx.metrics.log("transform_seconds", time.perf_counter() - started)
        passes_run = 0 if summary["graph"]["analysis_reused"] else summary["graph"]["analyze_passes"]
        ctx.metrics.log("analyze_passes", passes_run)
        ctx.metrics.log("rows", sum(summary["row_counts"].values()))
