"""The ingest executor: list files, settle the schema, stream, split, write, describe."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from queue import Empty, Queue
from typing import Any

from components.contract import Context
from components.ingest.bad_rows import BadRowLog
from components.ingest.component import IngestParameters, parse_arrow_type
from components.ingest.errors import IngestError
from components.ingest.readers import ReadSettings, reader_for
from components.ingest.sources import filesystem, list_source_files, resolve_format
from components.ingest.splits import assign_splits
from components.ingest.writer import SplitWriter

_PROGRESS_ROWS = 1_000_000


def _target_schema(reader: Any, files: list[str], params: IngestParameters) -> Any:
    import pyarrow as pa

    schema = None
    for file in files:
        schema = reader.infer_schema(file)
        if schema is not None:
            break
    if schema is None:
        raise IngestError(f"no rows to ingest: {', '.join(files[:5])}{' ...' if len(files) > 5 else ''} "
                          "contain(s) no data rows")
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


def _check_same_columns(reader: Any, fmt: str, files: list[str], first: str, schema: Any,
                        overridden: set[str]) -> None:
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


def ingest(ctx: Context) -> None:

    params: IngestParameters = ctx.params
    log = ctx.log
    started = time.perf_counter()
    if isinstance(params.source, dict):
        sources = {split: ctx.resolve_path(path) for split, path in params.source.items()}
        split_names = list(sources)
        weights: list[int] = []
    else:
        sources = {None: ctx.resolve_path(params.source)}
        split_weights = params.split_weights()
        split_names, weights = list(split_weights), list(split_weights.values())

    files_by_split: dict[Any, list[str]] = {}
    formats: dict[Any, str] = {}
    for split, source in sources.items():
        files_by_split[split] = list_source_files(source, params.format)
        formats[split] = resolve_format(files_by_split[split], params.format, source)
    if len(set(formats.values())) > 1:
        raise IngestError(f"the pre-split sources mix formats ({formats}); use one format for all splits")
    fmt = next(iter(formats.values()))
    all_files = [f for files in files_by_split.values() for f in files]
    log.info("ingest: %d %s file(s): %s", len(all_files), fmt, ", ".join(all_files[:5]))

    settings = ReadSettings(block_size=params.block_size, delimiter=params.delimiter, null_values=params.null_values)
    reader = reader_for(fmt, settings)
    schema = _target_schema(reader, all_files, params)
    _check_same_columns(reader, fmt, all_files, all_files[0], schema, set(params.column_types))
    if params.split_key is not None and params.split_key not in schema.names:
        raise IngestError(f"split_key {params.split_key!r} is not a column (columns: {', '.join(schema.names)})")
    log.info("ingest: schema %s", ", ".join(f"{f.name}: {f.type}" for f in schema))

    examples = ctx.outputs["examples"]
    fs, root = filesystem(examples.uri)
    writers: dict[str, SplitWriter] = {}
    for name in split_names:
        directory = f"{root.rstrip('/')}/Split-{name}"
        fs.create_dir(directory, recursive=True)
        writers[name] = SplitWriter(fs, directory, schema, params.rows_per_file)

    bad_rows = BadRowLog(params.on_bad_rows, log)
    rows_read = 0
    next_report = _PROGRESS_ROWS
    pieces = ((split, table) for split, files in files_by_split.items()
              for file in files for table in reader.tables(file, schema, bad_rows))
    for split, table in _read_ahead(pieces):
        if not table.num_rows:
            continue
        rows_read += table.num_rows
        if split is not None:
            writers[split].write(table)
        else:
            _write_split(table, weights, split_names, params.split_key, writers)
        if rows_read >= next_report:
            log.info("ingest: %s rows read", f"{rows_read:,}")
            next_report += _PROGRESS_ROWS
    for writer in writers.values():
        writer.close()
    if rows_read == 0:
        raise IngestError(f"no rows to ingest: {', '.join(all_files[:5])} contain(s) no readable data rows")

    elapsed = time.perf_counter() - started
    counts = {name: writers[name].rows for name in split_names}
    log.info("ingest: %s rows in %.2fs (%s rows/s); %s", f"{rows_read:,}", elapsed,
             f"{rows_read / max(elapsed, 1e-9):,.0f}", ", ".join(f"{k}: {v:,}" for k, v in counts.items()))
    if bad_rows.count:
        log.warning("ingest: skipped %s bad row(s)", f"{bad_rows.count:,}")
    examples.properties.update(
        splits=split_names,
        row_counts=counts,
        schema=[{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
        source=list(sources.values()),
        files=all_files,
        format=fmt,
        bad_rows=bad_rows.as_property(),
    )
    ctx.metrics.log("rows", rows_read)
    ctx.metrics.log("bad_rows", bad_rows.count)


def _read_ahead(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """``items`` produced on a background thread, so parsing overlaps writing (both release the GIL)."""
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

    thread = threading.Thread(target=produce, name="ingest-reader", daemon=True)
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


def _write_split(table: Any, weights: list[int], names: list[str], key: str | None,
                 writers: dict[str, SplitWriter]) -> None:
    import pyarrow as pa

    assignment = assign_splits(table, weights, key)
    for index, name in enumerate(names):
        mask = assignment == index
        if mask.all():
            writers[name].write(table)
        elif mask.any():
            writers[name].write(table.filter(pa.array(mask)))
