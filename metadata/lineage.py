"""Lineage graphs: how an artifact came to be, or what came of it.

``trace`` walks the store's events from one artifact; ``LineageGraph`` renders
the result for a person (an indented tree), for programs (JSON) and for
Graphviz (DOT, also attached to the MLflow parent run).

Edges always point the way data flowed (artifact -> execution for an input,
execution -> artifact for an output), whichever way the walk went. Going up,
an artifact is explained by its *producer* (the first execution that output
it); cache hits that merely re-linked it are left out. Going down, every
consumer counts, including executions of later runs and cache hits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from headrace.metadata.records import ArtifactRecord, ExecutionRecord, hand_blessing_text

Edge = tuple[str, int, str, int, str]  # (from_kind, from_id, to_kind, to_id, event name)


class _Events(Protocol):
    """The part of MetadataStore a walk needs (keeps this module free of SQL)."""

    def get_artifact(self, artifact_id: int) -> ArtifactRecord | None: ...
    def producer(self, artifact_id: int) -> ExecutionRecord | None: ...
    def inputs_of(self, execution_id: int) -> dict[str, ArtifactRecord]: ...
    def outputs_of(self, execution_id: int) -> dict[str, ArtifactRecord]: ...
    def consumers(self, artifact_id: int) -> list[tuple[ExecutionRecord, str]]: ...


@dataclass
class LineageGraph:
    root: int  # artifact id the walk started from
    direction: str  # "up" | "down"
    artifacts: dict[int, ArtifactRecord] = field(default_factory=dict)
    executions: dict[int, ExecutionRecord] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def _add_edge(self, edge: Edge) -> None:
        if edge not in self.edges:
            self.edges.append(edge)

    # ------------------------------------------------------------- text

    def to_text(self) -> str:
        """An indented tree: up shows ``artifact <- producer`` with its inputs below."""
        lines: list[str] = []
        shown: set[int] = set()
        if self.direction == "up":
            self._text_up(self.root, 0, None, lines, shown)
        else:
            self._text_down(self.root, 0, None, lines, shown)
        return "\n".join(lines)

    def _artifact_line(self, artifact_id: int) -> str:
        a = self.artifacts[artifact_id]
        state = "" if a.state == "live" else f" [{a.state}]"
        return f"{a.type} #{a.id} {a.uri}{state}{blessing_verdict(a)}"

    def _execution_label(self, execution_id: int) -> str:
        e = self.executions[execution_id]
        details = [f"execution {e.id}", f"run {e.run_id}"]
        if e.state == "cached" and e.cached_from is not None:
            details.append(f"cached from {e.cached_from}")
        elif e.state != "complete":
            details.append(e.state)
        return f"{e.component} ({', '.join(details)})"

    def _text_up(self, artifact_id: int, depth: int, name: str | None, lines: list[str], shown: set[int]) -> None:
        indent = "    " * depth + (f"{name}: " if name else "")
        line = indent + self._artifact_line(artifact_id)
        producers = [e for e in self.edges if e[0] == "execution" and e[2:4] == ("artifact", artifact_id)]
        if not producers:
            lines.append(line)
            return
        execution_id = producers[0][1]
        line += f"  <- {self._execution_label(execution_id)}"
        if artifact_id in shown:
            lines.append(line + "  (see above)")
            return
        shown.add(artifact_id)
        lines.append(line)
        for kind, input_id, _, to_id, input_name in self.edges:
            if kind == "artifact" and to_id == execution_id:
                self._text_up(input_id, depth + 1, input_name, lines, shown)

    def _text_down(self, artifact_id: int, depth: int, name: str | None, lines: list[str], shown: set[int]) -> None:
        indent = "    " * depth + (f"{name}: " if name else "")
        if artifact_id in shown:
            lines.append(indent + self._artifact_line(artifact_id) + "  (see above)")
            return
        shown.add(artifact_id)
        lines.append(indent + self._artifact_line(artifact_id))
        for kind, from_id, _, execution_id, input_name in self.edges:
            if kind != "artifact" or from_id != artifact_id:
                continue
            lines.append("    " * (depth + 1) + f"-> {self._execution_label(execution_id)} as {input_name!r}")
            for out_kind, out_from, _, output_id, output_name in self.edges:
                if out_kind == "execution" and out_from == execution_id:
                    self._text_down(output_id, depth + 2, output_name, lines, shown)

    # ------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """Nodes keyed ``artifact:<id>`` / ``execution:<id>`` and edges between those keys."""
        nodes: list[dict[str, Any]] = [
            {"key": f"artifact:{a.id}", "kind": "artifact", **_jsonable(asdict(a))} for a in self.artifacts.values()
        ]
        nodes += [
            {"key": f"execution:{e.id}", "kind": "execution", **_jsonable(asdict(e))} for e in self.executions.values()
        ]
        edges = [{"source": f"{fk}:{fi}", "target": f"{tk}:{ti}", "name": name} for fk, fi, tk, ti, name in self.edges]
        return {"root": f"artifact:{self.root}", "direction": self.direction, "nodes": nodes, "edges": edges}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    # ------------------------------------------------------------- Graphviz

    def to_dot(self) -> str:
        """Graphviz DOT: artifacts are boxes, executions ellipses (dashed for cache hits)."""
        out = [
            "digraph lineage {",
            "  rankdir=LR;",
            '  node [fontname="Helvetica", fontsize=10];',
            '  edge [fontname="Helvetica", fontsize=9];',
        ]
        for a in self.artifacts.values():
            style = ', style="bold"' if a.id == self.root else ""
            label = _dot_escape(f"{a.type} #{a.id}\n{a.uri}")
            out.append(f'  "artifact:{a.id}" [shape=box, label="{label}"{style}];')
        for e in self.executions.values():
            style = ', style="dashed"' if e.state == "cached" else ""
            label = _dot_escape(f"{e.component}\n{e.component_type} · execution {e.id}\nrun {e.run_id}")
            out.append(f'  "execution:{e.id}" [shape=ellipse, label="{label}"{style}];')
        for fk, fi, tk, ti, name in self.edges:
            out.append(f'  "{fk}:{fi}" -> "{tk}:{ti}" [label="{_dot_escape(name)}"];')
        out.append("}")
        return "\n".join(out) + "\n"


def blessing_verdict(artifact: ArtifactRecord) -> str:
    """`` (blessed)``, `` (NOT blessed)`` or `` (blessed by hand by NAME: REASON)`` for a ModelBlessing; else ""."""
    props = artifact.properties or {}
    if artifact.type != "ModelBlessing" or "blessed" not in props:
        return ""
    if props.get("forced"):
        return f" ({hand_blessing_text(props)})"
    return " (blessed)" if props["blessed"] is True else " (NOT blessed)"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def trace(store: _Events, artifact_id: int, direction: str = "up") -> LineageGraph:
    """Walk the events from one artifact, up to its sources or down to its descendants."""
    if direction not in ("up", "down"):
        raise ValueError(f"lineage direction must be 'up' or 'down', not {direction!r}")
    root = store.get_artifact(artifact_id)
    if root is None:
        raise ValueError(f"no artifact {artifact_id} in the metadata store")
    graph = LineageGraph(root=root.id, direction=direction, artifacts={root.id: root})
    pending = [root.id]
    expanded: set[int] = set()
    while pending:
        current = pending.pop(0)
        if direction == "up":
            execution = store.producer(current)
            if execution is None:
                continue
            graph.executions[execution.id] = execution
            outputs = store.outputs_of(execution.id)
            name = next((n for n, a in outputs.items() if a.id == current), "")
            graph._add_edge(("execution", execution.id, "artifact", current, name))
            if execution.id in expanded:
                continue
            expanded.add(execution.id)
            for input_name, artifact in store.inputs_of(execution.id).items():
                graph._add_edge(("artifact", artifact.id, "execution", execution.id, input_name))
                if artifact.id not in graph.artifacts:
                    graph.artifacts[artifact.id] = artifact
                    pending.append(artifact.id)
        else:
            for execution, input_name in store.consumers(current):
                graph.executions[execution.id] = execution
                graph._add_edge(("artifact", current, "execution", execution.id, input_name))
                if execution.id in expanded:
                    continue
                expanded.add(execution.id)
                for output_name, artifact in store.outputs_of(execution.id).items():
                    graph._add_edge(("execution", execution.id, "artifact", artifact.id, output_name))
                    if artifact.id not in graph.artifacts:
                        graph.artifacts[artifact.id] = artifact
                        pending.append(artifact.id)
    return graph
