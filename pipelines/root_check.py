"""Is the pipeline's ``root`` a folder headrace can write? Asked once, before the first component starts.

Without this, a ``root`` through a regular file or in a read-only place fails
deep inside the first component's log set-up with a raw ``OSError``
traceback, after the run was already recorded.
"""

from __future__ import annotations

import errno
import os
import tempfile

from headrace.components.paths import is_uri


def root_problem(root: str) -> str | None:
    """Why artifacts and logs cannot be written under ``root`` (a local path), or None when they can.

    The folder is created if missing, as a run would create it; object-store
    URIs (``gs://``, ``s3://``) are not checked here: their access fails with
    the store's own message.
    """
    if is_uri(root):
        return None
    blocking = _file_on_the_way(root)
    if blocking is not None:
        return f"{blocking!r} is a file, not a folder"
    try:
        os.makedirs(root, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".headrace-write-check-"):
            pass
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename and exc.filename != root else ""
        reason = {
            errno.EACCES: "permission denied",
            errno.EPERM: "operation not permitted",
            errno.EROFS: "read-only file system",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        return f"cannot write there: {reason}{where}"
    return None


def _file_on_the_way(path: str) -> str | None:
    """The nearest existing ancestor of ``path`` (or ``path`` itself) when it is not a folder."""
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent
    return None if os.path.isdir(current) else current
