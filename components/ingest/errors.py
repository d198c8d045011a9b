"""The one exception ingest raises for problems in the user's data or parameters."""

from __future__ import annotations

from headrace.components.problems import ProblemError


class IngestError(ProblemError):
    """A data or configuration problem; the message names the file, the place and the fix.

    The runner prints the message without a traceback, so it must stand alone.
    """
