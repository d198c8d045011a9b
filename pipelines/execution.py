"""Execute one component of one run: the unit every runner is made of.

``execute_node`` is self-contained: given the pipeline, a node name, a run id
and the metadata store, it resolves the node's inputs from the store, decides
between a cache hit and a run (and records why it runs), runs the executor
with its log captured, publishes the outputs atomically and records the
execution. The local runner calls it in a thread; a Kubeflow task calls the
very same function inside its container.
"""

from __future__ import annotations

import socket
import time
import traceback
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from headrace.components.artifacts import Artifact, artifact_type
from headrace.components.contract import ComponentError, Context
from headrace.metadata.liveness import observed_state
from headrace.metadata.records import ArtifactRecord, ExecutionRecord
from headrace.metadata.store import MetadataStore
from headrace.pipelines import artifact_store
from headrace.pipelines.cache import cache_inputs, explain_rerun
from headrace.pipelines.component_logs import capture_to
from headrace.pipelines.fingerprints import artifact_fingerprint
from headrace.pipelines.graph import Node, Pipeline
from headrace.pipelines.manifests import file_manifest, manifest_problem
from headrace.pipelines.redaction import Redactor

DONE_STATES = ("complete", "cached")

EventCallback = Callable[[str, str, str | None], None]
"""``(node, state, note)``: a node starts running (note = why), reports progress (state ``progress``), or ends."""


class InputUnavailable(RuntimeError):
    """An input's upstream has produced nothing this component could read."""


@dataclass
class NodeOutcome:
    node: str
    state: str  # complete | cached | failed
    execution_id: int | None = None
    reason: str | None = None
    seconds: float = 0.0
    error: str | None = None
    log_path: str | None = None
    outputs: dict[str, ArtifactRecord] = field(default_factory=dict)


def resolve_inputs(
    pipeline: Pipeline,
    node: Node,
    run_id: str,
    store: MetadataStore,
    known_outputs: dict[str, dict[str, ArtifactRecord]] | None = None,
) -> dict[str, ArtifactRecord]:
    """Each wired input's artifact: from this run if its upstream ran here, else the latest earlier one.

    ``known_outputs`` (node -> its outputs in this run) spares the store queries
    when the caller already knows them, as the local runner does.
    """
    known = known_outputs if known_outputs is not None else {}
    if any(wire.node not in known for wire in node.inputs.values()):
        done = {e.component: e for e in store.executions(run_id) if e.state in DONE_STATES}
        known = {**{n: store.outputs_of(e.id) for n, e in done.items() if n not in known}, **known}
    resolved: dict[str, ArtifactRecord] = {}
    for name, wire in node.inputs.items():
        record = known.get(wire.node, {}).get(wire.output)
        if record is None:
            out_type = pipeline.nodes[wire.node].component.outputs[wire.output]
            record = store.latest_artifact(out_type.type_name, component=wire.node, pipeline=pipeline.name)
        if record is None:
            raise InputUnavailable(
                f"input `{name}` of `{node.name}` needs `{wire}`, which no run of pipeline "
                f"'{pipeline.name}' has produced yet; run `{wire.node}` first (drop --only, or use --from {wire.node})"
            )
        resolved[name] = record
    return resolved


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


def _reusable(store: MetadataStore, cache_key: str) -> tuple[ExecutionRecord | None, str | None]:
    """A completed execution with this key whose outputs are all as published, with those outputs.

    With no such execution, what is wrong with the newest one with this key
    (if any), so the caller can say "cached outputs were changed or deleted (...)".
    """
    problem: str | None = None
    for candidate in store.cache_candidates(cache_key):
        outputs = store.outputs_of(candidate.id)
        problems = {n: manifest_problem(a.uri, a.manifest) for n, a in outputs.items()}
        if not any(problems.values()):
            return candidate, None
        problem = problem or "; ".join(f"{n}: {p}" for n, p in problems.items() if p)
    return None, problem


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
            for e in store.running_with_key(key)
            if e.run_id != run_id
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


def execute_node(
    pipeline: Pipeline,
    name: str,
    run_id: str,
    store: MetadataStore,
    *,
    use_cache: bool = True,
    on_event: EventCallback | None = None,
    known_outputs: dict[str, dict[str, ArtifactRecord]] | None = None,
    key_lock: Callable[[str], AbstractContextManager[Any]] | None = None,
) -> NodeOutcome:
    """Run (or reuse) one node in run ``run_id`` and record it; never raises for a component failure.

    ``key_lock(cache_key)``, when given, is held from the cache lookup to the
    publish, so two nodes of one run with the same key (the same component on
    the same data) compute once: the second waits, then hits the cache.
    """
    started = time.perf_counter()
    node = pipeline.nodes[name]
    notify = on_event or (lambda *_: None)
    inputs = resolve_inputs(pipeline, node, run_id, store, known_outputs)
    facts, key = cache_inputs(node, pipeline, {n: a.fingerprint for n, a in inputs.items()}, store)

    with key_lock(key) if key_lock else nullcontext():
        return _reuse_or_run(pipeline, node, run_id, store, inputs, facts, key, use_cache, notify, started)


def _reuse_or_run(
    pipeline: Pipeline,
    node: Node,
    run_id: str,
    store: MetadataStore,
    inputs: dict[str, ArtifactRecord],
    facts: dict[str, Any],
    key: str,
    use_cache: bool,
    notify: EventCallback,
    started: float,
) -> NodeOutcome:
    name = node.name
    input_ids = {n: a.id for n, a in inputs.items()}
    reason: str
    if not use_cache:
        reason = "caching disabled (--no-cache)"
    elif not node.cache:
        reason = "caching disabled (cache: false in the pipeline file)"
    else:
        hit, problem = _reusable(store, key)
        if hit is None and _await_twins(store, key, run_id, lambda note: notify(name, "progress", note)):
            hit, problem = _reusable(store, key)  # another run computed the same thing meanwhile
        previous = None
        if hit is None and not problem:
            previous = store.previous_execution(pipeline.name, name, before_run=run_id)
            if previous is not None and previous.cache_key == key:
                hit, problem = _reusable(store, key)  # it completed between our lookup and now: reuse it
        if hit is not None:
            outputs = store.outputs_of(hit.id)
            execution = store.create_execution(
                run_id,
                name,
                node.type_name,
                node.component.version,
                state="cached",
                parameters=node.display_params,
                cache_key=key,
                cache_inputs=facts,
                inputs=input_ids,
                outputs={n: a.id for n, a in outputs.items()},
                cached_from=hit.id,
                metrics=hit.metrics,
            )
            outcome = NodeOutcome(
                name,
                "cached",
                execution.id,
                f"cached from execution {hit.id}",
                time.perf_counter() - started,
                outputs=outputs,
                log_path=hit.log_uri,
            )
            notify(name, "cached", outcome.reason)
            return outcome
        if problem:
            reason = f"cached outputs were changed or deleted ({problem})"
        else:  # compared with a completed execution only, so the reason names what really changed
            reason = explain_rerun(previous.cache_inputs if previous else None, facts, node.display_params)

    log = artifact_store.log_path(pipeline.root, pipeline.name, run_id, name)
    execution = store.create_execution(
        run_id,
        name,
        node.type_name,
        node.component.version,
        parameters=node.display_params,
        cache_key=key,
        cache_inputs=facts,
        reason=reason,
        log_uri=log,
        inputs=input_ids,
    )
    notify(name, "running", reason)

    damaged = _unreadable_inputs(inputs)
    if damaged is not None:
        store.finish_execution(execution.id, "failed", error=damaged)
        notify(name, "failed", damaged)
        return NodeOutcome(name, "failed", execution.id, reason, time.perf_counter() - started, damaged, log)

    finals = {
        out: artifact_store.output_uri(pipeline.root, pipeline.name, name, out, execution.id)
        for out in node.component.outputs
    }
    error = None
    metrics: dict[str, float] = {}
    produced: dict[str, Artifact] = {}
    for attempt in range(node.retries + 1):
        produced = {
            out: cls(uri=artifact_store.staging_uri(finals[out])) for out, cls in node.component.outputs.items()
        }
        for artifact in produced.values():
            artifact_store.remove(artifact.uri)
        error = _run_executor(pipeline, node, run_id, execution.id, inputs, produced, log, attempt, metrics, notify)
        if error is None:
            break
        for artifact in produced.values():
            artifact_store.remove(artifact.uri)

    if error is not None:
        store.finish_execution(execution.id, "failed", error=error)
        notify(name, "failed", error.strip().splitlines()[-1] if error.strip() else "failed")
        return NodeOutcome(name, "failed", execution.id, reason, time.perf_counter() - started, error, log)

    redactor = Redactor(pipeline.secrets)
    for artifact in produced.values():  # properties are shown by `show` and kept in the store: no secrets
        artifact.properties = redactor.value(artifact.properties)
    try:
        published = _publish(store, execution.id, produced, finals)
    except Exception as exc:  # e.g. a full disk: the execution failed, it is not left "running"
        store.finish_execution(execution.id, "failed", error=redactor.text(f"publishing the outputs failed: {exc}"))
        raise
    store.finish_execution(execution.id, "complete", metrics=metrics)
    notify(name, "complete", None)
    return NodeOutcome(
        name, "complete", execution.id, reason, time.perf_counter() - started, log_path=log, outputs=published
    )


def _run_executor(
    pipeline: Pipeline,
    node: Node,
    run_id: str,
    execution_id: int,
    inputs: dict[str, ArtifactRecord],
    outputs: dict[str, Artifact],
    log: str,
    attempt: int,
    metrics: dict[str, float],
    notify: EventCallback,
) -> str | None:
    """Run the component's executor with its log captured; the traceback text on failure."""
    redact = Redactor(pipeline.secrets).text  # what the component says may carry a secret it was given
    with capture_to(log, pipeline.secrets) as logger:
        if attempt:
            logger.warning("retry %d of %d", attempt, node.retries)
        logger.info("execution %d of %s (%s) in run %s", execution_id, node.name, node.type_name, run_id)
        ctx = Context(
            component=node.name,
            inputs={n: _artifact(a, node.component.inputs[n].type) for n, a in inputs.items()},
            outputs=outputs,
            params=node.params,
            beam_options={"runner": pipeline.beam_runner, **pipeline.beam_options},
            log=logger,
            run_id=run_id,
            execution_id=execution_id,
            base_dir=pipeline.base_dir,
            on_progress=lambda note: notify(node.name, "progress", redact(note)),
        )
        for optional in set(node.component.inputs) - set(inputs):
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
            return redact(shown)
        metrics.update(ctx.metrics.values)
        logger.info("done")
    return None


def _publish(
    store: MetadataStore, execution_id: int, produced: dict[str, Artifact], finals: dict[str, str]
) -> dict[str, ArtifactRecord]:
    rows: dict[str, dict[str, Any]] = {}
    for out, artifact in produced.items():
        artifact_store.ensure_dir(artifact.uri)
        fingerprint = artifact_fingerprint(artifact.uri)
        manifest = file_manifest(artifact.uri)  # relative paths: the same after the rename
        artifact_store.move_into_place(artifact.uri, finals[out])
        rows[out] = {
            "type": artifact.type_name,
            "uri": finals[out],
            "properties": artifact.properties,
            "fingerprint": fingerprint,
            "manifest": manifest,
        }
    return store.publish_outputs(execution_id, rows)
