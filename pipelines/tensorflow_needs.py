"""Validation: a pipeline that asks for the TensorFlow path where the extra is not installed fails before it runs.

Without this, such a pipeline would run its data components and fail minutes
later, in the trainer, on ``import keras``. Two things ask for TensorFlow, in
any component: a parameter marked ``NeedsTensorFlow`` set to a value that
needs it (the trainer's TF-only options, an importer of a ``KerasModel``),
and user code (a ``CodePath`` parameter) that imports TensorFlow or Keras,
itself or through the project-local modules it imports (found by reading,
as the cache key's code fingerprint does). Each is reported at its
parameter's line, with the extra to install. Nothing is imported here: when
the extra is installed, all this costs two ``find_spec`` calls.
"""

from __future__ import annotations

import os
from typing import Any

from headrace.components.contract import CodeReference, NeedsTensorFlow, ParameterProblem
from headrace.components.paths import is_uri, resolve_path
from headrace.components.tensorflow import INSTALL, tensorflow_missing
from headrace.pipelines.cache import field_has, field_marker, leaf_paths
from headrace.pipelines.fingerprints import code_closure_files, top_level_imports

TENSORFLOW_MODULES = ("tensorflow", "keras", "tf_keras")
HINT = f"install the extra: {INSTALL}"


def tensorflow_problems(params: Any, base_dir: str) -> list[ParameterProblem]:
    """Where ``params`` ask for TensorFlow, when TensorFlow or Keras 3 is not installed here; else nothing."""
    why = tensorflow_missing()
    if why is None or params is None:
        return []
    problems: list[ParameterProblem] = []
    for name, field in type(params).model_fields.items():
        value = getattr(params, name, None)
        marker = field_marker(field, NeedsTensorFlow)
        if marker is not None and marker.asks(value):
            said = f"{name}: {value}" if isinstance(value, (str, int, float)) else name
            problems.append(ParameterProblem((name,), f"{said} needs TensorFlow and Keras 3, but {why}", HINT))
        if field_has(field, CodeReference) and value is not None:
            for _, keys, leaf in leaf_paths(value, name):
                found = _tensorflow_import(leaf, base_dir)
                if found:
                    problems.append(
                        ParameterProblem(
                            tuple(keys), f"{found}, and that needs TensorFlow and Keras 3, but {why}", HINT
                        )
                    )
    return problems


def _tensorflow_import(module: str, base_dir: str) -> str | None:
    """``model.py imports keras`` (or ``... through nets.py``) when the module's code imports TensorFlow."""
    if is_uri(module):
        return None
    entry = resolve_path(module, base_dir)
    if not os.path.isfile(entry):
        return None  # the component's own check says so
    closure = code_closure_files(entry, [base_dir, os.getcwd()])
    for path in sorted(closure, key=lambda p: not os.path.samefile(p, entry)):  # the module itself first
        used = sorted(top_level_imports(path) & set(TENSORFLOW_MODULES))
        if used:
            through = "" if os.path.samefile(path, entry) else f" through {os.path.relpath(path, base_dir)}"
            return f"{module} imports {' and '.join(used)}{through}"
    return None
