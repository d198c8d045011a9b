"""The pusher's second tree: a Keras model as a SavedModel in TF Serving's layout, ``<push_dir>/<model_name>/<N>/``.

TF Serving watches one folder per model (``--model_base_path``, in the
``tensorflow/serving`` image ``/models/$MODEL_NAME``) holding numbered
versions, each a SavedModel. The pusher's MLflow versions live at
``<push_dir>/<N>/``; the SavedModel of the same model gets the same number,
``<push_dir>/<model_name>/<N>/``, so "version 3" means one model in both
servers. Its ``serving_default`` signature takes the raw columns the model
reads (``info.required_columns``; ``headrace.components.tensorflow.serving_model``). A model name is not a
number, so ``headrace serve <push_dir>`` and the version count never take
the model folder for a version.

Only a Keras model has one; this module imports TensorFlow only when it
writes one (inside :func:`write`), never for other models. A transform with
no Keras form (``NotExpressibleInKeras``: a ``preprocessing_fn``,
``hash_bucket``, ...) or an environment without TensorFlow gives a refusal,
in words, and the MLflow model is pushed all the same.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass

from headrace.components.files import filesystem
from headrace.components.paths import is_uri
from headrace.components.pusher.versions import join_version, place

SAVED_MODEL_FILE = "saved_model.pb"
MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
"""What TF Serving takes as a model name and a REST path segment (``/v1/models/<name>:predict``) takes as is."""


def model_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a TF Serving model name folder beside the versions, or None when it can."""
    if not MODEL_NAME.match(name):
        return (
            f"{name!r} is not a TF Serving model name: use letters, digits and _ . - (not first . or -), "
            "e.g. penguin_keras"
        )
    if name.isdigit():
        return f"{name!r} is a number: the folder would be taken for a version of the MLflow model; e.g. model_{name}"
    return None


def default_model_name(pipeline: str) -> str:
    """The pipeline's name as a TF Serving model name: other characters become ``_``; never empty or a number."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", pipeline).lstrip(".-")
    if not name:
        return "model"
    return f"model_{name}" if name.isdigit() else name


def model_dir(push_dir: str, model_name: str) -> str:
    """``<push_dir>/<model_name>``, TF Serving's model base path (absolute for a local path)."""
    if is_uri(push_dir):
        return f"{push_dir.rstrip('/')}/{model_name}"
    return os.path.join(os.path.abspath(push_dir), model_name)


def exists(path: str) -> bool:
    """Whether a complete SavedModel is at ``path`` (its ``saved_model.pb``: renamed in last, never half there)."""
    import pyarrow.fs as pafs

    fs, base = filesystem(path)
    return bool(fs.get_file_info(f"{base.rstrip('/')}/{SAVED_MODEL_FILE}").type == pafs.FileType.File)


@dataclass(frozen=True)
class SavedModelPush:
    path: str | None  # <push_dir>/<model_name>/<version>; None when refused
    refused: str | None  # why there is none, in words
    new: bool  # written now (False: that version already had it, or refused)


def push_saved_model(model_uri: str, push_dir: str, model_name: str, version: int, *, replace: bool) -> SavedModelPush:
    """The SavedModel of the Keras model at ``model_uri`` as version ``version`` of ``model_name`` under ``push_dir``.

    ``replace``: the MLflow version was written just now, so a SavedModel
    already at that number is stale (its MLflow twin was deleted) and is
    replaced; otherwise one that exists is kept (an earlier push of this very
    model wrote it). Raises ``versions.PushDirError`` when the folder cannot
    be written.
    """
    parent = model_dir(push_dir, model_name)
    target = join_version(parent, version)
    if not replace and exists(target):
        return SavedModelPush(target, None, new=False)
    from headrace.components.tensorflow import TensorFlowNotInstalled, require_tensorflow

    try:
        require_tensorflow("the SavedModel for TF Serving")
    except TensorFlowNotInstalled as exc:
        return SavedModelPush(None, f"{exc}; the MLflow model is pushed all the same", new=False)
    from headrace.components.model_package import load_model
    from headrace.components.tensorflow.serving_model import export_saved_model
    from headrace.components.tensorflow.transform_layers import NotExpressibleInKeras

    packaged = load_model(model_uri)
    with tempfile.TemporaryDirectory(prefix="headrace-saved-model-") as scratch:
        exported = os.path.join(scratch, "saved_model")
        try:
            export_saved_model(packaged, exported)
        except NotExpressibleInKeras as exc:
            return SavedModelPush(None, str(exc), new=False)
        place(exported, parent, version)
    return SavedModelPush(target, None, new=True)
