"""Paths and URIs written in a pipeline file, resolved the same way everywhere."""

from __future__ import annotations

import os
import re

_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_uri(path: str) -> bool:
    """True for ``gs://``, ``s3://``, ``file://`` and other scheme-qualified locations."""
    return bool(_URI.match(path))


def resolve_path(path: str, base_dir: str) -> str:
    """Make a relative local path absolute against ``base_dir`` (the pipeline file's folder)."""
    if is_uri(path):
        return path
    path = os.path.expanduser(path)
    if os.path.isabs(path):
        return path
    return os.path.normpath(os.path.join(base_dir, path))
