"""A pretrained Keras network, loaded to be fine-tuned: what the trainer's ``ctx.load_base_model()`` returns.

The network comes from a ``.keras`` file the pipeline imported (an
``importer`` with ``artifact_type: KerasModel``), never from a model hub:
nothing is downloaded while a pipeline runs, so a run on an offline machine
behaves as one online. Ship the ``.keras`` file with the pipeline (or put it
at a URI the machine can read).
"""

from __future__ import annotations

import re
from typing import Any

from headrace.components.contract import ComponentError
from headrace.components.tensorflow import missing_tensorflow

try:
    import keras
except ImportError as exc:
    raise missing_tensorflow(__name__, exc) from exc


def load_keras_model(path: str, *, compile: bool = True, **options: Any) -> keras.Model:
    """The Keras model saved at ``path``; ``options`` go to ``keras.models.load_model`` (``custom_objects=``).

    ``compile=True`` restores the optimizer and loss it was saved with, so ``fit`` continues its training;
    recompile to fine-tune with another optimizer or learning rate (after freezing layers, Keras wants that).
    """
    try:
        return keras.models.load_model(path, compile=compile, **options)
    except Exception as exc:
        missing = re.search(r"Could not locate (?:class|function) '([^']+)'", str(exc))
        if missing:
            name = missing.group(1)
            registered = re.search(rf"'class_name': '{re.escape(name)}'.*?'registered_name': '([^']+)'", str(exc))
            key = registered.group(1) if registered else name  # 'package>Name' for a registered class
            raise ComponentError(
                f"ctx.load_base_model(): Keras cannot load the base model: it uses {key!r}, which is not "
                f"registered in this process; import the module that defines it in your training module, or "
                f"pass it: ctx.load_base_model(custom_objects={{{key!r}: {name}}})"
            ) from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ComponentError(
            f"ctx.load_base_model(): Keras cannot load the base model ({type(exc).__name__}: {first[:300]}); "
            "check that it was saved by Keras 3 (model.save('base.keras'))"
        ) from exc
