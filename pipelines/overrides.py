"""``--set a.b=c`` applied to a pipeline file's data.

The value is parsed as YAML here; where the schema wants a string, validation
puts the text back (``validation_errors.retry_overrides_as_text``).
"""

from __future__ import annotations

import copy
from typing import Any

from headrace.pipelines.interpolation import OverrideError, apply_override, parse_override
from headrace.pipelines.spec_issues import SpecProblems


def apply_overrides(data: dict[str, Any], texts: list[str], problems: SpecProblems) -> dict[str, Any]:
    """A copy of ``data`` with each override applied; each one is remembered so its errors point at it."""
    if not texts:
        return data
    data = copy.deepcopy(data)
    for text in texts:
        try:
            override = parse_override(text, data)
            apply_override(data, override)
        except OverrideError as exc:
            problems.add(exc.problem)
            continue
        problems.overrides[override.path] = override
    return data
