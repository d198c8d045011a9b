"""From a pipeline file to a validated ``Pipeline``, or every error at once.

Nothing runs before the whole file is checked. The steps, each in its own module:

1. ``file_reading``: bytes -> YAML data with the position of every value;
2. ``overrides``: ``--set`` options applied;
3. ``interpolating``: ``${params.x}`` / ``${env:VAR}`` resolved, secrets noted;
4. ``validation_errors``: the file validated by ``spec.PipelineSpec``;
5. ``wiring``: component types loaded, their parameters validated, inputs wired;
6. ``building``: the ``Pipeline``.

Each problem becomes a ``SpecIssue`` (``spec_issues``) at the line and column
where it was written, with a did-you-mean where a near name exists, and all
of them are raised together in one ``PipelineSpecError``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from headrace.pipelines.building import build_pipeline
from headrace.pipelines.file_reading import read_pipeline_file
from headrace.pipelines.graph import Pipeline
from headrace.pipelines.interpolating import interpolate_file
from headrace.pipelines.overrides import apply_overrides
from headrace.pipelines.spec import PipelineSpec
from headrace.pipelines.spec_issues import Abort, PipelineSpecError, SpecIssue, SpecProblems
from headrace.pipelines.validation_errors import validate
from headrace.pipelines.wiring import check_components

__all__ = ["PipelineSpecError", "SpecIssue", "load_pipeline"]


def load_pipeline(path: str, overrides: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> Pipeline:
    """Read, interpolate and validate a pipeline file; raises ``PipelineSpecError`` listing every problem."""
    file = str(path)
    problems = SpecProblems(file)
    try:
        data, fingerprint = read_pipeline_file(problems)
    except Abort:
        raise problems.error() from None
    data = apply_overrides(data, list(overrides), problems)
    interpolated = interpolate_file(data, os.environ if environ is None else environ, problems)
    spec = validate(PipelineSpec, interpolated.resolved, (), problems)
    nodes = check_components(interpolated.resolved, os.path.dirname(os.path.abspath(file)), problems)
    if problems.issues or spec is None or nodes is None:
        raise problems.error()
    return build_pipeline(
        file, spec, nodes, interpolated, fingerprint=fingerprint, overrides=tuple(overrides), positions=problems.doc
    )
