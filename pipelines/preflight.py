"""Warnings about a valid pipeline file: things that will probably bite, but need not.

The loader rejects what cannot run. These checks find what runs but is
likely wrong, and say so before anything runs (``headrace validate`` and
``headrace run`` print them): a data file that does not exist yet (it may
appear before the run, so it is not an error), and a plain ``str`` parameter
that names a file next to the pipeline, whose content therefore does not
enter the cache key (editing the file would give stale cache hits).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from headrace.components.contract import CodeReference, ContentAddressed
from headrace.components.paths import is_uri, resolve_path
from headrace.components.problems import Problem
from headrace.components.registry import is_import_path
from headrace.pipelines.cache import field_has, leaf_paths
from headrace.pipelines.graph import Node, Pipeline


@dataclass(frozen=True)
class PipelineWarning:
    """A finding about ``components.<node>.params.<parameter>``, with the fix."""

    node: str
    parameter: str
    message: str
    hint: str

    def problem(self, file: str) -> Problem:
        """The warning as a problem of ``file`` (not placed at a line: the value may come from ``--set``)."""
        where = f"components.{self.node}.params.{self.parameter}"
        return Problem(file, 0, 0, f"{where}: {self.message}", self.hint, severity="warning")

    def render(self, file: str) -> str:
        return self.problem(file).render()


def pipeline_warnings(pipeline: Pipeline) -> list[PipelineWarning]:
    """Every warning about the pipeline's parameters, in node order."""
    found: list[PipelineWarning] = []
    for node in pipeline.nodes.values():
        found.extend(_node_warnings(node, pipeline.base_dir))
    return found


def _node_warnings(node: Node, base_dir: str) -> Iterator[PipelineWarning]:
    values = node.params.model_dump(mode="json")
    for name, field in type(node.params).model_fields.items():
        value = values.get(name)
        if value is None:
            continue
        shown = node.display_params.get(name, value)
        if field_has(field, ContentAddressed):
            yield from _missing_data(node, name, value, base_dir)
        elif not field_has(field, CodeReference) and is_import_path(node.type_name):
            yield from _unhashed_files(node, name, shown, value, base_dir)  # built-ins declare their data paths


def _missing_data(node: Node, name: str, value: Any, base_dir: str) -> Iterator[PipelineWarning]:
    for dotted, _, leaf in leaf_paths(value, name):
        if is_uri(leaf) or _has_glob(leaf):
            continue  # object stores are checked when read; a glob may match files that appear later
        if not os.path.exists(resolve_path(leaf, base_dir)):
            yield PipelineWarning(
                node.name,
                dotted,
                f"{leaf!r} does not exist (looked for {resolve_path(leaf, base_dir)})",
                "create it before the run, or fix the path (relative paths are relative to the pipeline file)",
            )


def _unhashed_files(node: Node, name: str, shown: Any, value: Any, base_dir: str) -> Iterator[PipelineWarning]:
    for dotted, _, leaf in leaf_paths(value, name):
        if shown != value and isinstance(shown, str) and shown.startswith("${env:"):
            continue  # a secret is never a path we should print
        if not leaf.strip() or leaf.strip() in (".", "..") or is_uri(leaf) or "\n" in leaf:
            continue
        path = resolve_path(leaf, base_dir)
        if os.path.exists(path):
            kind = "directory" if os.path.isdir(path) else "file"
            yield PipelineWarning(
                node.name,
                dotted,
                f"parameter `{dotted}` names a {kind} ({leaf!r}) whose content does not enter the cache key, "
                f"so editing it will not re-run `{node.name}`",
                f"annotate the parameter DataPath (from headrace.components import DataPath; {name}: DataPath = ...), "
                "or CodePath for Python code",
            )


def _has_glob(path: str) -> bool:
    return any(c in path for c in "*?[")
