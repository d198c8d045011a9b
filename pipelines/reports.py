"""Text views of the metadata store for ``headrace runs``, ``show`` and ``logs``."""

from __future__ import annotations

import os
from datetime import datetime

from rich.table import Table
from rich.text import Text

from headrace.metadata.liveness import observed_state
from headrace.metadata.records import ExecutionRecord, RunRecord
from headrace.metadata.store import MetadataStore
from headrace.pipelines.artifact_store import report_pages
from headrace.pipelines.numbers import format_metric
from headrace.pipelines.progress import STYLES, error_headline, state_label
from headrace.pipelines.redaction import shown_url


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _duration(start: datetime | None, end: datetime | None) -> str:
    if not start or not end:
        return ""
    return f"{(end - start).total_seconds():.2f}s"


def runs_table(store: MetadataStore, limit: int) -> Table | Text:
    runs = store.list_runs(limit=limit)
    if not runs:
        return Text(f"no runs yet in {shown_url(store.url)}")
    table = Table(box=None, pad_edge=False)
    for column in ("run", "pipeline", "state", "started", "duration"):
        table.add_column(column, no_wrap=True)
    table.add_column("components")
    for run in runs:
        executions = store.executions(run.id)
        counts: dict[str, int] = {}
        for e in latest_per_component(executions).values():
            shown = execution_state(e, run)
            counts[shown] = counts.get(shown, 0) + 1
        summary = ", ".join(f"{n} {state_label(s)}" for s, n in sorted(counts.items()))
        state = observed_state(run)
        state_style = {"succeeded": "green", "failed": "red", "running": "cyan"}.get(state, "yellow")
        table.add_row(
            run.id,
            run.pipeline,
            Text(state, state_style),
            _when(run.started_at),
            _duration(run.started_at, run.ended_at),
            summary,
        )
    return table


def execution_state(execution: ExecutionRecord, run: RunRecord) -> str:
    """`running` in a run whose process died is shown as what it is: interrupted (`--resume` re-runs it)."""
    if execution.state == "running" and observed_state(run) == "interrupted":
        return "interrupted"
    return execution.state


def latest_per_component(executions: list[ExecutionRecord]) -> dict[str, ExecutionRecord]:
    """After a resume a component may have several executions in one run; the last one counts."""
    latest: dict[str, ExecutionRecord] = {}
    for e in executions:
        latest[e.component] = e
    return latest


def run_report(store: MetadataStore, run: RunRecord) -> list[Table | Text]:
    """Header, one row per execution, then each execution's artifacts, metrics and failures."""
    state = observed_state(run)
    header = Text.assemble(
        (f"run {run.id}", "bold"),
        f"  pipeline {run.pipeline}  ",
        (state, {"succeeded": "green", "failed": "red", "running": "cyan"}.get(state, "yellow")),
        f"\nstarted {_when(run.started_at)}  duration {_duration(run.started_at, run.ended_at) or '-'}",
        f"\nfile {run.pipeline_file}\nroot {run.root}\n",
    )
    table = Table(box=None, pad_edge=False)
    for column in ("#", "component", "type", "state", "time"):
        table.add_column(column, no_wrap=True)
    table.add_column("cache / why it ran")
    details = Text()
    for e in store.executions(run.id):
        why = f"hit: reused execution {e.cached_from}" if e.state == "cached" else (e.reason or "")
        table.add_row(
            str(e.id),
            e.component,
            e.component_type,
            Text(state_label(execution_state(e, run)), STYLES.get(execution_state(e, run), "")),
            _duration(e.started_at, e.ended_at),
            why,
        )
        resolutions = store.input_resolutions(e.id)
        if resolutions:
            inputs = store.inputs_of(e.id)
            for name, how in resolutions.items():
                artifact = inputs[name]
                made_in = store.run_of_artifact(artifact.id)
                details.append(f"\n{e.component} input {name}", style="bold")
                details.append(
                    f"  {artifact.type} #{artifact.id}, the {how} from run {made_in.id if made_in else '?'}"
                    f"\n    {artifact.uri}"
                )
        pages: list[str] = []
        for name, artifact in store.outputs_of(e.id).items():
            details.append(f"\n{e.component}.{name}", style="bold")
            details.append(f"  {artifact.type} #{artifact.id}{_props(artifact.properties)}\n    {artifact.uri}")
            _append_summary(details, artifact.properties)
            if artifact.type == "Model":
                _append_manual_blessings(details, store, artifact.id)
            if not artifact.properties.get("checks"):  # a blessing's warning repeats its failing lines, listed above
                for warning in artifact.properties.get("warnings") or []:
                    details.append(f"\n    warning: {warning}", style="yellow")
            for page in report_pages(artifact.uri):
                pages.append(page)
                details.append(f"\n    report: {page}")
        if e.metrics:
            details.append(f"\n{e.component} metrics", style="bold")
            details.append("  " + ", ".join(f"{k}={format_metric(v)}" for k, v in sorted(e.metrics.items())))
        if e.state in ("failed", "interrupted") and e.error:
            details.append(f"\n{e.component} {e.state}: ", style="bold red")
            details.append(error_headline(e.error) or "", style="red")
            for page in pages:  # a failed gate published its evidence before failing the run
                details.append(f"\n    report: {page}")
            if e.log_uri:
                details.append(f"\n    log: {e.log_uri}")
    return [header, table, details]


def _append_summary(details: Text, properties: dict) -> None:
    """A component's own one-line summary (e.g. the validator's anomalies) and its listed items."""
    summary = properties.get("summary")
    if not summary:
        return
    counts = properties.get("counts") or {}
    style = "red" if counts.get("error") else "yellow" if counts.get("warning") else "green"
    if properties.get("blessed") is False:
        style = "red"
    details.append(f"\n    {summary}", style=style)
    for check in properties.get("checks") or []:  # a blessing's threshold lines
        if isinstance(check, dict):
            result = str(check.get("result", ""))
            details.append(f"\n      {result:<12}", style={"fail": "red", "pass": "green"}.get(result, "dim"))
            details.append(str(check.get("text", "")))
    for item in properties.get("anomalies") or []:
        if isinstance(item, dict):
            severity = item.get("severity", "")
            details.append(f"\n      {severity:<8}", style="red" if severity == "error" else "yellow")
            details.append(f"{item.get('column', '')}: {item.get('kind', '')}")
            if item.get("split"):
                details.append(f" ({item['split']})")


def _append_manual_blessings(details: Text, store: MetadataStore, model_id: int) -> None:
    """``headrace bless`` overrides the evaluator's verdict: say so where the model is shown."""
    for execution, _ in store.consumers(model_id):
        if execution.component_type != "manual_blessing":
            continue
        for blessing in store.outputs_of(execution.id).values():
            details.append(
                f"\n    {blessing.properties.get('summary', 'blessed by hand')} "
                f"(ModelBlessing #{blessing.id}, run {execution.run_id})",
                style="green",
            )


def _props(properties: dict) -> str:
    counts = properties.get("row_counts")
    if isinstance(counts, dict):
        return " (" + ", ".join(f"{k}: {format_metric(v)} rows" for k, v in counts.items()) + ")"
    return ""


def find_log(store: MetadataStore, run_id: str, component: str) -> tuple[str, str | None]:
    """The log file of a component in a run; for a cache hit, the log of the execution it reused."""
    run = store.get_run(run_id)
    if run is None:
        raise LookupError(f"no run '{run_id}' in {shown_url(store.url)}; `headrace runs` lists them")
    matches = [e for e in store.executions(run.id) if e.component == component]
    if not matches:
        names = sorted({e.component for e in store.executions(run.id)})
        raise LookupError(f"run {run.id} has no component '{component}'; it has: {', '.join(names)}")
    execution = matches[-1]
    note = None
    if execution.state == "cached" and execution.cached_from:
        original = store.get_execution(execution.cached_from)
        note = f"{component} was a cache hit in run {run.id}; showing the log of execution {execution.cached_from} (run {original.run_id if original else '?'})"
        execution = original or execution
    if not execution.log_uri or not os.path.exists(execution.log_uri):
        raise LookupError(f"{component} in run {run.id} has no log file (state {execution.state})")
    return execution.log_uri, note
