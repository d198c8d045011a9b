"""``mlflow models serve`` on a packaged model: the command, its environment, and requests to it.

The infra validator starts the very same server a user deploys: MLflow's
scoring server (uvicorn, one worker) in this Python environment
(``--env-manager local``: headrace must be importable where the model is
served, and it is here). MLflow starts uvicorn through ``bash -c``, so the
directory of this interpreter goes first on ``PATH``: the uvicorn found is
this environment's, also when the virtualenv is not activated. ``headrace
serve`` runs MLflow's same scoring app with TF Serving's REST API added
(``serving_app``), and waits for it with :func:`wait_until_ready` too.

Requests use MLflow's ``dataframe_split`` JSON, nulls as ``null``: what the
curl example in the README sends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from headrace.components import local_server

SERVING_EXAMPLE = "serving_input_example.json"
"""The request MLflow writes beside a model with an input example: a ready-made curl body."""


def serve_command(model_uri: str, port: int, host: str = "127.0.0.1", workers: int = 1) -> list[str]:
    """The ``mlflow models serve`` command line, run by this interpreter."""
    return [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "--model-uri",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def serve_env() -> dict[str, str]:
    """This process's environment with this interpreter's ``bin`` first on ``PATH`` (MLflow execs ``uvicorn``)."""
    bin_dir = os.path.dirname(sys.executable)
    return {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")])}


@dataclass(frozen=True)
class RunningServer:
    url: str
    startup_seconds: float
    process: subprocess.Popen[bytes]


def start(model_uri: str, port: int, host: str = "127.0.0.1", output: Any = None) -> subprocess.Popen[bytes]:
    """``mlflow models serve`` on ``model_uri`` in its own process group (``output``: a file for its logs)."""
    return local_server.start(serve_command(model_uri, port, host), env=serve_env(), output=output)


def wait_until_ready(
    process: subprocess.Popen[bytes],
    url: str,
    timeout: float,
    log_path: str | None = None,
    what: str = "mlflow models serve",
) -> float:
    """Seconds until ``/ping`` answered; ``local_server.ServerError`` (server stopped) when it did not in time."""
    return local_server.wait_until_up(
        process,
        url.rstrip("/") + "/ping",
        timeout=timeout,
        what=what,
        said=lambda: failure_cause(local_server.tail(log_path)) if log_path else "",
    )


_EXCEPTION_LINE = re.compile(r"^(?:[A-Za-z_][\w.]*(?:Error|Exception|Exit)|Exception|ERROR):\s")
_MLFLOW_WRAPPER = "Exception: Command '"  # `mlflow models serve` re-raising its uvicorn child's exit code


def failure_cause(output: str) -> str:
    """The line of a server's output that says why it failed: the last exception line that is not MLflow's wrapper."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line) and not line.startswith(_MLFLOW_WRAPPER):
            return line
    return lines[-1] if lines else ""


@contextlib.contextmanager
def serving(model_uri: str, *, log_path: str, startup_timeout: float = 120.0) -> Iterator[RunningServer]:
    """A model served on a free loopback port for the ``with`` block; stopped at its end, whatever happened."""
    port = local_server.free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "wb") as output:
        process = start(model_uri, port, output=output)
    try:
        seconds = wait_until_ready(process, url, startup_timeout, log_path)
        yield RunningServer(url, seconds, process)
    finally:
        local_server.stop(process)


def dataframe_split(frame: Any) -> dict[str, Any]:
    """A pandas DataFrame as MLflow's ``dataframe_split`` request body (NaN and None as ``null``)."""
    document = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
    return {"dataframe_split": {"columns": document["columns"], "data": document["data"]}}


@dataclass(frozen=True)
class Answer:
    """What the server said to one request: the HTTP status, the JSON body, and how long it took."""

    status: int
    body: Any
    seconds: float

    @property
    def error(self) -> str:
        """The server's error message (MLflow's ``message``), or the body as text."""
        if isinstance(self.body, dict) and "message" in self.body:
            return str(self.body["message"])
        return json.dumps(self.body)[:2000]


def invoke(url: str, body: dict[str, Any], timeout: float = 60.0) -> Answer:
    """POST ``body`` to ``<url>/invocations``; an HTTP error status is an answer too, not an exception."""
    request = urllib.request.Request(
        url.rstrip("/") + "/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    seconds = time.perf_counter() - started
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Answer(status, parsed, seconds)


def curl_example(url: str, model_dir: str) -> str:
    """A curl command that posts the model's own serving example (or a placeholder request) to ``url``."""
    example = os.path.join(model_dir, SERVING_EXAMPLE)
    data = (
        f"@{example}" if os.path.isfile(example) else """'{"dataframe_split": {"columns": [...], "data": [[...]]}}'"""
    )
    return f"curl -X POST {url.rstrip('/')}/invocations -H 'Content-Type: application/json' -d {data}"
