"""The ``trainer`` component's parameters: which user function trains, with what, and what to export.

Nothing heavy is imported here: every component's parameters are validated before anything runs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

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


class Augment(Parameters):
    """Random changes to the training images, made afresh each epoch by Keras preprocessing layers.

    Applied by ``ctx.train.tf_dataset`` only (never ``ctx.eval``, never the served model), in pixel space:
    after each image is decoded and resized, before the transform's scaling.
    """

    flip: Literal["horizontal", "vertical", "horizontal_and_vertical"] | None = Field(
        None, description="Mirror half the images (Keras RandomFlip): left-right, top-bottom, or either."
    )
    rotation: float = Field(
        0.0, ge=0, lt=1, description="Rotate by up to this fraction of a full turn either way (RandomRotation)."
    )
    translation: float = Field(
        0.0, ge=0, lt=1, description="Shift by up to this fraction of the height and width (RandomTranslation)."
    )
    zoom: float = Field(0.0, ge=0, lt=1, description="Zoom in or out by up to this fraction (RandomZoom).")
    contrast: float = Field(
        0.0, ge=0, lt=1, description="Scale the contrast by a factor in [1-x, 1+x] (RandomContrast)."
    )
    brightness: float = Field(
        0.0, ge=0, lt=1, description="Add up to this fraction of 255 to every pixel, either way (RandomBrightness)."
    )

    @model_validator(mode="after")
    def _something(self) -> Augment:
        if self.flip is None and not any(getattr(self, name) for name in FACTORS):
            raise ValueError("augment changes nothing: set flip, or a factor above 0 of " + ", ".join(FACTORS))
        return self


FACTORS = ("rotation", "translation", "zoom", "contrast", "brightness")

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
    augment: Augment | None = Field(
        None,
        description="Random changes to the image columns of the train split, e.g. {flip: horizontal, rotation: "
        "0.1, translation: 0.1, zoom: 0.1}: applied by ctx.train.tf_dataset (tf_dataset(augment=False) turns them "
        "off for a call), seeded by seed; never by ctx.eval nor the served model.",
    )
    train_split: str = Field("train", description="The split the model is trained on (ctx.train).")
    eval_split: str = Field("eval", description="The split for ctx.eval and the eval training metrics.")
