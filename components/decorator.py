"""``@component``: a typed Python function is the whole contract.

Arguments annotated with an artifact type are inputs (``X | None`` makes one
optional), arguments annotated ``Output[X]`` are outputs, an argument annotated
``Context`` receives the execution context, and every other argument is a
parameter whose type and default become a pydantic model. The function stays
a plain function that tests can call directly::

    @component
    def summarize(examples: Examples, summary: Output[Report], min_rows: int = 1) -> dict:
        ...
        return {"rows": n}          # numbers returned in a dict are logged as metrics
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from pydantic import ConfigDict, create_model

from headrace.components.artifacts import Artifact
from headrace.components.contract import Component, Context, Input

A = TypeVar("A", bound=Artifact)

COMPONENT_ATTRIBUTE = "__headrace_component__"


class Output(Generic[A]):
    """Annotation for an output port of a decorated function: ``model: Output[Model]``."""


def _artifact_class(hint: Any) -> tuple[type[Artifact] | None, bool]:
    """``(artifact class, optional)`` for an input annotation, ``(None, False)`` if not an artifact."""
    if inspect.isclass(hint) and issubclass(hint, Artifact):
        return hint, False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(members) == 1 and inspect.isclass(members[0]) and issubclass(members[0], Artifact):
            return members[0], True
    return None, False


def component(
    fn: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    version: str = "1",
    requires: tuple[str, ...] = (),
) -> Any:
    """Turn a typed function into a component; usable bare (``@component``) or with options."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        setattr(func, COMPONENT_ATTRIBUTE, _component_class(func, name, version, requires))
        return func

    return wrap(fn) if fn is not None else wrap


def _component_class(
    func: Callable[..., Any], name: str | None, version: str, requires: tuple[str, ...]
) -> type[Component]:
    hints = typing.get_type_hints(func, include_extras=True)
    signature = inspect.signature(func)
    inputs: dict[str, Input] = {}
    outputs: dict[str, type[Artifact]] = {}
    fields: dict[str, Any] = {}
    context_arg: str | None = None
    where = f"{func.__module__}.{func.__qualname__}"
    for arg, param in signature.parameters.items():
        if arg not in hints:
            raise TypeError(f"@component {where}: argument {arg!r} needs a type annotation")
        hint = hints[arg]
        if typing.get_origin(hint) is Output:
            (out_type,) = typing.get_args(hint)
            outputs[arg] = out_type
        elif hint is Context or typing.get_origin(hint) is Context:
            context_arg = arg
        else:
            art, optional = _artifact_class(hint)
            if art is not None:
                inputs[arg] = Input(art, optional=optional)
            else:
                default = param.default if param.default is not inspect.Parameter.empty else ...
                fields[arg] = (hint, default)
    params_model = create_model(f"{func.__name__}_parameters", __config__=ConfigDict(extra="forbid"), **fields)

    def run(self: Component[Any], ctx: Context[Any]) -> None:
        kwargs: dict[str, Any] = {}
        kwargs.update({k: ctx.inputs.get(k) for k in inputs})
        kwargs.update(ctx.outputs)
        kwargs.update({k: getattr(ctx.params, k) for k in fields})
        if context_arg:
            kwargs[context_arg] = ctx
        result = func(**kwargs)
        if isinstance(result, dict):
            for key, value in result.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    ctx.metrics.log(key, value)

    attrs = {
        "type": name or f"{func.__module__}:{func.__qualname__}",
        "version": version,
        "description": inspect.getdoc(func) or "",
        "inputs": inputs,
        "outputs": outputs,
        "Parameters": params_model,
        "requires": tuple(requires),
        "code_file": inspect.getsourcefile(func),
        "run": run,
        "__module__": func.__module__,
        "__doc__": func.__doc__,
    }
    return type(func.__name__, (Component,), attrs)
