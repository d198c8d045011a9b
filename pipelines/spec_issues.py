"""The errors of a pipeline file, each at the line and column where it was written.

Every step of loading (reading, overrides, interpolation, validation, wiring)
records its problems in one ``SpecProblems``; the loader raises them together
as a ``PipelineSpecError``, so a user fixes a file in one round, not ten.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from headrace.components.problems import Problem
from headrace.pipelines.interpolation import Override
from headrace.pipelines.marked_yaml import MarkedDocument
from headrace.pipelines.redaction import Redactor

Path = tuple[Any, ...]
"""A place in the document: keys and list indexes from the top (``("components", "ingest", "params")``)."""


SpecIssue = Problem
"""One error of a pipeline file: ``file:line:col: error: message`` and a hint (the one problem type of headrace).

``line == 0`` means the problem has no place in the file (a missing file, a
``--set`` option); ``file`` then says what it concerns.
"""


class PipelineSpecError(Exception):
    """Every problem of a pipeline file, found before anything ran."""

    def __init__(self, file: str, errors: list[SpecIssue]) -> None:
        self.file = file
        self.errors = errors
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.errors)
        lines = [issue.render() for issue in self.errors]
        lines.append(f"{count} error{'' if count == 1 else 's'} in {self.file}")
        return "\n".join(lines)


class Abort(Exception):
    """Nothing more can be checked (no file, no YAML, no mapping)."""


class SpecProblems:
    """The problems found so far in one file, and what is needed to place them."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[SpecIssue] = []
        self.doc = MarkedDocument(data=None)
        self.overrides: dict[Path, Override] = {}
        """``--set`` options by the path they wrote: a problem there is reported at the option."""
        self.unresolved: set[Path] = set()
        """Values whose ``${...}`` failed (already reported): their validation errors are noise."""
        self.secrets: dict[str, str] = {}
        """Values read from the environment (value -> its ``${env:...}`` reference): never printed."""

    def add(self, issue: SpecIssue) -> None:
        self.issues.append(issue)

    def at(self, path: Path, message: str, hint: str | None = None, *, key: bool = False) -> None:
        """Record an issue at the place ``path`` was written (or at the ``--set`` that wrote it)."""
        for override_path, override in self.overrides.items():
            if tuple(path[: len(override_path)]) == override_path:
                self.add(SpecIssue(f"--set {override.key}", 0, 0, message, hint))
                return
        line, column = self.doc.position(path, key=key)
        issue = SpecIssue(self.file, line, column, message, hint)
        if issue not in self.issues:
            self.add(issue)

    def error(self) -> PipelineSpecError:
        redactor = Redactor(self.secrets)  # a value's error message may quote it, and it may be a secret
        issues = [
            replace(i, message=redactor.text(i.message), hint=i.hint and redactor.text(i.hint)) for i in self.issues
        ]
        ordered = sorted(issues, key=lambda i: (i.line != 0, i.line, i.column))
        return PipelineSpecError(self.file, ordered)


def where(path: Path) -> str:
    return f"in '{dotted(path)}'" if path else "at the top level"


def dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)


def get_at(tree: Any, path: Path) -> Any:
    for part in path:
        tree = tree[part]
    return tree


def set_at(tree: Any, path: Path, value: Any, *, create: bool = True) -> None:
    for part in path[:-1]:
        if (isinstance(tree, dict) and part in tree) or (
            isinstance(tree, list) and isinstance(part, int) and part < len(tree)
        ):
            tree = tree[part]
        else:
            return
    if (isinstance(tree, dict) and (create or path[-1] in tree)) or (
        isinstance(tree, list) and isinstance(path[-1], int) and path[-1] < len(tree)
    ):
        tree[path[-1]] = value
