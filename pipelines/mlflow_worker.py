"""The background process that mirrors a run into MLflow while it runs, off its critical path.

``MlflowMirror`` (the observer) starts it when a run starts and writes one
line to its stdin per event; it imports MLflow and opens the tracking store
while the first components run (about 2 s that the run does not wait for),
then syncs the run from the metadata store after each batch of events.
Once the run is over (stdin closes) it syncs a last time, retrying with
back-off, and records the outcome in ``<root>/<pipeline>/runs/<run id>/mlflow.json``:
``mirrored``, or ``failed`` with the error, which ``headrace mlflow sync``
replays later. It runs in its own session so it outlives the CLI.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from headrace.pipelines import artifact_store

if TYPE_CHECKING:  # mlflow_sync is imported by the worker only once it runs
    from headrace.pipelines.mlflow_sync import SyncReport
    from headrace.pipelines.mlflow_target import MirrorTarget

RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)


def status_path(root: str, pipeline: str, run_id: str) -> str:
    """Where the mirror's outcome for a run is recorded (beside the run's component logs)."""
    return os.path.join(os.path.dirname(artifact_store.log_path(root, pipeline, run_id, "x")), "mlflow.json")


def write_mirrored(path: str, target: MirrorTarget, report: SyncReport) -> None:
    """Record that the run is in MLflow, and where (the experiment and the parent run)."""
    write_status(
        path,
        "mirrored",
        tracking_uri=target.tracking_uri,
        experiment=target.experiment,
        experiment_id=report.experiment_id,
        parent_run_id=report.parent_run_id,
    )


def write_status(path: str, state: str, **details: object) -> None:
    """Record the mirror's state atomically (``running``, ``mirrored``, ``failed``)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    record = {"state": state, "at": datetime.now(UTC).isoformat(timespec="seconds"), **details}
    partial = f"{path}.{os.getpid()}.tmp"
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
    os.replace(partial, path)


def read_status(path: str) -> dict[str, object] | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _drain(stream_fd: int, timeout: float) -> bool:
    """Wait for event lines (coalescing a burst into one sync); False once stdin is closed."""
    ready, _, _ = select.select([stream_fd], [], [], timeout)
    if not ready:
        return True
    while True:
        chunk = os.read(stream_fd, 65536)
        if not chunk:
            return False
        ready, _, _ = select.select([stream_fd], [], [], 0.05)
        if not ready:
            return True


def main(argv: list[str]) -> int:
    store_url, run_id, status = argv
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.lineage_svg import run_lineage_svg
    from headrace.pipelines.mlflow_sync import MirrorError, sync_run
    from headrace.pipelines.mlflow_target import target_from_run

    store = MetadataStore(store_url)
    run = store.get_run(run_id)
    if run is None:
        write_status(status, "failed", error=f"no run '{run_id}' in the metadata store")
        return 1
    try:
        target = target_from_run(run)
    except ValueError as exc:
        write_status(status, "failed", error=str(exc))
        return 1
    if target is None:
        return 0
    write_status(status, "running", tracking_uri=target.tracking_uri, experiment=target.experiment)
    fd = sys.stdin.fileno()
    open_ = True
    while open_:
        open_ = _drain(fd, 30.0)
        if open_:
            try:  # a live sync that fails is not fatal: the final one retries
                sync_run(store, run_id, target, lineage_svg=run_lineage_svg)
            except Exception as exc:
                print(f"mirroring run {run_id} failed, will retry at its end: {exc}", file=sys.stderr)
    error: str | None = None
    for delay in (0.0, *RETRY_DELAYS):
        time.sleep(delay)
        try:
            report = sync_run(store, run_id, target, lineage_svg=run_lineage_svg)
        except MirrorError as exc:
            error = str(exc)
            print(error, file=sys.stderr)
            continue
        write_mirrored(status, target, report)
        return 0
    write_status(
        status,
        "failed",
        tracking_uri=target.tracking_uri,
        experiment=target.experiment,
        error=error,
        replay=f"headrace mlflow sync {run_id}",
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
