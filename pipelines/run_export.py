"""``headrace runs`` and ``show`` for scripts: ``--format tsv`` and ``--format json``.

The keys of the JSON documents are part of the interface: scripts rely on
them, so they only ever gain keys. States are those the table shows (a run
whose process died here is ``interrupted``). Times are ISO 8601 (UTC as stored),
durations seconds, metrics plain numbers. TSV is one header line plus one
line per row; a tab or line break inside a value becomes a space, so every
row stays one line for ``cut`` and ``awk``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from headrace.metadata.liveness import observed_state
from headrace.metadata.records import RunRecord
from headrace.metadata.store import MetadataStore
from headrace.pipelines.progress import error_headline, state_label
from headrace.pipelines.reports import execution_state, latest_per_component

RUN_COLUMNS = ("run", "pipeline", "state", "started", "duration_s", "components")
EXECUTION_COLUMNS = ("execution", "component", "type", "state", "duration_s", "cached_from", "reason", "error")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 3) if start and end else None


def run_summary(store: MetadataStore, run: RunRecord) -> dict[str, Any]:
    """One run as a JSON object: ``run_id, pipeline, state, started_at, ended_at, duration_s, components``."""
    counts: dict[str, int] = {}
    for e in latest_per_component(store.executions(run.id)).values():
        shown = execution_state(e, run)
        counts[shown] = counts.get(shown, 0) + 1
    return {
        "run_id": run.id,
        "pipeline": run.pipeline,
        "state": observed_state(run),
        "started_at": _iso(run.started_at),
        "ended_at": _iso(run.ended_at),
        "duration_s": _seconds(run.started_at, run.ended_at),
        "components": dict(sorted(counts.items())),
    }


def run_detail(store: MetadataStore, run: RunRecord) -> dict[str, Any]:
    """One run with each execution, its outputs and metrics (the ``show`` command's content)."""
    executions = []
    for e in store.executions(run.id):
        executions.append(
            {
                "execution_id": e.id,
                "component": e.component,
                "type": e.component_type,
                "state": execution_state(e, run),
                "started_at": _iso(e.started_at),
                "ended_at": _iso(e.ended_at),
                "duration_s": _seconds(e.started_at, e.ended_at),
                "cached_from": e.cached_from,
                "reason": e.reason,
                "error": e.error,
                "log": e.log_uri,
                "parameters": e.parameters,
                "metrics": e.metrics,
                "outputs": {
                    name: {"artifact_id": a.id, "type": a.type, "uri": a.uri, "properties": a.properties}
                    for name, a in store.outputs_of(e.id).items()
                },
            }
        )
    return {
        **run_summary(store, run),
        "pipeline_file": run.pipeline_file,
        "root": run.root,
        "executions": executions,
    }


def runs_tsv(summaries: Sequence[dict[str, Any]]) -> str:
    rows = [
        (
            s["run_id"],
            s["pipeline"],
            s["state"],
            s["started_at"],
            s["duration_s"],
            ", ".join(f"{n} {state_label(state)}" for state, n in s["components"].items()),
        )
        for s in summaries
    ]
    return tsv(RUN_COLUMNS, rows)


def executions_tsv(detail: dict[str, Any]) -> str:
    rows = [
        (
            e["execution_id"],
            e["component"],
            e["type"],
            e["state"],
            e["duration_s"],
            e["cached_from"],
            e["reason"],
            error_headline(e["error"]),
        )
        for e in detail["executions"]
    ]
    return tsv(EXECUTION_COLUMNS, rows)


def tsv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A header and one line per row; empty for None; tabs and line breaks inside a value become spaces."""
    lines = ["\t".join(columns)]
    for row in rows:
        lines.append("\t".join("" if v is None else _cell(str(v)) for v in row))
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("\t", " ").replace("\r\n", " ").replace("\n", " ").replace("\r", " ")


def to_json(document: Any) -> str:
    return json.dumps(document, indent=2, default=str)
