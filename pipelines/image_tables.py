"""``headrace init DIR --data TABLE --label COLUMN`` for a table of images: which column holds them, and the plan.

Besides a folder, ingest takes images in a table two ways: a column of a CSV,
Parquet or JSON Lines file that names image files (ingest's ``image_column``),
and a Parquet column of pixels (Arrow's fixed-shape tensor, ``[height, width,
channels]`` or ``[height, width]``). Such a table gets the image folder's
pipeline and CNN (``image_starter``), its label judged as any table's
(``starter_plan.plan_label``). Paths are resolved as ingest resolves them
(``image_location``: relative to the table's folder), and the sizes read from
the files' headers as ingest reads them, so the pipeline agrees with what
ingest will make of the table.

The CNN takes the image alone: a table's other columns stay in the examples
but are not model inputs (the pipeline and the CLI say which).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from headrace.components.problems import Problem, ProblemError
from headrace.pipelines.image_starter import ImagePlan

SAMPLE = 20
"""Values of a string column looked at to tell file names of images from other text."""
CHANNELS = (1, 3, 4)


@dataclass(frozen=True)
class ImageColumn:
    """The column of a table that holds its images, and the table's other columns (not model inputs)."""

    name: str
    shape: tuple[int, ...] | None
    """The pixels' shape of a tensor column; None for a column naming image files (ingest's ``image_column``)."""
    others: list[str] = field(default_factory=list)
    value_type: str = ""

    @property
    def names_files(self) -> bool:
        return self.shape is None


def image_column_of(table: Any, label: str, table_file: str, shown: str) -> ImageColumn | None:
    """The first column of ``table`` (the first rows of ``table_file``) that holds images, None if none does.

    A fixed-shape tensor of numbers with 2 dimensions, or 3 with 1, 3 or 4 channels, holds pixels; a string
    column whose first values all end in an image extension names image files. Raises ``ProblemError``
    naming ``shown`` for such a column none of whose sampled files exists where ingest will look, or one
    ingest cannot take (``with_images``' refusals).
    """
    import pyarrow as pa

    from headrace.components.ingest.errors import IngestError
    from headrace.components.ingest.image_columns import with_images

    for column in table.schema:
        if column.name == label:
            continue
        others = [name for name in table.column_names if name not in (label, column.name)]
        kind = column.type
        if isinstance(kind, pa.FixedShapeTensorType):
            shape = tuple(int(n) for n in kind.shape)
            number = pa.types.is_integer(kind.value_type) or pa.types.is_floating(kind.value_type)
            if number and (len(shape) == 2 or (len(shape) == 3 and shape[2] in CHANNELS)):
                return ImageColumn(column.name, shape, others, str(kind.value_type))
        elif (pa.types.is_string(kind) or pa.types.is_large_string(kind)) and _names_image_files(
            table.column(column.name), column.name, table_file, shown
        ):
            try:
                with_images(table.schema, column.name, shown)
            except IngestError as exc:
                raise ProblemError(*(p if p.file else p.in_file(shown) for p in exc.problems)) from None
            return ImageColumn(column.name, None, others)
    return None


def _names_image_files(values: Any, name: str, table_file: str, shown: str) -> bool:
    """Whether the first values of a string column are all image file names, at least one of them found."""
    from headrace.components.ingest.image_columns import image_location
    from headrace.components.ingest.image_files import is_image_file
    from headrace.components.ingest.sources import filesystem

    sample = values.drop_null().slice(0, SAMPLE).to_pylist()
    if not sample or not all(is_image_file(path) for path in sample):
        return False
    for path in sample:
        fs, inside = filesystem(image_location(table_file, path))
        if fs.get_file_info(inside).is_file:
            return True
    raise ProblemError(
        Problem(
            shown,
            0,
            0,
            f"the column {name!r} names image files, but none of the first {len(sample)} exists where ingest looks "
            f"for them, relative to the table's folder ({sample[0]!r} is {image_location(table_file, sample[0])})",
            "write the paths relative to the table's folder (or absolute, or as URIs)",
        )
    )


def plan_image_table(
    table: Any, column: ImageColumn, label: str, task: str | None, table_file: str, shown: str
) -> ImagePlan:
    """The image plan for ``table`` (the first rows of ``table_file``): ``label``'s classes, the images' sizes.

    Raises ``ProblemError`` naming ``shown`` for a label ``plan_label`` refuses or one that is a quantity.
    """
    from headrace.components.ingest.image_columns import image_location
    from headrace.components.ingest.image_files import majority_shape
    from headrace.components.ingest.image_plan import read_image_header
    from headrace.pipelines.starter_plan import plan_label

    judged = plan_label(table, label, task, shown)
    if judged.task != "classification":
        why = "asked for with --task" if task else judged.task_reason
        raise ProblemError(
            Problem(
                shown,
                0,
                0,
                f"a regression of {label!r} on the images in {column.name!r} ({why}): the image starter classifies",
                "choose a label of classes (strings, booleans or integers), or pass --task classification for integers "
                "with many values",
            )
        )
    rows = table.filter(table.column(label).is_valid())
    warnings = list(judged.warnings)
    sizes: Counter[tuple[int, int]]
    if column.shape is not None:
        size: tuple[int, int] | None = (column.shape[0], column.shape[1])
        sizes = Counter({(column.shape[0], column.shape[1]): rows.num_rows})
    else:
        paths = [p for p in rows.column(column.name).to_pylist() if p is not None]
        shapes = [read_image_header(image_location(table_file, path)) for path in paths]
        unread = [path for path, shape in zip(paths, shapes, strict=True) if shape is None]
        if unread:
            warnings.append(
                f"{len(unread)} of the {len(paths)} image files the column {column.name!r} names cannot be read "
                f"(missing, or not an image; e.g. {unread[0]!r}): ingest makes each a bad row, which stops the run "
                "unless its on_bad_rows is skip"
            )
        sizes = Counter(shape[:2] for shape in shapes if shape is not None)
        size = majority_shape(shapes)[0]
    classes = {str(value): count for value, count in judged.classes.items()}
    top = max(classes, key=lambda name: classes[name])
    share = classes[top] / sum(classes.values())
    return ImagePlan(
        classes=classes,
        minimum=math.floor(share * 100) / 100,
        baseline_note=f"as accurate as always answering the most frequent class ({top!r}, {share:.0%} of the images)",
        sizes=dict(sizes.most_common()),
        size=size,
        label=label,
        table=column,
        warnings=warnings,
    )
