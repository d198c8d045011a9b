"""The ``evaluator`` component (TFX's Evaluator).

Inputs: ``model`` (Model), ``examples`` (the RAW Examples: predictions go
through the packaged model on raw rows, exactly as serving does), optionally
``baseline`` (Model; wire ``{latest: trainer.model, blessed: true}``) and
``schema`` (Schema; lets ``headrace validate`` check the slice columns before
anything runs). Outputs: ``evaluation`` (ModelEvaluation: ``metrics.json`` and
``evaluation.html``) and ``blessing`` (ModelBlessing: ``blessing.json``,
always written, blessed or not).

Nothing heavy is imported here, so the CLI can check a pipeline in milliseconds.
"""

from __future__ import annotations

from headrace.components.artifacts import Examples, Model, ModelBlessing, ModelEvaluation, Schema
from headrace.components.contract import ColumnProblem, Component, Context, Input
from headrace.components.evaluator.spec import EvaluatorParameters
from headrace.components.suggestions import did_you_mean


class EvaluatorComponent(Component[EvaluatorParameters]):
    type = "evaluator"
    version = "1"
    description = "Metrics overall and per slice, thresholds on them and on the change against a baseline: a blessing."
    inputs = {
        "model": Input(Model, description="The model to evaluate."),
        "examples": Input(Examples, description="The RAW examples (e.g. ingest.examples): the model transforms them."),
        "baseline": Input(
            Model,
            optional=True,
            description="The model to compare with, usually {latest: trainer.model, blessed: true}.",
        ),
        "schema": Input(Schema, optional=True, description="Checks the slice columns when the pipeline is validated."),
    }
    outputs = {"evaluation": ModelEvaluation, "blessing": ModelBlessing}
    Parameters = EvaluatorParameters
    requires = ("scikit-learn", "mlflow", "pyarrow")

    @classmethod
    def check_columns(cls, params: EvaluatorParameters, columns: dict[str, list[str]]) -> list[ColumnProblem]:
        """Slice columns against a curated schema's columns, at validation time."""
        known = columns.get("schema")
        if known is None:
            return []
        return [
            ColumnProblem(
                path,
                f"slice column {column!r} is not in the schema; its columns: {', '.join(known)}",
                did_you_mean(column, known),
            )
            for path, column in params.missing_slice_columns(known)
        ]

    def run(self, ctx: Context[EvaluatorParameters]) -> None:
        from headrace.components.evaluator.run import run_evaluation

        run_evaluation(ctx)
