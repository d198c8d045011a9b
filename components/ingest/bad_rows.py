"""Rows that cannot be read: raised as an ``IngestError`` or skipped, counted and logged."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from headrace.components.ingest.errors import IngestError

MAX_EXAMPLES = 10
_MAX_VALUE = 80


def shorten(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and len(value) > _MAX_VALUE:
        return value[: _MAX_VALUE - 3] + "..."
    return value


@dataclass(frozen=True)
class BadRow:
    """One unreadable row. ``line`` is the physical line (header = 1), or the row number for Parquet."""

    file: str
    line: int
    column: str | None
    value: Any
    reason: str
    fix: str = ""
    line_label: str = ":"

    def describe(self) -> str:
        return f"{self.file}{self.line_label}{self.line}: {self.reason}"

    def as_property(self) -> dict[str, Any]:
        entry = asdict(self)
        del entry["fix"], entry["line_label"]
        entry["value"] = shorten(entry["value"])
        return entry


class BadRowLog:
    """Applies ``on_bad_rows``: ``error`` raises on the first bad row, ``skip`` records it.

    Without a ``log`` it only counts and keeps examples (ingest gives each
    source file a silent log, merges them in file order and logs the merged one).
    """

    def __init__(self, mode: str, log: logging.Logger | None = None) -> None:
        self.mode = mode
        self.log = log
        self.count = 0
        self.examples: list[BadRow] = []

    @property
    def raises(self) -> bool:
        return self.mode == "error"

    def report(self, row: BadRow) -> None:
        if self.raises:
            raise IngestError(f"{row.describe()}; {row.fix or 'fix the row'}, or set on_bad_rows: skip")
        self.add([row], 1)

    def add(self, rows: list[BadRow], count: int) -> None:
        """Record ``count`` skipped rows, of which ``rows`` are the examples (another log's, when merging)."""
        for row in rows:
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append(row)
                if self.log is not None:
                    self.log.warning("skipped bad row %s", row.describe())
        if self.log is not None and self.count <= MAX_EXAMPLES < self.count + count:
            self.log.warning("more bad rows are skipped; only the count is reported from here on")
        self.count += count

    def as_property(self) -> dict[str, Any]:
        return {"count": self.count, "examples": [row.as_property() for row in self.examples]}
