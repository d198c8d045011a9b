"""headrace components: the contract and the built-in component families.

User code imports what it needs from here::

    from headrace.components import component, Output, Examples, Context, ComponentError, GateFailed
"""

from headrace.components.artifacts import (
    Anomalies,
    Artifact,
    Examples,
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
    Parameters,
)
from headrace.components.decorator import Output, component

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
    "Input",
    "Model",
    "ModelBlessing",
    "ModelEvaluation",
    "Output",
    "Parameters",
    "PushedModel",
    "Schema",
    "Statistics",
    "TransformGraph",
    "component",
]
