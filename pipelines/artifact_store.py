"""Where artifacts live, and how they are published atomically.

An output is written under a staging URI (``<node>.<output>/.staging-<execution
id>``); publishing reserves its artifact row (state ``pending``, which gives
the id), renames the staging folder to ``<node>.<output>/<artifact id>`` and
only then marks the row ``live``: a crash at any point leaves no half-written
artifact marked live (at worst a pending row and a folder that ``--resume`` or
``gc`` removes), and the folder number is the artifact id everywhere.
"""

from __future__ import annotations

import os
import shutil

from headrace.components.files import filesystem
from headrace.components.paths import is_uri


def output_uri(root: str, pipeline: str, node: str, output: str, artifact_id: int) -> str:
    """Where a published artifact lives: its folder is named by its artifact id (the id `show` and `lineage` use)."""
    return "/".join([root.rstrip("/"), pipeline, "artifacts", f"{node}.{output}", str(artifact_id)])


def staging_uri(root: str, pipeline: str, node: str, output: str, execution_id: int) -> str:
    """Where an execution writes an output before it is published (named by the execution id)."""
    return "/".join([root.rstrip("/"), pipeline, "artifacts", f"{node}.{output}", f".staging-{execution_id}"])


def cache_uri(root: str, pipeline: str, node: str) -> str:
    """A node's own cache across runs (``Context.cache_uri``): outside ``artifacts/``, nothing in the store."""
    return "/".join([root.rstrip("/"), pipeline, "cache", node])


def log_path(root: str, pipeline: str, run_id: str, node: str) -> str:
    return "/".join([root.rstrip("/"), pipeline, "runs", run_id, f"{node}.log"])


def ensure_dir(uri: str) -> None:
    if is_uri(uri):
        fs, path = filesystem(uri)
        fs.create_dir(path, recursive=True)
    else:
        os.makedirs(uri, exist_ok=True)


def exists(uri: str) -> bool:
    if not is_uri(uri):
        return os.path.exists(uri)
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def remove(uri: str) -> None:
    if is_uri(uri):
        import pyarrow.fs as pafs

        fs, path = filesystem(uri)
        if fs.get_file_info(path).type == pafs.FileType.Directory:
            fs.delete_dir(path)
        elif fs.get_file_info(path).type == pafs.FileType.File:
            fs.delete_file(path)
    elif os.path.isdir(uri):
        shutil.rmtree(uri, ignore_errors=True)
    elif os.path.exists(uri):
        os.remove(uri)


def move_into_place(staging: str, final: str) -> None:
    """Rename a staged output to its final URI (atomic on a local file system)."""
    if is_uri(final):
        fs, src = filesystem(staging)
        _, dst = filesystem(final)
        fs.move(src, dst)
    else:
        os.rename(staging, final)


def report_pages(uri: str) -> list[str]:
    """The HTML reports at the top of an artifact (``anomalies.html``): what a person opens first."""
    if is_uri(uri):
        import pyarrow.fs as pafs

        fs, path = pafs.FileSystem.from_uri(uri)
        infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
        return sorted(uri.rstrip("/") + "/" + i.base_name for i in infos if i.base_name.endswith(".html"))
    import glob

    return sorted(glob.glob(os.path.join(glob.escape(uri), "*.html")))
