"""An Examples artifact's split files: writing them (ingest, transform) and reading them (statistics, transform).

An ``Examples`` artifact is a directory per split, ``<uri>/Split-<name>/``, of
Parquet part files whose sorted order is the row order:

- ``SplitWriter`` writes one split's rows as rolling Parquet files.
  Source file number ``i`` writes ``part-<i:05d>-00000.parquet``,
  ``part-<i:05d>-00001.parquet``, ... so the files' sorted order is the row
  order, whichever worker wrote them. Row groups and files are cut at fixed
  row counts, so the bytes written depend only on the rows and their order,
  not on how the input was batched or which engine ran.
- ``list_split`` reads a split's file footers (paths, row count, one shared
  schema) without reading data; ``read_batches`` streams one file as
  RecordBatches tagged with the file's location (``SOURCE_KEY``) so an error
  about a row can name its file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from headrace.components.arrow_types import parse_arrow_type
from headrace.components.artifacts import Examples
from headrace.components.files import as_location, filesystem
from headrace.components.problems import ProblemError

SOURCE_KEY = b"headrace.source"
"""Schema metadata key of a RecordBatch from ``read_batches``: the file it came from."""

# -- writing ----------------------------------------------------------------------------------------

ROW_GROUP_ROWS = 131_072


class SplitWriter:
    """One split's rows (Arrow tables, in order) as rolling Parquet files under ``directory``."""

    def __init__(
        self,
        fs: Any,
        directory: str,
        schema: Any,
        rows_per_file: int,
        row_group_rows: int = ROW_GROUP_ROWS,
        prefix: str = "part-00000",
    ) -> None:
        self.fs = fs
        self.directory = directory
        self.prefix = prefix
        self.schema = schema
        self.rows_per_file = rows_per_file
        self.row_group_rows = min(row_group_rows, rows_per_file)
        self.rows = 0
        self.files: list[str] = []
        self._buffer: list[Any] = []
        self._buffered = 0
        self._writer: Any = None
        self._sink: Any = None
        self._rows_in_file = 0

    def write(self, table: Any) -> None:
        while table.num_rows:
            room = min(self.rows_per_file - self._rows_in_file, self.row_group_rows) - self._buffered
            piece, table = table.slice(0, room), table.slice(room)
            self._buffer.append(piece)
            self._buffered += piece.num_rows
            if self._buffered == self.row_group_rows or self._rows_in_file + self._buffered == self.rows_per_file:
                self._flush()

    def _open(self) -> None:
        import pyarrow.parquet as pq

        path = f"{self.directory}/{self.prefix}-{len(self.files):05d}.parquet"
        self._sink = self.fs.open_output_stream(path)
        self._writer = pq.ParquetWriter(self._sink, self.schema, compression="snappy")
        self.files.append(path)
        self._rows_in_file = 0

    def _close_file(self) -> None:
        self._writer.close()
        self._sink.close()
        self._writer = self._sink = None
        self._rows_in_file = 0

    def _flush(self) -> None:
        import pyarrow as pa

        if not self._buffered:
            return
        if self._writer is None:
            self._open()
        group = pa.concat_tables(self._buffer)
        self._writer.write_table(group, row_group_size=group.num_rows)
        self._rows_in_file += group.num_rows
        self.rows += group.num_rows
        self._buffer, self._buffered = [], 0
        if self._rows_in_file == self.rows_per_file:
            self._close_file()

    def close(self, write_empty: bool = False) -> None:
        """Write what is buffered; with ``write_empty``, a writer given no rows still writes an empty file."""
        self._flush()
        if not self.files and write_empty:
            self._open()
        if self._writer is not None:
            self._close_file()


# -- reading ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitFiles:
    """The Parquet files of one split, their shared schema and their row count (from footers)."""

    name: str
    paths: list[str]
    schema: Any
    num_rows: int


def list_split(examples: Examples, split: str) -> SplitFiles:
    """Read the footers of a split's files: paths, rows, and a schema they must all share."""
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    uri = examples.split_uri(split)
    fs, root = filesystem(uri)
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    except FileNotFoundError:
        raise ProblemError(f"split {split!r}: the Examples artifact has no directory {uri}") from None
    paths = sorted(i.path for i in infos if i.type == pafs.FileType.File and i.path.endswith(".parquet"))
    schema: Any = None
    first = ""
    rows = 0
    for path in paths:
        with fs.open_input_file(path) as handle:
            metadata = pq.ParquetFile(handle).metadata
        file_schema = metadata.schema.to_arrow_schema()
        rows += metadata.num_rows
        if schema is None:
            schema, first = file_schema, path
            continue
        _check_same_columns(split, first, schema, path, file_schema)
    if schema is None:
        schema = schema_from_properties(examples)
    return SplitFiles(split, [as_location(uri, p) for p in paths], schema.remove_metadata(), rows)


def _check_same_columns(split: str, first: str, a: Any, second: str, b: Any) -> None:
    types_a = {f.name: f.type for f in a}
    types_b = {f.name: f.type for f in b}
    for name in types_a.keys() | types_b.keys():
        if name not in types_a or name not in types_b:
            has, lacks = (second, first) if name not in types_a else (first, second)
            raise ProblemError(
                f"split {split!r}: column {name!r} is in {has} but not in {lacks}; "
                "every file of a split must have the same columns"
            )
        if types_a[name] != types_b[name]:
            raise ProblemError(
                f"split {split!r}: column {name!r} has type {types_a[name]} in {first} but "
                f"{types_b[name]} in {second}; every file of a split must have the same column types "
                "(re-ingest the data, or cast the column to one type with ingest's column_types)"
            )


def schema_from_properties(examples: Examples) -> Any:
    """The Arrow schema an Examples artifact records in its ``schema`` property (for splits with no files)."""
    import pyarrow as pa

    fields = examples.properties.get("schema") or []
    return pa.schema([pa.field(f["name"], parse_arrow_type(f["type"]), f.get("nullable", True)) for f in fields])


def read_batches(path: str, batch_size: int, columns: Sequence[str] | None = None) -> Iterator[Any]:
    """A Parquet file as RecordBatches tagged with their file (``SOURCE_KEY``), for error messages that name it.

    ``columns``: read only these (a pass that needs four columns of forty decodes four).
    """
    import pyarrow.parquet as pq

    fs, inner = filesystem(path)
    with fs.open_input_file(inner) as handle:
        parquet = pq.ParquetFile(handle)
        metadata = {SOURCE_KEY: path.encode()}
        selected = list(columns) if columns is not None else None
        for batch in parquet.iter_batches(batch_size=batch_size, columns=selected):
            yield batch.replace_schema_metadata(metadata)
