"""The JSON Schema of pipeline files, derived from the pydantic models (never written by hand).

Each built-in component contributes one entry model, ``{type: Literal[name],
params: <its Parameters>}``, so an editor completes and checks parameters per
component type; import-path types get a generic entry with free ``params``.
Because any value may be written as ``${params.x}`` / ``${env:VAR}``, every
non-string leaf also accepts an interpolation string.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, create_model

from headrace.pipelines.spec import (
    COMPONENT_NAME_PATTERN,
    IMPORT_PATH_PATTERN,
    INTERPOLATION_PATTERN,
    ComponentSpec,
    PipelineSpec,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_INTERPOLATION = {
    "type": "string",
    "pattern": INTERPOLATION_PATTERN,
    "description": "An interpolation, ${params.NAME} or ${env:VAR}, replaced by a value of the expected type.",
}


def _entry_models() -> list[type[BaseModel]]:
    from headrace.components.registry import BUILTINS, load_component

    entries: list[type[BaseModel]] = []
    for name in sorted(BUILTINS):
        try:
            cls = load_component(name)
            params: Any = cls.Parameters
            doc = cls.description or (cls.__doc__ or "").strip().split("\n")[0]
        except Exception:  # a built-in that cannot be imported here still names a valid type
            params, doc = dict[str, Any], ""
        entries.append(
            create_model(
                f"{name.title().replace('_', '').replace('-', '')}Component",
                __base__=ComponentSpec,
                __doc__=f"Built-in component '{name}'. {doc}".strip(),
                type=(Literal[name], Field(description=f"The built-in component type '{name}'.")),  # type: ignore[arg-type]
                params=(params, Field(default_factory=dict, description=f"Parameters of '{name}'.")),
            )
        )
    entries.append(
        create_model(
            "UserComponent",
            __base__=ComponentSpec,
            __doc__="A user component, named by import path ('pkg.module:Name' or 'file.py:function').",
            type=(
                Annotated[str, Field(pattern=IMPORT_PATH_PATTERN)],
                Field(description="Import path 'module:Name' or 'path/to/file.py:name' (relative to this file)."),
            ),
        )
    )
    return entries


def pipeline_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a whole pipeline file."""
    entries = _entry_models()
    component: Any = Union[tuple(entries)]  # noqa: UP007 - a runtime-built union
    model = create_model(
        "PipelineFile",
        __base__=PipelineSpec,
        __doc__=PipelineSpec.__doc__,
        components=(
            dict[Annotated[str, Field(pattern=COMPONENT_NAME_PATTERN)], component],
            Field(min_length=1, description="Component name -> component."),
        ),
    )
    schema = model.model_json_schema()
    components = schema["properties"]["components"]
    entry = components.pop("patternProperties").popitem()[1]
    components["additionalProperties"] = entry  # every name must be valid, not only matching ones
    components["propertyNames"] = {"pattern": COMPONENT_NAME_PATTERN}
    schema = _accept_interpolation(schema, inside_type=False)
    schema.setdefault("$defs", {})["Interpolation"] = _INTERPOLATION
    schema["title"] = "headrace pipeline"
    return {"$schema": DIALECT, **schema}


def _accept_interpolation(node: Any, inside_type: bool) -> Any:
    """Let every non-string leaf (and every enum, except a component's ``type``) be a ``${...}`` too."""
    if isinstance(node, list):
        return [_accept_interpolation(item, False) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            result[key] = {name: _accept_interpolation(sub, name == "type") for name, sub in value.items()}
        else:
            result[key] = _accept_interpolation(value, False)
    leaf = result.get("type") in ("integer", "number", "boolean") or (
        ("enum" in result or "const" in result) and not inside_type
    )
    if leaf:
        described = {k: result.pop(k) for k in ("title", "description", "default") if k in result}
        return {**described, "anyOf": [result, {"$ref": "#/$defs/Interpolation"}]}
    return result
