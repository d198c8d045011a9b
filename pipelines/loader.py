"""From a pipeline file to a validated ``Pipeline``, or every error at once.

Nothing runs before the whole file is checked: keys, parameter values (by
each component's own ``Parameters`` model), component types, wiring, artifact
types, required inputs, cycles and interpolation. Each problem becomes a
``SpecIssue`` at the line and column where it was written, with a
did-you-mean where a near name exists, and all of them are raised together
in one ``PipelineSpecError``: a user fixes a file in one round, not ten.
"""

from __future__ import annotations

import copy
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from headrace.components.contract import Component
from headrace.components.paths import is_uri, resolve_path
from headrace.components.problems import Problem
from headrace.pipelines.graph import Node, Pipeline, Wire, find_cycle, topological_order
from headrace.pipelines.interpolation import (
    Override,
    OverrideError,
    apply_override,
    did_you_mean,
    interpolate,
    parse_override,
)
from headrace.pipelines.marked_yaml import MarkedDocument, YamlSyntaxError, load_marked
from headrace.pipelines.redaction import Redactor
from headrace.pipelines.spec import ComponentSpec, PipelineSpec

Path = tuple[Any, ...]
INTERPOLATED_SECTIONS = ("root", "metadata", "mlflow", "beam", "components")


SpecIssue = Problem
"""One error of a pipeline file: ``file:line:col: error: message`` and a hint (the one problem type of headrace).

``line == 0`` means the problem has no place in the file (a missing file, a
``--set`` option); ``file`` then says what it concerns.
"""


class PipelineSpecError(Exception):
    """Every problem of a pipeline file, found before anything ran."""

    def __init__(self, file: str, errors: list[SpecIssue]) -> None:
        self.file = file
        self.errors = errors
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.errors)
        lines = [issue.render() for issue in self.errors]
        lines.append(f"{count} error{'' if count == 1 else 's'} in {self.file}")
        return "\n".join(lines)


def load_pipeline(path: str, overrides: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> Pipeline:
    """Read, interpolate and validate a pipeline file; raises ``PipelineSpecError`` listing every problem."""
    return _Loading(str(path), list(overrides), os.environ if environ is None else environ).run()


class _Abort(Exception):
    """Nothing more can be checked (no file, no YAML, no mapping)."""


class _Loading:
    def __init__(self, file: str, overrides: list[str], environ: Mapping[str, str]) -> None:
        self.file = file
        self.override_texts = overrides
        self.environ = environ
        self.base_dir = os.path.dirname(os.path.abspath(file))
        self.issues: list[SpecIssue] = []
        self.doc = MarkedDocument(data=None)
        self.overrides: dict[Path, Override] = {}
        self.unresolved: set[Path] = set()
        self.secrets: dict[str, str] = {}

    # -- reporting ------------------------------------------------------------------------------

    def at(self, path: Path, message: str, hint: str | None = None, *, key: bool = False) -> None:
        """Record an issue at the place ``path`` was written (or at the ``--set`` that wrote it)."""
        for override_path, override in self.overrides.items():
            if tuple(path[: len(override_path)]) == override_path:
                self.issues.append(SpecIssue(f"--set {override.key}", 0, 0, message, hint))
                return
        line, column = self.doc.position(path, key=key)
        issue = SpecIssue(self.file, line, column, message, hint)
        if issue not in self.issues:
            self.issues.append(issue)

    def fail(self) -> PipelineSpecError:
        redactor = Redactor(self.secrets)  # a value's error message may quote it, and it may be a secret
        issues = [
            replace(i, message=redactor.text(i.message), hint=i.hint and redactor.text(i.hint)) for i in self.issues
        ]
        ordered = sorted(issues, key=lambda i: (i.line != 0, i.line, i.column))
        return PipelineSpecError(self.file, ordered)

    # -- the steps ------------------------------------------------------------------------------

    def run(self) -> Pipeline:
        try:
            data = self.read()
        except _Abort:
            raise self.fail() from None
        data = self.apply_overrides(data)
        params = _pipeline_params(data)
        resolved, display, secrets, env_paths = self.interpolate(data, params)
        spec = self.validate(PipelineSpec, resolved, ())
        nodes = self.check_components(resolved)
        if self.issues or spec is None or nodes is None:
            raise self.fail()
        return self.build(spec, nodes, display, secrets, env_paths)

    def read(self) -> dict[str, Any]:
        try:
            with open(self.file, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            self.issues.append(SpecIssue(self.file, 0, 0, "no such file"))
            raise _Abort from None
        except IsADirectoryError:
            self.issues.append(SpecIssue(self.file, 0, 0, "is a directory, not a pipeline file"))
            raise _Abort from None
        except OSError as exc:
            self.issues.append(SpecIssue(self.file, 0, 0, f"cannot read the file: {exc.strerror or exc}"))
            raise _Abort from None
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            before = raw[: exc.start].decode("utf-8", errors="replace")
            line = before.count("\n") + 1
            column = len(before) - (before.rfind("\n") + 1) + 1
            self.issues.append(
                SpecIssue(
                    self.file, line, column, f"not UTF-8 text: byte {raw[exc.start]:#04x}", "save the file as UTF-8"
                )
            )
            raise _Abort from None
        try:
            self.doc = load_marked(text)
        except YamlSyntaxError as exc:
            p = exc.problem
            self.issues.append(SpecIssue(self.file, p.line, p.column, p.message, p.hint))
            raise _Abort from None
        for p in self.doc.problems:
            self.issues.append(SpecIssue(self.file, p.line, p.column, p.message, p.hint))
        data = self.doc.data
        if data is None and self.doc.problems:
            raise _Abort
        if data is None:
            self.issues.append(
                SpecIssue(self.file, 1, 1, "the file is empty", "a pipeline needs at least 'name:' and 'components:'")
            )
            raise _Abort
        if not isinstance(data, dict):
            line, column = self.doc.position(())
            kind = "a list" if isinstance(data, list) else f"the value {data!r}"
            self.issues.append(
                SpecIssue(
                    self.file, line, column, f"the top level must be a mapping (name:, components:, ...), found {kind}"
                )
            )
            raise _Abort
        return data

    def apply_overrides(self, data: dict[str, Any]) -> dict[str, Any]:
        if not self.override_texts:
            return data
        data = copy.deepcopy(data)
        for text in self.override_texts:
            try:
                override = parse_override(text, data)
                apply_override(data, override)
            except OverrideError as exc:
                self.issues.append(SpecIssue(f"--set {exc.key}", 0, 0, exc.message, exc.hint))
                continue
            self.overrides[override.path] = override
        return data

    def interpolate(self, data: dict[str, Any], params: Mapping[str, Any]) -> tuple[dict, dict, dict, set]:
        resolved, display = dict(data), dict(data)
        secrets: dict[str, str] = {}
        env_paths: set[Path] = set()
        for section in INTERPOLATED_SECTIONS:
            if section not in data:
                continue
            result = interpolate(data[section], params, self.environ, (section,))
            resolved[section], display[section] = result.resolved, result.display
            secrets.update(result.secrets)
            self.secrets.update(result.secrets)
            env_paths |= result.env_paths
            for problem in result.problems:
                self.unresolved.add(problem.path)
                self.at(problem.place, problem.message, problem.hint)
        return resolved, display, secrets, env_paths

    def validate(self, model: type[BaseModel], data: Any, prefix: Path) -> Any:
        """``model`` validated from ``data`` (found at ``prefix`` of the file), or None after recording errors."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        except Exception as exc:  # a user validator that raised something pydantic does not wrap
            self.at(
                prefix, f"validating {'.'.join(map(str, prefix)) or 'the file'} failed: {type(exc).__name__}: {exc}"
            )
            return None
        if self.retry_overrides_as_text(data, errors, prefix):
            return self.validate(model, data, prefix)
        for error in errors:
            self.report_validation_error(model, data, prefix, error)
        return None

    def retry_overrides_as_text(self, data: Any, errors: Sequence[Mapping[str, Any]], prefix: Path) -> bool:
        """``--set x=1.0`` on a string field means the text "1.0": the schema decides, not YAML."""
        changed = False
        for error in errors:
            if error["type"] != "string_type":
                continue
            relative = _data_path(data, error["loc"])
            override = self.overrides.get(prefix + relative)
            if override is not None and not isinstance(override.value, str):
                _set(data, relative, override.raw)
                override.value = override.raw
                changed = True
        return changed

    def report_validation_error(
        self, model: type[BaseModel], data: Any, prefix: Path, error: Mapping[str, Any]
    ) -> None:
        loc = tuple(error["loc"])
        kind = error["type"]
        if loc and loc[-1] == "[key]":
            relative = _data_path(data, loc[:-1])
            path = prefix + relative
            message = error["msg"].removeprefix("Value error, ")
            self.at(path, f"invalid name {str(path[-1])!r} {_where(path[:-1])}: {message}", key=True)
            return
        relative = _data_path(data, loc)
        path = prefix + relative
        if path in self.unresolved:
            return  # already reported: the ${...} that should have produced this value
        if kind == "extra_forbidden":
            allowed = _allowed_keys(model, relative[:-1])
            hint = did_you_mean(path[-1], allowed) or (f"allowed keys: {', '.join(allowed)}" if allowed else None)
            self.at(path, f"unknown key {str(path[-1])!r} {_where(path[:-1])}", hint, key=True)
        elif kind == "missing":
            self.at(path[:-1], f"missing required key {str(path[-1])!r} {_where(path[:-1])}", key=True)
        else:
            message = error["msg"].removeprefix("Value error, ")
            got = error.get("input")
            quoted = f" (got {_short(got)})" if got is not None and not isinstance(got, (dict, list)) else ""
            if "got " in message:
                quoted = ""
            self.at(path, f"invalid value for '{_dotted(path)}': {message}{quoted}")

    # -- components and wiring ------------------------------------------------------------------

    def check_components(self, data: dict[str, Any]) -> dict[str, tuple[ComponentSpec, type[Component], Any]] | None:
        entries = data.get("components")
        if not isinstance(entries, dict):
            return None
        specs: dict[str, ComponentSpec] = {}
        classes: dict[str, type[Component]] = {}
        params: dict[str, Any] = {}
        for name, entry in entries.items():
            spec, broken = _partial_component(entry)
            if spec is None:
                continue
            specs[name] = spec
            cls = self.load_class(name, spec.type) if "type" not in broken else None
            if cls is None:
                continue
            classes[name] = cls
            if "params" not in broken:
                params[name] = self.validate_params(name, cls, entry.get("params") or {})
        self.check_wiring(entries, specs, classes)
        if self.issues:
            return None
        return {name: (specs[name], classes[name], params[name]) for name in entries}

    def load_class(self, name: str, type_name: str) -> type[Component] | None:
        from headrace.components.registry import BUILTINS, ComponentNotFound, is_import_path, load_component

        path = ("components", name, "type")
        try:
            cls = load_component(type_name, base_dir=self.base_dir)
        except ComponentNotFound as exc:
            if type_name in BUILTINS or is_import_path(type_name):
                self.at(path, f"cannot load component type {type_name!r} of component {name!r}: {exc}")
            else:
                hint = did_you_mean(type_name, BUILTINS) or (
                    f"built-in types: {', '.join(sorted(BUILTINS))}; or an import path 'module:Name'"
                )
                self.at(path, f"unknown component type {type_name!r} of component {name!r}", hint)
            return None
        except Exception as exc:  # the registry should wrap everything, but a user module can surprise
            self.at(path, f"cannot load component type {type_name!r}: {type(exc).__name__}: {exc}")
            return None
        if not (isinstance(cls, type) and issubclass(cls, Component)):
            self.at(path, f"{type_name!r} is not a component")
            return None
        return cls

    def validate_params(self, name: str, cls: type[Component], values: Any) -> Any:
        prefix = ("components", name, "params")
        model = cls.Parameters
        if model.model_config.get("extra") != "forbid" and isinstance(values, dict):
            known = {f.alias or n for n, f in model.model_fields.items()} | set(model.model_fields)
            for key in values:
                if key not in known:
                    self.at(
                        (*prefix, key),
                        f"unknown key {key!r} {_where(prefix)}",
                        did_you_mean(key, known) or f"allowed keys: {', '.join(sorted(known))}",
                        key=True,
                    )
        return self.validate(model, values, prefix)

    def check_wiring(
        self, entries: dict[str, Any], specs: dict[str, ComponentSpec], classes: dict[str, type[Component]]
    ) -> None:
        dependencies: dict[str, set[str]] = {name: set() for name in entries}
        for name, spec in specs.items():
            cls = classes.get(name)
            label = f"component {name!r} ({spec.type})"
            for input_name, reference in spec.inputs.items():
                where = ("components", name, "inputs", input_name)
                upstream, _, output = reference.partition(".")
                if upstream in entries:
                    dependencies[name].add(upstream)
                if cls is not None and input_name not in cls.inputs:
                    known = list(cls.inputs)
                    hint = did_you_mean(input_name, known) or (
                        f"its inputs: {', '.join(known)}" if known else "it takes no inputs"
                    )
                    self.at(where, f"unknown input {input_name!r} of {label}", hint, key=True)
                if upstream not in entries:
                    hint = did_you_mean(upstream, list(entries)) or f"components: {', '.join(entries)}"
                    self.at(where, f"unknown component {upstream!r} in {reference!r}", hint)
                    continue
                producer = classes.get(upstream)
                if producer is None:
                    continue
                if output not in producer.outputs:
                    known = list(producer.outputs)
                    hint = did_you_mean(output, known) or (
                        f"its outputs: {', '.join(known)}" if known else "it has no outputs"
                    )
                    self.at(
                        where,
                        f"component {upstream!r} ({specs[upstream].type if upstream in specs else '?'}) "
                        f"has no output {output!r}",
                        hint,
                    )
                    continue
                if cls is None or input_name not in cls.inputs:
                    continue
                produced, expected = producer.outputs[output], cls.inputs[input_name].type
                if not (isinstance(produced, type) and issubclass(produced, expected)):
                    self.at(
                        where,
                        f"input {input_name!r} of {label} expects {expected.__name__}, "
                        f"but {reference!r} is {getattr(produced, '__name__', produced)}",
                        self.suggest_wire(name, expected, classes),
                    )
            if cls is not None:
                for input_name, port in cls.inputs.items():
                    written = (entries.get(name) or {}).get("inputs")
                    if (
                        port.optional
                        or input_name in spec.inputs
                        or (isinstance(written, dict) and input_name in written)
                    ):
                        continue  # wired (perhaps badly: that is reported where it is written)
                    unknown = [i for i in spec.inputs if i not in cls.inputs]
                    if did_you_mean(input_name, unknown):
                        continue  # reported as the misspelt input it surely is
                    has_inputs = "inputs" in (entries.get(name) or {})
                    self.at(
                        ("components", name, "inputs") if has_inputs else ("components", name),
                        f"{label} is missing required input {input_name!r} ({port.type.__name__})",
                        self.suggest_wire(name, port.type, classes, input_name),
                        key=True,
                    )
        cycle = find_cycle(dependencies)
        if cycle:
            first, second = cycle[0], cycle[1]
            wired = (
                [i for i, ref in specs[second].inputs.items() if ref.partition(".")[0] == first]
                if second in specs
                else []
            )
            path = ("components", second, "inputs", wired[0]) if wired else ("components", second)
            self.at(path, f"cycle: {' -> '.join(cycle)}", "a component cannot depend on its own outputs")

    @staticmethod
    def suggest_wire(
        name: str, expected: type, classes: dict[str, type[Component]], input_name: str | None = None
    ) -> str | None:
        for upstream, cls in classes.items():
            if upstream == name:
                continue
            for output, produced in cls.outputs.items():
                if isinstance(produced, type) and issubclass(produced, expected):
                    return (
                        f"wire it: inputs: {{{input_name}: {upstream}.{output}}}"
                        if input_name
                        else f"'{upstream}.{output}' is {produced.__name__}"
                    )
        return None

    # -- the result -----------------------------------------------------------------------------

    def build(
        self,
        spec: PipelineSpec,
        nodes: dict[str, tuple[ComponentSpec, type[Component], Any]],
        display: dict[str, Any],
        secrets: dict[str, str],
        env_paths: set[Path],
    ) -> Pipeline:
        root = resolve_path(spec.root, self.base_dir)
        order = topological_order(
            {name: {ref.partition(".")[0] for ref in entry.inputs.values()} for name, (entry, _, _) in nodes.items()}
        )
        pipeline_nodes: dict[str, Node] = {}
        for name in order:
            entry, cls, params = nodes[name]
            shown = params.model_dump(mode="json")
            for path in env_paths:
                if path[:3] == ("components", name, "params") and len(path) > 3:
                    _set(shown, path[3:], _get(display, path), create=False)
            pipeline_nodes[name] = Node(
                name=name,
                type_name=entry.type,
                component=cls,
                params=params,
                display_params=_redact(shown, secrets),
                inputs={i: Wire(*ref.split(".", 1)) for i, ref in entry.inputs.items()},
                cache=entry.cache,
                retries=entry.retries,
            )
        mlflow = spec.mlflow.model_dump() if spec.mlflow else {}
        if mlflow.get("tracking_uri"):
            mlflow["tracking_uri"] = self.absolute_url(mlflow["tracking_uri"], local_paths=True)
        return Pipeline(
            name=spec.name,
            file=self.file,
            base_dir=self.base_dir,
            root=root,
            metadata_url=self.metadata_url(spec.metadata, root),
            nodes=pipeline_nodes,
            beam_runner=spec.beam.runner,
            beam_options=dict(spec.beam.options),
            mlflow=mlflow,
            params=dict(spec.params),
            spec=_redact(display, secrets),
            secrets=frozenset(secrets),
        )

    def metadata_url(self, url: str | None, root: str) -> str:
        if url is None:
            folder = self.base_dir if is_uri(root) else root
            return "sqlite:///" + os.path.join(folder, "metadata.db")
        return self.absolute_url(url)

    def absolute_url(self, url: str, *, local_paths: bool = False) -> str:
        """A relative sqlite path (or, for MLflow, a plain path) made absolute against the file's folder."""
        if url.startswith("sqlite:///"):
            rest = url[len("sqlite:///") :]
            database, sep, query = rest.partition("?")
            if database and database != ":memory:" and not os.path.isabs(database):
                database = os.path.normpath(os.path.join(self.base_dir, database))
            return "sqlite:///" + database + sep + query
        if local_paths and not is_uri(url) and ":" not in url.split("/")[0]:
            return resolve_path(url, self.base_dir)
        return url


# -- helpers ------------------------------------------------------------------------------------


def _pipeline_params(data: dict[str, Any]) -> dict[str, Any]:
    """The ``params:`` mapping, or a misspelt one's (already an error) so ``${params.x}`` is not reported too."""
    if "params" not in data:
        misspelt = [k for k in data if k not in PipelineSpec.model_fields and did_you_mean(k, ["params"])]
        if misspelt:
            return _pipeline_params({"params": data[misspelt[0]]})
    params = data.get("params")
    return params if isinstance(params, dict) else {}


def _partial_component(entry: Any) -> tuple[ComponentSpec | None, set[str]]:
    """The entry's valid fields as a ``ComponentSpec`` plus the names of its broken ones.

    Errors of the entry are reported with the whole file's; this only lets the
    wiring of a component with, say, a bad ``cache:`` still be checked.
    """
    if not isinstance(entry, dict):
        return None, set()
    try:
        return ComponentSpec.model_validate(entry), set()
    except ValidationError as exc:
        broken = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    if "type" in broken or "type" not in entry:
        broken.add("type")
    kept = {k: v for k, v in entry.items() if k not in broken and k in ComponentSpec.model_fields}
    kept["type"] = kept.get("type", "")
    try:
        return ComponentSpec.model_validate(kept), broken
    except ValidationError:
        return None, broken


def _data_path(data: Any, loc: Sequence[Any]) -> Path:
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


def _where(path: Path) -> str:
    return f"in '{_dotted(path)}'" if path else "at the top level"


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _get(tree: Any, path: Path) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def _set(tree: Any, path: Path, value: Any, *, create: bool = True) -> None:
    for part in path[:-1]:
        if (isinstance(tree, dict) and part in tree) or (
            isinstance(tree, list) and isinstance(part, int) and part < len(tree)
        ):
            tree = tree[part]
        else:
            return
    if (isinstance(tree, dict) and (create or path[-1] in tree)) or (
        isinstance(tree, list) and isinstance(path[-1], int) and path[-1] < len(tree)
    ):
        tree[path[-1]] = value


def _redact(value: Any, secrets: Mapping[str, str]) -> Any:
    """Replace any environment value that still hides in a string by its ``${env:VAR}`` reference."""
    if not secrets:
        return value
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in sorted(secrets, key=len, reverse=True):
            value = value.replace(secret, secrets[secret])
    return value


def _allowed_keys(model: type[BaseModel], path: Path) -> list[str]:
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
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            annotation = (models or members or [Any])[0]
            continue
        return annotation
