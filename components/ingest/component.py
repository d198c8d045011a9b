"""The ``ingest`` component: CSV / Parquet / JSON Lines in, split ``Examples`` out.

Reading streams block by block (memory is bounded by ``block_size``, not by
the data), types come from the first block or ``column_types``, rows are
assigned to splits by a deterministic hash, and each split is written as
rolling Parquet files. The same input and parameters give byte-identical files.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, PositiveInt, field_validator, model_validator

from components.artifacts import Examples
from components.contract import Component, Context, DataPath, Parameters

DEFAULT_NULL_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
    "1.#IND", "1.#QNAN", "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
]
DEFAULT_SPLITS = {"train": 8, "eval": 2}
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_EXTRA_TYPES = re.compile(r"^(decimal128\(\d+,\s*\d+\)|timestamp\[(s|ms|us|ns)(,\s*tz=[^\]]+)?\])$")


def accepted_type_names() -> list[str]:
    import pyarrow as pa

    aliases = getattr(pa.lib, "_type_aliases", {})
    return sorted(aliases) or ["bool", "int64", "double", "string", "date32", "timestamp[s]"]


def parse_arrow_type(name: str) -> Any:
    """An Arrow type from its name (``int64``, ``timestamp[ms, tz=UTC]``, ``decimal128(10, 2)``)."""
    import pyarrow as pa

    text = name.strip()
    try:
        return pa.type_for_alias(text)
    except ValueError:
        pass
    if _EXTRA_TYPES.match(text):
        if text.startswith("decimal128"):
            precision, scale = (int(x) for x in text[text.index("(") + 1 : -1].split(","))
            return pa.decimal128(precision, scale)
        unit, _, tz = text[len("timestamp[") : -1].partition(",")
        return pa.timestamp(unit.strip(), tz=tz.split("=", 1)[1].strip() if tz else None)
    raise ValueError(
        f"{name!r} is not an Arrow type name; use one of {', '.join(accepted_type_names())}, "
        "'timestamp[<unit>, tz=<zone>]' or 'decimal128(<precision>, <scale>)'"
    )


class IngestParameters(Parameters):
    """How to read the source data and how to split it."""

    source: DataPath | dict[str, DataPath] = Field(
        description="The data: a file, a directory (every file of the format inside, sorted) or a glob, as a "
        "path relative to the pipeline file or any pyarrow.fs URI (gs://, s3://). A mapping {split: path} "
        "gives pre-split data; then `splits` must not be set.",
    )
    format: Literal["csv", "parquet", "jsonl"] | None = Field(
        None,
        description="File format; by default from the extension (.csv/.tsv[.gz], .parquet/.pq, .jsonl/.ndjson/.json).",
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
        "by default the whole row is hashed.",
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
        None, min_length=1, max_length=1,
        description="CSV field delimiter; default ',' (tab for .tsv).",
    )
    block_size: int = Field(
        4 << 20, ge=1024,
        description="Bytes read and parsed at a time; memory use grows with it, not with the data.",
    )
    rows_per_file: PositiveInt = Field(
        1_000_000, description="Rows per Parquet part file before a new part is started.",
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

    @field_validator("splits")
    @classmethod
    def _split_names(cls, value: dict[str, int] | None) -> dict[str, int] | None:
        if value is not None:
            if not value:
                raise ValueError("splits must name at least one split, e.g. {train: 8, eval: 2}")
            _check_split_names(value)
        return value

    @model_validator(mode="after")
    def _presplit_or_weights(self) -> "IngestParameters":
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


class Ingest(Component):
    type = "ingest"
    version = "1"
    description = "Read CSV, Parquet or JSON Lines, split rows by a deterministic hash, write Examples."
    inputs = {}
    outputs = {"examples": Examples}
    Parameters = IngestParameters
    requires = ("pyarrow",)

    def run(self, ctx: Context) -> None:
        from components.ingest.ingestion import ingest

        ingest(ctx)
