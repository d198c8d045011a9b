"""``${params.x}``, ``${env:VAR}`` and ``--set a.b=c``: turning the file into final values.

Two trees come out of interpolation: the *resolved* one that components get,
and the *display* one recorded in the metadata store and shown in logs, in
which every value read from the environment is still its ``${env:VAR}``
reference. Environment values may be secrets; they must never be written
anywhere, so they are also collected for redaction.

A ``params:`` entry may itself hold ``${...}`` (``token: ${env:TOKEN}``), so
``${params.token}`` resolves that entry in turn, with the same secrecy: a
value that came from the environment through any number of parameters is
still shown as its ``${env:VAR}`` reference.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from headrace.components.problems import Problem, problem
from headrace.components.suggestions import did_you_mean

Path = tuple[str | int, ...]

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_ENV = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.S)
_PARAMS = re.compile(r"^params((?:\.[^.]+)+)$")
MIN_SECRET_LENGTH = 4
"""Shorter environment values are not redacted: masking every "1" or "yes" in logs helps nobody."""


@dataclass
class InterpolationProblem:
    """A ``${...}`` that cannot be resolved: the problem (message and hint) and the path it belongs at.

    Interpolation knows paths in the document, not lines: the loader places
    ``problem`` at ``place``'s line and column.
    """

    path: Path
    """Where the value is used (its resolution failed)."""
    problem: Problem
    written_at: Path | None = None
    """Where the faulty text was written, when that is not ``path``: a ``params:`` entry reached through ``${params.x}``."""

    @property
    def place(self) -> Path:
        return self.written_at if self.written_at is not None else self.path


@dataclass
class Interpolated:
    resolved: Any
    display: Any
    secrets: dict[str, str] = field(default_factory=dict)
    """Environment value -> the ``${env:VAR}`` reference that read it."""
    env_paths: set[Path] = field(default_factory=set)
    """Paths whose value was (partly) read from the environment."""
    problems: list[InterpolationProblem] = field(default_factory=list)
    resolving: list[tuple[str, ...]] = field(default_factory=list)
    """The ``params:`` entries being resolved, outermost first: a reference back into them is a cycle."""


def interpolate(value: Any, params: Mapping[str, Any], environ: Mapping[str, str], path: Path = ()) -> Interpolated:
    """Resolve every ``${...}`` in the strings of ``value`` (keys are left alone)."""
    result = Interpolated(resolved=None, display=None)
    result.resolved, result.display = _walk(value, params, environ, path, result)
    return result


def _walk(
    value: Any, params: Mapping[str, Any], environ: Mapping[str, str], path: Path, out: Interpolated
) -> tuple[Any, Any]:
    if isinstance(value, dict):
        resolved: dict[str, Any] = {}
        display: dict[str, Any] = {}
        for key, item in value.items():
            resolved[key], display[key] = _walk(item, params, environ, (*path, key), out)
        return resolved, display
    if isinstance(value, list):
        pairs = [_walk(item, params, environ, (*path, i), out) for i, item in enumerate(value)]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    if isinstance(value, str) and "${" in value:
        return _string(value, params, environ, path, out)
    return value, value


def _string(
    text: str, params: Mapping[str, Any], environ: Mapping[str, str], path: Path, out: Interpolated
) -> tuple[Any, Any]:
    matches = list(_REFERENCE.finditer(text))
    whole = len(matches) == 1 and matches[0].group(0) != "$${" and matches[0].span() == (0, len(text))
    resolved_parts: list[str] = []
    display_parts: list[str] = []
    position = 0
    for match in matches:
        resolved_parts.append(text[position : match.start()])
        display_parts.append(text[position : match.start()])
        position = match.end()
        if match.group(0) == "$${":
            resolved_parts.append("${")
            display_parts.append("$${")
            continue
        value, shown, from_env = _reference(match.group(1), match.group(0), params, environ, path, out)
        if from_env:
            out.env_paths.add(path)
        if whole:
            if from_env:
                return value, shown
            return copy.deepcopy(value), copy.deepcopy(value)
        rendered = value if isinstance(value, str) else json.dumps(value, default=str)
        resolved_parts.append(rendered)
        display_parts.append((shown if isinstance(shown, str) else match.group(0)) if from_env else rendered)
    resolved_parts.append(text[position:])
    display_parts.append(text[position:])
    return "".join(resolved_parts), "".join(display_parts)


def _reference(
    expression: str, written: str, params: Mapping[str, Any], environ: Mapping[str, str], path: Path, out: Interpolated
) -> tuple[Any, Any, bool]:
    """The value of one ``${expression}``, how it is shown, and whether it came from the environment.

    A value read from the environment is shown as the reference that read it
    (``${env:VAR}``), never as itself.
    """
    expression = expression.strip()
    env = _ENV.match(expression)
    if env:
        name, default = env.group(1), env.group(2)
        if name in environ:
            value = environ[name]
            if len(value) >= MIN_SECRET_LENGTH:
                out.secrets[value] = f"${{env:{name}}}"
            return value, written, True
        if default is not None:
            return default, written, True
        out.problems.append(
            InterpolationProblem(
                path,
                problem(
                    f"environment variable {name!r} is not set (needed by {written!r})",
                    f"export {name}=..., or give a default: ${{env:{name}:-value}}",
                ),
            )
        )
        return written, written, True
    reference = _PARAMS.match(expression)
    if reference:
        current: Any = params
        walked = "params"
        for part in reference.group(1)[1:].split("."):
            if isinstance(current, Mapping) and part in current:
                current = current[part]
            elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
                current = current[int(part)]
            else:
                known = list(current) if isinstance(current, Mapping) else []
                hint = did_you_mean(part, known)
                if hint is None:
                    hint = (
                        f"{walked} has: {', '.join(map(str, known))}"
                        if known
                        else "define it under 'params:' at the top of the file"
                    )
                out.problems.append(
                    InterpolationProblem(
                        path, problem(f"unknown parameter {walked + '.' + part!r} in {written!r}", hint)
                    )
                )
                return written, written, False
            walked += "." + part
        return _parameter_value(current, ("params", *reference.group(1)[1:].split(".")), params, environ, path, out)
    out.problems.append(
        InterpolationProblem(
            path,
            problem(
                f"cannot interpolate {written!r}",
                "use ${params.NAME}, ${env:VAR} or ${env:VAR:-default}; write $${ for a literal ${",
            ),
        )
    )
    return written, written, False


def _parameter_value(
    value: Any, where: Path, params: Mapping[str, Any], environ: Mapping[str, str], path: Path, out: Interpolated
) -> tuple[Any, Any, bool]:
    """A ``params:`` entry's value, itself interpolated: ``params: {tok: ${env:X}}`` gives X's value, still a secret.

    ``where`` is the entry's path (``("params", "tok")``); an entry that refers
    back to one being resolved is a cycle, reported where the cycle starts.
    """
    if not _has_reference(value):
        return value, value, False
    key = tuple(str(p) for p in where)
    if key in out.resolving:
        cycle = [*out.resolving[out.resolving.index(key) :], key]
        out.problems.append(
            InterpolationProblem(
                path,
                problem(
                    f"parameters refer to each other in a cycle: {' -> '.join('.'.join(p) for p in cycle)}",
                    "give one of them a value that does not refer back",
                ),
                _path_in_file(cycle[0], params),
            )
        )
        return None, None, False
    inner = Interpolated(resolved=None, display=None, resolving=[*out.resolving, key])
    inner.resolved, inner.display = _walk(value, params, environ, _path_in_file(key, params), inner)
    out.secrets.update(inner.secrets)
    for found in inner.problems:  # reported where the entry was written; the use is unresolved
        out.problems.append(InterpolationProblem(path, found.problem, found.place))
    return inner.resolved, inner.display, bool(inner.env_paths)


def _has_reference(value: Any) -> bool:
    if isinstance(value, str):
        return "${" in value
    if isinstance(value, dict):
        return any(_has_reference(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_reference(v) for v in value)
    return False


def _path_in_file(key: tuple[str, ...], params: Mapping[str, Any]) -> Path:
    """``("params", "items", "0")`` as the file's path (list indices are ints), for line:column."""
    path: list[str | int] = []
    current: Any = {"params": params}
    for part in key:
        if isinstance(current, list) and part.isdigit():
            path.append(int(part))
            current = current[int(part)] if int(part) < len(current) else None
        else:
            path.append(part)
            current = current.get(part) if isinstance(current, Mapping) else None
    return tuple(path)


# ---------------------------------------------------------------------------------------------
# --set overrides


class OverrideError(Exception):
    """A ``--set`` option that cannot apply; its problem is placed at the option (``--set KEY``)."""

    def __init__(self, key: str, message: str, hint: str | None = None) -> None:
        self.problem = Problem(f"--set {key}", 0, 0, message, hint)
        super().__init__(self.problem.render())


@dataclass
class Override:
    text: str
    key: str
    path: Path
    raw: str
    value: Any


TOP_LEVEL_KEYS = ("name", "root", "metadata", "mlflow", "beam", "kubeflow", "params", "components")
COMPONENT_KEYS = ("type", "inputs", "params", "cache", "retries", "description", "resources")
_FREE_FORM = {"params"}
"""Top-level sections where ``--set`` may create keys that are not in the file yet."""


def parse_override(text: str, data: Mapping[str, Any]) -> Override:
    """Split ``KEY=VALUE`` and check that KEY is a path that may exist in ``data``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise OverrideError(text, f"malformed override {text!r}: expected KEY=VALUE", "e.g. --set params.label=island")
    parts = key.split(".")
    if any(not p for p in parts):
        raise OverrideError(key, f"malformed override key {key!r}: empty segment", "e.g. params.label")
    head = parts[0]
    raw_params = data.get("params")
    params: Mapping[str, Any] = raw_params if isinstance(raw_params, Mapping) else {}
    if head not in TOP_LEVEL_KEYS:
        if head in params:
            parts = ["params", *parts]
        else:
            hint = did_you_mean(head, [*TOP_LEVEL_KEYS, *params])
            raise OverrideError(
                key,
                f"cannot set {key!r}: {head!r} is neither a top-level key nor a parameter",
                hint or f"top-level keys: {', '.join(TOP_LEVEL_KEYS)}",
            )
    if parts[0] == "components":
        raw_components = data.get("components")
        components: Mapping[str, Any] = raw_components if isinstance(raw_components, Mapping) else {}
        if len(parts) < 3:
            raise OverrideError(
                key,
                f"cannot set {key!r}: name a key of one component",
                "e.g. components.ingest.params.source=other.csv",
            )
        if parts[1] not in components:
            raise OverrideError(
                key,
                f"cannot set {key!r}: there is no component {parts[1]!r}",
                did_you_mean(parts[1], components) or f"components: {', '.join(components)}",
            )
        if parts[2] not in COMPONENT_KEYS:
            raise OverrideError(
                key,
                f"cannot set {key!r}: {parts[2]!r} is not a component key",
                did_you_mean(parts[2], COMPONENT_KEYS) or f"keys: {', '.join(COMPONENT_KEYS)}",
            )
    path = tuple(parts)
    existing, found = _lookup(data, path)
    if found and isinstance(existing, str):
        value: Any = raw
    else:
        try:
            value = yaml.safe_load(raw) if raw.strip() else raw
        except yaml.YAMLError:
            value = raw
        if isinstance(value, (dict, list)) is False and not isinstance(value, (str, int, float, bool, type(None))):
            value = raw  # dates and other YAML specials stay text; pydantic parses them where wanted
    return Override(text=text, key=key, path=path, raw=raw, value=value)


def _lookup(data: Any, path: Path) -> tuple[Any, bool]:
    current = data
    for part in path:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and str(part).isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None, False
    return current, True


def apply_override(data: dict[str, Any], override: Override) -> None:
    """Write ``override.value`` at its path, creating mappings below existing ones."""
    current: Any = data
    walked: list[str] = []
    for part in override.path[:-1]:
        walked.append(str(part))
        if isinstance(current, dict):
            if part not in current or current[part] is None:
                current[part] = {}
            current = current[part]
        elif isinstance(current, list) and str(part).isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            raise OverrideError(
                override.key,
                f"cannot set {override.key!r}: {'.'.join(walked[:-1])!r} is {_kind(current)}, not a mapping",
            )
        if not isinstance(current, (dict, list)):
            raise OverrideError(
                override.key, f"cannot set {override.key!r}: {'.'.join(walked)!r} is {_kind(current)}, not a mapping"
            )
    last = override.path[-1]
    if isinstance(current, dict):
        current[last] = override.value
    elif isinstance(current, list) and str(last).isdigit() and int(last) < len(current):
        current[int(last)] = override.value
    else:
        raise OverrideError(override.key, f"cannot set {override.key!r}: no such list item")


def _kind(value: Any) -> str:
    return {
        str: "a string",
        int: "a number",
        float: "a number",
        bool: "a boolean",
        list: "a list",
        type(None): "empty",
    }.get(type(value), type(value).__name__)
