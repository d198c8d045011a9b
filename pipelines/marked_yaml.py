"""Moved to ``headrace.components.marked_yaml`` (the schema file reader needs it too); kept for pipelines code."""

from headrace.components.marked_yaml import MarkedDocument, YamlProblem, YamlSyntaxError, load_marked

__all__ = ["MarkedDocument", "YamlProblem", "YamlSyntaxError", "load_marked"]
