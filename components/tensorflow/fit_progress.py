"""Every Keras ``fit`` called during the user's ``train(ctx)`` reports its epochs, without a change to model.py.

A Keras trainer may train for minutes; with ``verbose=0`` (the examples'
choice, and the only sane one in a log) the run would show nothing but
"training: model.py:16 train(ctx)" all that time. While :func:`reported_fits`
is entered, ``keras.Model.fit`` is wrapped (as MLflow's autolog wraps it): the
wrapper appends a :class:`FitProgress` callback to the user's own callbacks,
which tells ``progress`` each epoch's end (``epoch 3/20: loss 0.412, accuracy
0.881 (12 s)``) and, in a slow epoch, its batches at most every few seconds,
and writes each epoch's line to the component's log, so ``headrace logs RUN
trainer`` shows the training curve. The user's ``verbose`` is left as it is:
our callback does not depend on Keras' progress bar.

Patching the class attribute is process-wide. That is safe where it is used:
the trainer's ``train(ctx)`` calls take turns in a process (a lock in
``trainer/run.py``, since training seeds process-wide generators), and a
distributed worker is a process of its own. The original ``fit`` is put back
when the block exits, whether ``train`` returned or raised (unless something,
say MLflow's autolog, patched ``fit`` again over ours: then ours is left in its
chain, passing calls straight through). A ``fit`` called
from inside a reported ``fit`` (a subclass's ``fit`` calling ``super().fit``)
is not reported twice.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import keras

BATCH_SECONDS = 2.0
"""Within an epoch, a batch note at most this often (an epoch's end is always told)."""


class FitProgress(keras.callbacks.Callback):
    """Tells ``progress`` how far a ``fit`` has come, and ``log`` each epoch's metrics."""

    async_safe = True  # it only formats and hands on what Keras gives: backends that dispatch batches async may

    def __init__(self, progress: Callable[[str], None], log: logging.Logger, every: float = BATCH_SECONDS) -> None:
        super().__init__()
        self._progress = progress
        self._log = log
        self._every = every
        self._epoch = 0
        self._epoch_started = self._noted = time.monotonic()

    def _epochs(self) -> str:
        return str(self.params.get("epochs") or "?")

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch + 1
        self._epoch_started = self._noted = time.monotonic()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        if now - self._noted < self._every:
            return
        self._noted = now
        steps = self.params.get("steps")
        of = f"batch {batch + 1}/{steps}" if steps else f"batch {batch + 1}"
        self._progress(
            f"epoch {self._epoch}/{self._epochs()}, {of}: {described(logs)} ({_seconds(now - self._epoch_started)})"
        )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        seconds = time.monotonic() - self._epoch_started
        line = f"epoch {epoch + 1}/{self._epochs()}: {described(logs)}"
        self._progress(f"{line} ({_seconds(seconds)})")
        self._log.info("%s (%.1f s)", line, seconds)


def described(logs: dict[str, Any] | None) -> str:
    """``loss 0.412, accuracy 0.881``: Keras' logs, the loss first, numbers only."""
    figures = []
    for name, value in (logs or {}).items():
        with contextlib.suppress(TypeError, ValueError):
            figures.append((name, float(value)))
    figures.sort(key=lambda item: item[0] != "loss")
    return ", ".join(f"{name} {_figure(value)}" for name, value in figures) or "no metrics"


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _figure(value: float) -> str:
    return f"{value:.3f}" if 0.001 <= abs(value) < 1000 else f"{value:.4g}"


_inside = threading.local()


@contextlib.contextmanager
def reported_fits(progress: Callable[[str], None], log: logging.Logger, every: float = BATCH_SECONDS) -> Iterator[None]:
    """While entered, each ``keras.Model.fit`` gets a :class:`FitProgress` after the caller's callbacks."""
    model_class = keras.Model
    own = "fit" in vars(model_class)  # else inherited from the backend's trainer: restored by deleting ours
    original = vars(model_class)["fit"] if own else model_class.fit
    signature = inspect.signature(original)
    active = True

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not active or getattr(_inside, "fitting", False):
            return original(self, *args, **kwargs)  # after the block (patched over), or nested: the outer reports
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return original(self, *args, **kwargs)  # Keras says what is wrong with the call
        callbacks = bound.arguments.get("callbacks")
        if callbacks is None or isinstance(callbacks, (list, tuple)):
            bound.arguments["callbacks"] = [*(callbacks or []), FitProgress(progress, log, every)]
        _inside.fitting = True
        try:
            return original(*bound.args, **bound.kwargs)
        finally:
            _inside.fitting = False

    model_class.fit = fit
    try:
        yield
    finally:
        active = False
        if vars(model_class).get("fit") is not fit:
            log.debug("keras.Model.fit was patched again during train (MLflow's autolog?): left to that patch")
        elif own:
            model_class.fit = original
        else:
            del model_class.fit
