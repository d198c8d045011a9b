"""Small text files (JSON, YAML, HTML reports) at a local path or any ``pyarrow.fs`` URI."""

from __future__ import annotations

import os

from headrace.components.paths import is_uri


def read_text(uri: str) -> str:
    """The text of a local file or a ``pyarrow.fs`` URI (``gs://``, ``s3://``)."""
    if not is_uri(uri):
        with open(uri, encoding="utf-8") as handle:
            return handle.read()
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(uri)
    with fs.open_input_stream(path) as stream:
        return stream.read().decode("utf-8")


def write_text(uri: str, text: str) -> None:
    """Write ``text`` to a local file (creating folders) or a ``pyarrow.fs`` URI."""
    if not is_uri(uri):
        os.makedirs(os.path.dirname(os.path.abspath(uri)), exist_ok=True)
        with open(uri, "w", encoding="utf-8") as handle:
            handle.write(text)
        return
    import pyarrow.fs as pafs

    fs, path = pafs.FileSystem.from_uri(uri)
    fs.create_dir(path.rpartition("/")[0], recursive=True)
    with fs.open_output_stream(path) as stream:
        stream.write(text.encode("utf-8"))
