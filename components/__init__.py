"""headrace components: the contract and the built-in component families.

User code imports what it needs from here::

    from headrace.components import component, Output, Examples, Context, ComponentError, GateFailed

A component that finds a mistake in the user's own files raises
``ProblemError(Problem(file, line, column, message, hint))``: it is shown as
``file:line:col: error: message`` with the hint, like every error headrace reports.
"""

from headrace.components.artifacts import (
    Anomalies,
    Artifact,
    Examples,
    InfraBlessing,
    KerasModel,
    Model,
    ModelBlessing,
    ModelEvaluation,
    PushedModel,
    Schema,
    Statistics,
    TransformGraph,
)
from headrace.components.contract import (
    CodePath,
    Component,
    ComponentError,
    Context,
    DataPath,
    GateFailed,
    Input,
    NeedsTensorFlow,
    Parameters,
)
from headrace.components.decorator import Output, component
from headrace.components.problems import Problem, ProblemError
from headrace.components.trainer.context import TrainerContext

__all__ = [
    "Anomalies",
    "Artifact",
    "CodePath",
    "Component",
    "ComponentError",
    "Context",
    "DataPath",
    "Examples",
    "GateFailed",
    "InfraBlessing",
    "Input",
    "KerasModel",
    "Model",
    "ModelBlessing",
    "ModelEvaluation",
    "NeedsTensorFlow",
    "Output",
    "Parameters",
    "Problem",
    "ProblemError",
    "PushedModel",
    "Schema",
    "Statistics",
    "TrainerContext",
    "TransformGraph",
    "component",
]
