"""Where the data is: expanding a source (file, directory or glob) into files, and formats.

``list_source_files`` is public so the runner fingerprints exactly the files that
ingest reads: a directory means every file of the format below it (recursively,
hidden ``.x`` and ``_x`` files excluded), a glob (``*``, ``?``, ``[``; ``**`` spans
directories) means the files it matches; either way sorted by path.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Any

from headrace.components import files
from headrace.components.ingest.errors import IngestError

FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".tsv"),
    "parquet": (".parquet", ".pq"),
    "jsonl": (".jsonl", ".ndjson", ".json"),
}
COMPRESSIONS = (".gz", ".bz2", ".zst", ".lz4")
_GLOB_CHARS = "*?["


def filesystem(uri: str) -> tuple[Any, str]:
    """The ``pyarrow.fs`` filesystem of a URI or local path, and the path inside it."""
    try:
        return files.filesystem(uri)
    except Exception as exc:  # unsupported scheme, missing credentials, ...
        raise IngestError(f"cannot open {uri!r}: {exc}") from None


def _as_source_form(source: str, fs_path: str) -> str:
    """A filesystem path written back in the form of the source (a URI stays a URI)."""
    return files.as_location(source, fs_path)


def detect_format(path: str) -> str | None:
    """``csv``, ``parquet`` or ``jsonl`` from a file name (``.csv.gz`` counts as csv), else None."""
    name = path.lower()
    for compression in COMPRESSIONS:
        if name.endswith(compression):
            name = name[: -len(compression)]
            break
    for fmt, extensions in FORMATS.items():
        if name.endswith(extensions):
            return fmt
    return None


def _known_extensions() -> str:
    return ", ".join(ext for exts in FORMATS.values() for ext in exts)


def _is_hidden(path: str) -> bool:
    return os.path.basename(path).startswith((".", "_"))


def list_source_files(source: str, fmt: str | None = None) -> list[str]:
    """The data files a source names, sorted; raises ``IngestError`` when it names none.

    ``source`` is a file, a directory or a glob, as a local path or any
    ``pyarrow.fs`` URI; the result keeps that form. With ``fmt`` given, a
    directory contributes only files of that format; without it, files of any
    known format (and ``resolve_format`` then insists they agree).
    """
    import pyarrow.fs as pafs

    if fmt is not None and fmt not in FORMATS:
        raise IngestError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    fs, path = filesystem(source)

    def wanted(p: str) -> bool:
        found = detect_format(p)
        return not _is_hidden(p) and found is not None and (fmt is None or found == fmt)

    if any(c in path for c in _GLOB_CHARS):
        first_magic = min(path.index(c) for c in _GLOB_CHARS if c in path)
        base = path[:first_magic].rsplit("/", 1)[0] or "/"
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        pattern = path.replace("**/", "*") if "**" in path else path
        infos = fs.get_file_info(selector)
        depth = path.count("/")
        files = [
            i.path
            for i in infos
            if i.type == pafs.FileType.File
            and fnmatch.fnmatchcase(i.path, pattern)
            and ("**" in path or i.path.count("/") == depth)
            and not _is_hidden(i.path)
        ]
        if not files:
            raise IngestError(f"source {source!r}: the pattern matches no files")
        return [_as_source_form(source, p) for p in sorted(files)]

    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise IngestError(f"source {source!r} does not exist")
    if info.type == pafs.FileType.File:
        return [source]
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    files = sorted(i.path for i in infos if i.type == pafs.FileType.File and wanted(i.path))
    if not files:
        what = f"{fmt} files ({', '.join(FORMATS[fmt])})" if fmt else f"data files ({_known_extensions()})"
        raise IngestError(f"source directory {source!r} contains no {what}")
    return [_as_source_form(source, p) for p in files]


def resolve_format(files: list[str], fmt: str | None, source: str) -> str:
    """The one format of a source's files: ``fmt`` if given, else agreed by their extensions."""
    if fmt is not None:
        return fmt
    found: dict[str, str] = {}
    for file in files:
        detected = detect_format(file)
        if detected is None:
            raise IngestError(
                f"cannot tell the format of {file!r} from its extension (known: {_known_extensions()}); "
                "set format: csv, parquet or jsonl"
            )
        found.setdefault(detected, file)
    if len(found) > 1:
        examples = ", ".join(f"{f} ({k})" for k, f in found.items())
        raise IngestError(f"source {source!r} mixes formats: {examples}; point it at one format or set format:")
    return next(iter(found))
