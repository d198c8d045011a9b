"""Streaming readers for CSV, JSON Lines and Parquet: bounded memory, typed output.

Each reader infers a schema from the first block of a file and then yields
``pyarrow.Table`` pieces of about one block each, already conformed to the
target schema (bad rows raised or dropped). CSV is parsed with every column as
a string (``null_values`` honoured) and cast afterwards, so a bad value costs
only its own row, never the stream.
"""

from __future__ import annotations

import functools
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from headrace.components.ingest.bad_rows import BadRow, BadRowLog, shorten
from headrace.components.ingest.casting import conform
from headrace.components.ingest.csv_chunks import CsvChunks, RunawayQuote
from headrace.components.ingest.errors import IngestError
from headrace.components.ingest.sources import filesystem
from headrace.components.ingest.text_chunks import TextChunk, data_row_lines, iter_chunks, read_header, skipped_line
from headrace.components.problems import Problem

_PARSE_BLOCK = 1 << 20  # pyarrow's parallel parse unit inside one of our chunks
PARQUET_BATCH_ROWS = 65_536


@dataclass(frozen=True)
class ReadSettings:
    block_size: int = 4 << 20
    delimiter: str | None = None
    null_values: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    max_value_lines: int = 1000
    image_column: str | None = None
    """A column naming image files, whose bytes join the rows (``image_columns``)."""
    image_target: Any = None
    """The ``ImageTarget`` every image is conformed to (image folders and ``image_column``)."""


def _open_text(file: str, encoding: str = "utf-8") -> Any:
    """The file's bytes, decompressed, and transcoded to UTF-8 unless they already are."""
    import codecs

    import pyarrow as pa

    fs, path = filesystem(file)
    try:
        stream = fs.open_input_stream(path, compression="detect")
    except FileNotFoundError:
        raise IngestError(f"{file} does not exist") from None
    if codecs.lookup(encoding).name == "utf-8":
        return stream
    return _TextStream(pa.transcoding_input_stream(stream, encoding, "utf-8"), file, encoding)


class _TextStream:
    """A transcoding stream whose decoding errors (``encoding:`` set wrong) name the file and the fix."""

    def __init__(self, stream: Any, file: str, encoding: str) -> None:
        self.stream, self.file, self.encoding = stream, file, encoding

    def read(self, size: int) -> bytes:
        try:
            return self.stream.read(size)
        except UnicodeDecodeError as exc:
            raise IngestError(
                f"{self.file} is not valid {self.encoding} text ({exc.reason}); set encoding: to the file's encoding"
            ) from None

    def __enter__(self) -> _TextStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()


def _string_to_null_type(schema: Any) -> Any:
    import pyarrow as pa

    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in schema])


class CsvReader:
    def __init__(self, settings: ReadSettings) -> None:
        self.settings = settings

    def _delimiter(self, file: str) -> str:
        if self.settings.delimiter:
            return self.settings.delimiter
        name = file.lower()
        return "\t" if name.endswith((".tsv", ".tsv.gz", ".tsv.bz2", ".tsv.zst")) else ","

    def _parse(
        self, data: bytes, names: list[str], file: str, infer: bool = False, multiline: bool = False
    ) -> tuple[Any, list[Any]]:
        import pyarrow as pa
        import pyarrow.csv as csv

        rejected: list[Any] = []

        def on_invalid(row: Any) -> str:
            rejected.append(row)
            return "skip"

        convert = csv.ConvertOptions(
            null_values=self.settings.null_values,
            strings_can_be_null=True,
            # raw bytes, not text: a value that is not UTF-8 then becomes a bad row with its line
            # (headrace.components.ingest.casting), instead of failing the whole block without one
            column_types=None if infer else {n: pa.binary() for n in names},
        )
        try:
            table = csv.read_csv(
                io.BytesIO(data),
                read_options=csv.ReadOptions(column_names=names, block_size=_PARSE_BLOCK),
                parse_options=csv.ParseOptions(
                    delimiter=self._delimiter(file), invalid_row_handler=on_invalid, newlines_in_values=multiline
                ),
                convert_options=convert,
            )
        except pa.ArrowInvalid as exc:
            raise IngestError(f"{file}: cannot parse CSV: {exc}") from None
        return table, rejected

    def columns(self, file: str) -> list[str]:
        import pyarrow as pa
        import pyarrow.csv as csv

        with self._open(file) as stream:
            header, _ = read_header(stream, 64 << 10)
        if not header.strip():
            raise IngestError(f"{file} is empty: a CSV file needs a header line naming its columns")
        try:
            names = csv.read_csv(
                io.BytesIO(header + b"\n"), parse_options=csv.ParseOptions(delimiter=self._delimiter(file))
            ).column_names
        except pa.ArrowInvalid as exc:
            raise IngestError(Problem(file, 1, 0, f"cannot parse the header: {exc}")) from None
        duplicates = sorted(n for n, times in Counter(names).items() if times > 1)
        if duplicates:
            raise IngestError(Problem(file, 1, 0, f"the header names column(s) {duplicates} more than once"))
        return names

    def _open(self, file: str) -> Any:
        return _open_text(file, self.settings.encoding)

    def _chunks(self, file: str, stream: Any) -> CsvChunks:
        _, rest = read_header(stream, self.settings.block_size)
        return CsvChunks(
            stream,
            self.settings.block_size,
            self._delimiter(file),
            self.settings.max_value_lines,
            2,
            rest,
        )

    def _first_chunk(self, file: str) -> TextChunk | None:
        """The first block of rows; a runaway quote before any row is raised (it leaves nothing to infer from)."""
        with self._open(file) as stream:
            runaway = None
            for item in self._chunks(file, stream):
                if isinstance(item, TextChunk):
                    return item
                runaway = runaway or item
        if runaway is not None:
            raise IngestError(Problem(file, runaway.line, 0, runaway.reason, runaway.fix))
        return None

    def infer_schema(self, file: str) -> Any | None:
        """Types pyarrow infers from the first block; None when the file has no rows."""
        names = self.columns(file)
        first = self._first_chunk(file)
        if first is None:
            return None
        table, _ = self._parse(first.data, names, file, infer=True, multiline=first.inner_newlines is not None)
        return _string_to_null_type(table.schema) if table.num_rows else None

    def undecodable(self, file: str, columns: list[str]) -> dict[str, tuple[int, Any]]:
        """For each of ``columns`` whose first block is not valid UTF-8 text: its first such line and value."""
        import pyarrow as pa

        from headrace.components.ingest.casting import first_undecodable

        names = self.columns(file)
        first = self._first_chunk(file)
        if first is None:
            return {}
        table, rejected = self._parse(first.data, names, file, multiline=first.inner_newlines is not None)
        locate = _chunk_locator(first, [r.text.encode() for r in rejected])
        found = {}
        for name in columns:
            column = table.column(name)
            if pa.types.is_binary(column.type):
                row = first_undecodable(column)
                if row is not None:
                    found[name] = (locate([row])[0], column[row].as_py())
        return found

    def tables(self, file: str, schema: Any, bad_rows: BadRowLog) -> Iterator[Any]:
        names = self.columns(file)
        with self._open(file) as stream:
            chunks = self._chunks(file, stream)
            for chunk in chunks:
                if isinstance(chunk, RunawayQuote):
                    bad_rows.report(BadRow(file, chunk.line, None, shorten(chunk.text), chunk.reason, chunk.fix))
                    continue
                table, rejected = self._parse(chunk.data, names, file, multiline=chunk.inner_newlines is not None)
                swallowing = {r.text.encode(): r for r in rejected if "\n" in r.text}
                found = _first_row_of(chunk, swallowing) if swallowing else None
                if found is None:
                    yield self._conform(chunk, table, rejected, file, schema, bad_rows)
                    continue
                # A quote closed on the wrong line, so one row swallowed the lines up to it and has the
                # wrong number of fields: the rows before it stand, its first line is the bad row, and
                # the lines after that are read again as rows of their own.
                line, start, end = found
                if start:
                    head = chunk.head(start)
                    table, rejected = self._parse(head.data, names, file, multiline=head.inner_newlines is not None)
                    yield self._conform(head, table, rejected, file, schema, bad_rows)
                row = swallowing[chunk.data[start:end].rstrip(b"\r")]
                first_line_end = chunk.data.index(b"\n", start) + 1
                last = line + chunk.data.count(b"\n", start, end)
                bad_rows.report(
                    BadRow(
                        file,
                        line,
                        None,
                        shorten(chunk.data[start:first_line_end].rstrip(b"\r\n").decode("utf-8", "replace")),
                        f"expected {row.expected_columns} fields, found {row.actual_columns} in the row that "
                        f"starts here and runs to line {last}: a quoted value holds the line breaks in between, "
                        "probably because a quote on this line is not closed",
                        'close the quote (a quote inside a quoted value is written "")',
                    )
                )
                chunks.reread(chunk.data[first_line_end:], line + 1)

    @staticmethod
    def _conform(chunk: TextChunk, table: Any, rejected: list[Any], file: str, schema: Any, bad_rows: BadRowLog) -> Any:
        """The chunk's parsed rows conformed to ``schema``; the rows the parser rejected reported."""
        texts = [r.text.encode() for r in rejected]
        for row in rejected[: 1 if bad_rows.raises else None]:
            bad_rows.report(
                BadRow(
                    file,
                    skipped_line(chunk, row.text.encode()),
                    None,
                    shorten(row.text),
                    f"expected {row.expected_columns} fields, found {row.actual_columns}",
                    "fix the row (quote values that contain the delimiter)",
                )
            )
        return conform(table, schema, file, _chunk_locator(chunk, texts), bad_rows)


def _first_row_of(chunk: TextChunk, texts: dict[bytes, Any]) -> tuple[int, int, int] | None:
    """``(line, start, end)`` of the chunk's first row whose text is one of ``texts``."""
    for line, start, end in chunk.row_spans():
        if chunk.data[start:end].rstrip(b"\r") in texts:
            return line, start, end
    return None


def _chunk_locator(chunk: TextChunk, skipped: list[bytes]) -> Any:
    lines: list[Any] = []

    def locate(rows: list[int]) -> list[int]:
        if not lines:
            lines.append(data_row_lines(chunk, skipped))
        return [int(lines[0][r]) for r in rows]

    return locate


class JsonLinesReader:
    def __init__(self, settings: ReadSettings) -> None:
        self.settings = settings

    def _pieces(self, chunk: TextChunk, file: str, bad_rows: BadRowLog | None) -> list[tuple[Any, Any]]:
        """Parsed tables of a chunk with their locators; bisects around lines pyarrow rejects."""
        import pyarrow as pa
        import pyarrow.json as pj

        try:
            table = pj.read_json(io.BytesIO(chunk.data), read_options=pj.ReadOptions(block_size=_PARSE_BLOCK))
            return [(table, _chunk_locator(chunk, []))]
        except pa.ArrowInvalid:
            pass
        lines = [(n, t) for n, t in chunk.lines() if t.strip()]
        pieces: list[tuple[Any, Any]] = []

        def parse(segment: list[tuple[int, bytes]]) -> None:
            data = b"\n".join(t for _, t in segment)
            try:
                table = pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(block_size=len(data) + 1))
                numbers = [n for n, _ in segment]
                pieces.append((table, lambda rows, numbers=numbers: [numbers[r] for r in rows]))
                return
            except pa.ArrowInvalid as exc:
                if len(segment) == 1:
                    number, text = segment[0]
                    reason = _json_problem(text) or str(exc).split(" in row ")[0]
                    row = BadRow(file, number, None, shorten(text), reason, "fix the line (one JSON object per line)")
                    if bad_rows is not None:
                        bad_rows.report(row)
                    return
            mid = len(segment) // 2
            parse(segment[:mid])
            parse(segment[mid:])

        parse(lines)
        return pieces

    def _first_chunk(self, file: str) -> TextChunk | None:
        with _open_text(file, self.settings.encoding) as stream:
            return next(iter_chunks(stream, self.settings.block_size, 1), None)

    def infer_schema(self, file: str) -> Any | None:
        """Types from the first block; where lines disagree on a column's type, the first line's type wins.

        A later line whose value does not fit is then a bad row at its line
        (``column_types`` overrides the inferred type, e.g. ``{a: string}``).
        """
        import pyarrow as pa

        chunk = self._first_chunk(file)
        if chunk is None or not chunk.data.strip():
            return None
        unreadable = BadRowLog("skip")
        pieces = [t for t, _ in self._pieces(chunk, file, unreadable) if t.num_rows]
        if not pieces:
            if unreadable.examples:
                first = unreadable.examples[0]
                raise IngestError(first.problem(f"{first.fix}, or point source at JSON Lines data"))
            return None
        try:
            schema = pa.unify_schemas([t.schema for t in pieces], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            fields: dict[str, Any] = {}
            for piece in pieces:
                for f in piece.schema:
                    if f.name not in fields or pa.types.is_null(fields[f.name].type):
                        fields[f.name] = f
            schema = pa.schema(list(fields.values()))
        return _string_to_null_type(schema)

    def columns(self, file: str) -> list[str]:
        schema = self.infer_schema(file)
        if schema is None:
            raise IngestError(f"{file} is empty: it has no JSON objects")
        return list(schema.names)

    def tables(self, file: str, schema: Any, bad_rows: BadRowLog) -> Iterator[Any]:
        with _open_text(file, self.settings.encoding) as stream:
            for chunk in iter_chunks(stream, self.settings.block_size, 1):
                for table, locate in self._pieces(chunk, file, bad_rows):
                    yield conform(table, schema, file, locate, bad_rows, extra_fields_are_bad=True)


def _json_problem(text: bytes) -> str | None:
    """Why a line is not a JSON object, in words; None when it is one (pyarrow's reason then stands)."""
    import json

    try:
        value = json.loads(text)
    except UnicodeDecodeError:
        return "the line is not valid UTF-8 text (set encoding: to the file's encoding)"
    except ValueError as exc:
        return f"not valid JSON ({exc})"
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")
        return f"a JSON {kind}, not an object"
    return None


class ParquetReader:
    def __init__(self, settings: ReadSettings) -> None:
        self.settings = settings

    def _open(self, file: str) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        fs, path = filesystem(file)
        try:
            return pq.ParquetFile(fs.open_input_file(path))
        except FileNotFoundError:
            raise IngestError(f"{file} does not exist") from None
        except (pa.ArrowInvalid, OSError) as exc:
            raise IngestError(f"{file} is not a readable Parquet file: {exc}") from None

    def infer_schema(self, file: str) -> Any | None:
        with self._open(file) as parquet:
            return _string_to_null_type(parquet.schema_arrow)

    def columns(self, file: str) -> list[str]:
        with self._open(file) as parquet:
            return list(parquet.schema_arrow.names)

    def tables(self, file: str, schema: Any, bad_rows: BadRowLog) -> Iterator[Any]:
        import pyarrow as pa

        with self._open(file) as parquet:
            done = 0
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=list(schema.names)):
                start = done
                done += batch.num_rows
                yield conform(
                    pa.Table.from_batches([batch]),
                    schema,
                    file,
                    functools.partial(_row_numbers, start),
                    bad_rows,
                    line_label=" row ",
                )


def _row_numbers(start: int, rows: Any) -> list[int]:
    """1-based row numbers in the file of the rows (0-based in a batch that starts after ``start`` rows)."""
    return [start + r + 1 for r in rows]


def reader_for(fmt: str, settings: ReadSettings) -> Any:
    """The reader of a format; an image folder's reads class folders, an ``image_column`` wraps the table's."""
    if fmt == "images":
        from headrace.components.ingest.image_folders import ImageFolderReader

        return ImageFolderReader(settings)
    readers: dict[str, type[CsvReader | JsonLinesReader | ParquetReader]] = {
        "csv": CsvReader,
        "jsonl": JsonLinesReader,
        "parquet": ParquetReader,
    }
    reader = readers[fmt](settings)
    if settings.image_column is not None:
        from headrace.components.ingest.image_columns import ImageColumnReader

        return ImageColumnReader(reader, settings)
    return reader
