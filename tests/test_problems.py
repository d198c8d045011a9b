"""One way to report a user's mistake: ``file:line:col: error: message`` and a hint."""

from __future__ import annotations

from headrace.components import ComponentError
from headrace.components.problems import Problem, ProblemError
from headrace.components.suggestions import did_you_mean
from tests.projects import headrace


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


def test_a_warning_renders_like_an_error_with_its_severity() -> None:
    found = Problem("pipeline.yaml", 0, 0, "components.a.params.x: names a file", "annotate it DataPath", "warning")
    assert found.render() == "pipeline.yaml: warning: components.a.params.x: names a file\n  hint: annotate it DataPath"


USER_CHECK = '''
import os

from headrace.components import Artifact, Output, Problem, ProblemError, component


class Checked(Artifact):
    """Nothing: the check fails first."""


@component
def check(out: Output[Checked], table: str = "rates.txt") -> None:
    with open(table) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip().isdigit():
                column = len(line) - len(line.lstrip()) + 1
                raise ProblemError(Problem(table, number, column, f"{line.strip()!r} is not a rate", "write a number"))
'''


def test_a_user_component_points_at_its_own_file_with_the_public_problem_type(tmp_path) -> None:
    """``from headrace.components import Problem, ProblemError``: shown as file:line:col with the hint, no traceback."""
    (tmp_path / "checks.py").write_text(USER_CHECK)
    rates = tmp_path / "rates.txt"
    rates.write_text("1\n2\n  three\n")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"name: checks\nroot: ./runs\ncomponents:\n  check:\n    type: checks:check\n    params: {{table: {rates}}}\n"
    )
    ran = headrace("run", str(pipeline))
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert f"{rates}:3:3: error: 'three' is not a rate\n  hint: write a number" in ran.stdout
    assert "Traceback" not in ran.stdout + ran.stderr
