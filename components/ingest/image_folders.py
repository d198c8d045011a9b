"""Image folder sources: ``<root>/<class>/*.png|jpg|...``, the layout Keras' image_dataset_from_directory reads.

Each sub-folder of the root is a class; its images (any depth below it,
extension case-insensitive) are that class's examples, sorted by path. The
class folders are the units of work of the image engine (``ingest_file`` on
one class folder), so a Beam runner ingests classes in parallel, and a class
folder's rows stream out in tables of about ``block_size`` bytes.

What is checked before anything is read, each an ``IngestError`` naming the
folder and the fix (a failed ingest publishes nothing):

- a class folder without images (usually a failed copy; a class the model
  can never learn);
- fewer than two classes (a classifier needs two);
- class names that would break a later step: two that differ only by case
  (one folder on macOS and Windows), surrounding spaces, control characters
  (a vocabulary file holds one label per line) or bytes that are not UTF-8.
  Names such as ``7`` or ``my class`` are fine: labels are strings.

Files that are not images by extension (``notes.txt``) and images directly in
the root (no class) are skipped with a warning naming them; hidden entries
(``.x``, ``_x``) are skipped silently, as in table sources.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from headrace.components.images import IMAGE_COLUMN, ImageError, image_field
from headrace.components.ingest.bad_rows import BadRow, BadRowLog
from headrace.components.ingest.errors import IngestError
from headrace.components.ingest.image_files import ShapeRefused, conform_image, is_image_file
from headrace.components.ingest.sources import _as_source_form, detect_format, filesystem

LABEL_COLUMN = "label"
PATH_COLUMN = "path"
_MAX_NAMED = 5


def folder_schema() -> Any:
    """The columns of an image folder's Examples: the encoded image, its class and its path below the root."""
    import pyarrow as pa

    return pa.schema(
        [image_field(IMAGE_COLUMN), pa.field(LABEL_COLUMN, pa.string()), pa.field(PATH_COLUMN, pa.string())]
    )


def _hidden(relative: str) -> bool:
    return any(part.startswith((".", "_")) for part in relative.split("/"))


def _files_below(fs: Any, directory: str) -> list[tuple[str, int]]:
    """``(path relative to directory, size)`` of every file below it, hidden ones left out, sorted."""
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(directory, recursive=True))
    base = directory.rstrip("/") + "/"
    found = [(i.path[len(base) :], i.size or 0) for i in infos if i.type == pafs.FileType.File]
    return sorted((relative, size) for relative, size in found if not _hidden(relative))


def class_images(class_folder: str) -> list[tuple[str, int]]:
    """The images of one class folder (source form), ``(location, size)`` sorted by path: the unit's rows."""
    fs, path = filesystem(class_folder)
    return [
        (_as_source_form(class_folder, f"{path.rstrip('/')}/{relative}"), size)
        for relative, size in _files_below(fs, path)
        if is_image_file(relative)
    ]


@dataclass
class ImageFolder:
    """One image folder as listed in the driver: its class folders, their images' count and bytes, the skipped files."""

    root: str
    classes: dict[str, str] = field(default_factory=dict)
    """Class name -> class folder (source form), in sorted order."""
    images: dict[str, int] = field(default_factory=dict)
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)
    """Files not taken: not images by extension, or images outside any class folder."""
    locations: list[str] = field(default_factory=list)
    """Every image's location, for reading headers (the most common shape)."""


def holds_class_folders(source: str) -> bool:
    """Whether ``source`` is a directory with images in sub-folders and no table files: an image folder."""
    import pyarrow.fs as pafs

    if any(c in source for c in "*?["):
        return False
    fs, path = filesystem(source)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return False
    files = [relative for relative, _ in _files_below(fs, path)]
    return not any(detect_format(f) for f in files) and any("/" in f and is_image_file(f) for f in files)


def list_image_folder(source: str) -> ImageFolder:
    """The classes and images of an image folder; ``IngestError`` for the folder problems the module lists."""
    import pyarrow.fs as pafs

    if any(c in source for c in "*?["):
        raise IngestError(
            f"source {source!r} is a pattern, but an image folder source is a folder (<folder>/<class>/<image>.png); "
            "point source at the folder"
        )
    fs, root = filesystem(source)
    info = fs.get_file_info(root)
    if info.type == pafs.FileType.NotFound:
        raise IngestError(f"source {source!r} does not exist")
    if info.type != pafs.FileType.Directory:
        raise IngestError(
            f"source {source!r} is a file, but format: images reads a folder of class folders "
            "(<folder>/<class>/<image>.png); point source at that folder"
        )
    folder = ImageFolder(source)
    by_class: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for relative, size in _files_below(fs, root):
        name, _, rest = relative.partition("/")
        if not rest or not is_image_file(relative):
            folder.skipped.append(_as_source_form(source, f"{root.rstrip('/')}/{relative}"))
            continue
        by_class[name].append((relative, size))
    for entry in fs.get_file_info(pafs.FileSelector(root)):  # class folders holding no image at all
        name = entry.path.rstrip("/").rsplit("/", 1)[-1]
        if entry.type == pafs.FileType.Directory and not _hidden(name):
            by_class.setdefault(name, [])
    _check_class_names(source, sorted(by_class))
    empty = sorted(name for name, images in by_class.items() if not images)
    if empty:
        named = ", ".join(_as_source_form(source, f"{root.rstrip('/')}/{n}") for n in empty[:_MAX_NAMED])
        raise IngestError(
            f"class folder(s) {named} hold no images ({', '.join(_extensions())}): a class without examples "
            "cannot be learned; add its images, or remove the folder"
        )
    if not by_class:
        raise IngestError(
            f"source {source!r} holds no class folders of images: an image folder is <folder>/<class>/<image>.png "
            "(one sub-folder per class); move the images into class folders"
        )
    for name in sorted(by_class):
        folder.classes[name] = _as_source_form(source, f"{root.rstrip('/')}/{name}")
        folder.images[name] = len(by_class[name])
        folder.bytes += sum(size for _, size in by_class[name])
        folder.locations.extend(_as_source_form(source, f"{root.rstrip('/')}/{r}") for r, _ in by_class[name])
    return folder


def _extensions() -> list[str]:
    from headrace.components.ingest.image_files import IMAGE_EXTENSIONS

    return [e.lstrip(".") for e in IMAGE_EXTENSIONS]


def _check_class_names(source: str, names: list[str]) -> None:
    problems = []
    for name in names:
        where = f"class folder {posixpath.join(source, name)!r}"
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(f"{where}: its name is not valid UTF-8; rename it")
            continue
        if name != name.strip():
            problems.append(
                f"{where}: its name starts or ends with spaces, which a label shown or typed loses; "
                f"rename it to {name.strip()!r}"
            )
        if any(unicodedata.category(c).startswith("C") for c in name):
            problems.append(
                f"{where}: its name holds a control character (a tab or line break), which breaks a "
                "vocabulary file of one label per line; rename it"
            )
    by_fold: dict[str, list[str]] = defaultdict(list)
    for name in names:
        by_fold[name.casefold()].append(name)
    for same in by_fold.values():
        if len(same) > 1:
            problems.append(
                f"class folders {', '.join(repr(posixpath.join(source, n)) for n in same)} differ only by case: on "
                "macOS and Windows they are one folder, and the labels would be two classes of one thing; merge "
                "them into one folder"
            )
    if problems:
        raise IngestError("; ".join(problems))


def check_two_classes(folders: list[ImageFolder]) -> list[str]:
    """The class names of all folders (sorted); ``IngestError`` when fewer than two."""
    names = sorted({name for folder in folders for name in folder.classes})
    if len(names) < 2:
        where = ", ".join(folder.root for folder in folders)
        raise IngestError(
            f"source {where} has {len(names)} class folder ({', '.join(names)}): a classifier needs at least two "
            "classes; add a folder of images for each other class"
        )
    return names


class ImageFolderReader:
    """Reads one class folder (the unit) as tables of (image, label, path), each image checked and conformed."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def infer_schema(self, unit: str) -> Any:
        return folder_schema()

    def columns(self, unit: str) -> list[str]:
        return list(folder_schema().names)

    def tables(self, unit: str, schema: Any, bad_rows: BadRowLog) -> Iterator[Any]:

        label = unit.rstrip("/").rsplit("/", 1)[-1]
        root_length = len(unit.rstrip("/")) - len(label)
        images: list[bytes] = []
        paths: list[str] = []
        size = 0
        for location, _ in class_images(unit):
            data = read_image(location, bad_rows, self.settings.image_target)
            if data is None:
                continue
            images.append(data)
            paths.append(location[root_length:])
            size += len(data)
            if size >= self.settings.block_size:
                yield _rows(images, label, paths, schema)
                images, paths, size = [], [], 0
        if paths:
            yield _rows(images, label, paths, schema)


def _rows(images: list[bytes], label: str, paths: list[str], schema: Any) -> Any:
    import pyarrow as pa

    columns = [pa.array(images, pa.binary()), pa.array([label] * len(paths), pa.string()), pa.array(paths, pa.string())]
    return pa.Table.from_arrays(columns, schema=schema)


def read_image(location: str, bad_rows: BadRowLog, target: Any, named_in: str = "") -> bytes | None:
    """The bytes an image file contributes (conformed to ``target``), or None after reporting it as a bad row."""
    fs, path = filesystem(location)
    try:
        with fs.open_input_file(path) as handle:
            data = handle.read()
    except FileNotFoundError:
        bad_rows.report(
            BadRow(
                location,
                0,
                IMAGE_COLUMN,
                None,
                f"the image file does not exist{named_in}",
                "fix the path, or remove the row",
            )
        )
        return None
    if target is None:
        return data
    try:
        return conform_image(data, target)
    except ShapeRefused as exc:
        bad_rows.report(BadRow(location, 0, IMAGE_COLUMN, None, f"{exc}{named_in}", exc.fix))
    except ImageError as exc:
        bad_rows.report(BadRow(location, 0, IMAGE_COLUMN, None, f"{exc}{named_in}", "replace or remove the file"))
    return None
