"""One transform run: plan from parameters, analyze the split, freeze, transform every split, report.

Kept apart from ``component`` so that the component module stays light to
import and this one can be driven from tests and benchmarks without a
pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from headrace.components.artifacts import Examples, Schema
from headrace.components.beam_options import runner_name
from headrace.components.engines import choose_engine
from headrace.components.examples_io import list_split
from headrace.components.files import filesystem, write_text
from headrace.components.suggestions import did_you_mean
from headrace.components.transform.analysis import start_analysis
from headrace.components.transform.analysis_cache import analysis_key, keep_analysis, reuse_analysis
from headrace.components.transform.engine import EngineSettings, FileTask, fit_and_transform
from headrace.components.transform.graph import FittedTransform
from headrace.components.transform.ops import Op
from headrace.components.transform.plan import Plan, UserFunction
from headrace.components.transform.scope import TransformError
from headrace.components.transform.spec import TransformParameters

REPORT_FILE = "transform.html"


def build_plan(
    params: TransformParameters,
    categorical: frozenset[str] = frozenset(),
    resolve_path: Callable[[str], str] = lambda p: p,
    where: Callable[[int, str], str] | None = None,
) -> Plan:
    """The plan the parameters describe; ``where(index, op)`` names an op's place in the pipeline file."""
    ops = []
    for index, entry in enumerate(params.ops):
        place = where(index, entry.name) if where else f"ops[{index}]"
        args = entry.args.model_dump(mode="json")
        ops.append(Op(index, entry.name, args, place, None, categorical))
    user = UserFunction.from_file(resolve_path(params.module), params.preprocessing_fn) if params.module else None
    options = {"sketch_size": params.quantile_sketch_size, "vocabulary_cap": params.vocabulary_cap}
    return Plan(ops, user, options)


def categorical_columns(schema: Schema | None) -> frozenset[str]:
    """Columns the Schema artifact calls categorical: those with a domain of values."""
    if schema is None:
        return frozenset()
    from headrace.components.validator.schema_file import read_published_schema

    data_schema = read_published_schema(schema.uri)
    return frozenset(name for name, column in data_schema.columns.items() if column.domain is not None)


def run_transform(
    examples: Examples,
    schema: Schema | None,
    params: TransformParameters,
    *,
    transformed: Examples,
    graph_uri: str,
    resolve_path: Callable[[str], str] = lambda p: p,
    beam_options: dict[str, Any] | None = None,
    log: logging.Logger | None = None,
    progress: Callable[[str], None] = lambda note: None,
    where: Callable[[int, str], str] | None = None,
    cache_uri: str = "",
) -> dict[str, Any]:
    """Analyze, freeze, transform every split, write the graph and its report; the summary for the artifacts.

    ``cache_uri``: the component's cache folder across runs, where a finished
    analysis is kept and found again (``analysis_cache``; in-process engine
    only); "" for none.
    """
    log = log or logging.getLogger("headrace.transform")
    beam_options = dict(beam_options or {"runner": "DirectRunner"})
    if params.analyze_split not in examples.splits:
        suggestion = did_you_mean(params.analyze_split, examples.splits)
        raise TransformError(
            f"analyze_split {params.analyze_split!r} is not a split of the input examples (splits: "
            f"{', '.join(examples.splits) or 'none'}); " + (suggestion or "set analyze_split to one of them")
        )
    where = where or (lambda index, name: f"ops[{index}]")
    plan = build_plan(params, categorical_columns(schema), resolve_path, where)
    splits = {name: list_split(examples, name) for name in examples.splits}
    analyzed = splits[params.analyze_split]
    rows = sum(s.num_rows for s in splits.values())
    engine = choose_engine(
        params.engine, runner=runner_name(beam_options), small=lambda: rows <= params.in_process_max_rows
    )
    log.info("transform over %d rows in %d split(s), engine=%s", rows, len(splits), engine)

    state = start_analysis(plan, analyzed.schema, split=params.analyze_split, rows=analyzed.num_rows)
    key = analysis_key(plan, analyzed) if cache_uri and engine == "in_process" else None
    reused = reuse_analysis(cache_uri, key, state, log) if key else None
    state = reused or state
    tasks = []
    for name, split in splits.items():
        for index, path in enumerate(split.paths):
            tasks.append(FileTask(name, path, transformed.path(f"Split-{name}", f"part-{index:05d}.parquet")))
    settings = EngineSettings(engine, params.batch_size, beam_options, work_uri=graph_uri)
    fitted = fit_and_transform(state, analyzed, tasks, settings, log, progress)
    fitted.save(graph_uri)
    if key and not reused:
        keep_analysis(cache_uri, key, fitted, log)
    row_counts = {}
    for name, split in splits.items():
        if not split.paths:  # a split without files still gets a readable empty part file
            target = transformed.path(f"Split-{name}", "part-00000.parquet")
            fs, path = filesystem(target)
            fs.create_dir(path.rpartition("/")[0], recursive=True)
            with fs.open_output_stream(path) as sink:
                pq.write_table(pa.Table.from_batches([], schema=fitted.output_schema), sink)
            tasks.append(FileTask(name, "", target))
        row_counts[name] = _rows_written([t.target for t in tasks if t.split == name])

    assert fitted.output_schema is not None
    transformed.properties.update(
        splits=list(splits),
        row_counts=row_counts,
        schema=[{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in fitted.output_schema],
        engine=engine,
    )
    write_report(fitted, graph_uri, examples)
    return {
        "row_counts": row_counts,
        "graph": {
            "analyze_split": params.analyze_split,
            "analyze_passes": fitted.analysis["passes"],
            "analysis_reused": reused is not None,
            "input_columns": len(fitted.input_schema),
            "output_columns": len(fitted.output_schema),
            "engine": engine,
        },
        "fitted": fitted,
    }


def _rows_written(paths: list[str]) -> int:
    rows = 0
    for path in paths:
        fs, inner = filesystem(path)
        with fs.open_input_file(inner) as handle:
            rows += pq.ParquetFile(handle).metadata.num_rows
    return rows


def write_report(fitted: FittedTransform, graph_uri: str, examples: Examples) -> None:
    from headrace.components.transform.report import render_transform_html

    write_text(f"{graph_uri.rstrip('/')}/{REPORT_FILE}", render_transform_html(fitted, examples.content_label))
