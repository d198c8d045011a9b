"""Rows that cannot be read: raised as an ``IngestError`` or skipped, counted and logged."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Any

from headrace.components.ingest.errors import IngestError
from headrace.components.problems import Problem

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
    """One unreadable row. ``line`` is the physical line (header = 1), or the row number for Parquet.

    It keeps the column and value for the artifact's ``bad_rows`` property;
    shown to a person, it is a ``Problem`` at its line.
    """

    file: str
    line: int
    column: str | None
    value: Any
    reason: str
    fix: str = ""
    line_label: str = ":"

    def problem(self, hint: str | None = None) -> Problem:
        """The row as a problem at its line, with ``hint`` (the row's own fix by default).

        A Parquet row has no line, so its number is said in the message.
        """
        hint = hint if hint is not None else self.fix or None
        if self.line_label == ":":
            return Problem(self.file, self.line, 0, self.reason, hint)
        return Problem(self.file, 0, 0, f"{self.line_label.strip()} {self.line}: {self.reason}", hint)

    def describe(self) -> str:
        """``file:line: reason``, for the log line of a skipped row."""
        shown = self.problem()
        return f"{shown.location}: {shown.message}"

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
            raise IngestError(row.problem(f"{row.fix or 'fix the row'}, or set on_bad_rows: skip"))
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
