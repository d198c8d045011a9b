"""Per-component log files, even when components run in parallel threads.

Everything a component emits goes to its own file: records of any logger
(its own, Beam's, a library's) and plain ``print`` output. Components run in
threads of one process, so ``sys.stdout`` and the root logger are shared;
both are routed by the current thread to that thread's file. Secrets read
from the environment are replaced by ``***`` before anything is written.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO

from headrace.pipelines.redaction import Redactor

_current = threading.local()
_install_lock = threading.Lock()
_installed = False


class _RedactingFile:
    def __init__(self, path: str, secrets: Iterable[str]) -> None:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 (open while the component runs; close() closes it)
        self._redactor = Redactor(secrets)
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        text = self._redactor.text(text)
        with self._lock:
            self._file.write(text)

    def close(self) -> None:
        self._file.close()


class _ThreadRoutedStream(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: writes go to the current thread's log, if any."""

    def __init__(self, fallback: TextIO) -> None:
        self._fallback = fallback

    def write(self, text: str) -> int:
        target: _RedactingFile | None = getattr(_current, "file", None)
        if target is not None:
            target.write(text)
        else:
            self._fallback.write(text)
        return len(text)

    def flush(self) -> None:
        if getattr(_current, "file", None) is None:
            self._fallback.flush()

    def isatty(self) -> bool:
        return getattr(_current, "file", None) is None and self._fallback.isatty()

    def fileno(self) -> int:
        return self._fallback.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._fallback, "encoding", "utf-8")


class _ThreadRoutedHandler(logging.Handler):
    """A root-logger handler that writes a record to the log of the thread that emitted it."""

    def emit(self, record: logging.LogRecord) -> None:
        target: _RedactingFile | None = getattr(_current, "file", None)
        if target is None:
            return
        try:
            target.write(self.format(record) + "\n")
        except Exception:  # a log line must never fail a component
            self.handleError(record)


def _install() -> None:
    global _installed
    with _install_lock:
        # re-checked every time: a host (a test runner, a notebook) may have swapped the streams since
        if not isinstance(sys.stdout, _ThreadRoutedStream):
            sys.stdout = _ThreadRoutedStream(sys.stdout)
        if not isinstance(sys.stderr, _ThreadRoutedStream):
            sys.stderr = _ThreadRoutedStream(sys.stderr)
        if _installed:
            return
        handler = _ThreadRoutedHandler(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        _installed = True


@contextmanager
def capture_to(path: str, secrets: Iterable[str] = ()) -> Iterator[logging.Logger]:
    """Route this thread's logging and output to ``path`` while the block runs; yields a logger."""
    _install()
    target = _RedactingFile(path, secrets)
    previous = getattr(_current, "file", None)
    _current.file = target
    logger = logging.getLogger(f"headrace.component.{os.path.splitext(os.path.basename(path))[0]}")
    logger.propagate = True
    try:
        yield logger
    finally:
        _current.file = previous
        target.close()
