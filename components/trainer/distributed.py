"""The trainer's ``distribution``: ``train(ctx)`` run by fresh worker processes, the chief's Keras model handed back.

Local runs execute components in threads of one process, where TensorFlow
may already be initialised (and logical devices can only be made before it
is), so distributed training never runs in the pipeline's process: this
module writes a job file, starts the workers
(``headrace.components.tensorflow.distribution``; one for ``mirrored``,
``workers`` on free loopback ports with ``TF_CONFIG`` for ``multi_worker``),
relays their output into the component's log, and reads back the chief's
``.keras`` file, which the trainer then checks and packages like any Keras
model. A worker that fails stops the others at once; one that does not start,
or a training that outlasts ``timeout``, is stopped and named.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import IO, Any

from headrace.components.artifacts import Examples, Schema
from headrace.components.contract import ComponentError, Context
from headrace.components.trainer.context import TrainerContext
from headrace.components.trainer.spec import TrainerParameters
from headrace.components.trainer.user_module import UserModule

STARTUP_SECONDS = 120.0
"""How long a worker may take to import TensorFlow and make its strategy."""
TAIL_LINES = 25
WORKER_MODULE = "headrace.components.tensorflow.distribution"
MODEL_FILE = "model.keras"
RESULT_FILE = "result.json"
Lines = queue.Queue[tuple[int, str]]
PROGRESS_PREFIX = "headrace-progress: "
"""A line the chief prints with this prefix is its training's progress (``epoch 3/20: ...``), not its log."""


def ready_file(scratch: str, index: int) -> str:
    """Written by a worker once TensorFlow and its strategy are up (the start timeout ends there)."""
    return os.path.join(scratch, f"ready-{index}")


def error_file(scratch: str, index: int) -> str:
    """A worker's error that the user can act on (their code raised, the model is not Keras), as JSON."""
    return os.path.join(scratch, f"error-{index}.json")


def model_path(scratch: str, index: int) -> str:
    """Where worker ``index`` saves its model: the chief's is the result, the others' are thrown away."""
    return os.path.join(scratch, MODEL_FILE) if index == 0 else os.path.join(scratch, f"worker-{index}", MODEL_FILE)


def train_distributed(ctx: Context[TrainerParameters], trainer_ctx: TrainerContext, user: UserModule) -> Any:
    """The Keras model the chief trained; its ``log_metric`` values go to ``trainer_ctx``."""
    from headrace.components import local_server

    spec = ctx.params.distribution
    assert spec is not None
    workers = spec.workers if spec.strategy == "multi_worker" else 1
    devices = spec.devices if spec.strategy == "mirrored" else 1
    said = f"{ctx.place('distribution')}: distribution ({_described(spec.strategy, workers, devices)})"
    cores = os.cpu_count() or 1
    if spec.strategy == "mirrored" and devices > cores:
        ctx.log.warning("%s: more devices than this machine's %d cores: the replicas share them", said, cores)
    scratch = tempfile.mkdtemp(prefix="headrace-distribution-")
    job = _job(ctx, trainer_ctx, user, scratch, workers, devices)
    job_file = os.path.join(scratch, "job.json")
    try:
        text = json.dumps(job)
    except TypeError as exc:  # a YAML date in the hyperparameters, say
        shutil.rmtree(scratch, ignore_errors=True)
        raise ComponentError(
            f"{said}: the workers get ctx as JSON, and {exc}; give hyperparameters as plain values"
        ) from None
    with open(job_file, "w", encoding="utf-8") as f:
        f.write(text)
    processes: list[subprocess.Popen[bytes]] = []
    tails: list[collections.deque[str]] = []
    relays: list[threading.Thread] = []
    lines: Lines = queue.Queue()
    try:
        spawned = time.time()
        for process in _start_workers(job_file, spec.strategy, workers):
            processes.append(process)
            tails.append(collections.deque(maxlen=TAIL_LINES))
            assert process.stdout is not None
            relay = threading.Thread(target=_relay, args=(process.stdout, len(relays), lines, tails[-1]), daemon=True)
            relay.start()
            relays.append(relay)
        ctx.progress(f"training: {user.place} {user.entrypoint}(ctx) on {_described(spec.strategy, workers, devices)}")
        try:
            _wait(processes, relays, tails, lines, ctx, scratch, spec.timeout, said)
        finally:
            _log_lines(lines, ctx, workers)
        with open(os.path.join(scratch, RESULT_FILE), encoding="utf-8") as f:
            result = json.load(f)
        startup = max(os.path.getmtime(ready_file(scratch, i)) for i in range(workers)) - spawned
        ctx.log.info(
            "distributed training done: workers up in %.1f s, train(ctx) took %.1f s", startup, result["fit_seconds"]
        )
        for name, value in result["metrics"].items():
            trainer_ctx.log_metric(name, value)
        trainer_ctx.log_metric("distribution_startup_seconds", startup)  # processes started, TensorFlow, strategy
        trainer_ctx.log_metric("distribution_train_seconds", result["fit_seconds"])  # train(ctx) in the chief
        from headrace.components.tensorflow.distribution import load_trained

        return load_trained(model_path(scratch, 0), user.local_modules)
    finally:
        for process in processes:
            local_server.stop(process, grace=5.0)
        shutil.rmtree(scratch, ignore_errors=True)


def _start_workers(job_file: str, strategy: str, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    """The worker processes, each in its own session (stopped as a group); multi_worker ones with TF_CONFIG."""
    from headrace.components import local_server

    hosts = [f"127.0.0.1:{local_server.free_port()}" for _ in range(workers)]
    for index in range(workers):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
        if strategy == "multi_worker":
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})
        yield local_server.start([sys.executable, "-m", WORKER_MODULE, job_file], env=env, output=subprocess.PIPE)


def _described(strategy: str, workers: int, devices: int) -> str:
    if strategy == "multi_worker":
        return f"multi_worker, {workers} worker{'s' if workers != 1 else ''}"
    return f"mirrored, {devices} device{'s' if devices != 1 else ''}"


def _job(
    ctx: Context[TrainerParameters],
    trainer_ctx: TrainerContext,
    user: UserModule,
    scratch: str,
    workers: int,
    devices: int,
) -> dict[str, Any]:
    """What a worker needs to rebuild ``ctx`` and call the entrypoint: paths, artifacts and plain values."""
    params = ctx.params
    assert params.distribution is not None
    examples = ctx.input("examples", Examples)
    schema = ctx.optional_input("schema", Schema)
    return {
        "scratch": scratch,
        "strategy": params.distribution.strategy,
        "workers": workers,
        "devices": devices,
        "module": user.path,
        "entrypoint": user.entrypoint,
        "examples": {"uri": examples.uri, "properties": examples.properties},
        "schema": {"uri": schema.uri, "properties": schema.properties} if schema is not None else None,
        "train_split": params.train_split,
        "eval_split": params.eval_split,
        "features": trainer_ctx.features,
        "label": trainer_ctx.label,
        "task": trainer_ctx.task,
        "classes": trainer_ctx.classes,
        "hyperparameters": trainer_ctx.hyperparameters,
        "seed": trainer_ctx.seed,
        "transform_graph": trainer_ctx.train.transform_graph,
        "augment": trainer_ctx.train.augment,  # the train split's, as in the trainer's process
        "base_model": trainer_ctx.base_model,  # a local path (a local copy of one at a URI) for ctx.load_base_model()
    }


def _relay(stream: IO[bytes], index: int, lines: Lines, tail: collections.deque[str]) -> None:
    """Each line a worker prints, queued for the component's thread (its log is that thread's) and kept in a tail."""
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        if line:
            tail.append(line)
            lines.put((index, line))
    stream.close()


def _log_lines(lines: Lines, ctx: Context[Any], workers: int) -> None:
    """The queued lines into the component's log, prefixed with their worker; the chief's progress lines to
    ``ctx.progress``."""
    while True:
        try:
            index, line = lines.get_nowait()
        except queue.Empty:
            return
        if line.startswith(PROGRESS_PREFIX):  # the chief's (its epochs are in its log lines too)
            ctx.progress(line[len(PROGRESS_PREFIX) :])
            continue
        ctx.log.info("%s: %s", f"worker {index}" if workers > 1 else "worker", line)


def _wait(
    processes: list[subprocess.Popen[bytes]],
    relays: list[threading.Thread],
    tails: list[collections.deque[str]],
    lines: Lines,
    ctx: Context[Any],
    scratch: str,
    timeout: float,
    said: str,
) -> None:
    """Return once every worker exited 0; else raise, naming the worker and why (the caller stops the rest)."""
    started = time.monotonic()
    workers = len(processes)
    while True:
        _log_lines(lines, ctx, workers)
        codes = [process.poll() for process in processes]
        failed = next((i for i, code in enumerate(codes) if code not in (None, 0)), None)
        if failed is not None:
            relays[failed].join(5.0)
            which = f"worker {failed} of {workers}" if workers > 1 else "the worker"
            reported = error_file(scratch, failed)
            if os.path.isfile(reported):
                with open(reported, encoding="utf-8") as f:
                    raise ComponentError(f"{said}: {which}: {json.load(f)['error']}")
            raise ComponentError(
                f"{said}: {which} exited with code {codes[failed]} before training finished; "
                f"its last lines:\n{_tail(tails[failed])}\n(the whole output is in the component's log)"
            )
        if all(code == 0 for code in codes):
            for relay in relays:
                relay.join(5.0)
            return
        elapsed = time.monotonic() - started
        if elapsed > min(STARTUP_SECONDS, timeout):
            late = [i for i in range(workers) if not os.path.exists(ready_file(scratch, i))]
            if late:
                raise ComponentError(
                    f"{said}: worker {late[0]} did not start (import TensorFlow and make its strategy) within "
                    f"{min(STARTUP_SECONDS, timeout):g} s; the workers were stopped. Its last lines:\n"
                    f"{_tail(tails[late[0]])}"
                )
        if elapsed > timeout:
            raise ComponentError(
                f"{said}: the training did not finish within its timeout of {timeout:g} s, and the workers were "
                "stopped; set distribution.timeout higher if it needs longer, or read the workers' output in the "
                "component's log for a worker that hangs"
            )
        time.sleep(0.1)


def _tail(lines: collections.deque[str]) -> str:
    return "\n".join(f"  {line}" for line in lines) or "  (nothing)"
