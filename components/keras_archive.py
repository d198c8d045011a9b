"""A ``.keras`` file made reproducible: the same model gives the same bytes.

Keras 3 writes into the archive when it was saved (``metadata.json``'s
``date_saved``, and each zip entry's time) and the memory addresses of the
objects layers share (``config.json``'s ``shared_object_id``, e.g. one
dtype policy). Those differ on every save, so two trainings that produce
equal weights would give two different model fingerprints. Here the date
becomes the epoch, the ids are numbered in order of appearance (they only
pair up references within the file, so any consistent numbering loads the
same), and the zip entries get a fixed time; the weights are untouched.
"""

from __future__ import annotations

import json
import os
import zipfile
from typing import Any

EPOCH = "1970-01-01@00:00:00"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


def make_reproducible(path: str) -> None:
    """Rewrite the ``.keras`` archive at ``path`` in place without its save time and memory addresses."""
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info.filename)) for info in archive.infolist()]
    scratch = path + ".tmp"
    with zipfile.ZipFile(scratch, "w") as archive:
        for info, data in entries:
            if info.filename == "metadata.json":
                metadata = json.loads(data)
                metadata["date_saved"] = EPOCH
                data = json.dumps(metadata).encode()
            elif info.filename == "config.json":
                data = json.dumps(_renumbered(json.loads(data), {})).encode()
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            archive.writestr(fixed, data)
    os.replace(scratch, path)


def _renumbered(value: Any, ids: dict[Any, int]) -> Any:
    if isinstance(value, dict):
        return {
            key: ids.setdefault(item, len(ids) + 1) if key == "shared_object_id" else _renumbered(item, ids)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_renumbered(item, ids) for item in value]
    return value


def archive_problem(path: str) -> str | None:
    """What makes the local file at ``path`` not a Keras 3 ``.keras`` archive, or None when it is one.

    Read without Keras: the archive is a zip of ``config.json``, ``metadata.json`` and the weights.
    """
    if not zipfile.is_zipfile(path):
        return "it is not a Keras 3 .keras archive (a zip file)"
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    missing = [name for name in ("config.json", "metadata.json") if name not in names]
    if missing:
        return f"it is a zip file without {' and '.join(missing)}, so not a Keras 3 .keras archive"
    return None
