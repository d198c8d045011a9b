"""The validated pipeline: nodes wired output-to-input, in topological order.

This is what the loader produces from a YAML file and what every runner
consumes; nothing downstream of it ever looks at YAML again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from typing import Any

from pydantic import BaseModel

from headrace.components.artifacts import Artifact
from headrace.components.contract import Component


@dataclass(frozen=True)
class Wire:
    """An input fed by ``node.output`` of an upstream node in this run, or, with ``latest``, of an earlier run."""

    node: str
    output: str
    latest: bool = False
    """Taken from the newest successful earlier run, never this one; not an edge of the graph."""
    blessed: bool = False
    """With ``latest``: only a model some ModelBlessing made from it blessed."""

    def __str__(self) -> str:
        return f"{self.node}.{self.output}"

    @property
    def resolution(self) -> str | None:
        """How the store records an earlier-run input (``latest``, ``latest blessed``); None for this run's wire."""
        if not self.latest:
            return None
        return "latest blessed" if self.blessed else "latest"


@dataclass
class Node:
    """One component instance of a pipeline."""

    name: str
    type_name: str
    component: type[Component]
    params: BaseModel
    display_params: dict[str, Any]
    """Parameters as recorded in the store and shown to people: ``${env:...}`` values stay references."""
    inputs: dict[str, Wire] = field(default_factory=dict)
    cache: bool = True
    retries: int = 0
    param_positions: dict[tuple[str | int, ...], tuple[int, int]] = field(default_factory=dict)
    """Where each part of ``params`` was written in the pipeline file (path below ``params`` -> line, column)."""

    @property
    def outputs(self) -> dict[str, type[Artifact]]:
        """Each output's artifact type for this node's parameters (the importer's follows ``artifact_type``)."""
        return self.component.output_types(self.params)

    @property
    def upstream(self) -> set[str]:
        """The nodes of this run it waits for (inputs from earlier runs wait for nothing)."""
        return {wire.node for wire in self.inputs.values() if not wire.latest}


@dataclass
class Pipeline:
    name: str
    file: str
    base_dir: str
    root: str
    metadata_url: str
    nodes: dict[str, Node]
    beam_runner: str = "DirectRunner"
    beam_options: dict[str, Any] = field(default_factory=dict)
    mlflow: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    """The pipeline as recorded in the store: interpolated, but secrets kept as ``${env:...}`` references."""
    secrets: frozenset[str] = frozenset()
    """Values read from the environment, redacted from every log line."""
    fingerprint: str = ""
    """sha256 of the pipeline file's bytes: a task refuses to run a file that changed since its run started."""
    overrides: tuple[str, ...] = ()
    """The ``--set`` options it was loaded with, so a task can load the very same pipeline."""

    def topological_order(self) -> list[str]:
        return topological_order({name: node.upstream for name, node in self.nodes.items()})

    def downstream(self, name: str) -> set[str]:
        """Every node that depends on ``name``, transitively."""
        children: dict[str, set[str]] = {n: set() for n in self.nodes}
        for node in self.nodes.values():
            for parent in node.upstream:
                children[parent].add(node.name)
        found: set[str] = set()
        stack = [name]
        while stack:
            for child in children[stack.pop()]:
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found


def topological_order(dependencies: dict[str, set[str]]) -> list[str]:
    """Deterministic topological order (ties broken by name); raises ``CycleError`` on a cycle."""
    sorter = TopologicalSorter(dependencies)
    sorter.prepare()
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


def find_cycle(dependencies: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of node names (first == last), or None."""
    try:
        TopologicalSorter(dependencies).prepare()
    except CycleError as exc:
        return list(exc.args[1])
    return None
