"""Table sources whose column names image files (``image_column: file``): the files' bytes join the rows.

The table (CSV, Parquet, JSON Lines) is read as any other; then each row's
file, a path relative to the table's folder (or absolute, or a URI), is read,
checked and conformed like an image folder's (``image_files``), and its bytes
go into the column ``image``, marked as images. The paths stay in their
column, or move to ``path`` when that column was itself ``image``, so every
row says where its image came from and the split is hashed on that path. A
missing or damaged file is a bad row naming the file and the table.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from typing import Any

from headrace.components.images import IMAGE_COLUMN, image_field
from headrace.components.ingest.bad_rows import BadRow, BadRowLog
from headrace.components.ingest.errors import IngestError
from headrace.components.ingest.image_folders import PATH_COLUMN, read_image
from headrace.components.paths import is_uri


def path_column(image_column: str) -> str:
    """The column that keeps the image files' paths in Examples (the split is hashed on it)."""
    return PATH_COLUMN if image_column == IMAGE_COLUMN else image_column


def with_images(table_schema: Any, image_column: str, first_file: str) -> Any:
    """The Examples schema of a table whose ``image_column`` names image files; ``IngestError`` if it cannot be."""
    import pyarrow as pa

    names = table_schema.names
    if image_column not in names:
        raise IngestError(
            f"image_column {image_column!r} is not a column of {first_file} (columns: {', '.join(names)})"
        )
    kind = table_schema.field(image_column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise IngestError(
            f"image_column {image_column!r} of {first_file} is {kind}, not text naming image files; "
            f"set column_types: {{{image_column}: string}}"
        )
    if image_column == IMAGE_COLUMN:
        if PATH_COLUMN in names:
            raise IngestError(
                f"{first_file} has both {IMAGE_COLUMN!r} (the image files) and {PATH_COLUMN!r}: the images' bytes go "
                f"into {IMAGE_COLUMN!r} and the paths into {PATH_COLUMN!r}; rename the column {PATH_COLUMN!r}"
            )
        fields = [image_field() if f.name == IMAGE_COLUMN else f for f in table_schema]
        return pa.schema([*fields, pa.field(PATH_COLUMN, kind)])
    if IMAGE_COLUMN in names:
        raise IngestError(
            f"{first_file} has a column {IMAGE_COLUMN!r}, where the bytes of the files {image_column!r} names go; "
            f"rename that column, or name the files in it (image_column: {IMAGE_COLUMN})"
        )
    return pa.schema([*table_schema, image_field()])


def table_schema_of(schema: Any, image_column: str) -> Any:
    """The schema the table itself is read to: ``with_images`` undone."""
    import pyarrow as pa

    if image_column == IMAGE_COLUMN:
        kind = schema.field(PATH_COLUMN).type
        fields = [
            pa.field(IMAGE_COLUMN, kind) if f.name == IMAGE_COLUMN else f for f in schema if f.name != PATH_COLUMN
        ]
        return pa.schema(fields)
    return pa.schema([f for f in schema if f.name != IMAGE_COLUMN])


def image_location(table_file: str, path: str) -> str:
    """Where a path in a table points: as is when absolute or a URI, else relative to the table's folder."""
    if is_uri(path) or os.path.isabs(path):
        return path
    if is_uri(table_file):
        return posixpath.join(table_file.rsplit("/", 1)[0], path)
    return os.path.join(os.path.dirname(table_file), path)


def named_paths(reader: Any, file: str, schema: Any, image_column: str) -> Iterator[str]:
    """The locations of the image files a table names (its unreadable rows left out): for reading headers."""
    for table in reader.tables(file, table_schema_of(schema, image_column), BadRowLog("skip")):
        for path in table.column(image_column).to_pylist():
            if path is not None:
                yield image_location(file, path)


class ImageColumnReader:
    """A table reader whose rows gain the bytes of the image files their ``image_column`` names."""

    def __init__(self, inner: Any, settings: Any) -> None:
        self.inner = inner
        self.settings = settings
        self.column: str = settings.image_column

    def infer_schema(self, file: str) -> Any:
        return self.inner.infer_schema(file)

    def columns(self, file: str) -> list[str]:
        return list(self.inner.columns(file))

    def undecodable(self, file: str, columns: list[str]) -> Any:
        return self.inner.undecodable(file, columns)

    def tables(self, file: str, schema: Any, bad_rows: BadRowLog) -> Iterator[Any]:
        import numpy as np
        import pyarrow as pa

        where = f" (named in column {self.column!r} of {file})"
        for table in self.inner.tables(file, table_schema_of(schema, self.column), bad_rows):
            images: list[bytes] = []
            keep = np.zeros(table.num_rows, dtype=bool)
            for row, path in enumerate(table.column(self.column).to_pylist()):
                if path is None:
                    bad_rows.report(
                        BadRow(
                            file,
                            0,
                            self.column,
                            None,
                            f"a row names no image file (column {self.column!r} is empty)",
                            "name the row's image file, or remove the row",
                        )
                    )
                    continue
                data = read_image(image_location(file, path), bad_rows, self.settings.image_target, where)
                if data is not None:
                    images.append(data)
                    keep[row] = True
            if not keep.all():
                table = table.filter(pa.array(keep))
            column = pa.array(images, pa.binary())
            if self.column == IMAGE_COLUMN:
                paths = table.column(IMAGE_COLUMN)
                table = table.set_column(table.schema.get_field_index(IMAGE_COLUMN), IMAGE_COLUMN, column)
                table = table.append_column(PATH_COLUMN, paths)
            else:
                table = table.append_column(IMAGE_COLUMN, column)
            yield table.cast(schema)
