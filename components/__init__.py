"""headrace components: the contract and the built-in component families.

User code imports what it needs from here::

    from components import component, Output, Examples, Context
"""

from components.artifacts import (
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
from components.contract import CodePath, Component, Context, DataPath, Input, Parameters
from components.decorator import Output, component

__all__ = [
    "Anomalies", "Artifact", "CodePath", "Component", "Context", "DataPath", "Examples", "Input",
    "Model", "ModelBlessing", "ModelEvaluation", "Output", "Parameters", "PushedModel", "Schema",
    "Statistics", "TransformGraph", "component",
]
