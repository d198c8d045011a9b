"""``${params.x}`` and ``${env:VAR}`` applied to a whole pipeline file, keeping secrets out of records.

``interpolation.py`` knows how to resolve one value; this applies it to the
sections of a file that may use it and collects what the store must never
see: the values read from the environment (recorded as their reference).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from headrace.pipelines.interpolation import did_you_mean, interpolate
from headrace.pipelines.spec import PipelineSpec
from headrace.pipelines.spec_issues import Path, SpecProblems

INTERPOLATED_SECTIONS = ("root", "metadata", "mlflow", "beam", "components")


@dataclass
class Interpolated:
    resolved: dict[str, Any]
    """The data with every ``${...}`` replaced: what is validated and run."""
    display: dict[str, Any]
    """The same with environment values kept as ``${env:VAR}``: what is recorded and shown."""
    secrets: dict[str, str] = field(default_factory=dict)
    """Environment value -> its reference."""
    env_paths: set[Path] = field(default_factory=set)
    """Where environment values were used."""


def interpolate_file(data: dict[str, Any], environ: Mapping[str, str], problems: SpecProblems) -> Interpolated:
    params = pipeline_params(data)
    result = Interpolated(dict(data), dict(data))
    for section in INTERPOLATED_SECTIONS:
        if section not in data:
            continue
        done = interpolate(data[section], params, environ, (section,))
        result.resolved[section], result.display[section] = done.resolved, done.display
        result.secrets.update(done.secrets)
        problems.secrets.update(done.secrets)
        result.env_paths |= done.env_paths
        for found in done.problems:
            problems.unresolved.add(found.path)
            problems.at(found.place, found.problem.message, found.problem.hint)
    return result


def pipeline_params(data: dict[str, Any]) -> dict[str, Any]:
    """The ``params:`` mapping, or a misspelt one's (already an error) so ``${params.x}`` is not reported too."""
    if "params" not in data:
        misspelt = [k for k in data if k not in PipelineSpec.model_fields and did_you_mean(k, ["params"])]
        if misspelt:
            return pipeline_params({"params": data[misspelt[0]]})
    params = data.get("params")
    return params if isinstance(params, dict) else {}
