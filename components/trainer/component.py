"""The ``trainer`` component (TFX's Trainer): user code fits a model; headrace packages it behind the transform.

Inputs: ``examples`` (the *transformed* Examples), ``transform_graph`` (the
fitted TransformGraph), optionally ``schema`` (given to the user as
``ctx.schema``), ``base_model`` (a KerasModel to fine-tune:
``ctx.load_base_model()``) and ``raw_examples`` (the raw Examples the transform read:
the model's input example comes from their first rows). Output: ``model``,
a Model whose directory is one MLflow model that takes raw rows
(``headrace.components.model_package``), plus ``onnx/model.onnx`` with
``export: onnx`` or ``tflite/model.tflite`` with ``export: tflite``.

Nothing heavy is imported here, so the CLI checks a pipeline in milliseconds;
the module file and its entrypoint are checked by reading, not importing.
"""

from __future__ import annotations

from headrace.components.artifacts import Examples, KerasModel, Model, Schema, TransformGraph
from headrace.components.contract import Component, Context, Input, ParameterProblem
from headrace.components.trainer.spec import TrainerParameters


class TrainerComponent(Component[TrainerParameters]):
    type = "trainer"
    version = "1"
    description = "Runs user training code on the transformed examples; saves one MLflow model of transform + model."
    inputs = {
        "examples": Input(Examples, description="The transformed examples (transform.transformed_examples)."),
        "transform_graph": Input(TransformGraph, description="The fitted transform, packaged in front of the model."),
        "schema": Input(Schema, optional=True, description="Given to the training function as ctx.schema."),
        "raw_examples": Input(
            Examples,
            optional=True,
            description="The raw examples the transform read (ingest.examples): the model's input example.",
        ),
        "base_model": Input(
            KerasModel,
            optional=True,
            description="A pretrained Keras network (an importer's result) to fine-tune: ctx.base_model, "
            "ctx.load_base_model().",
        ),
    }
    outputs = {"model": Model}
    Parameters = TrainerParameters
    requires = ("scikit-learn", "mlflow", "cloudpickle", "numpy", "pandas", "pyarrow", "skl2onnx", "onnxruntime")

    @classmethod
    def check_params(cls, params: TrainerParameters, base_dir: str) -> list[ParameterProblem]:
        """The module exists, parses and defines the entrypoint; ONNX and TFLite export and distribution have their
        packages; quantize goes with export: tflite."""
        from headrace.components.tensorflow import TensorFlowNotInstalled, missing_tflite_packages, require_tensorflow
        from headrace.components.trainer.onnx_packages import missing_onnx_packages
        from headrace.components.trainer.user_module import check_module

        problems = check_module(params.module, params.entrypoint, base_dir)
        if params.export == "onnx" and missing_onnx_packages():
            problems.append(
                ParameterProblem(
                    ("export",),
                    f"export: onnx needs {' and '.join(missing_onnx_packages())}, not installed here",
                    "pip install 'headrace[onnx]', or set export: none",
                )
            )
        if params.quantize != "none" and params.export != "tflite":
            problems.append(
                ParameterProblem(
                    ("quantize",),
                    f"quantize: {params.quantize} quantizes the TFLite export, and export is {params.export}",
                    "set export: tflite, or leave quantize out",
                )
            )
        if params.export == "tflite":
            missing = missing_tflite_packages()
            if missing:
                problems.append(
                    ParameterProblem(
                        ("export",),
                        f"export: tflite needs {' and '.join(missing)}, not installed here",
                        "pip install 'headrace[tensorflow]', or set export: none",
                    )
                )
        if params.distribution is not None:
            try:
                require_tensorflow(f"distribution: {{strategy: {params.distribution.strategy}}}")
            except TensorFlowNotInstalled as exc:
                problems.append(ParameterProblem(("distribution",), str(exc), "or remove distribution"))
        return problems

    def run(self, ctx: Context[TrainerParameters]) -> None:
        from headrace.components.trainer.run import run_trainer

        run_trainer(ctx)
