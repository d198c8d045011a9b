"""Versioned serving directories in TF Serving's layout: ``<push_dir>/<version>/``, version a growing integer.

A server watching ``push_dir`` (TF Serving, a sidecar, ``headrace serve
push_dir``) takes the highest version, so that one must never be half
written: the model is copied into a hidden sibling (``.staging-<random>``,
not a number, so no watcher picks it up) and renamed to its version in one
step. Two pushers racing for the same number: the rename of the loser fails
(the target exists and is not empty) and it takes the next number. On object
stores (``gs://``, ``s3://``) a rename is a copy, so there the newest version
can be seen while it is written; serve from a local or POSIX file system
where that matters.

Pushing the content that the newest version already holds creates no new
version (a re-run with ``--no-cache`` is idempotent); pushing an older
model again after a newer one makes it the newest (a rollback is a push).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import uuid
from dataclasses import dataclass
from typing import Any

from headrace.components.files import filesystem
from headrace.components.paths import is_uri

STAGING_PREFIX = ".staging-"
MLFLOW_SIDE_FILES = frozenset({"registered_model_meta"})
"""Files MLflow writes into a model folder it loads through the registry (``models:/name@alias`` on a local
source): not part of the model, so they do not make the newest version differ from the model pushed into it."""


class PushDirError(Exception):
    """``push_dir`` cannot be written; the message names it and says why."""


@dataclass(frozen=True)
class PushedVersion:
    version: int
    location: str  # <push_dir>/<version>, as a local path or a URI
    new: bool  # False when the newest version already held this content


def push(model_uri: str, push_dir: str) -> PushedVersion:
    """Copy the model directory to the next version under ``push_dir`` (unless the newest already holds it)."""
    fs, base = filesystem(push_dir)
    try:
        if is_uri(push_dir):
            fs.create_dir(base, recursive=True)
        else:
            os.makedirs(base, exist_ok=True)
    except OSError as exc:
        raise PushDirError(_why(push_dir, exc)) from None
    newest = max(versions(fs, base), default=0)
    if newest and tree_digest(*filesystem(model_uri)) == tree_digest(fs, f"{base}/{newest}"):
        return PushedVersion(newest, join_version(push_dir, newest), new=False)
    staging = f"{base}/{STAGING_PREFIX}{uuid.uuid4().hex}"
    try:
        _copy(model_uri, push_dir, staging)
    except OSError as exc:
        _remove(fs, staging)
        raise PushDirError(_why(push_dir, exc)) from None
    version = newest + 1
    while True:
        try:
            _rename(fs, staging, f"{base}/{version}")
            return PushedVersion(version, join_version(push_dir, version), new=True)
        except FileExistsError:
            version = max(version, *versions(fs, base)) + 1  # another pusher took it
        except OSError as exc:
            _remove(fs, staging)
            raise PushDirError(_why(push_dir, exc)) from None


def place(source: str, parent: str, version: int) -> str:
    """Copy the directory ``source`` to ``<parent>/<version>`` through a staging sibling and one rename; its location.

    For a second tree of the same version numbers (the SavedModel of version N
    beside the MLflow model of version N): the number is given, not chosen.
    What ``<parent>/<version>`` held before (left from a version whose MLflow
    model was deleted, so the number was given again) is replaced. Raises
    ``PushDirError`` when ``parent`` cannot be written.
    """
    fs, base = filesystem(parent)
    target = f"{base}/{version}"
    staging = f"{base}/{STAGING_PREFIX}{uuid.uuid4().hex}"
    try:
        if is_uri(parent):
            fs.create_dir(base, recursive=True)
        else:
            os.makedirs(base, exist_ok=True)
        _copy(source, parent, staging)
        try:
            _rename(fs, staging, target)
        except FileExistsError:  # a stale tree of this number: moved aside, replaced, removed
            stale = f"{base}/{STAGING_PREFIX}{uuid.uuid4().hex}"
            _rename(fs, target, stale)
            _rename(fs, staging, target)
            _remove(fs, stale)
    except OSError as exc:
        _remove(fs, staging)
        raise PushDirError(_why(parent, exc)) from None
    return join_version(parent, version)


def versions(fs: Any, base: str) -> list[int]:
    """The version numbers present under ``base`` (directories named by a number; anything else is ignored)."""
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    return [int(i.base_name) for i in infos if i.type == pafs.FileType.Directory and i.base_name.isdigit()]


def newest_version(push_dir: str) -> str | None:
    """``<push_dir>/<highest version>``, or None when nothing was pushed there."""
    fs, base = filesystem(push_dir)
    found = versions(fs, base)
    return join_version(push_dir, max(found)) if found else None


def tree_digest(fs: Any, root: str) -> str:
    """A digest of every file below ``root`` (relative path and bytes): the same model, the same digest."""
    import pyarrow.fs as pafs

    h = hashlib.blake2b(digest_size=16)
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
    for info in sorted((i for i in infos if i.type == pafs.FileType.File), key=lambda i: i.path):
        relative = info.path[len(root) :].lstrip("/")
        if relative in MLFLOW_SIDE_FILES:
            continue
        h.update(relative.encode() + b"\0")
        with fs.open_input_stream(info.path) as stream:
            h.update(hashlib.blake2b(stream.read(), digest_size=16).digest())
    return h.hexdigest()


def join_version(push_dir: str, version: int) -> str:
    """``<push_dir>/<version>``: a URI as it is, a local path made absolute."""
    if is_uri(push_dir):
        return f"{push_dir.rstrip('/')}/{version}"
    return os.path.join(os.path.abspath(push_dir), str(version))


def _copy(source_uri: str, target_dir: str, staging: str) -> None:
    """Copy the directory ``source_uri`` to ``staging``, a path on the file system of ``target_dir``."""
    if not is_uri(source_uri) and not is_uri(target_dir):
        shutil.copytree(source_uri, staging)
        return
    import pyarrow.fs as pafs

    source_fs, source = filesystem(source_uri)
    target_fs, _ = filesystem(target_dir)
    pafs.copy_files(source, staging, source_filesystem=source_fs, destination_filesystem=target_fs)


def _rename(fs: Any, staging: str, target: str) -> None:
    """Rename ``staging`` to ``target``; ``FileExistsError`` when ``target`` is taken."""
    import pyarrow.fs as pafs

    if isinstance(fs, pafs.LocalFileSystem):
        try:
            os.rename(staging, target)  # atomic; fails on a non-empty directory
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise FileExistsError(target) from None
            raise
        return
    if fs.get_file_info(target).type != pafs.FileType.NotFound:
        raise FileExistsError(target)
    fs.move(staging, target)


def _remove(fs: Any, path: str) -> None:
    with contextlib.suppress(OSError):
        fs.delete_dir(path)


def _why(push_dir: str, exc: OSError) -> str:
    cause = exc.strerror or str(exc)
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "make it writable by this user (e.g. chmod u+w, or chown it), or set push_dir to a folder you can write"
    elif isinstance(exc, NotADirectoryError) or exc.errno in (errno.ENOTDIR, errno.EEXIST):
        fix = "a part of that path is a file, not a folder: set push_dir to a folder path"
    else:
        fix = "check the path (and, for a URI, its credentials), or set push_dir to a folder you can write"
    where = push_dir if is_uri(push_dir) else os.path.abspath(push_dir)
    return f"cannot push to {where}: {cause}; {fix}"
