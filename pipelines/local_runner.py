"""Run a pipeline on this machine: topological order, independent branches in parallel.

Each node is one ``execute_task`` call in a bounded thread pool, given the
already-loaded pipeline and the outputs known so far so that it needs no
reloading or extra queries. Two local concerns stay here: nodes with the same
cache key compute once, and a failure marks everything downstream skipped,
leaving what was already published in place, so ``--resume RUN_ID`` picks
up exactly the nodes that did not finish.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from headrace.metadata.liveness import process_alive
from headrace.metadata.store import MetadataStore
from headrace.pipelines import artifact_store
from headrace.pipelines.execution import DONE_STATES, NodeOutcome, RunResult, execute_task
from headrace.pipelines.graph import Pipeline
from headrace.pipelines.observers import RunObserver
from headrace.pipelines.redaction import shown_url
from headrace.pipelines.task import Task

__all__ = ["RunError", "RunResult", "run_pipeline", "select_nodes"]


class RunError(RuntimeError):
    """The run could not start (bad --only/--from/--resume); the message says why."""


def select_nodes(pipeline: Pipeline, only: list[str] | None = None, from_node: str | None = None) -> list[str]:
    """The nodes a run executes, in topological order."""
    order = pipeline.topological_order()
    for name in [*(only or []), *([from_node] if from_node else [])]:
        if name not in pipeline.nodes:
            from headrace.components.suggestions import did_you_mean

            near = did_you_mean(name, order)
            hint = f"; {near}" if near else f"; components are: {', '.join(order)}"
            raise RunError(f"no component named '{name}' in pipeline '{pipeline.name}'{hint}")
    chosen = set(order)
    if only:
        chosen = set(only)
    if from_node:
        chosen &= {from_node} | pipeline.downstream(from_node)
    return [n for n in order if n in chosen]


def _prepare_resume(pipeline: Pipeline, store: MetadataStore, run_id: str) -> tuple[str, list[str]]:
    run = store.get_run(run_id)
    if run is None:
        raise RunError(f"no run '{run_id}' in the metadata store {shown_url(store.url)}; `headrace runs` lists them")
    if run.pipeline != pipeline.name:
        raise RunError(f"run {run.id} belongs to pipeline '{run.pipeline}', not '{pipeline.name}'")
    if (
        run.state == "running"
        and run.host == socket.gethostname()
        and run.pid != os.getpid()
        and process_alive(run.pid)
    ):
        raise RunError(f"run {run.id} is still running (process {run.pid}); wait for it or kill it first")
    executions = store.executions(run.id)
    done = {e.component for e in executions if e.state in DONE_STATES}
    for e in executions:
        if e.state == "running":  # killed mid-component: drop what it staged or half-published, keep the record
            store.finish_execution(e.id, "interrupted", error="the process running it died")
            node = pipeline.nodes.get(e.component)
            for out in node.outputs if node else ():
                artifact_store.remove(artifact_store.staging_uri(pipeline.root, pipeline.name, e.component, out, e.id))
            for artifact in store.discard_pending(e.id):
                artifact_store.remove(artifact.uri)
    store.set_run_state(run.id, "running")
    return run.id, [n for n in pipeline.topological_order() if n not in done]


def run_pipeline(
    pipeline: Pipeline,
    store: MetadataStore,
    observer: RunObserver,
    *,
    use_cache: bool = True,
    only: list[str] | None = None,
    from_node: str | None = None,
    resume: str | None = None,
    parallelism: int | None = None,
) -> RunResult:
    """Run the selected nodes of ``pipeline`` and record everything in ``store``, telling ``observer``.

    Under ``only`` / ``from_node`` an input whose upstream is not selected is
    read from the latest earlier run (the user asked for that); otherwise a
    run reads other runs' artifacts only where the pipeline file says so.
    """
    started = time.perf_counter()
    if resume:
        run_id, selected = _prepare_resume(pipeline, store, resume)
    else:
        selected = select_nodes(pipeline, only, from_node)
        run_id = store.create_run(
            pipeline.name, spec=pipeline.spec, pipeline_file=os.path.abspath(pipeline.file), root=pipeline.root
        ).id
    result = RunResult(run_id, pipeline.name, "running")
    observer.run_started(run_id, pipeline, selected)
    earlier_inputs = bool(only or from_node) and not resume

    chosen = set(selected)
    waiting_on = {n: pipeline.nodes[n].upstream & chosen for n in selected}
    pending = list(selected)
    futures: dict[Future[NodeOutcome], str] = {}
    workers = parallelism or min(4, os.cpu_count() or 1)
    same_key_once = _KeyedLocks()

    def run_one(name: str) -> NodeOutcome:
        try:
            known = {n: o.outputs for n, o in result.outcomes.items() if o.state in DONE_STATES}
            task = Task.for_node(pipeline, name, run_id, store.url, use_cache=use_cache, earlier_inputs=earlier_inputs)
            return execute_task(
                task, observer, store=store, pipeline=pipeline, known_outputs=known, key_lock=same_key_once
            )
        except Exception as exc:  # the runner's own failure for this node, e.g. an unavailable input
            text = (
                "".join(traceback.format_exception_only(exc))
                if isinstance(exc, RuntimeError)
                else traceback.format_exc()
            )
            outcome = NodeOutcome(name, "failed", error=text)
            observer.node_failed(outcome)
            return outcome

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="headrace") as pool:
        while pending or futures:
            for name in list(pending):
                blocked = [
                    u for u in waiting_on[name] if u in result.outcomes and result.outcomes[u].state not in DONE_STATES
                ]
                if blocked:
                    pending.remove(name)
                    result.outcomes[name] = _skip(store, pipeline, run_id, name, blocked[0])
                    observer.node_skipped(name, str(result.outcomes[name].reason))
                elif all(u in result.outcomes for u in waiting_on[name]):
                    pending.remove(name)
                    futures[pool.submit(run_one, name)] = name
            if not futures:
                continue
            finished, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in finished:
                result.outcomes[futures.pop(future)] = future.result()

    result.state = "succeeded" if all(o.state in DONE_STATES for o in result.outcomes.values()) else "failed"
    result.seconds = time.perf_counter() - started
    store.set_run_state(run_id, result.state)
    observer.run_finished(result)
    return result


class _KeyedLocks:
    """One lock per cache key, so nodes doing identical work run one after the other and share it."""

    def __init__(self) -> None:
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def __call__(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


def _skip(store: MetadataStore, pipeline: Pipeline, run_id: str, name: str, upstream: str) -> NodeOutcome:
    node = pipeline.nodes[name]
    reason = f"upstream `{upstream}` did not complete"
    execution = store.create_execution(
        run_id,
        name,
        node.type_name,
        node.component.version,
        parameters=node.display_params,
        cache_key=None,
        cache_inputs={},
        reason=reason,
        state="skipped",
    )
    store.finish_execution(execution.id, "skipped")
    return NodeOutcome(name, "skipped", execution.id, reason)
