"""The ``trainer`` component's parameters: which user function trains, with what, and what to export.

Nothing heavy is imported here: every component's parameters are validated before anything runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from headrace.components.contract import CodePath, Parameters

Task = Literal["auto", "classification", "regression"]
TIMEOUT = "The longest the distributed training may take, in seconds; a worker still running then is stopped."


class MirroredDistribution(Parameters):
    """One process, the CPU split into ``devices`` logical devices (or its GPUs), under MirroredStrategy."""

    strategy: Literal["mirrored"]
    devices: int = Field(2, ge=1, description="Replicas: logical CPU devices made before TensorFlow starts.")
    timeout: float = Field(3600.0, gt=0, description=TIMEOUT)


class MultiWorkerDistribution(Parameters):
    """``workers`` local processes on loopback ports, each given TF_CONFIG, under MultiWorkerMirroredStrategy."""

    strategy: Literal["multi_worker"]
    workers: int = Field(2, ge=1, description="Worker processes (worker 0, the chief, gives the model).")
    timeout: float = Field(3600.0, gt=0, description=TIMEOUT)


Distribution = Annotated[MirroredDistribution | MultiWorkerDistribution, Field(discriminator="strategy")]


class TrainerParameters(Parameters):
    """User training code and its settings; the module's content enters the cache key."""

    module: CodePath = Field(
        ...,
        description="A Python file (relative to the pipeline file) defining the training function; its content "
        "and the project-local modules it imports enter the cache key.",
    )
    entrypoint: str = Field(
        "train", description="Name of the function in module: def train(ctx) -> fitted model.", min_length=1
    )
    label: str = Field(..., description="The label column of the transformed examples.", min_length=1)
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict, description="Given to the function as ctx.hyperparameters (any YAML values)."
    )
    seed: int = Field(
        0,
        description="Seeds Python's and NumPy's random generators before training; pass ctx.seed as random_state.",
    )
    task: Task = Field(
        "auto",
        description="classification or regression; auto: the estimator's own kind (a scikit-learn classifier or "
        "regressor), else classification for a string, boolean or low-cardinality integer label, regression "
        "otherwise.",
    )
    export: Literal["none", "onnx", "tflite"] = Field(
        "none",
        description="onnx: also write onnx/model.onnx, the transform and a scikit-learn estimator as one ONNX "
        "graph, checked with onnxruntime (pip install 'headrace[onnx]'). tflite: also write tflite/model.tflite, "
        "the transform and a Keras model as one TensorFlow Lite file over raw features, checked with LiteRT's "
        "interpreter on the raw eval rows (pip install 'headrace[tensorflow]').",
    )
    quantize: Literal["none", "dynamic", "int8"] = Field(
        "none",
        description="With export: tflite, dynamic: store the weights as int8 (TFLite's dynamic range "
        "quantization; weight tensors under 1024 values stay float32). int8: full-integer quantization, weights "
        "and activations int8, calibrated on 200 sampled raw train rows (needs raw_examples); inputs and scores "
        "stay float, and the float file is checked too. The file's difference from the Keras model and its "
        "accuracy are measured and recorded.",
    )
    distribution: Distribution | None = Field(
        None,
        description="Train a Keras model under tf.distribute: {strategy: mirrored, devices: 2} or "
        "{strategy: multi_worker, workers: 2}, in fresh processes; none: this process, one device.",
    )
    train_split: str = Field("train", description="The split the model is trained on (ctx.train).")
    eval_split: str = Field("eval", description="The split for ctx.eval and the eval training metrics.")
