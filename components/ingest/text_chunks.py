"""Line-aligned blocks of a text file, each knowing the physical line it starts on.

Cutting the stream at the last newline of every block lets each block be parsed
on its own (in parallel inside pyarrow) and lets an error name the exact line.
CSV blocks are cut by ``csv_chunks`` instead, at row ends outside quoted
values; such a block knows the line breaks inside its quoted values, so a row
that spans lines is still located at the line where it starts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class TextChunk:
    data: bytes
    first_line: int
    """Physical line number (1-based) of the first line in ``data``."""
    inner_newlines: np.ndarray | None = None
    """Offsets of the line breaks inside quoted CSV values (not row ends), if any."""

    def lines(self) -> list[tuple[int, bytes]]:
        """``(line number, text without line break)`` of every line, in order."""
        parts = self.data.split(b"\n")
        if parts and parts[-1] == b"":
            parts.pop()
        return [(self.first_line + i, p.rstrip(b"\r")) for i, p in enumerate(parts)]

    def rows(self) -> list[tuple[int, bytes]]:
        """``(line where it starts, text)`` of every row: lines, joined where a quoted value holds a break."""
        if self.inner_newlines is None:
            return self.lines()
        return [(line, self.data[start:end].rstrip(b"\r")) for line, start, end in self.row_spans()]

    def head(self, size: int) -> TextChunk:
        """The chunk's first ``size`` bytes (a row boundary) as a chunk of its own."""
        inner = self.inner_newlines
        if inner is not None:
            inner = inner[inner < size]
            inner = inner if len(inner) else None
        return TextChunk(self.data[:size], self.first_line, inner)

    def row_spans(self) -> list[tuple[int, int, int]]:
        """``(line where it starts, start offset, end offset without the line break)`` of every row."""
        inner = set(self.inner_newlines.tolist()) if self.inner_newlines is not None else set()
        spans: list[tuple[int, int, int]] = []
        line, start, first = self.first_line, 0, self.first_line
        at = self.data.find(b"\n")
        while at >= 0:
            line += 1
            if at not in inner:
                spans.append((first, start, at))
                start, first = at + 1, line
            at = self.data.find(b"\n", at + 1)
        if start < len(self.data):
            spans.append((first, start, len(self.data)))
        return spans


def read_header(stream, block_size: int) -> tuple[bytes, bytes]:
    """The first line of a stream (without its line break) and the bytes read after it."""
    buffered = b""
    while True:
        block = stream.read(block_size)
        buffered += block
        cut = buffered.find(b"\n")
        if cut >= 0:
            return buffered[:cut].rstrip(b"\r"), buffered[cut + 1 :]
        if not block:
            return buffered.rstrip(b"\r"), b""


def iter_chunks(stream, block_size: int, first_line: int = 1, carry: bytes = b"") -> Iterator[TextChunk]:
    """Blocks of about ``block_size`` bytes that end at a line break (the last may not)."""
    line = first_line
    while True:
        block = stream.read(block_size)
        if not block:
            if carry:
                yield TextChunk(carry, line)
            return
        data = carry + block
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        data, carry = data[:cut], data[cut:]
        yield TextChunk(data, line)
        line += data.count(b"\n")


def data_row_lines(chunk: TextChunk, skipped: Iterable[bytes], blank_is_row: bool = False) -> np.ndarray:
    """The physical line of every parsed row of a chunk.

    Blank lines produce no row (CSV and JSON readers both ignore them), and
    neither do the lines in ``skipped`` (rows the parser rejected, by text).
    """
    pending = Counter(t.rstrip(b"\r\n") for t in skipped)
    numbers = []
    for number, text in chunk.rows():
        if not blank_is_row and not text.strip():
            continue
        if pending and pending[text] > 0:
            pending[text] -= 1
            continue
        numbers.append(number)
    return np.asarray(numbers, dtype=np.int64)


def skipped_line(chunk: TextChunk, text: bytes) -> int:
    """The physical line of a rejected row, found by its text (first match)."""
    target = text.rstrip(b"\r\n")
    for number, line in chunk.rows():
        if line == target:
            return number
    return chunk.first_line
