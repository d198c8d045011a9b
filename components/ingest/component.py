"""The ``ingest`` component: CSV / Parquet / JSON Lines or an image folder in, split ``Examples`` out.

Reading streams block by block (memory is bounded by ``block_size``, not by
the data), types come from the first block or ``column_types``, rows are
assigned to splits by a deterministic hash, and each source file is written as
its own rolling Parquet files per split. The same input and parameters give
byte-identical files, in-process or on any Beam runner (``engine``; see
``ingestion``). Nothing heavy (pyarrow, Beam) is imported here.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from headrace.components.arrow_types import parse_arrow_type
from headrace.components.artifacts import Examples
from headrace.components.contract import Component, Context, DataPath, Parameters

DEFAULT_NULL_VALUES = [
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "n/a",
    "nan",
    "null",
]
DEFAULT_SPLITS = {"train": 8, "eval": 2}
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ImageSize(Parameters):
    """The height and width, in pixels, every image gets."""

    height: PositiveInt
    width: PositiveInt


class IngestParameters(Parameters):
    """How to read the source data and how to split it."""

    source: DataPath | dict[str, DataPath] = Field(
        description="The data: a file, a directory (every file of the format inside, sorted) or a glob, as a "
        "path relative to the pipeline file or any pyarrow.fs URI (gs://, s3://). A mapping {split: path} "
        "gives pre-split data; then `splits` must not be set.",
    )
    format: Literal["csv", "parquet", "jsonl", "images"] | None = Field(
        None,
        description="File format; by default from the extension (.csv/.tsv[.gz], .parquet/.pq, .jsonl/.ndjson/.json). "
        "'images': source is an image folder, <folder>/<class>/<image>.png|jpg|jpeg|gif|bmp|webp, one sub-folder "
        "per class (the default for a folder holding such class folders and no table files).",
    )
    image_column: str | None = Field(
        None,
        description="A column of a CSV / Parquet / JSON Lines source that names image files (relative to the "
        "table's folder, absolute, or URIs): their bytes go into the column 'image', marked as images, and the "
        "split is hashed on the path.",
    )
    image_size: ImageSize | None = Field(
        None,
        description="{height, width} every image gets; by default the most common size among the images.",
    )
    on_size_mismatch: Literal["resize", "refuse"] = Field(
        "resize",
        description="An image of another size is resized (bilinear, re-encoded as PNG) or refused (a bad row "
        "naming the file and its size).",
    )
    channels: Literal["auto", 1, 3, 4] = Field(
        "auto",
        description="Channels every image gets: 1 (grayscale), 3 (RGB), 4 (RGBA), or auto: the most common "
        "count among the images.",
    )
    on_channel_mismatch: Literal["convert", "refuse"] = Field(
        "convert",
        description="An image with another channel count is converted (re-encoded as PNG) or refused (a bad row "
        "naming the file).",
    )
    column_types: dict[str, str] = Field(
        default_factory=dict,
        description="Arrow types by column name (int64, double, string, bool, date32, timestamp[s], ...) that "
        "override the types inferred from the first block.",
    )
    splits: dict[str, PositiveInt] | None = Field(
        None,
        description="Split names and their relative weights, in output order; default {train: 8, eval: 2}.",
    )
    split_key: str | None = Field(
        None,
        description="Column whose value decides the split, so rows sharing a key share a split; "
        "by default the whole row is hashed (for images, the file's path: adding images moves no other).",
    )
    on_bad_rows: Literal["error", "skip"] = Field(
        "error",
        description="A row that cannot be parsed or converted stops the run (error) or is dropped, counted "
        "and reported (skip).",
    )
    null_values: list[str] = Field(
        default_factory=lambda: list(DEFAULT_NULL_VALUES),
        description="CSV strings read as null (pyarrow's defaults, including '' and 'NA').",
    )
    delimiter: str | None = Field(
        None,
        min_length=1,
        max_length=1,
        description="CSV field delimiter; default ',' (tab for .tsv).",
    )
    encoding: str = Field(
        "utf-8",
        description="Text encoding of CSV and JSON Lines files (any Python codec name: latin-1, cp1252, utf-16, "
        "...); the text is decoded with it and stored as UTF-8.",
    )
    max_value_lines: PositiveInt = Field(
        1000,
        description="Most lines one quoted CSV value may span. A quoted value that spans more, or is never "
        "closed, is a bad row at the line where its quote opened (a forgotten closing quote would otherwise "
        "swallow the rest of the file); reading resumes on the next line.",
    )
    block_size: int = Field(
        4 << 20,
        ge=1024,
        description="Bytes read and parsed at a time; memory use grows with it, not with the data.",
    )
    rows_per_file: PositiveInt = Field(
        1_000_000,
        description="Rows per Parquet part file before a new part is started; parts roll per source file, "
        "so source file i of the source writes Split-<name>/part-<i>-00000.parquet, part-<i>-00001.parquet, ...",
    )
    engine: Literal["auto", "beam", "in_process"] = Field(
        "auto",
        description="Where files are ingested: 'beam' (a Beam pipeline on the pipeline's runner, one element "
        "per source file, so files are read in parallel), 'in_process' (file after file in this process, no "
        "Beam start-up), or 'auto': in_process when the source files add up to at most in_process_max_bytes "
        "and the runner is the local DirectRunner, else beam. Both write byte-identical Examples.",
    )
    in_process_max_bytes: int = Field(
        2 << 30,
        ge=0,
        description="Largest total size of the source files (as stored) that engine 'auto' ingests in-process.",
    )

    @field_validator("column_types")
    @classmethod
    def _known_types(cls, value: dict[str, str]) -> dict[str, str]:
        for column, name in value.items():
            try:
                parse_arrow_type(name)
            except ValueError as exc:
                raise ValueError(f"column_types.{column}: {exc}") from None
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"{value!r} is not a text encoding Python knows; e.g. utf-8, latin-1, cp1252") from None
        return value

    @field_validator("splits")
    @classmethod
    def _split_names(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        if value is not None:
            if not value:
                raise ValueError("splits must name at least one split, e.g. {train: 8, eval: 2}")
            _check_split_names(value)
        return value

    @model_validator(mode="after")
    def _image_column_of_a_table(self) -> IngestParameters:
        if self.image_column is not None and self.format == "images":
            raise ValueError(
                "image_column names image files in a table; an image folder (format: images) has no table: "
                "remove one of them"
            )
        return self

    def images_configured(self) -> list[str]:
        """The image options set away from their defaults (they need an image source)."""
        defaults = {
            "image_size": None,
            "on_size_mismatch": "resize",
            "channels": "auto",
            "on_channel_mismatch": "convert",
        }
        return [name for name, default in defaults.items() if getattr(self, name) != default]

    @model_validator(mode="after")
    def _presplit_or_weights(self) -> IngestParameters:
        if isinstance(self.source, dict):
            if not self.source:
                raise ValueError("source: the mapping {split: path} is empty")
            _check_split_names(self.source)
            if self.splits is not None:
                raise ValueError(
                    "source is already split ({split: path}), so splits must not be set; remove splits "
                    "or give source as a single path"
                )
            if self.split_key is not None:
                raise ValueError("split_key has no effect when source is already split ({split: path}); remove it")
        return self

    def split_weights(self) -> dict[str, int]:
        return dict(self.splits or DEFAULT_SPLITS)


def _check_split_names(names: Any) -> None:
    for name in names:
        if not _SPLIT_NAME.match(name):
            raise ValueError(f"split name {name!r} may only contain letters, digits, '_', '-' and '.'")


class Ingest(Component[IngestParameters]):
    type = "ingest"
    version = "2"  # 2: part files named per source file, part-<file>-<roll>.parquet
    description = (
        "Read CSV, Parquet, JSON Lines or an image folder, split rows by a deterministic hash, write Examples."
    )
    inputs = {}
    outputs = {"examples": Examples}
    Parameters = IngestParameters
    requires = ("pyarrow", "pillow")

    @classmethod
    def content_locations(cls, params: IngestParameters, base_dir: str) -> list[str]:
        """The image files a table's ``image_column`` names: ``source`` names the table, these its images."""
        if params.image_column is None:
            return []
        from headrace.components.ingest.ingestion import image_files_named

        return image_files_named(params, base_dir)

    def run(self, ctx: Context[IngestParameters]) -> None:
        from headrace.components.ingest.ingestion import ingest

        ingest(ctx)
