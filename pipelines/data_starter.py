"""``headrace init DIR --data FILE --label COLUMN``: a complete pipeline for a table (or images) headrace has never seen.

The data is read the way ingest will read it (``ingest.peek``), the choices
are made (``starter_plan``), and only then is anything written: a bad label
or an unreadable file leaves DIR untouched. The pipeline refers to the data
by a path relative to itself, not a copy: data sets are large, and a copy
would go stale when the original is updated. Move the data or the folder,
and edit the ``source`` of the ingest step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headrace.pipelines.starter import pipeline_name, write_json_schema

if TYPE_CHECKING:
    from headrace.pipelines.image_tables import ImageColumn

PEEK_ROWS = 100_000
"""Rows read to judge the label and the columns: enough for type inference and class counts, read in a moment."""
FEW_ROWS = 50


@dataclass
class DataStarter:
    """What ``write_data_starter`` wrote, and what the user should know about it."""

    files: list[str]
    task: str
    features: int
    dropped: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    about: str = ""
    """What the model learns, in words, when the task, features and left-out columns do not say it (images)."""


def is_image_folder(data: str) -> bool:
    """Whether ``data`` is an image folder (``<folder>/<class>/<image>.png``), by ingest's own test."""
    from headrace.components.ingest.image_folders import holds_class_folders

    return holds_class_folders(data if "://" in data else os.path.abspath(data))


def write_data_starter(
    directory: str, data: str, label: str | None, task: str | None = None, name: str | None = None
) -> DataStarter:
    """Write pipeline.yaml, model.py and headrace.schema.json for ``data`` into ``directory``.

    ``label`` may be None only for an image folder, whose label is each image's class folder. A table with a
    column of images (``image_tables``) gets the image folder's pipeline, classifying ``label``.

    ``directory`` must be empty or new (the data file itself, or the folder holding it, may be inside it).
    Raises FileExistsError for a directory in use, and ``ProblemError`` (naming the data file) for data
    or a label that cannot make a pipeline; in both cases nothing is written.
    """
    from headrace.components.ingest.peek import peek
    from headrace.components.problems import ProblemError
    from headrace.pipelines.starter_plan import plan_starter
    from headrace.pipelines.starter_text import model_py, pipeline_yaml

    is_uri = "://" in data
    data_path = data if is_uri else os.path.abspath(data)
    _check_empty(directory, None if is_uri else data_path)
    if is_image_folder(data):
        return _write_image_starter(directory, data, data_path, label, task, name)
    if label is None:
        raise ValueError("a table needs a label column")
    try:
        table = peek(data_path, PEEK_ROWS)
    except ProblemError as exc:  # the file is what the user gave, whatever place the reader names
        raise ProblemError(*(p if p.file else p.in_file(data) for p in exc.problems)) from None
    image = _image_column(table, label, data_path, data)
    if image is not None:
        return _write_image_table_starter(directory, table, image, data, data_path, label, task, name)
    plan = plan_starter(table, label, task, data)
    source, shown = _source(data, data_path, directory)
    warnings = list(plan.warnings) + _few(data, table.num_rows, "rows")
    files = {
        "pipeline.yaml": pipeline_yaml(plan, pipeline_name(directory, name), source, shown),
        "model.py": model_py(plan, shown),
    }
    features = len(plan.numeric) + len(plan.categorical)
    return DataStarter(_write(directory, files), plan.task, features, plan.dropped, warnings)


def _write_image_starter(
    directory: str, data: str, data_path: str, label: str | None, task: str | None, name: str | None
) -> DataStarter:
    """The image folder's pipeline (examples/digits' steps) and CNN model.py."""
    from headrace.pipelines.image_starter import image_model_py, image_pipeline_yaml, plan_images

    plan = plan_images(data_path, data, label, task)
    source, shown = _source(data, data_path, directory)
    warnings = _few(data, plan.images, "images")
    files = {
        "pipeline.yaml": image_pipeline_yaml(plan, pipeline_name(directory, name), source, shown),
        "model.py": image_model_py(),
    }
    about = f"classification of {len(plan.classes)} classes (the class folders) from {plan.images} images"
    return DataStarter(_write(directory, files), "classification", 1, {}, warnings, about)


def _image_column(table: Any, label: str, data_path: str, data: str) -> ImageColumn | None:
    """The column of ``table`` (the first rows of ``data``) that holds images, if any (``image_column_of``)."""
    from headrace.components.ingest.sources import list_source_files
    from headrace.pipelines.image_tables import image_column_of

    return image_column_of(table, label, list_source_files(data_path)[0], data)


def _write_image_table_starter(
    directory: str,
    table: Any,
    image: ImageColumn,
    data: str,
    data_path: str,
    label: str,
    task: str | None,
    name: str | None,
) -> DataStarter:
    """A table of images (a column naming image files, or a tensor column of pixels): the image folder's pipeline."""
    from headrace.components.ingest.sources import list_source_files
    from headrace.pipelines.image_starter import image_model_py, image_pipeline_yaml
    from headrace.pipelines.image_tables import plan_image_table

    plan = plan_image_table(table, image, label, task, list_source_files(data_path)[0], data)
    source, shown = _source(data, data_path, directory)
    warnings = list(plan.warnings) + _few(data, plan.images, "images")
    files = {
        "pipeline.yaml": image_pipeline_yaml(plan, pipeline_name(directory, name), source, shown),
        "model.py": image_model_py(plan),
    }
    held = "file names" if image.names_files else "pixels"
    about = (
        f"classification of {label!r} into {len(plan.classes)} classes from {plan.images} images (the column "
        f"{image.name!r}, {held})"
    )
    if image.others:
        count = len(image.others)
        about += f"; {count} other column{'s' if count > 1 else ''} not model inputs (see the trainer step)"
    return DataStarter(_write(directory, files), "classification", 1, {}, warnings, about)


def _source(data: str, data_path: str, directory: str) -> tuple[str, str]:
    """The ingest step's ``source`` (relative to the pipeline file unless a URI), and as its YAML comments show it."""
    from headrace.pipelines.starter_text import scalar

    source = data if "://" in data else _relative(data_path, directory)
    return source, scalar(source).replace("$${", "${")


def _few(data: str, count: int, what: str) -> list[str]:
    """The warning for data too small to judge a model by its eval split, if ``count`` rows or images are."""
    if count >= FEW_ROWS:
        return []
    return [f"{data} has only {count} {what}: the eval split (a fifth of them) may be too small to judge a model"]


def _write(directory: str, files: dict[str, str]) -> list[str]:
    """``files`` (name: text) and headrace.schema.json written into ``directory``; their paths."""
    os.makedirs(directory, exist_ok=True)
    written = []
    for file, text in files.items():
        path = os.path.join(directory, file)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(path)
    written.append(write_json_schema(directory))
    return written


def _check_empty(directory: str, data_path: str | None) -> None:
    """Refuse a directory that holds anything but the data (or the folder on the way to it)."""
    if not os.path.exists(directory):
        return
    if not os.path.isdir(directory):
        raise FileExistsError(f"{directory} is a file; choose a new or empty directory")
    allowed: set[str] = set()
    if data_path is not None:
        inside = os.path.relpath(data_path, os.path.abspath(directory))
        if not inside.startswith(os.pardir):
            allowed.add(inside.split(os.sep)[0])
    others = sorted(entry for entry in os.listdir(directory) if entry not in allowed)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise FileExistsError(
            f"{directory} is not empty ({shown}); choose a new or empty directory (it may hold the data file alone)"
        )


def _relative(data_path: str, directory: str) -> str:
    """The data's path relative to the pipeline file's folder, with forward slashes; absolute if there is none."""
    try:
        relative = os.path.relpath(data_path, os.path.abspath(directory))
    except ValueError:  # another drive on Windows
        return data_path
    return relative.replace(os.sep, "/")
