"""Where in a user's own file an exception happened, for messages that point at the user's line, not ours."""

from __future__ import annotations

import os
import traceback


def user_place(exc: BaseException, filename: str) -> str:
    """``file.py:line`` of the deepest frame of ``filename`` in the exception's traceback (``file.py`` if none)."""
    place = os.path.basename(filename)
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(filename):
            place = f"{os.path.basename(filename)}:{frame.lineno}"
    if isinstance(exc, SyntaxError) and exc.lineno and os.path.abspath(exc.filename or "") == os.path.abspath(filename):
        place = f"{os.path.basename(filename)}:{exc.lineno}"
    return place
