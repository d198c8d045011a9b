"""Overlap producing items with consuming them: a bounded background reader.

Parsing CSV, decoding Parquet, Arrow kernels and Parquet encoding all release
the GIL, so on two cores a reader thread and the writer overlap. Memory grows
by ``depth`` items at most. Ingest (parse while writing) and transform (read
and transform while writing) both stream this way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from queue import Empty, Queue
from typing import Any


def read_ahead(items: Iterator[Any], depth: int = 2, name: str = "headrace-reader") -> Iterator[Any]:
    """``items``, produced on a background thread ``depth`` ahead of the consumer; errors re-raised in order."""
    done = object()
    queue: Queue[Any] = Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                queue.put((item, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            queue.put((None, exc))
            return
        queue.put((done, None))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, error = queue.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                queue.get_nowait()
            except Empty:
                thread.join(0.01)
