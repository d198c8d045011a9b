"""``headrace ui``: the MLflow UI on a pipeline's tracking store, on a free loopback port.

Lean settings, since it serves one person on one machine: one worker, the
server's job execution (huey consumers) off. The server runs in its own
process group, so stopping ``headrace ui`` (Ctrl-C or SIGTERM) stops all of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

from headrace.components import local_server
from headrace.pipelines.mlflow_target import MirrorTarget


class UiError(RuntimeError):
    """The UI cannot start: said in words for the CLI."""


def ensure_experiment(target: MirrorTarget) -> str:
    """The experiment's id (created when no run was mirrored yet, so the URL leads somewhere)."""
    from headrace.pipelines.mlflow_sync import MirrorError, client_for, experiment_id

    try:
        return experiment_id(client_for(target), target)
    except MirrorError as exc:
        raise UiError(str(exc)) from None


def start_server(target: MirrorTarget, port: int) -> subprocess.Popen[bytes]:
    """``mlflow server`` on the tracking store, artifacts served from beside it."""
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        target.tracking_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    if target.tracking_uri.startswith("sqlite:///"):
        folder = os.path.dirname(target.tracking_uri[len("sqlite:///") :])
        command += ["--default-artifact-root", "file://" + os.path.join(folder, "mlflow-artifacts")]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def wait_until_up(process: subprocess.Popen[bytes], port: int, timeout: float = 90.0) -> None:
    def said() -> str:
        return process.stderr.read().decode(errors="replace")[-2000:] if process.stderr else ""

    try:
        local_server.wait_until_up(
            process, f"http://127.0.0.1:{port}/health", timeout=timeout, what="the MLflow server", said=said
        )
    except local_server.ServerError as exc:
        raise UiError(str(exc)) from None


def serve(target: MirrorTarget, port: int | None, announce: Callable[[str], None]) -> None:
    """Start the server, say its experiment's URL, and keep it up until interrupted."""
    if target.tracking_uri.startswith(("http://", "https://")):
        experiment = ensure_experiment(target)
        announce(f"{target.tracking_uri.rstrip('/')}/#/experiments/{experiment}/runs")
        return
    experiment = ensure_experiment(target)
    chosen = port or local_server.free_port()
    process = start_server(target, chosen)

    def ready() -> None:
        wait_until_up(process, chosen)
        announce(f"http://127.0.0.1:{chosen}/#/experiments/{experiment}/runs")

    local_server.serve_until_interrupted(process, ready)
