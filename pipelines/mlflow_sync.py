"""Copy one run from the metadata store into MLflow: a parent run, a nested child run per execution.

The store is the source of truth; this module only reads it, so the live
mirror (``mlflow_worker``, fed by the ``MlflowMirror`` observer) and
``headrace mlflow sync RUN_ID`` run the same code. Syncing is idempotent:
MLflow runs are found again by their ``headrace.run_id`` /
``headrace.execution_id`` tags, and a child run whose ``headrace.state`` tag
already says the execution's final state is left alone, so a replay, or two
processes mirroring the same run, create no duplicates.

MLflow is imported inside the functions: this module is loaded by the
background worker, never on a run's critical path.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from headrace.metadata.records import ArtifactRecord, ExecutionRecord, RunRecord
from headrace.metadata.store import MetadataStore
from headrace.pipelines.mlflow_target import MirrorTarget, spec_fingerprint
from headrace.pipelines.redaction import shown_url

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

PARAM_LIMIT = 6000
"""MLflow's longest parameter value; longer values are cut and marked (the store keeps them whole)."""
TRUNCATED = " …[truncated: the full value is in the headrace metadata store]"
TAG_LIMIT = 8000

FINAL_STATES = {"complete", "cached", "failed", "skipped", "interrupted"}
STATUS = {
    "complete": "FINISHED",
    "cached": "FINISHED",
    "failed": "FAILED",
    "skipped": "KILLED",
    "interrupted": "KILLED",
    "succeeded": "FINISHED",
}
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development", "headrace.mirror": "true"}
"""The MLflow UI opens a model-training experiment on its runs table, not on the GenAI traces overview."""
DATASET_CONTEXTS = {"trainer": "training", "evaluator": "evaluation"}


class MirrorError(RuntimeError):
    """MLflow cannot take the run (dead server, deleted experiment, ...): said in words, for the record and the CLI."""


@dataclass
class SyncReport:
    experiment_id: str
    parent_run_id: str
    created: int = 0
    updated: int = 0
    children: dict[int, str] = field(default_factory=dict)
    """execution id -> MLflow run id."""


def _ms(when: datetime | None) -> int | None:
    return int(when.timestamp() * 1000) if when else None


def truncate(value: str, limit: int = PARAM_LIMIT) -> str:
    """``value`` cut to MLflow's limit with a marker saying where the whole value is."""
    if len(value) <= limit:
        return value
    return value[: limit - len(TRUNCATED)] + TRUNCATED


def flat_params(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested parameters as MLflow's flat ``a.b.c`` keys, values as text."""
    if isinstance(value, dict) and value:
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flat_params(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return {prefix[:250]: truncate(text)} if prefix else {}


def client_for(target: MirrorTarget) -> MlflowClient:
    """A client on the target with MLflow's own HTTP retries off (they would wait minutes on a dead server)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=target.tracking_uri)


def experiment_id(client: MlflowClient, target: MirrorTarget) -> str:
    """The experiment's id, created on first use; a deleted experiment is an error that says how to restore it."""
    from mlflow.exceptions import MlflowException

    try:
        experiment = client.get_experiment_by_name(target.experiment)
        if experiment is None:
            location = None
            if target.tracking_uri.startswith(
                "sqlite:///"
            ):  # artifacts beside the database, not in ./mlruns of the cwd
                folder = os.path.dirname(target.tracking_uri[len("sqlite:///") :])
                location = "file://" + os.path.join(folder, "mlflow-artifacts", target.experiment)
            try:
                return str(
                    client.create_experiment(target.experiment, artifact_location=location, tags=EXPERIMENT_TAGS)
                )
            except MlflowException:  # another process created it meanwhile
                experiment = client.get_experiment_by_name(target.experiment)
                if experiment is None:
                    raise
    except MlflowException as exc:
        raise MirrorError(_said(target, exc.message)) from None
    if experiment.lifecycle_stage != "deleted" and "mlflow.experimentKind" not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, "mlflow.experimentKind", "custom_model_development")
    if experiment.lifecycle_stage == "deleted":
        raise MirrorError(
            f"experiment '{target.experiment}' (id {experiment.experiment_id}) was deleted in "
            f"{shown_url(target.tracking_uri)}; restore it (mlflow experiments restore --experiment-id "
            f"{experiment.experiment_id}) or name another one in the pipeline file's mlflow.experiment"
        )
    return str(experiment.experiment_id)


def _said(target: MirrorTarget, message: str) -> str:
    """MLflow's error in a sentence: an unreachable server is named as such, not as a long urllib3 trace."""
    where = shown_url(target.tracking_uri)
    if any(s in message for s in ("Connection refused", "Failed to establish", "Max retries", "timed out")):
        return (
            f"cannot reach the MLflow tracking server at {where} (connection refused or timed out); "
            "start it or fix mlflow.tracking_uri in the pipeline file"
        )
    return f"MLflow at {where} refused the experiment '{target.experiment}': {message.splitlines()[0][:300]}"


def _runs_tagged(client: MlflowClient, experiment: str, tag: str, value: str) -> list[Run]:
    found: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment], filter_string=f"tags.`{tag}` = '{value}'", max_results=1000, page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            return found


def _git_commit(folder: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def resolved_yaml(run: RunRecord) -> str:
    """The run's pipeline as recorded: interpolated, secrets kept as ``${env:...}`` references, URL passwords masked."""
    import yaml

    spec = dict(run.spec)
    if isinstance(spec.get("metadata"), str):
        spec["metadata"] = shown_url(spec["metadata"])
    if isinstance(spec.get("mlflow"), dict) and isinstance(spec["mlflow"].get("tracking_uri"), str):
        spec["mlflow"] = {**spec["mlflow"], "tracking_uri": shown_url(spec["mlflow"]["tracking_uri"])}
    header = f"# pipeline '{run.pipeline}', run {run.id}, as recorded by headrace (secrets as ${{env:...}})\n"
    return header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


def run_link(experiment: str, mlflow_run_id: str) -> str:
    """A link the MLflow UI follows from a run's markdown description."""
    return f"#/experiments/{experiment}/runs/{mlflow_run_id}"


class RunSync:
    """One sync of one headrace run into an MLflow experiment."""

    def __init__(
        self,
        store: MetadataStore,
        run: RunRecord,
        target: MirrorTarget,
        *,
        lineage_svg: Callable[[MetadataStore, RunRecord], str] | None = None,
    ) -> None:
        self.store = store
        self.run = run
        self.target = target
        self.client = client_for(target)
        self.lineage_svg = lineage_svg

    def sync(self) -> SyncReport:
        client, run = self.client, self.run
        experiment = experiment_id(client, self.target)
        mirrored = _runs_tagged(client, experiment, "headrace.run_id", run.id)
        parents = sorted(
            (r for r in mirrored if r.data.tags.get("headrace.kind") == "pipeline_run"), key=lambda r: r.info.start_time
        )
        report = SyncReport(experiment, "")
        if parents:
            parent = parents[0]
            for duplicate in parents[1:]:  # two processes raced to create it: keep the first
                client.delete_run(duplicate.info.run_id)
        else:
            parent = self._create_parent(experiment)
            report.created += 1
        report.parent_run_id = parent.info.run_id
        children: dict[str, Run] = {}
        for r in sorted(mirrored, key=lambda r: r.info.start_time):
            key = r.data.tags.get("headrace.execution_id")
            if r.data.tags.get("headrace.kind") != "execution" or key is None:
                continue
            if key in children:
                client.delete_run(r.info.run_id)
            else:
                children[key] = r
        for execution in self.store.executions(run.id):
            child = children.get(str(execution.id))
            if child is None:
                child = self._create_child(experiment, parent.info.run_id, execution)
                report.created += 1
            report.children[execution.id] = child.info.run_id
            if child.data.tags.get("headrace.state") != execution.state and execution.state in FINAL_STATES:
                self._finish_child(experiment, child.info.run_id, execution)
                report.updated += 1
        self._update_parent(experiment, parent, report)
        return report

    def _create_parent(self, experiment: str) -> Run:
        run = self.run
        tags = {
            "headrace.kind": "pipeline_run",
            "headrace.run_id": run.id,
            "headrace.pipeline": run.pipeline,
            "headrace.yaml_fingerprint": spec_fingerprint(run.spec),
            "headrace.pipeline_file": run.pipeline_file,
            "headrace.host": run.host,
        }
        commit = _git_commit(os.path.dirname(run.pipeline_file)) if run.pipeline_file else None
        if commit:
            tags["mlflow.source.git.commit"] = commit
        parent = self.client.create_run(
            experiment, start_time=_ms(run.started_at), tags=tags, run_name=f"{run.pipeline} {run.id}"
        )
        self.client.log_text(parent.info.run_id, resolved_yaml(run), "pipeline.yaml")
        return parent

    def _create_child(self, experiment: str, parent: str, execution: ExecutionRecord) -> Run:
        tags = {
            "mlflow.parentRunId": parent,
            "headrace.kind": "execution",
            "headrace.run_id": self.run.id,
            "headrace.execution_id": str(execution.id),
            "headrace.component": execution.component,
            "headrace.component_type": execution.component_type,
        }
        return self.client.create_run(
            experiment,
            start_time=_ms(execution.started_at) or _ms(self.run.started_at),
            tags=tags,
            run_name=execution.component,
        )

    def _finish_child(self, experiment: str, mlflow_run: str, execution: ExecutionRecord) -> None:
        from mlflow.entities import Metric, Param, RunTag

        client, store = self.client, self.store
        inputs = store.inputs_of(execution.id)
        outputs = store.outputs_of(execution.id)
        tags = {
            "headrace.component_version": execution.component_version,
            "headrace.cache_hit": "true" if execution.state == "cached" else "false",
        }
        if execution.reason:
            tags["headrace.reason"] = truncate(execution.reason, TAG_LIMIT)
        if execution.error:
            tags["headrace.error"] = truncate(execution.error, TAG_LIMIT)
        for name, artifact in inputs.items():
            tags[f"headrace.input.{name}"] = artifact.uri
        for name, artifact in outputs.items():
            tags[f"headrace.output.{name}"] = artifact.uri
        note = [
            f"**{execution.component}** ({execution.component_type}) in headrace run `{self.run.id}`: {execution.state}"
        ]
        if execution.reason:
            note.append(f"\n\nwhy: {execution.reason}")
        if execution.cached_from is not None:
            tags.update(self._producer_tags(experiment, execution.cached_from))
            link = tags.get("headrace.cached_from_mlflow_run")
            where = f"[its MLflow run]({run_link(experiment, link)})" if link else "not mirrored"
            note.append(
                f"\n\ncache hit: reused execution {execution.cached_from} of run "
                f"`{tags['headrace.cached_from_run']}` ({where})"
            )
        tags["mlflow.note.content"] = truncate("".join(note), TAG_LIMIT)
        params = [Param(k, v) for k, v in flat_params(execution.parameters).items()]
        when = _ms(execution.ended_at) or _ms(execution.started_at) or 0
        values = dict(execution.metrics)
        if execution.duration_s is not None:
            values["duration_s"] = execution.duration_s
        metrics = [Metric(k[:250], float(v), when, 0) for k, v in values.items() if isinstance(v, (int, float))]
        for start in range(0, max(len(params), 1), 100):
            client.log_batch(mlflow_run, params=params[start : start + 100])
        for start in range(0, len(metrics), 1000):
            client.log_batch(mlflow_run, metrics=metrics[start : start + 1000])
        client.log_batch(mlflow_run, tags=[RunTag(k, v) for k, v in tags.items()])
        self._log_datasets(mlflow_run, execution, inputs, outputs)
        if execution.state in ("complete", "cached"):
            from headrace.pipelines.mlflow_models import log_models

            log_models(client, experiment, mlflow_run, execution, inputs, outputs)
        client.set_terminated(mlflow_run, STATUS[execution.state], end_time=_ms(execution.ended_at))
        client.set_tag(mlflow_run, "headrace.state", execution.state)  # last: marks the child as mirrored

    def _producer_tags(self, experiment: str, execution_id: int) -> dict[str, str]:
        producer = self.store.get_execution(execution_id)
        tags = {"headrace.cached_from_execution": str(execution_id)}
        if producer is None:
            return tags
        tags["headrace.cached_from_run"] = producer.run_id
        found = _runs_tagged(self.client, experiment, "headrace.execution_id", str(execution_id))
        if found:
            tags["headrace.cached_from_mlflow_run"] = found[0].info.run_id
        return tags

    def _log_datasets(
        self,
        mlflow_run: str,
        execution: ExecutionRecord,
        inputs: dict[str, ArtifactRecord],
        outputs: dict[str, ArtifactRecord],
    ) -> None:
        """Examples a step read (context: training / evaluation / its type) or wrote (context: output)."""
        from mlflow.entities import DatasetInput, InputTag

        context = DATASET_CONTEXTS.get(execution.component_type, execution.component_type)
        logged = [
            DatasetInput(examples_dataset(a), [InputTag("mlflow.data.context", context)])
            for a in inputs.values()
            if a.type == "Examples"
        ]
        logged += [
            DatasetInput(examples_dataset(a), [InputTag("mlflow.data.context", "output")])
            for a in outputs.values()
            if a.type == "Examples"
        ]
        if logged:
            self.client.log_inputs(mlflow_run, datasets=logged)

    def _update_parent(self, experiment: str, parent: Run, report: SyncReport) -> None:
        from mlflow.entities import RunTag

        client, run = self.client, self.run
        executions = self.store.executions(run.id)
        lines = [
            f"headrace run `{run.id}` of pipeline **{run.pipeline}**: {run.state}",
            "",
            "| component | state | duration | why |",
            "|---|---|---|---|",
        ]
        for e in executions:
            child = report.children.get(e.id)
            name = f"[{e.component}]({run_link(experiment, child)})" if child else e.component
            took = f"{e.duration_s:.2f} s" if e.duration_s is not None else ""
            why = (e.reason or "").replace("|", "\\|").replace("\n", " ")[:200]
            lines.append(f"| {name} | {e.state} | {took} | {why} |")
        earlier = [r for r in self.store.list_runs(run.pipeline, limit=50) if r.started_at < run.started_at]
        other = earlier[0].id if earlier else "<earlier run id>"
        lines += [
            "",
            "Lineage: `lineage.svg` in this run's artifacts.",
            "",
            f"What changed since the previous run: `headrace diff {other} {run.id}`",
        ]
        states = {e.state for e in executions}
        tags = {
            "mlflow.note.content": truncate("\n".join(lines), TAG_LIMIT),
            "headrace.state": run.state,
            "headrace.executions": str(len(executions)),
            "headrace.cache_hits": str(sum(e.state == "cached" for e in executions)),
        }
        if "failed" in states:
            tags["headrace.failed"] = ", ".join(e.component for e in executions if e.state == "failed")
        client.log_batch(parent.info.run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        if run.state in STATUS and parent.data.tags.get("headrace.state") != run.state:
            if self.lineage_svg is not None:
                client.log_text(parent.info.run_id, self.lineage_svg(self.store, run), "lineage.svg")
            client.set_terminated(parent.info.run_id, STATUS[run.state], end_time=_ms(run.ended_at))


def examples_dataset(artifact: ArtifactRecord) -> Any:
    """An Examples artifact as an MLflow dataset entity: source = its URI, digest = its fingerprint, schema, rows.

    Named after the output that made it (``ingest.examples``), so every step that read the same data shows
    the same dataset in the MLflow UI.
    """
    import warnings

    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.entities import Dataset

    with warnings.catch_warnings():  # "can be interpreted in multiple ways": both readings are the local folder
        warnings.simplefilter("ignore")
        source = resolve_dataset_source(artifact.uri)
    parts = artifact.uri.rstrip("/").rsplit("/", 2)
    name = parts[-2] if len(parts) == 3 else f"examples-{artifact.id}"
    props = artifact.properties
    columns = [
        {"name": c.get("name"), "type": _mlflow_type(str(c.get("type"))), "required": not c.get("nullable", True)}
        for c in props.get("schema", [])
        if isinstance(c, dict)
    ]
    counts = props.get("row_counts") or {}
    profile = {"num_rows": sum(int(v) for v in counts.values()), "splits": counts} if counts else None
    return Dataset(
        name=name,
        digest=(artifact.fingerprint or str(artifact.id))[:36],
        source_type=source._get_source_type(),
        source=source.to_json(),
        schema=json.dumps({"mlflow_colspec": columns}) if columns else None,
        profile=json.dumps(profile) if profile else None,
    )


def _mlflow_type(arrow: str) -> str:
    if arrow in ("int64", "uint32", "uint64"):
        return "long"
    if arrow.startswith(("int", "uint")):
        return "integer"
    if arrow in ("double", "float64"):
        return "double"
    if arrow in ("float", "float32", "halffloat"):
        return "float"
    if arrow == "bool":
        return "boolean"
    if arrow.startswith("timestamp") or arrow.startswith("date"):
        return "datetime"
    if arrow in ("binary", "large_binary"):
        return "binary"
    return "string"


@contextlib.contextmanager
def _one_writer(target: MirrorTarget) -> Iterator[None]:
    """Processes on this host mirror into one experiment one at a time, so they never both create a run.

    (Across hosts, the next sync deletes a duplicate that a race created: the oldest run is kept.)
    """
    import fcntl
    import hashlib
    import tempfile

    key = hashlib.sha256(f"{target.tracking_uri}\n{target.experiment}".encode()).hexdigest()[:16]
    with open(os.path.join(tempfile.gettempdir(), f"headrace-mlflow-{key}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def sync_run(
    store: MetadataStore,
    run_id: str,
    target: MirrorTarget,
    *,
    lineage_svg: Callable[[MetadataStore, RunRecord], str] | None = None,
) -> SyncReport:
    """Mirror run ``run_id`` into MLflow; raises ``LookupError`` for an unknown run, ``MirrorError`` when MLflow fails."""
    run = store.get_run(run_id)
    if run is None:
        raise LookupError(f"no run '{run_id}' in the metadata store {shown_url(store.url)}; `headrace runs` lists them")
    try:
        with _one_writer(target):
            return RunSync(store, run, target, lineage_svg=lineage_svg).sync()
    except MirrorError:
        raise
    except Exception as exc:  # MLflow's errors (connection refused, bad URI) said once, in words
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise MirrorError(f"could not mirror run {run_id}: {_said(target, message)}") from exc
