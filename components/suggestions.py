""" "Did you mean ...?": the nearest known name to a misspelt one, for every error that has one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: object, candidates: Iterable[object]) -> str | None:
    """The known name closest to ``name``, or None when none is close enough to suggest."""
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(name: object, candidates: Iterable[object]) -> str | None:
    """``"did you mean 'x'?"`` for the closest of ``candidates``, or None when nothing is close."""
    near = closest(name, candidates)
    return f"did you mean {near!r}?" if near is not None else None
