"""What the driver settles for an image source before any image is ingested.

The target shape (``image_size`` / ``channels``, or the most common ones read
from the images' headers), the split key (the file's path, so adding images
moves no other), the Parquet row-group length (about 64 MiB of images, so the
writer's memory stays bounded for large photos as for 8x8 digits), the
warnings about skipped files, and the artifact properties (classes, image
shape). All of it goes into the ``IngestPlan``, so every engine's units
conform images the same way and write the same bytes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from headrace.components.examples_io import ROW_GROUP_ROWS
from headrace.components.ingest.component import IngestParameters
from headrace.components.ingest.errors import IngestError
from headrace.components.ingest.image_files import ImageTarget, describe_shapes, header_shape, majority_shape
from headrace.components.ingest.sources import filesystem

_ROW_GROUP_BYTES = 64 << 20
_MIN_ROW_GROUP_ROWS = 16
_UNKNOWN_SIZE_ROW_GROUP_ROWS = 1024
_MAX_NAMED = 5


@dataclass(frozen=True)
class ImagePlan:
    target: ImageTarget
    split_key: str
    row_group_rows: int
    schema: Any = None
    source_bytes: int | None = None
    warnings: list[str] = field(default_factory=list)
    properties: dict[str, Any] | None = None


def _row_group_rows(total_bytes: int, count: int) -> int:
    if not count:
        return _UNKNOWN_SIZE_ROW_GROUP_ROWS
    mean = max(1, total_bytes // count)
    return max(_MIN_ROW_GROUP_ROWS, min(ROW_GROUP_ROWS, _ROW_GROUP_BYTES // mean))


def read_image_header(location: str) -> tuple[int, int, int] | None:
    """The image's ``(height, width, channels)`` from its header (``header_shape``), None if unreadable."""
    fs, path = filesystem(location)
    try:
        with fs.open_input_file(path) as handle:
            return header_shape(handle)
    except OSError:
        return None


def settle_target(params: IngestParameters, locations: Iterable[str], log: logging.Logger) -> ImageTarget:
    """The parameters' target shape; what they leave to ``auto`` is the most common among the images' headers."""
    size = (params.image_size.height, params.image_size.width) if params.image_size else None
    channels = None if params.channels == "auto" else int(params.channels)
    if size is None or channels is None:
        shapes = Counter(s for s in (read_image_header(location) for location in locations) if s is not None)
        common_size, common_channels = majority_shape(shapes.elements())
        log.info("ingest: image shapes (height x width x channels): %s", describe_shapes(shapes) or "none readable")
        size = size or common_size
        channels = channels or common_channels
    return ImageTarget(
        height=size[0] if size else None,
        width=size[1] if size else None,
        channels=channels,
        on_size_mismatch=params.on_size_mismatch,
        on_channel_mismatch=params.on_channel_mismatch,
    )


def _shape(target: ImageTarget) -> list[int | None]:
    return [target.height, target.width, target.channels]


def plan_image_folders(folders: list[Any], params: IngestParameters, log: logging.Logger) -> ImagePlan:
    """Image folders (one, or one per pre-split split): classes checked, target shape, warnings."""
    from headrace.components.ingest.image_folders import PATH_COLUMN, check_two_classes

    if params.column_types:
        raise IngestError(
            "column_types does not apply to an image folder (its columns are image, label and path); remove it"
        )
    classes = check_two_classes(folders)
    warnings = []
    for folder in folders:
        missing = [c for c in classes if c not in folder.classes]
        if missing and len(folders) > 1:
            warnings.append(f"{folder.root} has no class folder for {', '.join(map(repr, missing))}")
        if folder.skipped:
            named = ", ".join(folder.skipped[:_MAX_NAMED]) + (" ..." if len(folder.skipped) > _MAX_NAMED else "")
            warnings.append(
                f"skipped {len(folder.skipped)} file(s) that are not images in a class folder: {named}; an image "
                "folder is <folder>/<class>/<image>.png|jpg|jpeg|gif|bmp|webp"
            )
    count = sum(sum(f.images.values()) for f in folders)
    total = sum(f.bytes for f in folders)
    log.info(
        "ingest: %d image(s) in %d class(es): %s",
        count,
        len(classes),
        ", ".join(f"{name}: {sum(f.images.get(name, 0) for f in folders)}" for name in classes[:20]),
    )
    target = settle_target(params, (location for f in folders for location in f.locations), log)
    return ImagePlan(
        target=target,
        split_key=PATH_COLUMN,
        row_group_rows=_row_group_rows(total, count),
        source_bytes=total,
        warnings=warnings,
        properties={"classes": classes, "image_shape": _shape(target)},
    )


def plan_image_column(
    reader: Any,
    files: list[str],
    table_schema: Any,
    params: IngestParameters,
    log: logging.Logger,
) -> ImagePlan:
    """A table whose ``image_column`` names image files: the Examples schema and the target shape.

    The cache fingerprints the files named too (``Ingest.content_locations``), so an edited image re-runs ingest.
    """
    from headrace.components.ingest.image_columns import named_paths, path_column, with_images

    assert params.image_column is not None
    schema = with_images(table_schema, params.image_column, files[0])
    locations = (p for file in files for p in named_paths(reader, file, schema, params.image_column))
    target = settle_target(params, locations, log)
    return ImagePlan(
        target=target,
        split_key=path_column(params.image_column),
        row_group_rows=_UNKNOWN_SIZE_ROW_GROUP_ROWS,
        schema=schema,
        warnings=[],
        properties={"image_shape": _shape(target)},
    )
