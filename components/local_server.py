"""An HTTP server in a child process on a loopback port: start it, wait until it answers, always stop all of it.

``headrace ui`` (the MLflow tracking UI), ``headrace serve`` and the infra
validator (``mlflow models serve``) each start a server that forks workers of
its own (``mlflow models serve`` execs uvicorn from a bash child). The server
runs in its own session, so ``stop`` ends the whole process group with one
signal, and a server that does not come up in time is stopped, not leaked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from types import FrameType
from typing import IO


class ServerError(RuntimeError):
    """The server exited or did not answer in time; the message says which, with what it printed."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the server may still lose a race for it; rare on loopback)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def start(
    command: list[str], *, env: dict[str, str] | None = None, output: IO[bytes] | int | None = None
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session (its own process group); ``output`` takes stdout and stderr."""
    return subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        start_new_session=True,
    )


def wait_until_up(
    process: subprocess.Popen[bytes],
    url: str,
    *,
    timeout: float,
    what: str,
    said: Callable[[], str] = lambda: "",
) -> float:
    """Poll ``url`` until it answers 200; the seconds it took. Raises ``ServerError`` (after ``stop``) otherwise.

    ``said`` gives the tail of what the server printed, for the error message.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if process.poll() is not None:
            raise ServerError(_with_output(f"{what} exited with code {process.returncode} before answering", said()))
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() >= deadline:
            stop(process)
            raise ServerError(_with_output(f"{what} did not answer {url} within {timeout:g} s", said()))
        time.sleep(0.1)


def _with_output(message: str, said: str) -> str:
    said = said.strip()
    if not said:
        return message
    return f"{message}: {said}" if "\n" not in said else f"{message}:\n{said}"


def stop(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM to the whole process group, SIGKILL after ``grace`` seconds; returns once the server is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):  # workers that outlived their parent
        os.killpg(process.pid, signal.SIGKILL)


def tail(path: str, chars: int = 3000) -> str:
    """The last ``chars`` characters of a server's output file ("" when there is none)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - chars))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve_until_interrupted(process: subprocess.Popen[bytes], ready: Callable[[], None]) -> None:
    """For a CLI in the foreground: ``ready()`` once up, then wait; Ctrl-C or SIGTERM stops the server.

    ``ready`` typically waits until the server answers and prints its URL; a
    ``ServerError`` it raises propagates (the server is stopped either way).
    """
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        ready()
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        stop(process)
