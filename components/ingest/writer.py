"""Writing one source file's rows of one split as rolling Parquet files.

Source file number ``i`` writes ``Split-<name>/part-<i:05d>-00000.parquet``,
``part-<i:05d>-00001.parquet``, ... so the files' sorted order is the row
order, whichever worker wrote them. Row groups and files are cut at fixed row
counts, so the bytes written depend only on the rows and their order, not on
how the input was batched or which engine ran.
"""

from __future__ import annotations

from typing import Any

ROW_GROUP_ROWS = 131_072


class SplitWriter:
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
