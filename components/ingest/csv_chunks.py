"""CSV blocks cut at row ends, not inside quoted values; quotes that never close found at their line.

A quoted CSV value may hold line breaks, so a block of a CSV file can only be
cut at a line break that is outside quotes. Finding those follows pyarrow's
own parser: a quote opens a value only at the start of a field, ``""`` inside
a quoted value is a quote, and any other quote (``5'10"``) is plain text.
Blocks without a quote (most data) cost one ``memchr``; otherwise numpy finds
the quoted spans with one pass over the bytes, and only text with quotes in
the middle of unquoted fields takes a loop over its quotes.

A quote that is never closed (a typo) would swallow the rest of the file into
one value. So a quoted value that reaches the end of the file, or spans more
than ``max_value_lines`` lines, is reported as a ``RunawayQuote`` at the line
where it opened, and reading resumes on the next line as if it had not been
there. The decision depends only on the bytes, never on where blocks fall.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from headrace.components.ingest.text_chunks import TextChunk

_QUOTE = ord('"')
_NL = ord("\n")
_CR = ord("\r")


@dataclass(frozen=True)
class RunawayQuote:
    """A row whose quoted value never closes (or spans more than the limit), skipped up to the quote's line."""

    line: int
    """Physical line where the quote opened."""
    text: bytes
    """The row's text up to the end of that line."""
    reason: str
    fix: str


_CLOSE = 'close the quote (a quote inside a quoted value is written "")'


def quoted_spans(data: bytes, delimiter: str) -> tuple[np.ndarray, np.ndarray]:
    """Start and end offsets of quoted values (end = offset of the closing quote, or ``len(data)`` if open).

    ``data`` must start at the start of a row.
    """
    if b'"' not in data:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    arr = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(arr == _QUOTE)
    openers, closers = quotes[0::2], quotes[1::2]
    before = arr[np.maximum(openers - 1, 0)]
    field_start = (openers == 0) | (before == ord(delimiter)) | (before == _NL) | (before == _CR)
    # a quote right after a closing quote is the second half of "" (a quote inside the value)
    if not (field_start | (before == _QUOTE)).all():
        return _spans_by_loop(arr, quotes, ord(delimiter))
    if len(closers) < len(openers):
        closers = np.append(closers, len(data))
    continued = openers[1:] == closers[:-1] + 1
    starts = openers[np.concatenate(([True], ~continued))]
    ends = closers[np.concatenate((~continued, [True]))]
    return starts.astype(np.int64), ends.astype(np.int64)


def quotes_close_on_their_line(data: bytes, delimiter: str) -> bool:
    """True when every quoted value of ``data`` closes on the line it opens on (the common case, checked fast).

    Counting quotes is enough when each quote that opens a value (by parity)
    is at the start of a field: a line break is then inside a quoted value
    exactly when an odd number of quotes precede it.
    """
    arr = np.frombuffer(data, dtype=np.uint8)
    quotes = np.flatnonzero(arr == _QUOTE)
    if len(quotes) % 2:
        return False
    openers = quotes[0::2]
    before = arr[np.maximum(openers - 1, 0)]
    if not ((openers == 0) | (before == ord(delimiter)) | (before == _NL) | (before == _CR) | (before == _QUOTE)).all():
        return False
    preceding = np.searchsorted(quotes, np.flatnonzero(arr == _NL))
    return not (preceding & 1).any()


def _spans_by_loop(arr: np.ndarray, quotes: np.ndarray, delimiter: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact walk over the quotes, for text with quotes inside unquoted fields."""
    starts: list[int] = []
    ends: list[int] = []
    positions = quotes.tolist()
    n = len(positions)
    i = 0
    while i < n:
        at = positions[i]
        if at > 0 and arr[at - 1] not in (delimiter, _NL, _CR):
            i += 1  # a quote inside an unquoted field is text
            continue
        j = i + 1
        while j + 1 < n and positions[j + 1] == positions[j] + 1:
            j += 2  # "" inside a quoted value
        starts.append(at)
        ends.append(positions[j] if j < n else len(arr))
        i = j + 1
    return np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)


def _newlines(data: bytes) -> np.ndarray:
    return np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == _NL)


class CsvChunks:
    """Blocks of about ``block_size`` bytes that end at a row end, and the runaway quotes between them.

    ``reread`` hands text back to be read again with fresh quote state: a
    reader that finds a row swallowing lines (a quote that closed, but on the
    wrong line) drops that row's first line and re-reads the rest.
    """

    def __init__(
        self,
        stream: Any,
        block_size: int,
        delimiter: str,
        max_value_lines: int,
        first_line: int = 1,
        carry: bytes = b"",
    ) -> None:
        self.stream = stream
        self.block_size = block_size
        self.delimiter = delimiter
        self.max_value_lines = max_value_lines
        self.first_line = first_line
        self.carry = carry
        self._reread: tuple[bytes, int] | None = None

    def reread(self, data: bytes, first_line: int) -> None:
        """Read ``data``, which starts on ``first_line``, again before what follows the last chunk."""
        self._reread = (data, first_line)

    def __iter__(self) -> Iterator[TextChunk | RunawayQuote]:
        line = self.first_line
        data = self.carry
        eof = False
        max_value_lines = self.max_value_lines
        while True:
            if self._reread is not None:
                again, line = self._reread
                data = again + data
                self._reread = None
            elif not eof:
                block = self.stream.read(self.block_size)
                eof = not block
                data += block
            if not data:
                return
            if b'"' not in data or quotes_close_on_their_line(data, self.delimiter):
                starts = ends = np.zeros(0, dtype=np.int64)
            else:
                starts, ends = quoted_spans(data, self.delimiter)
            if not len(starts):
                cut = len(data) if eof else data.rfind(b"\n") + 1
                if cut:
                    chunk = TextChunk(data[:cut], line)
                    line += data.count(b"\n", 0, cut)
                    data = data[cut:]
                    yield chunk
                continue
            newlines = _newlines(data)
            inside = np.searchsorted(newlines, ends) - np.searchsorted(newlines, starts)
            open_at_end = int(ends[-1]) == len(data)
            too_long = np.flatnonzero(inside >= max_value_lines)
            runaway = int(too_long[0]) if len(too_long) else (len(starts) - 1 if open_at_end and eof else -1)
            if runaway < 0:
                # cut after the last line break outside quotes; an open value at the end waits for more data
                limit = int(starts[-1]) if open_at_end else len(data)
                row_ends = newlines[newlines < limit]
                index = np.searchsorted(starts, row_ends, side="right") - 1
                outside = (index < 0) | (row_ends > ends[np.maximum(index, 0)])
                row_ends = row_ends[outside]
                cut = len(data) if eof else (int(row_ends[-1]) + 1 if len(row_ends) else 0)
                if cut:
                    inner = newlines[newlines < cut]
                    chunk = TextChunk(data[:cut], line, inner_newlines=_inner(inner, starts, ends))
                    line += data.count(b"\n", 0, cut)
                    data = data[cut:]
                    yield chunk
                continue
            opened = int(starts[runaway])
            row_start = data.rfind(b"\n", 0, opened) + 1
            if row_start:
                # the rows before the runaway row are complete, and their quoted values end before it
                before = _inner(newlines[newlines < row_start], starts[:runaway], ends[:runaway])
                chunk = TextChunk(data[:row_start], line, inner_newlines=before)
                line += data.count(b"\n", 0, row_start)
                data = data[row_start:]
                yield chunk
                continue  # (the runaway row is found again at the start of ``data``)
            end_of_line = data.find(b"\n", opened)
            end = len(data) if end_of_line < 0 else end_of_line + 1
            quote_line = line + data.count(b"\n", 0, opened)
            start = data[opened:end].rstrip(b"\r\n").decode("utf-8", "replace")
            start = start if len(start) <= 40 else start[:37] + "..."
            if int(ends[runaway]) == len(data) and eof:
                reason = f"the quoted value that opens here ({start}) is never closed: it runs to the end of the file"
                fix = _CLOSE
            else:
                fix = f"{_CLOSE}, or raise max_value_lines if values really span that many lines"
                reason = (
                    f"the quoted value that opens here ({start}) spans more than {max_value_lines:,} lines "
                    "(max_value_lines), so its closing quote is probably missing"
                )
            runaway_row = RunawayQuote(quote_line, data[:end].rstrip(b"\r\n"), reason, fix)
            line += data.count(b"\n", 0, end)
            data = data[end:]
            yield runaway_row


def _inner(newlines: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """The line breaks among ``newlines`` that lie inside a quoted value (None when there are none)."""
    if not len(newlines) or not len(starts):
        return None
    index = np.searchsorted(starts, newlines, side="right") - 1
    inside = (index >= 0) & (newlines < ends[np.maximum(index, 0)])
    return newlines[inside] if inside.any() else None
