"""One way to report a user's mistake: ``file:line:col: error: message`` and a hint."""

from __future__ import annotations

from headrace.components import ComponentError
from headrace.components.problems import Problem, ProblemError
from headrace.components.suggestions import did_you_mean


def test_a_problem_renders_like_a_compiler_error() -> None:
    assert Problem("pipeline.yaml", 12, 5, "unknown component type 'ingset'", "did you mean 'ingest'?").render() == (
        "pipeline.yaml:12:5: error: unknown component type 'ingset'\n  hint: did you mean 'ingest'?"
    )
    assert (
        Problem("data.csv", 7, 0, "cannot convert 'x' to int64").render()
        == "data.csv:7: error: cannot convert 'x' to int64"
    )
    assert Problem("--set a.b", 0, 0, "no such key").render() == "--set a.b: error: no such key"


def test_the_error_lists_every_problem_and_counts_them_per_file() -> None:
    error = ProblemError(Problem("s.yaml", 1, 2, "first"), Problem("s.yaml", 3, 4, "second", "fix it"))
    assert isinstance(error, ComponentError) and isinstance(error, ValueError)  # shown without a traceback
    assert str(error) == "s.yaml:1:2: error: first\ns.yaml:3:4: error: second\n  hint: fix it\n2 errors in s.yaml"
    assert str(ProblemError("split 'eval' is empty")) == "split 'eval' is empty"


def test_did_you_mean_suggests_only_close_names() -> None:
    assert did_you_mean("ingset", ["ingest", "statistics"]) == "did you mean 'ingest'?"
    assert did_you_mean("zzz", ["ingest", "statistics"]) is None
