"""The user's training module: checked by reading it before the run, imported and called during it.

Before the run (``validate``) the file is parsed, never imported: a missing
file, a syntax error or an entrypoint the module does not define is reported
at the parameter's line in the pipeline file, with a did-you-mean.

At run time the module is imported under a name derived from its content,
so two pipelines' ``model.py`` never shadow each other in one process, and
it is registered with cloudpickle *by value*, with the project-local modules
it imports: an estimator class defined there travels inside the saved model,
which then loads where the user's code is not importable (a serving
container). cloudpickle tags a class pickled by value with a random id; it
is derived from the module's content here instead, so the same code and data
give the same model bytes.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import os
import re
import sys
import types
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from headrace.components.contract import ComponentError, ParameterProblem
from headrace.components.paths import is_uri, resolve_path
from headrace.components.suggestions import did_you_mean
from headrace.components.user_code import user_place


def check_module(module: str, entrypoint: str, base_dir: str) -> list[ParameterProblem]:
    """What is wrong with ``module``/``entrypoint`` that reading the file shows (nothing is imported)."""
    if is_uri(module):
        return []  # read where it runs
    path = resolve_path(module, base_dir)
    if not os.path.isfile(path):
        return [ParameterProblem(("module",), f"no such file {module!r} (looked for {path})", _nearby_modules(path))]
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=path)
    except SyntaxError as exc:
        return [
            ParameterProblem(
                ("module",),
                f"{os.path.basename(path)}:{exc.lineno}:{exc.offset}: the module does not parse: {exc.msg}",
            )
        ]
    except (OSError, UnicodeDecodeError) as exc:
        return [ParameterProblem(("module",), f"cannot read {path}: {exc}")]
    defined = _top_level_names(tree)
    if defined is None or entrypoint in defined:
        return []
    functions = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    hint = did_you_mean(entrypoint, functions) or (
        f"it defines: {', '.join(functions)}" if functions else "write def train(ctx): ... returning a fitted model"
    )
    return [ParameterProblem(("entrypoint",), f"{module} defines no function {entrypoint!r}", hint)]


def _top_level_names(tree: ast.Module) -> set[str] | None:
    """Names the module binds at top level; None when a star import makes that unknowable."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            return None  # conditional definitions: leave it to the import
    return names


def _nearby_modules(path: str) -> str | None:
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        return None
    found = sorted(f for f in os.listdir(folder) if f.endswith(".py"))
    near = did_you_mean(os.path.basename(path), found)
    if near:
        return near
    return f"Python files there: {', '.join(found)}" if found else "relative paths are relative to the pipeline file"


class UserModule:
    """The imported training module, its entrypoint, and the modules pickled by value with the model."""

    def __init__(self, path: str, entrypoint: str) -> None:
        self.path = os.path.abspath(path)
        self.entrypoint = entrypoint
        with open(self.path, "rb") as f:
            source = f.read()
        self.digest = hashlib.sha256(source).hexdigest()
        stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(self.path))[0])
        self.name = f"headrace_trainer_{stem}_{self.digest[:12]}"
        self.module, self.local_modules = self._import()
        self.function = self._entrypoint()

    def _import(self) -> tuple[types.ModuleType, list[types.ModuleType]]:
        folder = os.path.dirname(self.path)
        if folder in sys.path:
            sys.path.remove(folder)
        sys.path.insert(0, folder)  # its own helpers first, as when it runs next to the pipeline
        before = set(sys.modules)
        spec = importlib.util.spec_from_file_location(self.name, self.path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[self.name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            del sys.modules[self.name]
            raise ComponentError(
                f"{user_place(exc, self.path)}: importing the training module failed: {type(exc).__name__}: {exc}"
            ) from exc
        local = [
            sys.modules[name]
            for name in sorted(set(sys.modules) - before - {self.name})
            if _inside(getattr(sys.modules[name], "__file__", None), folder)
        ]
        return module, [module, *local]

    def _entrypoint(self) -> Callable[..., Any]:
        function = getattr(self.module, self.entrypoint, None)
        if callable(function):
            return function
        defined = sorted(
            k for k, v in vars(self.module).items() if isinstance(v, types.FunctionType) and not k.startswith("_")
        )
        base = os.path.basename(self.path)
        hint = did_you_mean(self.entrypoint, defined) or f"it defines: {', '.join(defined) or 'no functions'}"
        raise ComponentError(f"{base} defines no function {self.entrypoint!r}; {hint}")

    @property
    def place(self) -> str:
        """``model.py:12``: where the entrypoint is defined."""
        line = getattr(getattr(self.function, "__code__", None), "co_firstlineno", 0)
        return f"{os.path.basename(self.path)}:{line}" if line else os.path.basename(self.path)

    def call(self, ctx: Any) -> Any:
        """The entrypoint's result; an exception it raises (or a ``ctx`` call it makes) becomes an error at its line."""
        try:
            return self.function(ctx)
        except ComponentError as exc:
            place = user_place(exc, self.path)
            if type(exc) is ComponentError and ":" in place and not str(exc).startswith(os.path.basename(self.path)):
                raise ComponentError(f"{place}: {exc}") from exc  # ctx.train.tf_dataset(...) said no: at which line
            raise
        except Exception as exc:
            raise ComponentError(
                f"{user_place(exc, self.path)}: {self.entrypoint} raised {type(exc).__name__}: {exc} "
                "(the traceback is in the component's log: headrace logs RUN_ID COMPONENT)"
            ) from exc

    @contextlib.contextmanager
    def pickled_by_value(self) -> Iterator[None]:
        """While saving: classes and functions of the user's modules are pickled with the model, not by name."""
        import cloudpickle

        for module in self.local_modules:
            _stable_class_ids(module)
            cloudpickle.register_pickle_by_value(module)
        try:
            yield
        finally:
            for module in self.local_modules:
                with contextlib.suppress(ValueError):
                    cloudpickle.unregister_pickle_by_value(module)


def _inside(file: str | None, folder: str) -> bool:
    if not file:
        return False
    real = os.path.realpath(file)
    return real.startswith(os.path.realpath(folder) + os.sep) and "site-packages" not in real


def _stable_class_ids(module: types.ModuleType) -> None:
    """Give each class of ``module`` a cloudpickle tracker id from its module's content instead of a random one.

    Unpickling reuses a live class with the same id, so the id must change whenever the code does.
    """
    try:
        with open(module.__file__ or "", "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return
    try:
        from cloudpickle import cloudpickle as internals

        by_class, by_id, lock = (
            internals._DYNAMIC_CLASS_TRACKER_BY_CLASS,
            internals._DYNAMIC_CLASS_TRACKER_BY_ID,
            internals._DYNAMIC_CLASS_TRACKER_LOCK,
        )
    except (ImportError, AttributeError):  # another cloudpickle: random ids, the model still loads
        return
    with lock:
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__ and value not in by_class:
                tracker = uuid.uuid5(uuid.NAMESPACE_URL, f"headrace:{digest}:{value.__qualname__}").hex
                by_class[value] = tracker
                by_id[tracker] = value
