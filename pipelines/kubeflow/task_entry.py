"""What a Kubeflow task runs: unpack the code, build the node's ``Task``, call ``execute_task``.

The compiled pipeline's lightweight components are two lines that call
``run_node``; everything else lives here, in the installed package, so the
IR stays small and the behaviour is the local runner's own. The ``Task`` is
built in the pod, from the pod's environment: the metadata URL may be a
``${env:...}`` secret, which must never be written into the IR.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from headrace.pipelines.kubeflow.code_pack import unpack


class TaskFailed(RuntimeError):
    """The component failed (after its retries): the KFP task fails with its error."""


def param_overrides(params: dict[str, Any]) -> list[str]:
    """``--set params.NAME=VALUE`` for each pipeline parameter's run-time value.

    A string is passed as written (``--set`` keeps text where the file has text); anything else as JSON,
    which ``--set`` reads as YAML.
    """
    return [f"params.{name}={value if isinstance(value, str) else json.dumps(value)}" for name, value in params.items()]


def run_node(node: str, code: str, run_id: str, overrides: list[str], params: dict[str, Any]) -> None:
    """Run one node of the run ``run_id`` as the local runner would; raise ``TaskFailed`` if it fails."""
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.execution import DONE_STATES, execute_task
    from headrace.pipelines.loader import PipelineSpecError, load_pipeline
    from headrace.pipelines.task import Task

    unpacked = unpack(code)
    os.chdir(unpacked.workdir)  # project-local imports and cache-key paths resolve as where it was compiled
    if unpacked.workdir not in sys.path:
        sys.path.insert(0, unpacked.workdir)
    all_overrides = [*overrides, *param_overrides(params)]
    try:
        pipeline = load_pipeline(unpacked.pipeline_file, all_overrides)
    except PipelineSpecError as exc:
        raise TaskFailed(f"the pipeline of run {run_id} is not valid here:\n{exc.render()}") from None
    task = Task.for_node(pipeline, node, run_id)
    print(f"headrace: {node} of pipeline '{pipeline.name}', run {run_id}", flush=True)
    outcome = execute_task(task)
    store = MetadataStore(task.store_url)
    if outcome.state == "failed":
        store.set_run_state(run_id, "failed")
        if outcome.log_path and os.path.isfile(outcome.log_path):
            with open(outcome.log_path, encoding="utf-8", errors="replace") as f:
                sys.stderr.write(f.read())
        raise TaskFailed(f"{node} failed (execution {outcome.execution_id}): {outcome.error}")
    print(f"headrace: {node} {outcome.state} ({outcome.reason}), execution {outcome.execution_id}", flush=True)
    done = {e.component for e in store.executions(run_id) if e.state in DONE_STATES}
    if done >= set(pipeline.nodes):  # the last task to finish closes the run
        store.set_run_state(run_id, "succeeded")


def main(argv: list[str] | None = None) -> None:
    """``python -m headrace.pipelines.kubeflow.task_entry``: one node by hand, as its KFP task would run it.

    For debugging an image or a pod: the arguments are those the compiled task passes to ``run_node``.
    """
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m headrace.pipelines.kubeflow.task_entry",
        description="Run one node of a compiled headrace pipeline, as its Kubeflow task does.",
    )
    parser.add_argument("node", help="the component name in the pipeline file")
    parser.add_argument("--code-file", required=True, help="a file holding the compiled pipeline's headrace_code value")
    parser.add_argument("--run-id", required=True, help="the headrace run id (on Kubeflow: the KFP run's uuid)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    with open(args.code_file, encoding="ascii") as f:
        code = f.read().strip()
    try:
        run_node(args.node, code, args.run_id, args.overrides, {})
    except TaskFailed as exc:
        sys.exit(f"headrace: {exc}")


if __name__ == "__main__":
    main()
