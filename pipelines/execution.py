"""Execute one component of one run: the unit every runner is made of.

``execute_task`` takes a ``Task`` (pipeline file, node, run id, store URL:
what a Kubeflow pod receives as its arguments), resolves the node's inputs
from the store, decides between a cache hit and a run (and records why it
runs), runs the executor with its log captured, publishes the outputs
atomically and records the execution, telling a ``RunObserver`` each step.
The local runner calls it in a thread; a Kubeflow task calls the very same
function inside its container.
"""

from __future__ import annotations

import socket
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, cast

from headrace.components.artifacts import Artifact, ModelBlessing, artifact_type
from headrace.components.contract import ComponentError, Context, GateFailed
from headrace.metadata.liveness import observed_state
from headrace.metadata.records import ArtifactRecord, ExecutionRecord, says_blessed_by_hand
from headrace.metadata.store import MetadataStore
from headrace.pipelines import artifact_store
from headrace.pipelines.cache import cache_inputs, explain_rerun
from headrace.pipelines.component_logs import capture_to
from headrace.pipelines.fingerprints import artifact_fingerprint
from headrace.pipelines.graph import Node, Pipeline
from headrace.pipelines.manifests import file_manifest, manifest_problem
from headrace.pipelines.mlflow_target import pipeline_tracking_uri
from headrace.pipelines.observers import RunObserver, SilentObserver
from headrace.pipelines.redaction import Redactor
from headrace.pipelines.task import Task, load_task_pipeline

DONE_STATES = ("complete", "cached")

HAND_BLESSING = "blessed_by_hand"
"""The input event recording the hand blessing a ``uses_hand_blessing`` component was given (no declared input)."""

KeyLock = Callable[[str], AbstractContextManager[Any]]
"""``key_lock(cache_key)``: held from the cache lookup to the publish (see the local runner)."""


class InputUnavailable(RuntimeError):
    """An input's artifact cannot be found where the pipeline file says it comes from."""


@dataclass
class NodeOutcome:
    node: str
    state: str  # complete | cached | failed | skipped
    execution_id: int | None = None
    reason: str | None = None
    seconds: float = 0.0
    error: str | None = None
    log_path: str | None = None
    outputs: dict[str, ArtifactRecord] = field(default_factory=dict)
    cached_from: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    reports: list[str] = field(default_factory=list)
    """A failed gate's HTML reports, published before it failed the run: where to look first."""


@dataclass
class RunResult:
    run_id: str
    pipeline: str
    state: str  # succeeded | failed
    outcomes: dict[str, NodeOutcome] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> list[NodeOutcome]:
        return [o for o in self.outcomes.values() if o.state == "failed"]


def resolve_inputs(
    pipeline: Pipeline,
    node: Node,
    run_id: str,
    store: MetadataStore,
    known_outputs: dict[str, dict[str, ArtifactRecord]] | None = None,
    *,
    earlier_inputs: bool = False,
) -> tuple[dict[str, ArtifactRecord], dict[str, str]]:
    """Each input's artifact, and for those taken from an earlier run, the rule that chose it.

    A wire ``a.b`` reads what ``a`` produced in *this* run. Another run's
    artifact is read only where the pipeline file says so (``{latest: a.b}``)
    or, with ``earlier_inputs`` (``--only`` / ``--from``, where the user asked
    for it), when ``a`` did not run in this run. ``known_outputs`` (node -> its
    outputs in this run) spares the store queries when the caller knows them.
    """
    known = known_outputs if known_outputs is not None else {}
    if any(not w.latest and w.node not in known for w in node.inputs.values()):
        done = {e.component: e for e in store.executions(run_id) if e.state in DONE_STATES}
        known = {**{n: store.outputs_of(e.id) for n, e in done.items() if n not in known}, **known}
    resolved: dict[str, ArtifactRecord] = {}
    resolutions: dict[str, str] = {}
    for name, wire in node.inputs.items():
        if wire.latest:
            record = store.latest_output(
                pipeline.name,
                wire.node,
                wire.output,
                exclude_run=run_id,
                accept=partial(store.is_blessed, pipeline=pipeline.name) if wire.blessed else None,
            )
            if record is None:
                if node.component.inputs[name].optional:
                    continue
                raise InputUnavailable(
                    f"input `{name}` of `{node.name}` takes the {wire.resolution} `{wire}` of an earlier run of "
                    f"pipeline '{pipeline.name}', and no earlier run has one"
                    + ("; a model counts once an evaluator blessed it" if wire.blessed else "")
                )
            resolved[name], resolutions[name] = record, str(wire.resolution)
            continue
        record = known.get(wire.node, {}).get(wire.output)
        if record is None and earlier_inputs:
            record = store.latest_output(pipeline.name, wire.node, wire.output, exclude_run=run_id)
            if record is None:
                raise InputUnavailable(
                    f"input `{name}` of `{node.name}` needs `{wire}`, which no run of pipeline "
                    f"'{pipeline.name}' has produced yet; run `{wire.node}` first (drop --only, or use --from {wire.node})"
                )
            resolutions[name] = "earlier run"
        if record is None:
            raise InputUnavailable(
                f"input `{name}` of `{node.name}` needs `{wire}`, which has not completed in run {run_id}; "
                f"a run reads another run's artifacts only where the pipeline file says so "
                f"(inputs: {{{name}: {{latest: {wire}}}}}) or under --only / --from"
            )
        resolved[name] = record
    return resolved, resolutions


def hand_blessing(
    store: MetadataStore, pipeline: Pipeline, node: Node, inputs: dict[str, ArtifactRecord]
) -> ArtifactRecord | None:
    """The newest ``headrace bless`` of the node's ``model`` input in this pipeline, for a node that declares it wants it.

    The wired blessing is the evaluator's verdict of its run; a person who
    blesses the model afterwards overrides it in the store only, so the
    runner looks it up: with it in the cache key, the next run acts on it.
    """
    model = inputs.get("model")
    if not node.component.uses_hand_blessing or model is None:
        return None
    return next((b for b in store.blessings(model, pipeline.name) if says_blessed_by_hand(b.properties)), None)


def _artifact(record: ArtifactRecord, declared: type[Artifact]) -> Artifact:
    """The input as the class its component declared; the registry only for a port typed plain ``Artifact``.

    Type names are not unique (two modules may each define ``Report``), so the
    first class registered under a name must not replace the declared one.
    """
    cls = declared
    if declared.type_name != record.type:
        try:
            cls = artifact_type(record.type)
        except KeyError:
            cls = declared
    return cls(uri=record.uri, properties=dict(record.properties), id=record.id, fingerprint=record.fingerprint)


def _reusable(
    store: MetadataStore, cache_key: str, run_id: str = ""
) -> tuple[ExecutionRecord | None, str | None, bool]:
    """A completed execution with this key whose outputs are all as published; else what is wrong with the newest.

    The problem lets the caller say "cached outputs were changed or deleted
    (...)"; the flag says whether another run is computing this key right now.
    """
    problem: str | None = None
    candidates = store.cache_candidates(cache_key, running=True)
    computing = any(e.state == "running" and e.run_id != run_id for e in candidates)
    for candidate in candidates:
        if candidate.state != "complete":
            continue
        outputs = store.outputs_of(candidate.id)
        problems = {n: manifest_problem(a.uri, a.manifest) for n, a in outputs.items()}
        if not any(problems.values()):
            return candidate, None, computing
        problem = problem or "; ".join(f"{n}: {p}" for n, p in problems.items() if p)
    return None, problem, computing


def _await_twins(store: MetadataStore, key: str, run_id: str, progress: Callable[[str], None]) -> bool:
    """Wait while another live run on this host computes this very cache key; whether there was one.

    Two runs started together would otherwise both compute the same thing, and
    the second would explain its re-run against the first's fresh result with
    a wrong reason. Waiting makes the second a cache hit. A twin on another
    host, or whose process died, is not waited for.
    """
    waited = False
    while True:
        twins = [
            e
            for e in store.cache_candidates(key, running=True)
            if e.state == "running"
            and e.run_id != run_id
            and (run := store.get_run(e.run_id)) is not None
            and run.host == socket.gethostname()
            and observed_state(run) == "running"
        ]
        if not twins:
            return waited
        if not waited:
            progress(f"waiting for execution {twins[0].id} (run {twins[0].run_id}), which computes the same thing")
        waited = True
        time.sleep(0.2)


def _unreadable_inputs(inputs: dict[str, ArtifactRecord]) -> str | None:
    """Refuse to compute on partial data: an input whose files differ from what was published."""
    for name, artifact in inputs.items():
        problem = manifest_problem(artifact.uri, artifact.manifest)
        if problem:
            return (
                f"input `{name}` ({artifact.type} #{artifact.id} at {artifact.uri}) no longer matches what was "
                f"published: {problem}. Re-run the component that made it (headrace run ... --no-cache, or "
                "`headrace gc` and run again) rather than compute on partial data"
            )
    return None


_runs_seen: set[tuple[str, str]] = set()
"""(store URL, run id) of runs this process has got or created: every later task of the run skips the query."""


def execute_task(
    task: Task,
    observer: RunObserver | None = None,
    *,
    store: MetadataStore | None = None,
    pipeline: Pipeline | None = None,
    known_outputs: dict[str, dict[str, ArtifactRecord]] | None = None,
    key_lock: KeyLock | None = None,
) -> NodeOutcome:
    """Run (or reuse) one node of a run and record it; never raises for a component failure.

    The task alone suffices: the pipeline is loaded from its file (once per
    process), the store opened from its URL and the run got or created. The
    other arguments are what a caller that already has them (the local
    runner) may hand over to save the work: an open ``store``, the loaded
    ``pipeline``, the outputs it already knows in this run, and a
    ``key_lock(cache_key)`` held from the cache lookup to the publish.
    Raises ``TaskError`` for a pipeline file that changed since the run
    started and ``InputUnavailable`` for an input that cannot be found.
    """
    started = time.perf_counter()
    pipeline = pipeline if pipeline is not None else load_task_pipeline(task)
    store = store if store is not None else MetadataStore(task.store_url)
    observer = observer if observer is not None else SilentObserver()
    if (store.url, task.run_id) not in _runs_seen:  # once per process: the first task of a run creates it
        store.create_run(
            pipeline.name, spec=pipeline.spec, pipeline_file=task.pipeline_file, root=pipeline.root, run_id=task.run_id
        )
        _runs_seen.add((store.url, task.run_id))
    node = pipeline.nodes[task.node]
    inputs, resolutions = resolve_inputs(
        pipeline, node, task.run_id, store, known_outputs, earlier_inputs=task.earlier_inputs
    )
    by_hand = hand_blessing(store, pipeline, node, inputs)
    facts, key = cache_inputs(node, pipeline, {n: a.fingerprint for n, a in inputs.items()}, store, by_hand)
    step = _Step(pipeline, node, task, store, observer, inputs, resolutions, facts, key, started, by_hand)
    with key_lock(key) if key_lock else nullcontext():
        return step.reuse_or_run()


@dataclass
class _Step:
    """One node's execution in progress: what the cache decision, the executor and the publish share."""

    pipeline: Pipeline
    node: Node
    task: Task
    store: MetadataStore
    observer: RunObserver
    inputs: dict[str, ArtifactRecord]
    resolutions: dict[str, str]
    facts: dict[str, Any]
    key: str
    started: float
    blessed_by_hand: ArtifactRecord | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def recorded_inputs(self) -> tuple[dict[str, int], dict[str, str]]:
        """Input events to record: the resolved inputs, and the hand blessing the component relied on."""
        inputs, resolutions = {n: a.id for n, a in self.inputs.items()}, dict(self.resolutions)
        if self.blessed_by_hand is not None:
            inputs[HAND_BLESSING], resolutions[HAND_BLESSING] = self.blessed_by_hand.id, "blessing by hand"
        return inputs, resolutions

    def reuse_or_run(self) -> NodeOutcome:
        node, task, store = self.node, self.task, self.store
        reason: str
        if not task.use_cache:
            reason = "caching disabled (--no-cache)"
        elif not node.cache:
            reason = "caching disabled (cache: false in the pipeline file)"
        else:
            hit, problem, computing = _reusable(store, self.key, task.run_id)
            if (
                hit is None
                and computing
                and _await_twins(store, self.key, task.run_id, lambda n: self.observer.node_progress(node.name, n))
            ):
                hit, problem, _ = _reusable(store, self.key, task.run_id)  # another run computed it meanwhile
            previous = None
            if hit is None and not problem:
                previous = store.previous_execution(self.pipeline.name, node.name, before_run=task.run_id)
                if previous is not None and previous.cache_key == self.key:
                    hit, problem, _ = _reusable(store, self.key)  # it completed between our lookup and now: reuse it
            if hit is not None:
                return self.record_hit(hit, store.outputs_of(hit.id))
            if problem:
                reason = f"cached outputs were changed or deleted ({problem})"
            else:  # compared with a completed execution only, so the reason names what really changed
                reason = explain_rerun(previous.cache_inputs if previous else None, self.facts, node.display_params)
        return self.run(reason)

    def record_hit(self, hit: ExecutionRecord, outputs: dict[str, ArtifactRecord]) -> NodeOutcome:
        node = self.node
        inputs, resolutions = self.recorded_inputs()
        execution = self.store.create_execution(
            self.task.run_id,
            node.name,
            node.type_name,
            node.component.version,
            state="cached",
            parameters=node.display_params,
            cache_key=self.key,
            cache_inputs=self.facts,
            inputs=inputs,
            resolutions=resolutions,
            outputs={n: a.id for n, a in outputs.items()},
            cached_from=hit.id,
            metrics=hit.metrics,
        )
        outcome = NodeOutcome(
            node.name,
            "cached",
            execution.id,
            f"cached from execution {hit.id}",
            self.elapsed(),
            outputs=outputs,
            log_path=hit.log_uri,
            cached_from=hit.id,
            metrics=dict(hit.metrics),
        )
        self.observer.node_cached(outcome)
        return outcome

    def run(self, reason: str) -> NodeOutcome:
        pipeline, node, store, run_id = self.pipeline, self.node, self.store, self.task.run_id
        log = artifact_store.log_path(pipeline.root, pipeline.name, run_id, node.name)
        inputs, resolutions = self.recorded_inputs()
        execution = store.create_execution(
            run_id,
            node.name,
            node.type_name,
            node.component.version,
            parameters=node.display_params,
            cache_key=self.key,
            cache_inputs=self.facts,
            reason=reason,
            log_uri=log,
            inputs=inputs,
            resolutions=resolutions,
        )
        self.observer.node_started(node.name, reason)
        damaged = _unreadable_inputs(self.inputs)
        if damaged is not None:
            store.finish_execution(execution.id, "failed", error=damaged)
            outcome = NodeOutcome(node.name, "failed", execution.id, reason, self.elapsed(), damaged, log)
            self.observer.node_failed(outcome)
            return outcome
        staging = {
            out: artifact_store.staging_uri(pipeline.root, pipeline.name, node.name, out, execution.id)
            for out in node.outputs
        }
        error: str | None = None
        gate = False
        metrics: dict[str, float] = {}
        produced: dict[str, Artifact] = {}
        for attempt in range(node.retries + 1):
            produced = {out: cls(uri=staging[out]) for out, cls in node.outputs.items()}
            for artifact in produced.values():
                artifact_store.remove(artifact.uri)
            error, gate = self.run_executor(execution.id, produced, log, attempt, metrics)
            if error is None or gate:  # a gate's verdict is not a flake: retrying would give the same
                break
            for artifact in produced.values():
                artifact_store.remove(artifact.uri)

        published: dict[str, ArtifactRecord] = {}
        if error is None or gate:
            redactor = Redactor(pipeline.secrets)
            for artifact in produced.values():  # properties are shown by `show` and kept in the store: no secrets
                artifact.properties = redactor.value(artifact.properties)
            try:
                published = publish_outputs(store, pipeline.root, pipeline.name, node.name, execution.id, produced)
            except Exception as exc:  # e.g. a full disk: the execution failed, it is not left "running"
                error_text = redactor.text(f"publishing the outputs failed: {exc}")
                store.finish_execution(execution.id, "failed", error=error_text)
                raise
        live = [a.id for a in published.values()]
        published = {name: replace(a, state="live") for name, a in published.items()}
        if error is not None:
            store.finish_execution(execution.id, "failed", error=error, metrics=metrics if gate else None, publish=live)
            reports = [page for a in published.values() for page in artifact_store.report_pages(a.uri)]
            outcome = NodeOutcome(
                node.name, "failed", execution.id, reason, self.elapsed(), error, log, published, None, metrics, reports
            )
            self.observer.node_failed(outcome)
            return outcome
        store.finish_execution(execution.id, "complete", metrics=metrics, publish=live)
        outcome = NodeOutcome(
            node.name,
            "complete",
            execution.id,
            reason,
            self.elapsed(),
            log_path=log,
            outputs=published,
            metrics=metrics,
        )
        self.observer.node_finished(outcome)
        return outcome

    def run_executor(
        self, execution_id: int, outputs: dict[str, Artifact], log: str, attempt: int, metrics: dict[str, float]
    ) -> tuple[str | None, bool]:
        """Run the component's executor with its log captured: the error text on failure, and if a gate failed."""
        pipeline, node = self.pipeline, self.node
        redact = Redactor(pipeline.secrets).text  # what the component says may carry a secret it was given
        with capture_to(log, pipeline.secrets) as logger:
            if attempt:
                logger.warning("retry %d of %d", attempt, node.retries)
            logger.info("execution %d of %s (%s) in run %s", execution_id, node.name, node.type_name, self.task.run_id)
            ctx: Context[Any] = Context(
                component=node.name,
                inputs={n: _artifact(a, node.component.inputs[n].type) for n, a in self.inputs.items()},
                outputs=outputs,
                params=node.params,
                beam_options={"runner": pipeline.beam_runner, **pipeline.beam_options},
                log=logger,
                run_id=self.task.run_id,
                execution_id=execution_id,
                base_dir=pipeline.base_dir,
                on_progress=lambda note: self.observer.node_progress(node.name, redact(note)),
                pipeline_file=pipeline.file,
                param_positions=node.param_positions,
                pipeline=pipeline.name,
                mlflow_tracking_uri=pipeline_tracking_uri(pipeline) if node.component.uses_mlflow_tracking else "",
                blessed_by_hand=(
                    cast(ModelBlessing, _artifact(self.blessed_by_hand, ModelBlessing))
                    if self.blessed_by_hand
                    else None
                ),
                # --no-cache and cache: false ask for everything to be computed again, the component's own cache too
                cache_uri=artifact_store.cache_uri(pipeline.root, pipeline.name, node.name)
                if self.task.use_cache and node.cache
                else "",
            )
            for optional in set(node.component.inputs) - set(self.inputs):
                ctx.inputs[optional] = None
            try:
                node.component().run(ctx)
            except (Exception, SystemExit) as exc:  # a component failure is recorded, not raised
                logger.error("failed:\n%s", "".join(traceback.format_exception(exc)))
                shown = (
                    f"{type(exc).__name__}: {exc}"
                    if isinstance(exc, ComponentError)
                    else "".join(traceback.format_exception(exc))
                )
                shown = redact(shown)
                if isinstance(exc, GateFailed):
                    metrics.update(ctx.metrics.values)
                    logger.info("gate failed: publishing the outputs as evidence")
                return shown, isinstance(exc, GateFailed)
            metrics.update(ctx.metrics.values)
            logger.info("done")
        return None, False


def publish_outputs(
    store: MetadataStore, root: str, pipeline: str, node: str, execution_id: int, produced: dict[str, Artifact]
) -> dict[str, ArtifactRecord]:
    """Reserve each output's artifact row (its id names the folder) and rename the staged folder there.

    The rows stay pending until ``finish_execution(..., publish=...)`` makes them live with the execution.
    """
    rows: dict[str, dict[str, Any]] = {}
    for out, artifact in produced.items():
        artifact_store.ensure_dir(artifact.uri)
        rows[out] = {
            "type": artifact.type_name,
            "properties": artifact.properties,
            "fingerprint": artifact_fingerprint(artifact.uri),
            "manifest": file_manifest(artifact.uri),  # relative paths: the same after the rename
        }
    reserved = store.reserve_outputs(
        execution_id,
        rows,
        lambda out, artifact_id: artifact_store.output_uri(root, pipeline, node, out, artifact_id),
    )
    for out, artifact in produced.items():
        artifact_store.move_into_place(artifact.uri, reserved[out].uri)
    return reserved  # pending until finish_execution(..., publish=...) makes them live with the execution
