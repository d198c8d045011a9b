"""One image file on its way into Examples: checked, and made the size and channel count every image shares.

Every image is decoded once (``images.decode``), so a truncated or foreign file
is found here, in ingest, as a bad row naming it, and never reaches training.
An image already of the target shape keeps its file's bytes exactly; one of
another size or channel count is resized (bilinear, as Keras'
``image_dataset_from_directory`` does) or converted and re-encoded as PNG, or
refused, as the parameters say. The target shape is the parameters' or, by
default, the most common one among the images (``majority_shape``, read from
the files' headers only).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from headrace.components.images import ImageError, decode

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp")
"""The file types an image folder holds (case-insensitive), those Keras' image_dataset_from_directory reads."""


def is_image_file(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class ImageTarget:
    """The shape every ingested image gets, and what to do with one of another shape."""

    height: int | None
    width: int | None
    channels: int | None
    on_size_mismatch: str = "resize"
    on_channel_mismatch: str = "convert"


class ShapeRefused(ImageError):
    """An image whose size or channel count differs from the target's, with ``refuse`` set."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


def conform_image(data: bytes, target: ImageTarget) -> bytes:
    """``data`` if the image already has the target shape, else the image resized/converted as PNG.

    Raises ``ImageError`` for bytes that are not a whole image and ``ShapeRefused``
    for a shape the parameters refuse.
    """
    pixels = decode(data)
    height, width, channels = pixels.shape
    resize = target.height is not None and (height, width) != (target.height, target.width)
    convert = target.channels is not None and channels != target.channels
    if not resize and not convert:
        return data
    if resize and target.on_size_mismatch == "refuse":
        raise ShapeRefused(
            f"the image is {height}x{width} (height x width), not {target.height}x{target.width}",
            "resize it, remove it, or set on_size_mismatch: resize (or image_size: to its size)",
        )
    if convert and target.on_channel_mismatch == "refuse":
        raise ShapeRefused(
            f"the image has {channels} channel(s) ({_channel_names[channels]}), not {target.channels}",
            "convert it, remove it, or set on_channel_mismatch: convert",
        )
    from PIL import Image

    image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels)
    if convert:
        image = image.convert(_modes[target.channels or channels])
    if resize:
        image = image.resize((target.width or width, target.height or height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


_modes = {1: "L", 3: "RGB", 4: "RGBA"}
_channel_names = {1: "grayscale", 3: "RGB", 4: "RGBA"}


def header_shape(data: Any) -> tuple[int, int, int] | None:
    """``(height, width, channels)`` from an image's header (``decode``'s channel rules), None if unreadable.

    Only the header is read, so finding the most common shape of a folder costs
    a fraction of decoding it.
    """
    from PIL import Image

    try:
        with Image.open(data) as image:
            mode, info = image.mode, image.info
            width, height = image.size
    except Exception:  # not an image: the file is a bad row when it is decoded, not here
        return None
    if mode in ("1", "L") or mode.startswith(("I", "F")):
        channels = 1
    elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in info):
        channels = 4
    else:
        channels = 3
    return height, width, channels


def majority_shape(shapes: Iterable[tuple[int, int, int] | None]) -> tuple[tuple[int, int] | None, int | None]:
    """The most common size and the most common channel count (ties: the larger), None when there are none."""
    sizes: Counter[tuple[int, int]] = Counter()
    channels: Counter[int] = Counter()
    for shape in shapes:
        if shape is not None:
            sizes[shape[:2]] += 1
            channels[shape[2]] += 1
    size = max(sizes, key=lambda s: (sizes[s], s)) if sizes else None
    count = max(channels, key=lambda c: (channels[c], c)) if channels else None
    return size, count


def describe_shapes(shapes: Counter[tuple[int, int, int]]) -> str:
    """``8x8x1: 1,790, 16x16x3: 7`` for a log line."""
    return ", ".join(f"{h}x{w}x{c}: {n:,}" for (h, w, c), n in shapes.most_common(5))
