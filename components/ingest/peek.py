"""A first look at a data source, read exactly as ingest would read it: for ``headrace init --data``.

A pipeline written for a file must agree with what ingest will make of it:
the same formats, the same type inference, the same null strings. So this
reads the first rows through ingest's own readers instead of guessing with a
second parser; bad rows are skipped here (ingest will name them at run time).
"""

from __future__ import annotations

from typing import Any

from headrace.components.ingest.bad_rows import BadRowLog
from headrace.components.ingest.component import IngestParameters
from headrace.components.ingest.ingestion import _target_schema
from headrace.components.ingest.readers import ReadSettings, reader_for
from headrace.components.ingest.sources import list_source_files, resolve_format


def peek(source: str, max_rows: int = 100_000) -> Any:
    """Up to ``max_rows`` first rows of ``source`` (file, directory, glob or URI) as a pyarrow Table."""
    import pyarrow as pa

    params = IngestParameters(source=source)
    files = list_source_files(source, params.format)
    fmt = resolve_format(files, params.format, source)
    reader = reader_for(fmt, ReadSettings(null_values=params.null_values, encoding=params.encoding))
    schema = _target_schema(reader, files, params)
    tables, rows = [], 0
    for file in files:
        for table in reader.tables(file, schema, BadRowLog("skip")):
            tables.append(table.slice(0, max_rows - rows))
            rows += tables[-1].num_rows
            if rows >= max_rows:
                return pa.concat_tables(tables)
    return pa.concat_tables(tables) if tables else schema.empty_table()
