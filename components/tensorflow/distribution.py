"""One worker of a distributed Keras training: the strategy, the user's ``train(ctx)`` in its scope, the model saved.

The trainer's ``distribution`` runs here, in fresh processes started by
``headrace.components.trainer.distributed`` (``python -m`` this module and a
job file), never in the pipeline's process: logical devices can only be made
before TensorFlow initialises, and a pipeline's earlier components may have
initialised it already, in the same process.

- ``mirrored``: one process; the CPU is split into ``devices`` logical
  devices (a machine with GPUs uses those), and ``MirroredStrategy`` keeps
  a replica of the model on each.
- ``multi_worker``: ``workers`` processes, each told its place by
  ``TF_CONFIG`` (``{"cluster": {"worker": [...]}, "task": {"type": "worker",
  "index": i}}``, exactly what Kubeflow's training operator sets in a TFJob's
  pods), each under ``MultiWorkerMirroredStrategy``. Each runs ``train(ctx)``;
  worker 0, the chief, gives the model.

``ctx.train.tf_dataset`` needs nothing more: its datasets shard by DATA
(``headrace.components.tensorflow.datasets``), so each worker takes its share
of every global batch. The model every worker trained is saved (saving reads
variables through collectives, so all must); the chief's is the result.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from typing import Any

from headrace.components.tensorflow import missing_tensorflow

try:
    import tensorflow as tf
except ImportError as exc:
    raise missing_tensorflow(__name__, exc) from exc


def make_strategy(strategy: str, devices: int) -> Any:
    """The ``tf.distribute`` strategy; first thing in the process, before TensorFlow initialises."""
    if strategy == "mirrored":
        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            if devices > len(gpus):
                raise RuntimeError(f"asked for {devices} devices, and this machine has {len(gpus)} GPUs")
            return tf.distribute.MirroredStrategy([f"/gpu:{n}" for n in range(devices)])
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
        made = tf.config.list_logical_devices("CPU")
        if len(made) != devices:
            raise RuntimeError(f"asked for {devices} logical CPU devices, TensorFlow made {len(made)}")
        return tf.distribute.MirroredStrategy([device.name for device in made])
    allow_keras_multi_worker()
    return tf.distribute.MultiWorkerMirroredStrategy()


def allow_keras_multi_worker() -> None:
    """Let Keras 3's ``fit`` run under MultiWorkerMirroredStrategy, which it does not yet (keras-team/keras#20585).

    Two reductions of its TensorFlow trainer fail there: the first batch,
    read to build the model, is reduced across workers as one structure
    (a dict of features cannot be), and the per-replica loss and metrics,
    scalars, are reduced along an axis they do not have. Here the first
    batch is read locally (only its shapes and dtypes are used) and scalars
    are averaged across workers. Applied in the workers' processes only.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if not hasattr(trainer, "reduce_per_replica") or not hasattr(trainer.TensorFlowTrainer, "_maybe_symbolic_build"):
        import keras

        raise RuntimeError(
            f"Keras {keras.__version__} changed the trainer internals headrace adapts for multi_worker; "
            "use strategy: mirrored, or the Keras version of headrace's tensorflow extra"
        )
    if getattr(trainer, "_headrace_multi_worker", False):
        return
    reduce_per_replica = trainer.reduce_per_replica

    def local(value: Any, strategy: Any) -> Any:
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(lambda v: local(v, self.distribute_strategy), next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduced(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return reduce_per_replica(values, strategy, reduction)

    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduced
    trainer._headrace_multi_worker = True


def load_trained(path: str, modules: list[Any]) -> Any:
    """The chief's model, read back in the trainer's process (compiled, with its optimizer's state).

    Classes and functions of the user's ``modules`` are given as custom objects, so a layer defined
    there loads without ``keras.saving.register_keras_serializable``, as it would have been saved.
    """
    import keras

    custom = {
        name: value
        for module in modules
        for name, value in vars(module).items()
        if callable(value) and getattr(value, "__module__", None) == module.__name__
    }
    return keras.saving.load_model(path, custom_objects=custom)


def run_worker(job: dict[str, Any], index: int, log: logging.Logger) -> None:
    """Make the strategy, call the user's ``train(ctx)`` in its scope, save the model (and the chief's metrics)."""
    from headrace.components.contract import ComponentError
    from headrace.components.trainer.context import DistributionInfo
    from headrace.components.trainer.distributed import RESULT_FILE, model_path, ready_file
    from headrace.components.trainer.run import checked_model, seed_generators
    from headrace.components.trainer.user_module import UserModule

    scratch = job["scratch"]
    try:
        strategy = make_strategy(job["strategy"], job["devices"])
    except (RuntimeError, ValueError) as exc:
        raise ComponentError(f"TensorFlow could not make the {job['strategy']} strategy: {exc}") from exc
    with open(ready_file(scratch, index), "w"):
        pass
    info = DistributionInfo(job["strategy"], int(strategy.num_replicas_in_sync), job["workers"], index)
    log.info("worker %d of %d: %s, %d replicas in sync", index, info.workers, job["strategy"], info.replicas)
    user = UserModule(job["module"], job["entrypoint"])
    seed_generators(job["seed"])
    metrics: dict[str, float] = {}
    ctx = _trainer_context(job, log, strategy, info, metrics)
    started = time.perf_counter()
    with strategy.scope(), _chief_progress(info.is_chief, log):
        model = user.call(ctx)
    fit_seconds = time.perf_counter() - started
    flavor = checked_model(model, user)
    if flavor != "keras":
        raise ComponentError(
            f"{user.place}: {user.entrypoint} returned a {type(model).__name__} ({flavor}), and distribution trains "
            "Keras models only (tf.distribute); return a Keras model built and compiled in train(ctx), or remove "
            "distribution"
        )
    path = model_path(scratch, index)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    model.save(path)
    if info.is_chief:
        result = {"metrics": metrics, "fit_seconds": fit_seconds}
        with open(os.path.join(scratch, RESULT_FILE), "w", encoding="utf-8") as f:
            json.dump(result, f)


def _chief_progress(is_chief: bool, log: logging.Logger) -> contextlib.AbstractContextManager[None]:
    """The chief's epochs as progress lines on its output (the trainer's process shows them) and in its log.

    The other workers train the same epochs in step: telling theirs too would only repeat the chief's.
    """
    if not is_chief:
        return contextlib.nullcontext()
    from headrace.components.tensorflow.fit_progress import reported_fits
    from headrace.components.trainer.distributed import PROGRESS_PREFIX

    return reported_fits(lambda note: print(f"{PROGRESS_PREFIX}{note}", flush=True), log)


def _trainer_context(
    job: dict[str, Any], log: logging.Logger, strategy: Any, info: Any, metrics: dict[str, float]
) -> Any:
    """The ``ctx`` the trainer's process would give, rebuilt from the job file, with the strategy."""
    from headrace.components.artifacts import Examples, Schema
    from headrace.components.trainer.context import Split, TrainerContext

    examples = Examples(**job["examples"])
    options: dict[str, Any] = {
        "classes": job["classes"],
        "seed": job["seed"],
        "transform_graph": job.get("transform_graph"),
    }
    return TrainerContext(
        train=Split(examples, job["train_split"], job["features"], job["label"], augment=job.get("augment"), **options),
        eval=Split(examples, job["eval_split"], job["features"], job["label"], **options),
        features=list(job["features"]),
        label=job["label"],
        task=job["task"],
        hyperparameters=job["hyperparameters"],
        seed=job["seed"],
        schema=Schema(**job["schema"]) if job["schema"] else None,
        classes=job["classes"],
        log=log,
        strategy=strategy,
        distribution=info,
        metrics=metrics,
        base_model=job.get("base_model"),
    )


def worker_index() -> int:
    """This worker's index: TF_CONFIG's ``task.index`` (as Kubeflow's training operator sets it), else 0."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    return int((config.get("task") or {}).get("index", 0))


def main(argv: list[str] | None = None) -> int:
    """``python -m headrace.components.tensorflow.distribution JOB_FILE``: one worker; 0 when it trained.

    Its place in the cluster comes from ``TF_CONFIG`` alone, so the same command runs a local worker and
    a TFJob replica.
    """
    from headrace.components.contract import ComponentError
    from headrace.components.trainer.distributed import error_file

    (job_file,) = argv if argv is not None else sys.argv[1:]
    index = worker_index()
    with open(job_file, encoding="utf-8") as f:
        job = json.load(f)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("headrace.trainer")
    try:
        run_worker(job, index, log)
    except ComponentError as exc:
        with open(error_file(job["scratch"], index), "w", encoding="utf-8") as f:
            json.dump({"error": str(exc)}, f)
        log.exception("worker %d failed", index)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
