"""The rich console every command prints through: fitted to a terminal, unwrapped in a pipe.

On a terminal, tables fit the window. Anywhere else (``| cat``, ``| grep``,
a CI log) a table row wrapped at a guessed 80 columns ends up spread over
several lines, mid-phrase; there each row stays one line, however long.
"""

from __future__ import annotations

import io
import re
import sys
from typing import TextIO, cast

from rich.console import Console

UNWRAPPED_WIDTH = 10_000
"""Width given to rich when the output is not a terminal: wide enough that nothing wraps."""


def console_for(stream: TextIO | None = None) -> Console:
    """A console writing to ``stream`` (default: today's ``sys.stdout``)."""
    stream = stream if stream is not None else sys.stdout
    if _is_terminal(stream):
        return Console(file=stream, highlight=False)
    return Console(file=cast(TextIO, _TrimmedLines(stream)), highlight=False, width=UNWRAPPED_WIDTH)


class _TrimmedLines(io.TextIOBase):
    """Drops the spaces rich pads a table's last column with, so piped lines end where their text does."""

    _PADDING = re.compile(r" +(?=\n)")

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(self._PADDING.sub("", text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or minimal stream
        return False
