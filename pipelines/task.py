"""What one component of one run needs to execute anywhere: a small serialisable task.

A Kubeflow pod receives exactly this as its arguments (as kfp's executor gets
``--executor_input``), a local worker thread gets the same object. It names
the pipeline *file* (plus the ``--set`` options and the file's fingerprint),
not a loaded pipeline: any process can load it, and refuses to if the file
changed since the run started, because the run's other components were
computed from the old one.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headrace.pipelines.graph import Pipeline


class TaskError(RuntimeError):
    """The task cannot run as described (its pipeline file changed or is gone); the message says why."""


@dataclass(frozen=True)
class Task:
    """One node of one run: everything ``execute_task`` needs, and nothing else."""

    pipeline_file: str
    """Absolute path of the pipeline file (in a container: its path in the image)."""
    pipeline_fingerprint: str
    """sha256 of the file's bytes when the run started."""
    node: str
    run_id: str
    store_url: str
    overrides: tuple[str, ...] = ()
    use_cache: bool = True
    earlier_inputs: bool = False
    """May an input whose upstream did not run in this run come from an earlier run? Only under --only / --from."""

    @classmethod
    def for_node(
        cls,
        pipeline: Pipeline,
        node: str,
        run_id: str,
        store_url: str | None = None,
        *,
        use_cache: bool = True,
        earlier_inputs: bool = False,
    ) -> Task:
        return cls(
            pipeline_file=os.path.abspath(pipeline.file),
            pipeline_fingerprint=pipeline.fingerprint,
            node=node,
            run_id=run_id,
            store_url=store_url or pipeline.metadata_url,
            overrides=tuple(pipeline.overrides),
            use_cache=use_cache,
            earlier_inputs=earlier_inputs,
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Task:
        values = json.loads(text)
        values["overrides"] = tuple(values.get("overrides") or ())
        return cls(**values)


_loaded: dict[tuple[str, str, tuple[str, ...]], Pipeline] = {}
_loading = threading.Lock()


def load_task_pipeline(task: Task) -> Pipeline:
    """The task's pipeline, loaded once per process and file version; refuses a file that changed."""
    from headrace.pipelines.loader import PipelineSpecError, load_pipeline

    key = (task.pipeline_file, task.pipeline_fingerprint, task.overrides)
    with _loading:
        if key in _loaded:
            return _loaded[key]
        try:
            with open(task.pipeline_file, "rb") as f:
                current = hashlib.sha256(f.read()).hexdigest()
        except OSError as exc:
            raise TaskError(f"cannot read the pipeline file {task.pipeline_file} of run {task.run_id}: {exc}") from None
        if current != task.pipeline_fingerprint:
            raise TaskError(_changed(task))
        try:
            pipeline = load_pipeline(task.pipeline_file, task.overrides)
        except PipelineSpecError as exc:
            raise TaskError(f"the pipeline file of run {task.run_id} is not valid:\n{exc.render()}") from None
        if pipeline.fingerprint != task.pipeline_fingerprint:  # changed between the two reads
            raise TaskError(_changed(task))
        _loaded[key] = pipeline
        return pipeline


def _changed(task: Task) -> str:
    return (
        f"the pipeline file {task.pipeline_file} changed since run {task.run_id} started; "
        f"its components were computed from the earlier version: start a new run "
        f"(or restore the file to resume this one)"
    )
