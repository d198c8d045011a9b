"""The MLflow mirror as a run observer: it hands the work to a background process and never waits for it.

Mirroring inline would add MLflow's import and tracking-store start-up
(about 2 s) to every run, and a dead tracking server could stall it. So the
observer starts ``mlflow_worker`` when the run starts and tells it, one line
per event, that there is something new in the metadata store; the worker
reads the store and writes MLflow. The pipe is the bounded queue: when it is
full (the worker is slow or stuck) a nudge is dropped, which loses nothing,
since the worker's final sync reads everything from the store. Any failure
to start or feed the worker is recorded, never raised into the run.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import IO, TYPE_CHECKING

from headrace.pipelines.mlflow_worker import status_path, write_status
from headrace.pipelines.observers import SilentObserver

if TYPE_CHECKING:
    from headrace.pipelines.execution import NodeOutcome, RunResult
    from headrace.pipelines.graph import Pipeline


class MlflowMirror(SilentObserver):
    """Mirrors the run it observes into the pipeline's MLflow experiment, in a background process."""

    def __init__(self, store_url: str) -> None:
        self.store_url = store_url
        self.process: subprocess.Popen[bytes] | None = None
        self._pipe: IO[bytes] | None = None
        self.status_file: str | None = None

    def run_started(self, run_id: str, pipeline: Pipeline, nodes: list[str]) -> None:
        self.status_file = status_path(pipeline.root, pipeline.name, run_id)
        try:
            os.makedirs(os.path.dirname(self.status_file), exist_ok=True)
            log = open(self.status_file[: -len(".json")] + ".log", "ab")  # noqa: SIM115 (the child owns it)
            env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
            self.process = subprocess.Popen(
                [sys.executable, "-m", "headrace.pipelines.mlflow_worker", self.store_url, run_id, self.status_file],
                stdin=subprocess.PIPE,
                bufsize=0,
                stdout=log,
                stderr=log,
                env=env,
                start_new_session=True,  # it finishes mirroring after the CLI exits, and survives its Ctrl-C
            )
            log.close()
            self._pipe = self.process.stdin
            if self._pipe is not None:
                os.set_blocking(self._pipe.fileno(), False)
        except OSError as exc:
            self._record_failure(f"could not start the MLflow mirror: {exc}")

    def _nudge(self, line: str) -> None:
        if self._pipe is None:
            return
        try:
            os.write(self._pipe.fileno(), line.encode() + b"\n")
        except BlockingIOError:  # the queue is full: the final sync reads the store anyway
            pass
        except (BrokenPipeError, ValueError, OSError):  # the worker died: its status file says why
            self._pipe = None

    def node_started(self, node: str, reason: str) -> None:
        self._nudge(f"started {node}")

    def node_cached(self, outcome: NodeOutcome) -> None:
        self._nudge(f"cached {outcome.node}")

    def node_finished(self, outcome: NodeOutcome) -> None:
        self._nudge(f"finished {outcome.node}")

    def node_failed(self, outcome: NodeOutcome) -> None:
        self._nudge(f"failed {outcome.node}")

    def node_skipped(self, node: str, reason: str) -> None:
        self._nudge(f"skipped {node}")

    def run_finished(self, result: RunResult) -> None:
        if self._pipe is not None:
            self._nudge(f"run {result.state}")
            with contextlib.suppress(OSError):
                self._pipe.close()  # end of the run: the worker's final sync, in its own time
            self._pipe = None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the worker (tests and benchmarks); its exit code, None if it is still running."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def _record_failure(self, error: str) -> None:
        if self.status_file is None:
            return
        with contextlib.suppress(OSError):
            write_status(self.status_file, "failed", error=error)


def mirror_for(pipeline: Pipeline, store_url: str) -> MlflowMirror | None:
    """The mirror when the pipeline file has an ``mlflow:`` section (and a local root to record its outcome)."""
    from headrace.components.paths import is_uri

    if not pipeline.mlflow or is_uri(pipeline.root):
        return None
    return MlflowMirror(store_url)
