"""An artifact's file manifest: which files it had when published, and how big.

Publishing records it; a cache hit and every consumer compare it with what is
on disk before trusting the artifact. Only stat calls are made (no bytes are
re-read or re-hashed), so the check costs milliseconds even for large data,
yet a deleted, truncated or added part file is never taken for the whole.
"""

from __future__ import annotations

import os

from headrace.components.files import filesystem
from headrace.components.paths import is_uri


def file_manifest(uri: str) -> dict[str, int]:
    """Every file below ``uri`` (``/``-separated path relative to it) and its size in bytes."""
    if is_uri(uri):
        import pyarrow.fs as pafs

        fs, base = filesystem(uri)
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
        prefix = base.rstrip("/") + "/"
        return {i.path[len(prefix) :]: int(i.size or 0) for i in infos if i.type == pafs.FileType.File}
    found: dict[str, int] = {}
    stack = [uri]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    found[os.path.relpath(entry.path, uri).replace(os.sep, "/")] = entry.stat().st_size
    return found


def manifest_problem(uri: str, manifest: dict[str, int] | None) -> str | None:
    """What differs between the files under ``uri`` and its published manifest, or None when they match.

    An artifact published before manifests were recorded (``None``) only has
    to exist.
    """
    try:
        actual = file_manifest(uri)
    except (FileNotFoundError, NotADirectoryError):
        return "the artifact folder was deleted"
    if manifest is None:
        return None
    missing = sorted(set(manifest) - set(actual))
    changed = sorted(p for p in set(manifest) & set(actual) if manifest[p] != actual[p])
    added = sorted(set(actual) - set(manifest))
    parts = [
        *(f"{p} deleted" for p in missing),
        *(f"{p} changed size" for p in changed),
        *(f"{p} added" for p in added),
    ]
    if not parts:
        return None
    shown = ", ".join(parts[:3]) + (f" and {len(parts) - 3} more" if len(parts) > 3 else "")
    return shown
