"""Content fingerprints of data, code and artifacts, for the cache key.

A fingerprint hashes bytes, never names or timestamps: renaming or touching a
file keeps it, editing one byte changes it. Hashing is memoised by
``(path, size, mtime)`` so that an unchanged file is not read again: in this
process for code, and in the metadata store for data, which can be large.
"""

from __future__ import annotations

import ast
import functools
import glob
import hashlib
import importlib.util
import os
import sys
import sysconfig
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

from headrace.components.files import filesystem
from headrace.components.paths import is_uri

CHUNK = 1 << 20


REMEMBER_EVERY = 1000
"""Files hashed between writes to the memo, so an interrupted first hash of a large folder keeps most of its work."""


class FingerprintMemo(Protocol):
    """Where file hashes are remembered by (uri, size, mtime_ns): the metadata store."""

    def remembered_fingerprints(self, files: Sequence[tuple[str, int, int]]) -> dict[str, str]: ...
    def remember_fingerprints(self, rows: Sequence[tuple[str, int, int, str]]) -> None: ...


def digest_bytes(chunks: Iterator[bytes]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        h.update(chunk)
    return h.hexdigest()


def _read_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


_local_memo: dict[tuple[str, int, int], str] = {}


def file_digest(path: str) -> str:
    """Hash of one local file's bytes, memoised in-process by (path, size, mtime)."""
    st = os.stat(path)
    key = (path, st.st_size, st.st_mtime_ns)
    if key not in _local_memo:
        _local_memo[key] = digest_bytes(_read_chunks(path))
    return _local_memo[key]


def _local_files(location: str) -> list[str]:
    """The files a local data location names: a file, every file below a directory, or a glob."""
    if os.path.isfile(location):
        return [location]
    if os.path.isdir(location):
        found: list[str] = []
        for folder, dirs, files in os.walk(location):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(os.path.join(folder, f) for f in sorted(files) if not f.startswith("."))
        return found
    return sorted(p for p in glob.glob(location, recursive=True) if os.path.isfile(p))


def _remembered(
    memo: FingerprintMemo | None, files: list[tuple[str, int, int]], compute: Callable[[str], str]
) -> dict[str, str]:
    """Each file's digest (uri -> digest): from the memo when its size and mtime are unchanged, else computed
    (``compute(uri)``) and remembered. The memo is asked once for all the files, not once per file."""
    known = memo.remembered_fingerprints(files) if memo and files else {}
    fresh: list[tuple[str, int, int, str]] = []
    for uri, size, mtime_ns in files:
        if uri in known:
            continue
        known[uri] = compute(uri)
        fresh.append((uri, size, mtime_ns, known[uri]))
        if memo and len(fresh) >= REMEMBER_EVERY:
            memo.remember_fingerprints(fresh)
            fresh = []
    if memo and fresh:
        memo.remember_fingerprints(fresh)
    return known


def combined_fingerprint(digests: list[str]) -> str:
    """One file's fingerprint is its digest (so a rename changes nothing); several are hashed in order."""
    if not digests:
        return "missing"
    return digests[0] if len(digests) == 1 else digest_bytes(iter(d.encode() for d in digests))


def data_fingerprint(location: str, memo: FingerprintMemo | None = None) -> str:
    """Fingerprint of the data a location names, memoised in ``memo`` (the metadata store)."""
    return data_fingerprints([location], memo)[0]


def data_fingerprints(locations: list[str], memo: FingerprintMemo | None = None) -> list[str]:
    """The fingerprint of each location, the local files of all of them looked up in ``memo`` together
    (a table naming thousands of image files is thousands of locations)."""
    local = {location: _local_files(location) for location in locations if not is_uri(location)}
    stamps: dict[str, tuple[str, int, int]] = {}
    for paths in local.values():
        for path in paths:
            if path not in stamps:
                st = os.stat(path)
                stamps[path] = (path, st.st_size, st.st_mtime_ns)
    digests = _remembered(memo, list(stamps.values()), file_digest)
    return [
        combined_fingerprint([digests[p] for p in local[location]])
        if location in local
        else _remote_fingerprint(location, memo)
        for location in locations
    ]


def _remote_fingerprint(uri: str, memo: FingerprintMemo | None) -> str:
    import pyarrow.fs as pafs

    fs, path = filesystem(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        infos = sorted(
            (i for i in fs.get_file_info(pafs.FileSelector(path, recursive=True)) if i.type == pafs.FileType.File),
            key=lambda i: i.path,
        )
    elif info.type == pafs.FileType.File:
        infos = [info]
    else:
        infos = []
    paths = {f"{uri}#{i.path}": i.path for i in infos}

    def read(key: str) -> str:
        with fs.open_input_stream(paths[key]) as stream:
            return digest_bytes(iter(lambda: stream.read(CHUNK), b""))

    digests = _remembered(memo, [(f"{uri}#{i.path}", i.size, i.mtime_ns or 0) for i in infos], read)
    return combined_fingerprint([digests[key] for key in paths])


def artifact_fingerprint(uri: str) -> str:
    """Fingerprint of a published artifact: every file's relative path and bytes."""
    if is_uri(uri):
        return _remote_fingerprint(uri, None)
    h = hashlib.blake2b(digest_size=16)
    for path in _local_files(uri):
        h.update(os.path.relpath(path, uri).encode() + b"\0" + file_digest(path).encode())
    return h.hexdigest()


# -- user code --------------------------------------------------------------


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths.get("stdlib"), paths.get("platstdlib"), paths.get("purelib"), paths.get("platlib")}
    roots |= {p for p in sys.path if "site-packages" in p or "dist-packages" in p}
    from headrace import components, metadata, pipelines

    for package in (components, pipelines, metadata):  # headrace itself, also where its files link to
        roots |= {os.path.dirname(package.__file__ or ""), os.path.dirname(os.path.realpath(package.__file__ or ""))}
    return tuple(os.path.realpath(r) for r in roots if r)


def _is_project_local(path: str, project_dirs: tuple[str, ...], library_roots: tuple[str, ...]) -> bool:
    real = os.path.realpath(path)
    if any(real.startswith(root + os.sep) for root in library_roots):
        return False
    return any(real.startswith(d + os.sep) for d in project_dirs)


def _imported_modules(path: str) -> Iterator[tuple[str, int]]:
    """(module name, relative level) of every import statement in a file."""
    try:
        with open(path, "rb") as source:
            tree = ast.parse(source.read(), filename=path)
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            yield base, node.level
            for alias in node.names:  # `from pkg import module` imports a module too
                yield (f"{base}.{alias.name}" if base else alias.name), node.level


def _on_disk(name: str, folders: list[str]) -> str | None:
    """A module's file found by walking folders, never by importing (importing could run anything)."""
    for part_index, part in enumerate(parts := name.split(".")):
        found = None
        for folder in folders:
            package = os.path.join(folder, part, "__init__.py")
            module = os.path.join(folder, part + ".py")
            if os.path.isfile(package):
                found, folders = package, [os.path.dirname(package)]
                break
            if os.path.isfile(module) and part_index == len(parts) - 1:
                return module
        if found is None:
            return None
    return found


def _resolve_module(name: str, level: int, importer: str, project_dirs: tuple[str, ...] = ()) -> str | None:
    if not level and name:
        local = _on_disk(name, [os.path.dirname(importer), *project_dirs])
        if local:
            return local
    if level:
        folder = os.path.dirname(importer)
        for _ in range(level - 1):
            folder = os.path.dirname(folder)
        candidate = os.path.join(folder, *name.split(".")) if name else folder
        for path in (candidate + ".py", os.path.join(candidate, "__init__.py")):
            if os.path.isfile(path):
                return path
        return None
    if not name or name in sys.builtin_module_names:
        return None
    top, *rest = name.split(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name is located without importing it
    except (ImportError, ValueError, AttributeError):
        return None
    if spec is None:
        return None
    if not rest:
        return spec.origin if spec.origin and spec.origin.endswith(".py") else None
    return _on_disk(".".join(rest), list(spec.submodule_search_locations or []))


_code_memo: dict[tuple[str, tuple[str, ...]], tuple[list[tuple[str, int, int]], dict[str, str]]] = {}


def _unchanged(files: list[tuple[str, int, int]]) -> bool:
    for path, size, mtime in files:
        try:
            st = os.stat(path)
        except OSError:
            return False
        if (st.st_size, st.st_mtime_ns) != (size, mtime):
            return False
    return True


def code_fingerprint(entry_file: str, project_dirs: list[str]) -> dict[str, str]:
    """Digest of a user module and its project-local imports; re-parsed only when one of them changed."""
    key = (os.path.realpath(entry_file), tuple(project_dirs))
    known = _code_memo.get(key)
    if known and _unchanged(known[0]):
        return dict(known[1])
    result, files = _code_closure(entry_file, project_dirs)
    stats = []
    for path in files:
        st = os.stat(path)
        stats.append((path, st.st_size, st.st_mtime_ns))
    _code_memo[key] = (stats, result)
    return dict(result)


def _code_closure(entry_file: str, project_dirs: list[str]) -> tuple[dict[str, str], list[str]]:
    """Digest of a user module and every project-local module it imports, transitively.

    Keys are paths relative to the first project dir, so moving the checkout
    does not invalidate the cache; modules of the standard library and of
    installed distributions are excluded (their versions are tracked through
    the component's ``requires``).
    """
    dirs = tuple(os.path.realpath(d) for d in project_dirs)
    library_roots = _library_roots()
    seen: dict[str, str] = {}
    stack = [os.path.realpath(entry_file)]
    while stack:
        path = stack.pop()
        if path in seen or not os.path.isfile(path):
            continue
        seen[path] = file_digest(path)
        for name, level in _imported_modules(path):
            found = _resolve_module(name, level, path, dirs)
            if found and _is_project_local(found, dirs, library_roots):
                stack.append(os.path.realpath(found))
    return {_display_path(p, dirs): d for p, d in sorted(seen.items())}, list(seen)


def _display_path(path: str, dirs: tuple[str, ...]) -> str:
    for d in dirs:
        if path.startswith(d + os.sep):
            return os.path.relpath(path, d)
    return path


@functools.cache
def _library_versions(distributions: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for dist in distributions:
        try:
            found.append((dist, version(dist)))
        except PackageNotFoundError:
            found.append((dist, "not installed"))
    return tuple(found)


def library_versions(distributions: tuple[str, ...]) -> dict[str, str]:
    """Installed versions, looked up once per process (installing mid-run is not supported)."""
    return dict(_library_versions(tuple(distributions)))


def code_closure_files(entry_file: str, project_dirs: list[str]) -> list[str]:
    """The files ``code_fingerprint`` hashes for a user module: what must travel with it to run elsewhere."""
    return sorted(_code_closure(entry_file, project_dirs)[1])


def top_level_imports(path: str) -> set[str]:
    """The top-level names of the modules a file imports (``keras`` for ``from keras import layers``), absolute only."""
    return {name.split(".", 1)[0] for name, level in _imported_modules(path) if not level and name}


def data_files(location: str) -> list[str]:
    """The local files a data parameter names (a file, every file below a folder, or a glob's matches)."""
    return _local_files(location)
