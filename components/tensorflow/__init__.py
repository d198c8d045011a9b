"""The TensorFlow path, behind ``pip install 'headrace[tensorflow]'``: nothing here is imported by the core.

- ``datasets.tf_dataset``: a ``tf.data.Dataset`` of ``(features, label)`` streamed from Arrow RecordBatches
  (an Examples split), never materialising the split.
- ``transform_layers.transform_model``: a fitted TransformGraph rebuilt as Keras preprocessing layers, a
  functional model ``raw features -> transformed features`` to put in front of a Keras model, so its SavedModel
  takes raw features the way a tf.Transform graph does in TFX.
- ``tensors``: how Arrow columns become tensors (dtypes and the encoding of nulls), shared by both, so a model
  trained on ``tf_dataset`` of transformed examples gets the same tensors from ``transform_model`` at serving.

- ``serving_model``: a packaged Keras model as one SavedModel over raw features; ``tflite_export``: the same as a
  TensorFlow Lite file (the trainer's ``export: tflite``).

This ``__init__`` imports neither TensorFlow nor its sibling modules: the core may call
:func:`require_tensorflow` or :func:`missing_tflite_packages` to fail validation early with the extra to install.
"""

from __future__ import annotations

import importlib.metadata

from headrace.components.installed import importable
from headrace.components.problems import ProblemError

INSTALL = "pip install 'headrace[tensorflow]'"


class TensorFlowNotInstalled(ProblemError):
    """The TensorFlow path was asked for where TensorFlow or Keras 3 is not installed."""


def tensorflow_missing() -> str | None:
    """Why the TensorFlow path cannot run here (``"tensorflow is not installed here"``), or None when it can.

    Looks the packages up without importing them (importing TensorFlow costs seconds), so validation may ask.
    """
    missing = [name for name in ("tensorflow", "keras") if not importable(name)]
    if missing:
        return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed here"
    keras_version = importlib.metadata.version("keras")
    if int(keras_version.split(".")[0]) < 3:
        return f"Keras {keras_version} is installed here, not Keras 3"
    return None


def require_tensorflow(what: str) -> None:
    """Raise :class:`TensorFlowNotInstalled` naming ``what`` and the extra when TensorFlow or Keras 3 is missing."""
    why = tensorflow_missing()
    if why is not None:
        raise TensorFlowNotInstalled(f"{what} needs TensorFlow and Keras 3, but {why}; install the extra: {INSTALL}")


def missing_tflite_packages() -> list[str]:
    """The packages ``export: tflite`` needs (TensorFlow, Keras, LiteRT's interpreter) that cannot be imported."""
    needed = {"tensorflow": "tensorflow", "keras": "keras", "ai_edge_litert": "ai-edge-litert"}
    return [distribution for module, distribution in needed.items() if not importable(module)]


def missing_tensorflow(module: str, exc: ImportError) -> TensorFlowNotInstalled:
    """The error a module of this package raises when importing TensorFlow or Keras fails."""
    return TensorFlowNotInstalled(f"{module} needs TensorFlow and Keras 3 ({exc}); install the extra: {INSTALL}")
