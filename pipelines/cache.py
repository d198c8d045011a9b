"""Cache keys, and the sentence that says why a component re-ran.

The key of an execution hashes everything that can change its outputs: the
component's type and version, its canonical parameters, the content of its
input artifacts, the content of data files its parameters name, the user
code it runs (with the project-local modules that code imports) and the
versions of the libraries it declares. The same facts are stored with the
execution, so the next run can name the one that changed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import typing
from collections.abc import Iterator
from typing import Any, TypeVar

from pydantic.fields import FieldInfo

from headrace.components.contract import CodeReference, ContentAddressed
from headrace.components.paths import resolve_path
from headrace.metadata.records import ArtifactRecord, hand_blessing_text
from headrace.pipelines.fingerprints import (
    FingerprintMemo,
    code_fingerprint,
    combined_fingerprint,
    data_fingerprint,
    data_fingerprints,
    library_versions,
)
from headrace.pipelines.graph import Node, Pipeline
from headrace.pipelines.mlflow_target import pipeline_tracking_uri
from headrace.pipelines.redaction import shown_url

DATA_PLACEHOLDER = "<content>"
M = TypeVar("M")


def _markers(annotation: Any) -> Iterator[Any]:
    yield from getattr(annotation, "__metadata__", ())
    for arg in typing.get_args(annotation):
        yield from _markers(arg)


def field_marker(field: FieldInfo, marker: type[M]) -> M | None:
    """The ``marker`` instance a parameter is annotated with (``Annotated[str, ContentAddressed()]``), or None."""
    return next((m for m in [*field.metadata, *_markers(field.annotation)] if isinstance(m, marker)), None)


def field_has(field: FieldInfo, marker: type) -> bool:
    return field_marker(field, marker) is not None


def leaf_paths(value: Any, prefix: str) -> Iterator[tuple[str, list[Any], str]]:
    """``(dotted path, key path, string)`` for every string leaf of a params value."""

    def walk(v: Any, dotted: str, keys: list[Any]) -> Iterator[tuple[str, list[Any], str]]:
        if isinstance(v, str):
            yield dotted, keys, v
        elif isinstance(v, dict):
            for k, item in v.items():
                yield from walk(item, f"{dotted}.{k}", [*keys, k])
        elif isinstance(v, list):
            for i, item in enumerate(v):
                yield from walk(item, f"{dotted}[{i}]", [*keys, i])

    yield from walk(value, prefix, [prefix])


def _set(container: dict[str, Any], keys: list[Any], value: Any) -> None:
    for key in keys[:-1]:
        container = container[key]
    container[keys[-1]] = value


NAMED_FILES = "the files the data names"
"""The data key of the files a component's ``content_locations`` names (the images a table lists)."""


def cache_inputs(
    node: Node,
    pipeline: Pipeline,
    input_fingerprints: dict[str, str | None],
    memo: FingerprintMemo | None,
    blessed_by_hand: ArtifactRecord | None = None,
) -> tuple[dict[str, Any], str]:
    """The facts that determine a node's outputs, and their hash (the cache key).

    The returned facts are safe to store: parameters appear as the pipeline
    file wrote them, so a secret read from ``${env:...}`` stays a reference;
    its value enters only the hash. ``blessed_by_hand`` (the hand blessing
    the node is given) enters as who blessed and why.
    """
    comp = node.component
    actual = node.params.model_dump(mode="json")
    shown = copy.deepcopy(node.display_params)
    data: dict[str, str] = {}
    code: dict[str, str] = {}
    project_dirs = [pipeline.base_dir, os.getcwd()]
    for name, field in type(node.params).model_fields.items():
        value = actual.get(name)
        if value is None:
            continue
        if field_has(field, ContentAddressed):
            for dotted, keys, leaf in leaf_paths(value, name):
                data[dotted] = data_fingerprint(resolve_path(leaf, pipeline.base_dir), memo)
                _set(actual, keys, DATA_PLACEHOLDER)  # the key follows the content; a renamed copy is still a hit
        if field_has(field, CodeReference):
            for _, _, leaf in leaf_paths(value, name):
                code.update(code_fingerprint(resolve_path(leaf, pipeline.base_dir), project_dirs))
    if comp.code_file:
        code.update(code_fingerprint(comp.code_file, project_dirs))
    named = comp.content_locations(node.params, pipeline.base_dir)
    if named:  # one fingerprint of them all: the facts stay small when a table names thousands of files
        data[NAMED_FILES] = combined_fingerprint(data_fingerprints(named, memo))
    facts: dict[str, Any] = {
        "component": {"type": node.type_name, "version": comp.version},
        "params": shown,
        "inputs": dict(sorted(input_fingerprints.items())),
        "data": data,
        "code": code,
        "libraries": library_versions(("headrace", *comp.requires)),
    }
    hashed_facts = {**facts, "params": actual}
    if comp.uses_mlflow_tracking:  # only for those: every other component's key stays as it was
        tracking = pipeline_tracking_uri(pipeline)
        facts["mlflow"] = shown_url(tracking)
        hashed_facts["mlflow"] = tracking
    if comp.uses_hand_blessing and blessed_by_hand is not None:  # absent until a person blesses: keys stay as they were
        said = blessed_by_hand.properties
        facts["blessed_by_hand"] = hashed_facts["blessed_by_hand"] = {
            "by": said.get("by"),
            "reason": said.get("reason"),
        }
    hashed = json.dumps(hashed_facts, sort_keys=True, default=str)
    return facts, hashlib.sha256(hashed.encode()).hexdigest()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else repr(value)


def explain_rerun(previous: dict[str, Any] | None, current: dict[str, Any], display_params: dict[str, Any]) -> str:
    """Why a node runs instead of reusing an earlier result, in words a person checks quickly."""
    if not previous:
        return "no earlier execution"
    reasons: list[str] = []
    old_c, new_c = previous.get("component", {}), current["component"]
    if old_c != new_c:
        reasons.append(
            f"component changed from {old_c.get('type')}@{old_c.get('version')} to {new_c['type']}@{new_c['version']}"
        )
    old_p, new_p = _flatten(previous.get("params", {})), _flatten(current["params"])
    for key in sorted(old_p.keys() | new_p.keys()):
        if key not in old_p:
            reasons.append(f"parameter `{key}` added ({_show(new_p[key])})")
        elif key not in new_p:
            reasons.append(f"parameter `{key}` removed (was {_show(old_p[key])})")
        elif old_p[key] != new_p[key]:
            reasons.append(f"parameter `{key}` changed from {_show(old_p[key])} to {_show(new_p[key])}")
    old_i, new_i = previous.get("inputs", {}), current["inputs"]
    for name in sorted(old_i.keys() | new_i.keys()):
        if old_i.get(name) != new_i.get(name):
            reasons.append(f"input `{name}` has new content")
    shown = _flatten(display_params)
    old_d, new_d = previous.get("data", {}), current["data"]
    for key in sorted(old_d.keys() | new_d.keys()):
        where = shown.get(key, key)
        if key == NAMED_FILES:
            if old_d.get(key) != new_d.get(key):
                reasons.append(f"{NAMED_FILES} have new content")
        elif key not in old_d:
            reasons.append(f"the content of {key.split('.')[0]} `{where}` now enters the cache key")
        elif old_d.get(key) != new_d.get(key):
            reasons.append(f"{key.split('.')[0]} `{where}` has new content")
    old_code, new_code = previous.get("code", {}), current["code"]
    for path in sorted(old_code.keys() | new_code.keys()):
        if path not in old_code:
            reasons.append(f"user code `{path}` is new")
        elif path not in new_code:
            reasons.append(f"user code `{path}` is no longer imported")
        elif old_code[path] != new_code[path]:
            reasons.append(f"user code `{path}` changed")
    if previous.get("mlflow", "") != current.get("mlflow", ""):
        old_m, new_m = previous.get("mlflow") or "none", current.get("mlflow") or "none"
        reasons.append(f"MLflow tracking URI changed from {old_m} to {new_m}")
    if previous.get("blessed_by_hand") != current.get("blessed_by_hand"):
        hand = current.get("blessed_by_hand")
        reasons.append(f"model {hand_blessing_text(hand)}" if hand else "model no longer blessed by hand")
    old_l, new_l = previous.get("libraries", {}), current["libraries"]
    for lib in sorted(old_l.keys() | new_l.keys()):
        if old_l.get(lib) != new_l.get(lib):
            reasons.append(f"library {lib} changed from {old_l.get(lib)} to {new_l.get(lib)}")
    return "; ".join(reasons) or "a value read from the environment changed"
