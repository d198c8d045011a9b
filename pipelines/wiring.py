"""Component types, their parameters and the wiring between them, checked against each other.

A component's class comes from the registry; its ``Parameters`` model checks
its ``params``; its declared inputs and outputs check every wire (names,
artifact types, required inputs, cycles). Each problem is recorded where it
was written, with a did-you-mean, and checking goes on: one round of fixes.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from headrace.components.artifacts import Artifact, Model
from headrace.components.contract import Component
from headrace.pipelines.graph import Wire, find_cycle
from headrace.pipelines.interpolation import did_you_mean
from headrace.pipelines.spec import ComponentSpec, EarlierRunInput, InputSpec
from headrace.pipelines.spec_issues import SpecProblems, where
from headrace.pipelines.tensorflow_needs import tensorflow_problems
from headrace.pipelines.validation_errors import validate


def check_components(
    data: dict[str, Any], base_dir: str, problems: SpecProblems
) -> dict[str, tuple[ComponentSpec, type[Component], Any]] | None:
    """Each component's spec, class and validated parameters; None when any of it (or the wiring) is wrong."""
    entries = data.get("components")
    if not isinstance(entries, dict):
        return None
    specs: dict[str, ComponentSpec] = {}
    classes: dict[str, type[Component]] = {}
    params: dict[str, Any] = {}
    for name, entry in entries.items():
        spec, broken = partial_component(entry)
        if spec is None:
            continue
        specs[name] = spec
        cls = load_class(name, spec.type, base_dir, problems) if "type" not in broken else None
        if cls is None:
            continue
        classes[name] = cls
        if "params" not in broken:
            params[name] = validate_params(name, cls, entry.get("params") or {}, problems)
    outputs = {name: output_types(cls, params.get(name)) for name, cls in classes.items()}
    check_wiring(entries, specs, classes, outputs, problems)
    if problems.issues:
        return None
    check_known_columns(specs, classes, params, base_dir, problems)
    for name, cls in classes.items():
        for problem in [*cls.check_params(params[name], base_dir), *tensorflow_problems(params[name], base_dir)]:
            problems.at(("components", name, "params", *problem.path), problem.message, problem.hint)
    if problems.issues:
        return None
    return {name: (specs[name], classes[name], params[name]) for name in entries}


def check_known_columns(
    specs: dict[str, ComponentSpec],
    classes: dict[str, type[Component]],
    params: dict[str, Any],
    base_dir: str,
    problems: SpecProblems,
) -> None:
    """Column names in parameters checked against an upstream whose columns are known before the run.

    A curated schema file names every column, so the transform's ``columns:``
    lists are checked at validation time, at their line, with a did-you-mean.
    """
    known: dict[str, list[str] | None] = {}
    for name, spec in specs.items():
        columns: dict[str, list[str]] = {}
        for input_name, written_input in spec.inputs.items():
            wire = wire_of(written_input)
            if wire.latest or wire.node not in classes:
                continue
            if wire.node not in known:
                try:
                    known[wire.node] = classes[wire.node].known_columns(params[wire.node], base_dir)
                except Exception:  # an unreadable file is the upstream's own error, reported when it runs
                    known[wire.node] = None
            found = known[wire.node]
            if found is not None:
                columns[input_name] = found
        if columns:
            for problem in classes[name].check_columns(params[name], columns):
                problems.at(("components", name, "params", *problem.path), problem.message, problem.hint)


def load_class(name: str, type_name: str, base_dir: str, problems: SpecProblems) -> type[Component] | None:
    from headrace.components.registry import BUILTINS, ComponentNotFound, is_import_path, load_component

    path = ("components", name, "type")
    try:
        cls = load_component(type_name, base_dir=base_dir)
    except ComponentNotFound as exc:
        if type_name in BUILTINS or is_import_path(type_name):
            problems.at(path, f"cannot load component type {type_name!r} of component {name!r}: {exc}")
        else:
            hint = did_you_mean(type_name, BUILTINS) or (
                f"built-in types: {', '.join(sorted(BUILTINS))}; or an import path 'module:Name'"
            )
            problems.at(path, f"unknown component type {type_name!r} of component {name!r}", hint)
        return None
    except Exception as exc:  # the registry should wrap everything, but a user module can surprise
        problems.at(path, f"cannot load component type {type_name!r}: {type(exc).__name__}: {exc}")
        return None
    if not (isinstance(cls, type) and issubclass(cls, Component)):
        problems.at(path, f"{type_name!r} is not a component")
        return None
    return cls


def validate_params(name: str, cls: type[Component], values: Any, problems: SpecProblems) -> Any:
    prefix = ("components", name, "params")
    model = cls.Parameters
    if model.model_config.get("extra") != "forbid" and isinstance(values, dict):
        known = {f.alias or n for n, f in model.model_fields.items()} | set(model.model_fields)
        for key in values:
            if key not in known:
                problems.at(
                    (*prefix, key),
                    f"unknown key {key!r} {where(prefix)}",
                    did_you_mean(key, known) or f"allowed keys: {', '.join(sorted(known))}",
                    key=True,
                )
    return validate(model, values, prefix, problems)


def output_types(cls: type[Component], params: Any) -> dict[str, type[Artifact] | None]:
    """A component's outputs and their types for its parameters; None for a type the parameters do not settle.

    A component whose parameters choose its output types (the importer's ``artifact_type``) has outputs of
    unknown type while those parameters are invalid or name no type: wires from them are not type-checked
    then, since the parameter's own error says what to fix.
    """
    overridden = cls.output_types.__func__ is not Component.output_types.__func__  # type: ignore[attr-defined]
    if not overridden:
        return dict(cls.outputs)
    unknown: dict[str, type[Artifact] | None] = dict.fromkeys(cls.outputs)
    if params is None:
        return unknown
    try:
        return {**unknown, **cls.output_types(params)}
    except Exception:  # an unknown type name, or a user component's hook that fails
        return unknown


def check_wiring(
    entries: dict[str, Any],
    specs: dict[str, ComponentSpec],
    classes: dict[str, type[Component]],
    outputs: dict[str, dict[str, type[Artifact] | None]],
    problems: SpecProblems,
) -> None:
    """Every input wired to an existing output of the right artifact type, required inputs present, no cycle.

    ``outputs`` holds each component's outputs as its parameters type them (``output_types``).
    """
    dependencies: dict[str, set[str]] = {name: set() for name in entries}
    for name, spec in specs.items():
        cls = classes.get(name)
        label = f"component {name!r} ({spec.type})"
        for input_name, written_input in spec.inputs.items():
            where: tuple[str, ...] = ("components", name, "inputs", input_name)
            wire = wire_of(written_input)
            reference = str(wire)
            upstream, output = wire.node, wire.output
            if wire.latest:
                where = (*where, "latest")
            elif upstream in entries:
                dependencies[name].add(upstream)
            if cls is not None and input_name not in cls.inputs:
                known = list(cls.inputs)
                hint = did_you_mean(input_name, known) or (
                    f"its inputs: {', '.join(known)}" if known else "it takes no inputs"
                )
                problems.at(where, f"unknown input {input_name!r} of {label}", hint, key=True)
            if upstream not in entries:
                hint = did_you_mean(upstream, list(entries)) or f"components: {', '.join(entries)}"
                problems.at(where, f"unknown component {upstream!r} in {reference!r}", hint)
                continue
            produces = outputs.get(upstream)
            if produces is None:
                continue
            if output not in produces:
                known = list(produces)
                hint = did_you_mean(output, known) or (
                    f"its outputs: {', '.join(known)}" if known else "it has no outputs"
                )
                problems.at(
                    where,
                    f"component {upstream!r} ({specs[upstream].type if upstream in specs else '?'}) "
                    f"has no output {output!r}",
                    hint,
                )
                continue
            if cls is None or input_name not in cls.inputs:
                continue
            produced, expected = produces[output], cls.inputs[input_name].type
            if produced is None:
                continue  # set by the upstream's parameters, which are wrong: reported there
            if wire.blessed and not (isinstance(produced, type) and issubclass(produced, Model)):
                problems.at(
                    (*where[:-1], "blessed"),
                    f"'blessed: true' of input {input_name!r} of {label} needs a Model output, "
                    f"but {reference!r} is {getattr(produced, '__name__', produced)}",
                    "blessing applies to models an evaluator blessed; drop 'blessed' for other artifacts",
                )
            if not (isinstance(produced, type) and issubclass(produced, expected)):
                problems.at(
                    where,
                    f"input {input_name!r} of {label} expects {expected.__name__}, "
                    f"but {reference!r} is {getattr(produced, '__name__', produced)}",
                    suggestwire_of(name, expected, outputs),
                )
        if cls is not None:
            for input_name, port in cls.inputs.items():
                written = (entries.get(name) or {}).get("inputs")
                if port.optional or input_name in spec.inputs or (isinstance(written, dict) and input_name in written):
                    continue  # wired (perhaps badly: that is reported where it is written)
                unknown = [i for i in spec.inputs if i not in cls.inputs]
                if did_you_mean(input_name, unknown):
                    continue  # reported as the misspelt input it surely is
                has_inputs = "inputs" in (entries.get(name) or {})
                problems.at(
                    ("components", name, "inputs") if has_inputs else ("components", name),
                    f"{label} is missing required input {input_name!r} ({port.type.__name__})",
                    suggestwire_of(name, port.type, outputs, input_name),
                    key=True,
                )
    cycle = find_cycle(dependencies)
    if cycle:
        first, second = cycle[0], cycle[1]
        wired = (
            [i for i, ref in specs[second].inputs.items() if wire_of(ref).node == first and not wire_of(ref).latest]
            if second in specs
            else []
        )
        path = ("components", second, "inputs", wired[0]) if wired else ("components", second)
        problems.at(path, f"cycle: {' -> '.join(cycle)}", "a component cannot depend on its own outputs")


def suggestwire_of(
    name: str, expected: type, outputs: dict[str, dict[str, type[Artifact] | None]], input_name: str | None = None
) -> str | None:
    for upstream, produces in outputs.items():
        if upstream == name:
            continue
        for output, produced in produces.items():
            if isinstance(produced, type) and issubclass(produced, expected):
                return (
                    f"wire it: inputs: {{{input_name}: {upstream}.{output}}}"
                    if input_name
                    else f"'{upstream}.{output}' is {produced.__name__}"
                )
    return None


def wire_of(written: InputSpec) -> Wire:
    """An input as written (``'a.b'`` or ``{latest: 'a.b', blessed: ...}``) as the graph's ``Wire``."""
    if isinstance(written, EarlierRunInput):
        node, output = written.latest.split(".", 1)
        return Wire(node, output, latest=True, blessed=written.blessed)
    node, output = written.split(".", 1)
    return Wire(node, output)


def partial_component(entry: Any) -> tuple[ComponentSpec | None, set[str]]:
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
