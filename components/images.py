"""How images live in Examples, for every component: one binary column of encoded bytes, marked as images.

An image is kept as its file's encoded bytes (PNG, JPEG, GIF, BMP, WebP, as
Pillow reads them): a PNG of 8x8 digits is a few hundred bytes where its
decoded pixels would be as many floats, the bytes hash and split stably, and
decoding happens where the pixels are needed (statistics, the transform, the
tf.data pipeline), each reading the same bytes. The column is ``binary`` and
carries field metadata ``headrace.kind: image`` so that every component
(statistics, schema, transform, trainer) knows it from any other binary
column without sniffing; :func:`is_image_field` also accepts Arrow's
``fixed_shape_tensor`` extension columns (pixels already decoded, as a
Parquet source may hold them): shape ``[height, width, channels]`` or
``[height, width]`` (one channel), any numeric value type.

Decoded pixels are ``uint8`` arrays of shape ``(height, width, channels)``;
channels are 1 (grayscale, Pillow modes ``L``, ``1``, ``I;16`` scaled), 3
(RGB; palette images are converted) or 4 (RGBA).
"""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa

from headrace.components.problems import ProblemError

KIND_KEY = b"headrace.kind"
IMAGE_KIND = b"image"
IMAGE_COLUMN = "image"
"""The image column's name in Examples an image folder source gives."""


class ImageError(ProblemError):
    """Bytes that are not an image Pillow can decode (truncated, another format, not an image at all)."""


def image_field(name: str = IMAGE_COLUMN) -> pa.Field:
    """The Arrow field of an image column: binary, marked as images."""
    return pa.field(name, pa.binary(), metadata={KIND_KEY: IMAGE_KIND})


def is_image_field(field: pa.Field) -> bool:
    """Whether ``field`` holds images: a binary column marked as images, or a fixed-shape tensor of rank 2 or 3."""
    if isinstance(field.type, pa.FixedShapeTensorType):
        return len(field.type.shape) in (2, 3)
    metadata = field.metadata or {}
    return metadata.get(KIND_KEY) == IMAGE_KIND and (
        pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type)
    )


def decode(data: bytes) -> Any:
    """The pixels of one encoded image as a ``uint8`` array ``(height, width, channels)``; :class:`ImageError` if
    ``data`` is not a whole image."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # a truncated file fails here, not at open
            mode = image.mode
            if mode in ("1", "L"):
                pixels = np.asarray(image.convert("L"))
            elif mode.startswith("I"):  # 16- or 32-bit grayscale: scale to 8 bits
                wide = np.asarray(image, dtype=np.float64)
                top = 65535.0 if mode.startswith("I;16") or wide.max(initial=0) > 255 else 255.0
                pixels = np.clip(np.rint(wide * 255.0 / top), 0, 255).astype(np.uint8)
            elif mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
                pixels = np.asarray(image.convert("RGBA"))
            else:
                pixels = np.asarray(image.convert("RGB"))
    except UnidentifiedImageError:
        raise ImageError("not an image Pillow can read (PNG, JPEG, GIF, BMP, WebP, ...)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"a damaged image: {exc}") from None
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def tensor_pixels(values: pa.Array) -> Any:
    """A fixed-shape tensor image array as one NumPy block ``(n, height, width, channels)``, zero-copy where
    Arrow allows; rank 2 tensors get one channel. Null rows read as zeros: filter them first where that matters."""
    pixels = values.to_numpy_ndarray()
    return pixels[..., None] if pixels.ndim == 3 else pixels


def tensor_array(name: str, values: Any, arrow_type: pa.FixedShapeTensorType) -> pa.ExtensionArray:
    """Rows of pixels (NumPy arrays or nested lists, as a JSON request or a DataFrame holds them; flat values in
    row-major order too) as a tensor array of ``arrow_type``: how a served model whose image column is a tensor
    takes pixels.

    A row of another shape is an error naming the column, the row, both shapes and the fix.
    """
    import numpy as np

    shape = tuple(arrow_type.shape)
    dtype = np.dtype(arrow_type.value_type.to_pandas_dtype())
    blocks = []
    for row, value in enumerate(values):
        pixels = np.asarray(value)
        flat = pixels.ndim == 1  # Arrow's own to_pandas() gives each tensor as its flat values
        if pixels.shape != shape and (flat or pixels.shape[:2] == shape[:2]) and pixels.size == int(np.prod(shape)):
            pixels = pixels.reshape(shape)  # also [h, w] for [h, w, 1], or the other way round
        if pixels.shape != shape:
            raise ImageError(
                f"column {name!r}, row {row}: pixels of shape {list(pixels.shape)}, and the model takes "
                f"{list(shape)} ({dtype.name}); send each image as nested lists (or an array) of that shape"
            )
        blocks.append(pixels.astype(dtype, copy=False))
    stacked = np.stack(blocks) if blocks else np.zeros((0, *shape), dtype)
    storage = pa.FixedSizeListArray.from_arrays(pa.array(stacked.reshape(-1)), int(np.prod(shape)))
    return pa.ExtensionArray.from_storage(arrow_type, storage)
