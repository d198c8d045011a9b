"""What changed between two runs, from the metadata store alone: the answer to "why did the model get worse".

Each execution records the facts its cache key hashes (parameters, input
and data fingerprints, user code files, library versions) and its metrics,
so comparing two runs needs nothing but the store: no pipeline file, no
MLflow. ``headrace diff`` renders the comparison as text or JSON, and the
MLflow parent run's description points to it.
"""

from __future__ import annotations

import json
from typing import Any

from headrace.metadata.records import ExecutionRecord, RunRecord
from headrace.metadata.store import MetadataStore
from headrace.pipelines.redaction import shown_url


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value} if prefix else {}


def _changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"key": key, "a": old.get(key), "b": new.get(key)}
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def _run(store: MetadataStore, run_id: str) -> RunRecord:
    run = store.get_run(run_id)
    if run is None:
        raise LookupError(f"no run '{run_id}' in the metadata store {shown_url(store.url)}; `headrace runs` lists them")
    return run


def _metric_rows(old: dict[str, float], new: dict[str, float]) -> list[dict[str, Any]]:
    rows = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        change = b - a if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None
        rows.append({"name": name, "a": a, "b": b, "change": change})
    return rows


def _component(name: str, old: ExecutionRecord | None, new: ExecutionRecord | None) -> dict[str, Any]:
    old_facts = old.cache_inputs if old else {}
    new_facts = new.cache_inputs if new else {}
    shown = _flatten(new.parameters if new else old.parameters if old else {})
    data = _changes(old_facts.get("data", {}), new_facts.get("data", {}))
    for change in data:
        change["file"] = shown.get(change["key"], change["key"])
    if new is None:
        ran = "not in run B"
    elif new.state == "cached":
        ran = f"cached (reused execution {new.cached_from})"
    elif new.state == "complete":
        ran = f"re-ran: {new.reason}" if new.reason else "ran"
    else:
        ran = f"{new.state}" + (f": {new.reason}" if new.reason else "")
    return {
        "component": name,
        "type": either.component_type if (either := new or old) else None,
        "state": {"a": old.state if old else None, "b": new.state if new else None},
        "reran": new is not None and new.state not in ("cached", "skipped"),
        "why": ran,
        "params": _changes(_flatten(old.parameters if old else {}), _flatten(new.parameters if new else {})),
        "inputs": _changes(old_facts.get("inputs", {}), new_facts.get("inputs", {})),
        "data": data,
        "code": _changes(old_facts.get("code", {}), new_facts.get("code", {})),
        "libraries": _changes(old_facts.get("libraries", {}), new_facts.get("libraries", {})),
        "metrics": _metric_rows(old.metrics if old else {}, new.metrics if new else {}),
    }


def run_diff(store: MetadataStore, run_a: str, run_b: str) -> dict[str, Any]:
    """The comparison as plain data (stable keys: ``headrace diff --format json`` prints it)."""
    a, b = _run(store, run_a), _run(store, run_b)
    old = {e.component: e for e in store.executions(a.id)}
    new = {e.component: e for e in store.executions(b.id)}
    order = [*new, *(n for n in old if n not in new)]
    return {
        "a": {"run_id": a.id, "pipeline": a.pipeline, "state": a.state, "started_at": str(a.started_at)},
        "b": {"run_id": b.id, "pipeline": b.pipeline, "state": b.state, "started_at": str(b.started_at)},
        "pipeline_params": _changes(_flatten(a.spec.get("params", {})), _flatten(b.spec.get("params", {}))),
        "components": [_component(n, old.get(n), new.get(n)) for n in order],
    }


def _value(value: Any) -> str:
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value)


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else _value(value)


def diff_text(diff: dict[str, Any]) -> str:
    """The comparison for a terminal: what changed first, every metric side by side."""
    a, b = diff["a"], diff["b"]
    lines = [
        f"A: run {a['run_id']} ({a['pipeline']}, {a['state']})",
        f"B: run {b['run_id']} ({b['pipeline']}, {b['state']})",
    ]
    if a["pipeline"] != b["pipeline"]:
        lines.append("note: the runs belong to different pipelines")
    if diff["pipeline_params"]:
        lines.append("\npipeline parameters:")
        lines += [f"  {c['key']}: {_value(c['a'])} -> {_value(c['b'])}" for c in diff["pipeline_params"]]
    reran = [c["component"] for c in diff["components"] if c["reran"]]
    lines.append(f"\nre-ran in B: {', '.join(reran) if reran else 'nothing (all cached)'}")
    for comp in diff["components"]:
        state = comp["state"]
        head = f"\n{comp['component']} ({comp['type']}): {_value(state['a'])} -> {_value(state['b'])}; {comp['why']}"
        lines.append(head)
        lines += [f"  parameter {c['key']}: {_value(c['a'])} -> {_value(c['b'])}" for c in comp["params"]]
        lines += [f"  data {c['key']} ({c['file']}): content changed" for c in comp["data"]]
        lines += [f"  input {c['key']}: new content" for c in comp["inputs"]]
        for c in comp["code"]:
            what = "new" if c["a"] is None else "no longer imported" if c["b"] is None else "changed"
            lines.append(f"  user code {c['key']}: {what}")
        lines += [f"  library {c['key']}: {_value(c['a'])} -> {_value(c['b'])}" for c in comp["libraries"]]
        if comp["metrics"]:
            width = max(len(m["name"]) for m in comp["metrics"])
            for m in comp["metrics"]:
                change = m["change"]
                delta = "" if change is None else "  (=)" if change == 0 else f"  ({change:+.6g})"
                lines.append(f"  {m['name']:<{width}}  {_number(m['a']):>12}  {_number(m['b']):>12}{delta}")
    return "\n".join(lines)
