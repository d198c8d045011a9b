"""Files at a local path or any ``pyarrow.fs`` URI (``gs://``, ``s3://``, ``file://``): the one way to reach them.

``filesystem`` is where a location becomes a ``pyarrow.fs`` filesystem and a
path inside it; everything that lists, reads, writes or moves artifact and
data files goes through it, so a new scheme or a credential rule is added once.
``read_text`` / ``write_text`` cover small text files (JSON, YAML, HTML reports).
"""

from __future__ import annotations

import os
from typing import Any

from headrace.components.paths import is_uri


def filesystem(location: str) -> tuple[Any, str]:
    """The ``pyarrow.fs`` filesystem of a URI or local path, and the path inside it.

    A local path is made absolute (``pyarrow``'s local filesystem wants that);
    a URI's errors (unknown scheme, missing credentials) propagate as raised
    by pyarrow, for the caller to put in its own words.
    """
    import pyarrow.fs as pafs

    if is_uri(location):
        return pafs.FileSystem.from_uri(location)
    return pafs.LocalFileSystem(), os.path.abspath(location)


def as_location(location: str, path: str) -> str:
    """A path from ``location``'s filesystem (e.g. a listed file) written back in the form of ``location``.

    ``FileSystem.from_uri("gs://b/x")`` lists paths as ``b/x/...``; this puts
    the scheme back so the result can be handed to ``filesystem`` again.
    """
    if not is_uri(location):
        return path
    scheme = location.split("://", 1)[0]
    return f"{scheme}://{path}"


def read_text(uri: str) -> str:
    """The text of a local file or a ``pyarrow.fs`` URI (``gs://``, ``s3://``)."""
    if not is_uri(uri):
        with open(uri, encoding="utf-8") as handle:
            return handle.read()
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as stream:
        return str(stream.read().decode("utf-8"))


def write_text(uri: str, text: str) -> None:
    """Write ``text`` to a local file (creating folders) or a ``pyarrow.fs`` URI."""
    if not is_uri(uri):
        os.makedirs(os.path.dirname(os.path.abspath(uri)), exist_ok=True)
        with open(uri, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    fs, path = filesystem(uri)
    fs.create_dir(path.rpartition("/")[0], recursive=True)
    with fs.open_output_stream(path) as stream:
        stream.write(text.encode("utf-8"))


def kind(location: str) -> str | None:
    """``"file"``, ``"folder"``, or None when nothing is at ``location`` (a local path or a URI)."""
    if not is_uri(location):
        return "file" if os.path.isfile(location) else "folder" if os.path.isdir(location) else None
    import pyarrow.fs as pafs

    fs, path = filesystem(location)
    found = fs.get_file_info(path).type
    return "file" if found == pafs.FileType.File else "folder" if found == pafs.FileType.Directory else None


def copy(source: str, target: str) -> None:
    """Copy a file, or a folder and everything below it, from ``source`` to ``target`` (local paths or URIs)."""
    import pyarrow.fs as pafs

    source_fs, source_path = filesystem(source)
    target_fs, target_path = filesystem(target)
    if source_fs.get_file_info(source_path).type == pafs.FileType.Directory:
        target_fs.create_dir(target_path, recursive=True)
    elif parent := target_path.rstrip("/").rpartition("/")[0]:
        target_fs.create_dir(parent, recursive=True)
    pafs.copy_files(source_path, target_path, source_filesystem=source_fs, destination_filesystem=target_fs)
