"""The ingest executor: list files, settle the schema, ingest each file, describe.

The unit of work is one source file, processed completely by
``ingest_file``: read its blocks as Arrow tables, cast them to the schema,
assign rows to splits by hash, write the file's own part files
``Split-<name>/part-<file index>-<roll>.parquet``, and return a small JSON-able
summary (rows per split, bad rows). Everything a file's output depends on is
settled before (``plan_ingest``: the files, the format, the schema), so files
can be processed in any order, anywhere, and give the same bytes. An image
folder's units are its class folders instead of files (``image_folders``),
and its images' target shape is settled in the plan too (``image_plan``).

``engine`` (a parameter of the component) decides *where* the unit runs:

- ``"in_process"``: for each file in order, in this process. Beam is not
  imported (its import alone costs about a second).
- ``"beam"``: a Beam pipeline on the runner of the pipeline file's
  ``beam: {runner, options}``; ``ingest_beam`` runs ``ingest_file`` in a DoFn
  over the list of files, so files are ingested in parallel by the runner's
  workers (one file is never split between workers).
- ``"auto"`` (default): ``in_process`` when the source files add up to at most
  ``in_process_max_bytes`` and the runner is the local DirectRunner; else ``beam``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

from headrace.components.arrow_types import parse_arrow_type
from headrace.components.beam_options import runner_name
from headrace.components.contract import Context
from headrace.components.engines import ChosenEngine, Engine
from headrace.components.engines import choose_engine as _choose_engine
from headrace.components.examples_io import ROW_GROUP_ROWS, SplitWriter
from headrace.components.ingest.bad_rows import BadRow, BadRowLog
from headrace.components.ingest.component import IngestParameters
from headrace.components.ingest.errors import IngestError
from headrace.components.ingest.image_plan import plan_image_column, plan_image_folders
from headrace.components.ingest.readers import ReadSettings, reader_for
from headrace.components.ingest.sources import filesystem, list_source_files, resolve_format
from headrace.components.ingest.splits import assign_splits
from headrace.components.paths import is_uri, resolve_path
from headrace.components.read_ahead import read_ahead

_PROGRESS_ROWS = 1_000_000


@dataclass(frozen=True)
class IngestPlan:
    """Everything settled in the driver: what each file's unit of work needs (picklable, small)."""

    files: list[str]
    file_splits: list[str | None]
    """The split of each file for pre-split sources, else None (rows are split by hash)."""
    fmt: str
    settings: ReadSettings
    schema: Any
    split_names: list[str]
    weights: list[int]
    split_key: str | None
    rows_per_file: int
    row_group_rows: int
    on_bad_rows: str
    output_uri: str
    warnings: list[str]
    """Problems worth a person's attention that do not stop the run (a text column that is not UTF-8)."""
    source_bytes: int | None = None
    """The source's size when the files are not the units (an image folder's units are its class folders)."""
    image_properties: dict[str, Any] | None = None
    """For image sources: the classes (image folders) and the image shape, as artifact properties."""

    def split_directory(self, name: str) -> tuple[Any, str]:
        fs, root = filesystem(self.output_uri)
        return fs, f"{root.rstrip('/')}/Split-{name}"


def _target_schema(reader: Any, files: list[str], params: IngestParameters) -> Any:
    import pyarrow as pa

    schema = None
    for file in files:
        schema = reader.infer_schema(file)
        if schema is not None:
            break
    if schema is None:
        raise IngestError(
            f"no rows to ingest: {', '.join(files[:5])}{' ...' if len(files) > 5 else ''} contain(s) no data rows"
        )
    unknown = [c for c in params.column_types if c not in schema.names]
    if unknown:
        raise IngestError(
            f"column_types names {', '.join(map(repr, unknown))}, which {'is' if len(unknown) == 1 else 'are'} "
            f"not a column of {files[0]} (columns: {', '.join(schema.names)})"
        )
    fields = [
        pa.field(f.name, parse_arrow_type(params.column_types[f.name])) if f.name in params.column_types else f
        for f in schema
    ]
    return pa.schema([f.with_nullable(True) for f in fields])


def _check_same_columns(reader: Any, fmt: str, files: list[str], first: str, schema: Any, overridden: set[str]) -> None:
    """Every file must have the first file's columns (and, for Parquet, their types)."""
    expected = set(schema.names)
    for file in files:
        if file == first:
            continue
        if fmt == "parquet":
            other = reader.infer_schema(file)
            names = set(other.names)
        else:
            names = set(reader.columns(file))
        extra, missing = sorted(names - expected), sorted(expected - names)
        if fmt == "jsonl":
            missing = []  # absent keys are nulls in JSON Lines
        if extra or missing:
            column = (extra or missing)[0]
            where = (file, first) if extra else (first, file)
            raise IngestError(
                f"{file} does not match {first}: column {column!r} is in {where[0]} but not in {where[1]}; "
                "all files of a source must have the same columns"
            )
        if fmt == "parquet":
            reference = reader.infer_schema(first)
            for field in other:
                if field.name not in overridden and field.type != reference.field(field.name).type:
                    raise IngestError(
                        f"{file} does not match {first}: column {field.name!r} is {field.type} there but "
                        f"{reference.field(field.name).type} in {first}; "
                        f"set column_types: {{{field.name}: {reference.field(field.name).type}}} to convert"
                    )


def _undecodable_text_warnings(
    reader: Any, fmt: str, files: list[str], schema: Any, params: IngestParameters
) -> list[str]:
    """A warning for each CSV column inferred as binary because its first block is not valid UTF-8 text.

    Such a column is kept as raw bytes, which is rarely what a person wants
    and easy to miss: the usual cause is a file in another encoding.
    """
    import pyarrow as pa

    if fmt != "csv":
        return []
    binary = [f.name for f in schema if pa.types.is_binary(f.type) and f.name not in params.column_types]
    if not binary:
        return []
    for file in files:
        found = reader.undecodable(file, binary)
        if found:
            return [
                f"{file}:{line}: column {name!r} is not valid {params.encoding} text ({value[:40]!r}), so it is "
                f"ingested as binary (raw bytes); set encoding: to the file's encoding (e.g. encoding: latin-1) "
                f"to read it as text, or column_types: {{{name}: binary}} to keep the bytes"
                for name, (line, value) in found.items()
            ]
    return []


def _source_format(source: str, params: IngestParameters) -> str | None:
    """``images`` for an image folder (asked for, or a folder of class folders of images); else the given format."""
    from headrace.components.ingest.image_folders import holds_class_folders

    if params.format is None and params.image_column is None and holds_class_folders(source):
        return "images"
    return params.format


def read_settings(params: IngestParameters) -> ReadSettings:
    """How the readers read, from the parameters."""
    return ReadSettings(
        block_size=params.block_size,
        delimiter=params.delimiter,
        null_values=params.null_values,
        encoding=params.encoding,
        max_value_lines=params.max_value_lines,
        image_column=params.image_column,
    )


def image_files_named(params: IngestParameters, base_dir: str) -> list[str]:
    """The image files the tables' ``image_column`` names, for the cache key (an edited image re-runs ingest).

    Empty without ``image_column``, and when the tables cannot be read: the run itself then says why.
    """
    from headrace.components.ingest.image_columns import named_paths, with_images

    if params.image_column is None:
        return []
    sources = list(params.source.values()) if isinstance(params.source, dict) else [params.source]
    named: set[str] = set()
    try:
        for source in sources:
            location = resolve_path(source, base_dir)
            files = list_source_files(location, params.format)
            reader = reader_for(
                resolve_format(files, params.format, location), replace(read_settings(params), image_column=None)
            )
            schema = with_images(_target_schema(reader, files, params), params.image_column, files[0])
            named.update(path for file in files for path in named_paths(reader, file, schema, params.image_column))
    except (IngestError, OSError, ValueError):
        return []
    return sorted(named)


def plan_ingest(ctx: Context[IngestParameters]) -> IngestPlan:
    """The files, their format and the target schema: settled here, before any file is ingested."""
    params = ctx.params
    if isinstance(params.source, dict):
        sources: dict[str | None, str] = {split: ctx.resolve_path(path) for split, path in params.source.items()}
        split_names = list(params.source)
        weights: list[int] = []
    else:
        sources = {None: ctx.resolve_path(params.source)}
        split_weights = params.split_weights()
        split_names, weights = list(split_weights), list(split_weights.values())

    files_by_split: dict[Any, list[str]] = {}
    formats: dict[Any, str] = {}
    folders = []
    for split, source in sources.items():
        fmt = _source_format(source, params)
        if fmt == "images":
            from headrace.components.ingest.image_folders import list_image_folder

            folders.append(list_image_folder(source))
            files_by_split[split] = list(folders[-1].classes.values())
            formats[split] = fmt
            continue
        files_by_split[split] = list_source_files(source, fmt)
        formats[split] = resolve_format(files_by_split[split], fmt, source)
    if len(set(formats.values())) > 1:
        raise IngestError(f"the pre-split sources mix formats ({formats}); use one format for all splits")
    fmt = next(iter(formats.values()))
    all_files = [f for files in files_by_split.values() for f in files]
    what = "class folder(s) of images" if fmt == "images" else f"{fmt} file(s)"
    ctx.log.info("ingest: %d %s: %s", len(all_files), what, ", ".join(all_files[:5]))

    settings = read_settings(params)
    images = None
    if fmt == "images":
        images = plan_image_folders(folders, params, ctx.log)
        schema = reader_for(fmt, settings).infer_schema(all_files[0])
        warnings = images.warnings
    else:
        table_reader = reader_for(fmt, replace(settings, image_column=None))
        schema = _target_schema(table_reader, all_files, params)
        _check_same_columns(table_reader, fmt, all_files, all_files[0], schema, set(params.column_types))
        warnings = _undecodable_text_warnings(table_reader, fmt, all_files, schema, params)
        if params.image_column is not None:
            images = plan_image_column(table_reader, all_files, schema, params, ctx.log)
            schema = images.schema
            warnings = [*warnings, *images.warnings]
        elif params.images_configured():
            raise IngestError(
                f"{', '.join(params.images_configured())} applies to images, and source is a table without "
                "image files; set image_column: to the column naming them, point source at an image folder, "
                "or remove the option"
            )
    if images is not None:
        settings = replace(settings, image_target=images.target)
    split_key = params.split_key or (images.split_key if images is not None else None)
    for warning in warnings:
        ctx.log.warning("ingest: %s", warning)
        ctx.progress(f"warning: {warning}")
    if split_key is not None and split_key not in schema.names:
        raise IngestError(f"split_key {split_key!r} is not a column (columns: {', '.join(schema.names)})")
    ctx.log.info("ingest: schema %s", ", ".join(f"{f.name}: {f.type}" for f in schema))

    uri = ctx.outputs["examples"].uri
    return IngestPlan(
        files=all_files,
        file_splits=[split for split, files in files_by_split.items() for _ in files],
        fmt=fmt,
        settings=settings,
        schema=schema,
        split_names=split_names,
        weights=weights,
        split_key=split_key,
        rows_per_file=params.rows_per_file,
        row_group_rows=images.row_group_rows if images is not None else ROW_GROUP_ROWS,
        on_bad_rows=params.on_bad_rows,
        output_uri=uri if is_uri(uri) else os.path.abspath(uri),
        warnings=warnings,
        source_bytes=images.source_bytes if images is not None and fmt == "images" else None,
        image_properties=images.properties if images is not None else None,
    )


# -- the unit of work: one source file -------------------------------------------------------------


def ingest_file(plan: IngestPlan, index: int, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Ingest source file ``index`` completely; returns its summary (JSON-able, the same on every engine).

    The summary is ``{index, file, rows: {split: n}, bad_rows: {count, examples}}``.
    An ``IngestError`` (a bad row with ``on_bad_rows: error``, an unreadable
    file) propagates; the Beam engine records it in the summary instead.
    """
    import pyarrow as pa

    file, fixed_split = plan.files[index], plan.file_splits[index]
    reader = reader_for(plan.fmt, plan.settings)
    bad_rows = BadRowLog(plan.on_bad_rows)
    writers: dict[str, SplitWriter] = {}

    def write(name: str, table: Any) -> None:
        if name not in writers:
            fs, directory = plan.split_directory(name)
            writers[name] = SplitWriter(
                fs, directory, plan.schema, plan.rows_per_file, plan.row_group_rows, prefix=f"part-{index:05d}"
            )
        writers[name].write(table)

    for table in read_ahead(reader.tables(file, plan.schema, bad_rows), name="ingest-reader"):
        if not table.num_rows:
            continue
        if fixed_split is not None:
            write(fixed_split, table)
        else:
            assignment = assign_splits(table, plan.weights, plan.split_key)
            for position, name in enumerate(plan.split_names):
                mask = assignment == position
                if mask.all():
                    write(name, table)
                elif mask.any():
                    write(name, table.filter(_arrow_mask(mask, pa)))
        if progress is not None:
            progress(table.num_rows)
    for writer in writers.values():
        writer.close()
    examples = [_json_safe({**asdict(row), "value": row.as_property()["value"]}) for row in bad_rows.examples]
    return {
        "index": index,
        "file": file,
        "rows": {name: writer.rows for name, writer in writers.items()},
        "bad_rows": {"count": bad_rows.count, "examples": examples},
    }


def _arrow_mask(mask: Any, pa: Any) -> Any:
    """A numpy bool array as an Arrow one, built from its bits (``pa.array`` would import pandas)."""
    import numpy as np

    bits = pa.py_buffer(np.packbits(mask, bitorder="little"))
    return pa.Array.from_buffers(pa.bool_(), len(mask), [None, bits])


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


# -- the driver -----------------------------------------------------------------------------------


def source_bytes(files: list[str]) -> int:
    total = 0
    for file in files:
        fs, path = filesystem(file)
        total += fs.get_file_info(path).size or 0
    return total


def choose_engine(engine: Engine, files: list[str], max_bytes: int, runner: str) -> ChosenEngine:
    """``auto``: in-process for sources of at most ``max_bytes`` on the local DirectRunner, else Beam."""
    return _choose_engine(engine, runner=runner, small=lambda: source_bytes(files) <= max_bytes)


def run_in_process(plan: IngestPlan, log: logging.Logger, show: Callable[[str], None]) -> Iterator[dict[str, Any]]:
    """The unit of work for each file in order, in this process; yields each file's summary."""
    read = [0]
    next_report = [_PROGRESS_ROWS]

    def progress(rows: int) -> None:
        read[0] += rows
        unit = "class folder" if plan.fmt == "images" else "file"
        show(f"{read[0]:,} rows read" + (f" ({unit} {index + 1} of {len(plan.files)})" if len(plan.files) > 1 else ""))
        if read[0] >= next_report[0]:
            log.info("ingest: %s rows read", f"{read[0]:,}")
            next_report[0] += _PROGRESS_ROWS

    for index in range(len(plan.files)):
        yield ingest_file(plan, index, progress)


def ingest(ctx: Context[IngestParameters]) -> None:
    params = ctx.params
    log = ctx.log
    started = time.perf_counter()
    plan = plan_ingest(ctx)
    beam_options = dict(ctx.beam_options or {"runner": "DirectRunner"})
    if plan.source_bytes is None:
        engine = choose_engine(params.engine, plan.files, params.in_process_max_bytes, runner_name(beam_options))
    else:
        size = plan.source_bytes
        engine = _choose_engine(
            params.engine, runner=runner_name(beam_options), small=lambda: size <= params.in_process_max_bytes
        )
    log.info("ingest: engine=%s", engine)
    for name in plan.split_names:
        fs, directory = plan.split_directory(name)
        fs.create_dir(directory, recursive=True)

    if engine == "in_process":
        summaries: Iterator[dict[str, Any]] = run_in_process(plan, log, ctx.progress)
    else:
        from headrace.components.ingest.ingest_beam import run_beam

        summaries = iter(run_beam(plan, beam_options))

    counts = dict.fromkeys(plan.split_names, 0)
    bad_rows = BadRowLog(params.on_bad_rows, log)
    for summary in summaries:
        if summary.get("error"):
            raise IngestError(summary["error"])
        for name, rows in summary["rows"].items():
            counts[name] += rows
        report = summary["bad_rows"]
        bad_rows.add([BadRow(**row) for row in report["examples"]], report["count"])
        if plan.fmt == "images" and not sum(summary["rows"].values()):
            raise IngestError(
                f"every image of class folder {summary['file']} is a bad row ({report['count']} skipped, e.g. "
                f"{report['examples'][0]['file']}: {report['examples'][0]['reason']}): a class without examples "
                "cannot be learned; fix its images, or remove the folder"
            )
    rows_read = sum(counts.values())
    for name, rows in counts.items():  # a split without rows still gets an empty, readable part file
        if rows == 0:
            fs, directory = plan.split_directory(name)
            SplitWriter(fs, directory, plan.schema, plan.rows_per_file).close(write_empty=True)
    if rows_read == 0:
        raise IngestError(f"no rows to ingest: {', '.join(plan.files[:5])} contain(s) no readable data rows")

    elapsed = time.perf_counter() - started
    log.info(
        "ingest: %s rows in %.2fs (%s rows/s, engine=%s); %s",
        f"{rows_read:,}",
        elapsed,
        f"{rows_read / max(elapsed, 1e-9):,.0f}",
        engine,
        ", ".join(f"{k}: {v:,}" for k, v in counts.items()),
    )
    if bad_rows.count:
        log.warning("ingest: skipped %s bad row(s)", f"{bad_rows.count:,}")
    sources = params.source.values() if isinstance(params.source, dict) else [params.source]
    ctx.outputs["examples"].properties.update(
        splits=plan.split_names,
        row_counts=counts,
        schema=[{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in plan.schema],
        source=[ctx.resolve_path(s) for s in sources],
        files=plan.files,
        format=plan.fmt,
        bad_rows=bad_rows.as_property(),
        engine=engine,
        warnings=plan.warnings,
        **(plan.image_properties or {}),
    )
    ctx.metrics.log("rows", rows_read)
    ctx.metrics.log("bad_rows", bad_rows.count)
