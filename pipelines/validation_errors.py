"""Pydantic validation errors as a person reads them: at the place written, with the allowed keys.

Pydantic says *what* is wrong at a ``loc`` of the validated data; this turns
that into a ``SpecIssue`` at the line and column of the file (or the
``--set`` option) that wrote it, with a did-you-mean for unknown keys.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from headrace.pipelines.interpolation import did_you_mean
from headrace.pipelines.spec_issues import Path, SpecProblems, dotted, set_at, where


def validate(model: type[BaseModel], data: Any, prefix: Path, problems: SpecProblems) -> Any:
    """``model`` validated from ``data`` (found at ``prefix`` of the file), or None after recording errors."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [dict(e) for e in exc.errors(include_url=False)]
    except Exception as exc:  # a user validator that raised something pydantic does not wrap
        problems.at(
            prefix, f"validating {'.'.join(map(str, prefix)) or 'the file'} failed: {type(exc).__name__}: {exc}"
        )
        return None
    if retry_overrides_as_text(data, errors, prefix, problems):
        return validate(model, data, prefix, problems)
    for error in errors:
        report_validation_error(model, data, prefix, error, problems)
    return None


def retry_overrides_as_text(data: Any, errors: list[dict[str, Any]], prefix: Path, problems: SpecProblems) -> bool:
    """``--set x=1.0`` on a string field means the text "1.0": the schema decides, not YAML."""
    changed = False
    for error in errors:
        if error["type"] != "string_type":
            continue
        relative = data_path(data, error["loc"])
        override = problems.overrides.get(prefix + relative)
        if override is not None and not isinstance(override.value, str):
            set_at(data, relative, override.raw)
            override.value = override.raw
            changed = True
    return changed


def report_validation_error(
    model: type[BaseModel], data: Any, prefix: Path, error: dict[str, Any], problems: SpecProblems
) -> None:
    loc = tuple(error["loc"])
    kind = error["type"]
    if loc and loc[-1] == "[key]":
        relative = data_path(data, loc[:-1])
        path = prefix + relative
        message = error["msg"].removeprefix("Value error, ")
        problems.at(path, f"invalid name {str(path[-1])!r} {where(path[:-1])}: {message}", key=True)
        return
    relative = data_path(data, loc)
    path = prefix + relative
    if path in problems.unresolved:
        return  # already reported: the ${...} that should have produced this value
    if kind == "extra_forbidden":
        allowed = allowed_keys(model, relative[:-1])
        hint = did_you_mean(path[-1], allowed) or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
        problems.at(path, f"unknown key {str(path[-1])!r} {where(path[:-1])}", hint, key=True)
    elif kind == "missing":
        problems.at(path[:-1], f"missing required key {str(path[-1])!r} {where(path[:-1])}", key=True)
    else:
        message = error["msg"].removeprefix("Value error, ")
        got = error.get("input")
        quoted = f" (got {_short(got)})" if got is not None and not isinstance(got, (dict, list)) else ""
        if "got " in message:
            quoted = ""
        problems.at(path, f"invalid value for '{dotted(path)}': {message}{quoted}")


def data_path(data: Any, loc: Sequence[Any]) -> Path:
    """The part of a pydantic ``loc`` that names places in ``data`` (drops union tags and the like)."""
    path: list[Any] = []
    current = data
    for i, part in enumerate(loc):
        if (isinstance(current, dict) and part in current) or (
            isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        ):
            current = current[part]
            path.append(part)
        elif i == len(loc) - 1 and isinstance(current, dict) and isinstance(part, str):
            path.append(part)  # a missing or unknown key: it is not in the data, but it is the place
    return tuple(path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def allowed_keys(model: type[BaseModel], path: Path) -> list[str]:
    """Field names of the model that validates the mapping at ``path`` (relative to ``model``)."""
    current: Any = model
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) or next(
                (f for f in current.model_fields.values() if f.alias == part), None
            )
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (dict, Mapping):
            current = typing.get_args(current)[1] if typing.get_args(current) else Any
        elif typing.get_origin(current) in (list, tuple, set, frozenset, Sequence):
            args = typing.get_args(current)
            current = args[0] if args else Any
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """``Annotated[X, ...]`` -> X; ``X | None`` -> X (the first model member of a union)."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
            continue
        if origin is typing.Union or origin is types.UnionType:
            members = [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            annotation = (models or members or [Any])[0]
            continue
        return annotation
