"""The one shape of a user-facing error: where (file, line, column), what, and the fix.

Pipeline files, schema files, data files and parameters are all reported the
same way, as compilers do::

    pipeline.yaml:12:5: error: unknown component type 'ingset'
      hint: did you mean 'ingest'?

``Problem`` is the value (collected, listed, rendered); ``ProblemError`` is
the exception that carries one or more of them out of a component, and the
runner shows its message without a traceback (it is a ``ComponentError``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from headrace.components.contract import ComponentError


@dataclass(frozen=True)
class Problem:
    """One error at a place in a file; ``line == 0`` means the whole file (or no file at all)."""

    file: str
    line: int
    column: int
    message: str
    hint: str | None = None
    severity: str = "error"
    """``error`` stops what was asked for; ``warning`` is printed and the work goes on."""

    @property
    def location(self) -> str:
        """``file:line:col``, ``file:line`` when the column is unknown (0), ``file`` alone when the line is."""
        if not self.file or not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}" if self.column else f"{self.file}:{self.line}"

    def render(self) -> str:
        """``file:line:col: error: message`` and, when there is one, ``  hint: ...`` on the next line."""
        text = f"{self.location}: {self.severity}: {self.message}" if self.location else self.message
        return f"{text}\n  hint: {self.hint}" if self.hint else text

    def in_file(self, file: str) -> Problem:
        """The same problem, placed in ``file`` (readers of text do not know the file's name)."""
        return replace(self, file=file)


def problem(message: str, hint: str | None = None) -> Problem:
    """A problem with no place in a file (a parameter, a whole data set)."""
    return Problem("", 0, 0, message, hint)


class ProblemError(ComponentError, ValueError):
    """One or more ``Problem``s of the user's files, data or parameters; the message is their rendering.

    Built from a plain message too (``ProblemError("split 'eval' is empty; ...")``),
    which is a problem without a place.
    """

    def __init__(self, *problems: Problem | str) -> None:
        self.problems = [p if isinstance(p, Problem) else problem(p) for p in problems]
        lines = [p.render() for p in self.problems]
        files = {p.file for p in self.problems}
        if len(lines) > 1 and len(files) == 1 and "" not in files:
            lines.append(f"{len(lines)} errors in {files.pop()}")
        super().__init__("\n".join(lines))
