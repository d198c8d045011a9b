"""Find a component class by the ``type`` written in a pipeline file.

Built-ins are registered by short name and imported lazily, so naming
``ingest`` does not import Beam at CLI start-up. Anything else is an import
path, ``pkg.module:Name`` or ``path/to/file.py:Name`` (relative to the pipeline
file), naming a ``Component`` subclass or a function decorated with
``@component``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from typing import Any

from headrace.components.contract import Component
from headrace.components.decorator import COMPONENT_ATTRIBUTE

BUILTINS: dict[str, str] = {
    "ingest": "headrace.components.ingest.component:Ingest",
    "importer": "headrace.components.importer.component:ImporterComponent",
    "statistics": "headrace.components.validator.statistics_component:StatisticsComponent",
    "schema": "headrace.components.validator.schema_component:SchemaComponent",
    "validator": "headrace.components.validator.validator_component:ValidatorComponent",
    "transform": "headrace.components.transform.component:TransformComponent",
    "trainer": "headrace.components.trainer.component:TrainerComponent",
    "evaluator": "headrace.components.evaluator.component:EvaluatorComponent",
    "infra_validator": "headrace.components.pusher.infra_validator:InfraValidatorComponent",
    "pusher": "headrace.components.pusher.component:PusherComponent",
}


class ComponentNotFound(LookupError):
    """The ``type`` of a component names nothing importable; the message says why."""


def builtin_names() -> list[str]:
    return sorted(BUILTINS)


def is_import_path(type_name: str) -> bool:
    return ":" in type_name


def load_component(type_name: str, base_dir: str = ".") -> type[Component]:
    """The component class for a ``type`` value; raises ``ComponentNotFound`` with the reason."""
    if type_name in BUILTINS:
        return _import_object(BUILTINS[type_name], base_dir)
    if not is_import_path(type_name):
        raise ComponentNotFound(
            f"unknown component type {type_name!r}: not a built-in ({', '.join(builtin_names())}) "
            "and not an import path like 'my_pkg.module:MyComponent'"
        )
    return _import_object(type_name, base_dir)


def _import_object(path: str, base_dir: str) -> type[Component]:
    module_part, _, attr = path.rpartition(":")
    if not module_part or not attr:
        raise ComponentNotFound(f"{path!r} is not an import path of the form 'module:Name'")
    module = _import_module(module_part, base_dir)
    try:
        obj: Any = getattr(module, attr)
    except AttributeError:
        names = [n for n in vars(module) if not n.startswith("_")]
        raise ComponentNotFound(
            f"module {module_part!r} has no attribute {attr!r} (it defines: {', '.join(sorted(names)[:20])})"
        ) from None
    decorated = getattr(obj, COMPONENT_ATTRIBUTE, None)
    if decorated is not None:
        return decorated
    if inspect.isclass(obj) and issubclass(obj, Component):
        if not obj.code_file and not module.__name__.startswith("headrace.components."):
            obj.code_file = inspect.getsourcefile(obj)
        return obj
    raise ComponentNotFound(f"{path!r} is neither a Component subclass nor a function decorated with @component")


def _import_module(module_part: str, base_dir: str) -> Any:
    search_dir = os.path.abspath(base_dir)
    if module_part.endswith(".py") or "/" in module_part or os.sep in module_part:
        file = os.path.join(search_dir, module_part)
        if not os.path.isfile(file):
            raise ComponentNotFound(f"no such file {file!r}")
        search_dir = os.path.dirname(os.path.abspath(file))
        module_part = os.path.splitext(os.path.basename(file))[0]
    if search_dir in sys.path:
        sys.path.remove(search_dir)
    sys.path.insert(0, search_dir)
    _forget_if_shadowed(module_part, search_dir)
    try:
        return importlib.import_module(module_part)
    except ModuleNotFoundError as exc:
        if exc.name and module_part.startswith(exc.name):
            raise ComponentNotFound(
                f"cannot import module {module_part!r} (searched the pipeline's folder {search_dir} and sys.path)"
            ) from None
        raise ComponentNotFound(f"importing {module_part!r} failed: {exc}") from exc
    except Exception as exc:  # a user module that fails at import time
        raise ComponentNotFound(f"importing {module_part!r} failed: {type(exc).__name__}: {exc}") from exc


def _forget_if_shadowed(module_name: str, base_dir: str) -> None:
    """Drop cached modules of the same name that came from another folder.

    Two pipelines in one process (tests, a notebook) may each have a ``steps.py``
    or a ``mypkg/steps.py``; the one next to the pipeline file being loaded must
    win. For a dotted name the top-level package decides: if ``mypkg`` was
    imported from another folder, ``mypkg`` and every ``mypkg.*`` are dropped,
    or ``mypkg.steps`` would be found again through the old package's path.
    """
    top = module_name.split(".", 1)[0]
    loaded = sys.modules.get(top)
    if loaded is None or top == "headrace":
        return
    local_dir = os.path.join(base_dir, top)
    local_file = local_dir + ".py"
    if os.path.isdir(local_dir):
        init = getattr(loaded, "__file__", None)
        locations = [os.path.dirname(init)] if init else []
        locations += [str(p) for p in getattr(loaded, "__path__", [])][:1]
        same = bool(locations) and os.path.realpath(locations[0]) == os.path.realpath(local_dir)
    elif os.path.isfile(local_file):
        same = os.path.realpath(getattr(loaded, "__file__", "") or "") == os.path.realpath(local_file)
    else:
        return  # nothing of that name next to the pipeline: whatever is loaded stays
    if not same:
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]
