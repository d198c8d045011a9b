"""The statistics of an image column: one mergeable accumulator, fed a RecordBatch's images at a time.

An image column (``images.is_image_field``: encoded bytes marked as images, or
a fixed-shape tensor column) is described by what its decoded pixels are, not
by its bytes: the decoded shapes and channel counts, exact pixel moments per
channel and overall (integer sums of ``uint8`` values, so any merge order gives
the same figures to the last bit), the distribution of each image's mean
colour value (``brightness``) and its standard deviation (``contrast``) as
ordinary numeric statistics (which the chance-aware drift measures compare),
the encoded size, undecodable images, and a few thumbnails per class for the
report.

Thumbnails are chosen so any runner picks the same ones: per class (the
``label`` column's value) the ``samples_per_class`` rows with the smallest
hash of their ``path`` (of their bytes without a path column), for the
``sample_classes`` first classes in sorted order. Keeping the k smallest is
mergeable and bounded, so the reservoir is at most classes x k thumbnails of
at most ``THUMBNAIL`` pixels a side, whatever the data's size.

Colour values are gray, red, green and blue; alpha is reported as its own
channel but left out of the overall mean, brightness and contrast (an opaque
image's alpha of 255 says nothing about its content).
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from headrace.components.images import ImageError, decode, tensor_pixels
from headrace.components.sketch_values import ValueCounter
from headrace.components.validator.formats import (
    ChannelCount,
    ChannelMoments,
    ImageSample,
    ImageStatistics,
    NumericStatistics,
    ShapeCount,
)

THUMBNAIL = 64
"""Largest side of a kept thumbnail, in pixels: smaller images are kept as they are."""
UNDECODABLE_EXAMPLES = 5
CHUNK = 1 << 18
"""Pixels widened to 64 bits at a time for the sums (8 MB for RGB)."""
CHANNEL_NAMES = {1: ("gray",), 2: ("gray", "alpha"), 3: ("red", "green", "blue"), 4: ("red", "green", "blue", "alpha")}


@dataclass(frozen=True)
class ImageOptions:
    """Which columns name an image's class and file, and how many thumbnails to keep."""

    label_column: str = "label"
    path_column: str = "path"
    samples_per_class: int = 4
    sample_classes: int = 20
    shape_cap: int = 1000


def channel_names(channels: int) -> tuple[str, ...]:
    return CHANNEL_NAMES.get(channels, tuple(f"c{i}" for i in range(channels)))


def _key_hash(data: bytes) -> int:
    """A hash every process agrees on (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


@dataclass(slots=True)
class ImageState:
    """A split's image column so far; every field merges (sums, a counter, k-smallest sets, numeric states)."""

    options: ImageOptions
    brightness: Any  # NumericState (combiners), injected to avoid an import cycle
    contrast: Any
    size: Any | None  # NumericState of encoded sizes; None for tensor columns
    decoded: int = 0
    undecodable: int = 0
    undecodable_examples: list[tuple[int, str]] = field(default_factory=list)
    shapes: ValueCounter = field(default_factory=ValueCounter)
    channels: dict[int, int] = field(default_factory=dict)
    sums: dict[str, list[float]] = field(default_factory=dict)  # channel -> [values, sum, sum of squares]
    samples: dict[str, list[tuple[int, str, ImageSample]]] = field(default_factory=dict)  # label -> [(hash, path, .)]

    # -- adding --------------------------------------------------------------

    def add(self, values: pa.Array, labels: list[str] | None, paths: list[str] | None) -> None:
        """Non-null images of one batch; ``labels`` and ``paths`` are aligned with ``values``."""
        n = len(values)
        if isinstance(values.type, pa.FixedShapeTensorType):
            pixels_of = tensor_pixels(values)
            raw = None
        else:
            raw = values.to_pylist()
            if self.size is not None:
                self.size.add(np.fromiter((len(data) for data in raw), dtype=np.float64, count=n))
            pixels_of = None
        brightness = np.empty(n, dtype=np.float64)
        contrast = np.empty(n, dtype=np.float64)
        good = np.zeros(n, dtype=bool)
        shapes: dict[str, int] = {}
        for i in range(n):
            path = paths[i] if paths is not None else ""
            label = labels[i] if labels is not None else ""
            if raw is not None:
                data = raw[i]
                key = _key_hash(path.encode() if paths is not None else data)
                try:
                    pixels = decode(data)
                except ImageError as exc:
                    self.undecodable += 1
                    self._keep_undecodable(key, f"{path or f'row of {len(data)} bytes'}: {exc}")
                    continue
            else:
                assert pixels_of is not None
                pixels = pixels_of[i]
                key = _key_hash(path.encode() if paths is not None else pixels.tobytes())
            good[i] = True
            shape = f"{pixels.shape[0]}x{pixels.shape[1]}"
            shapes[shape] = shapes.get(shape, 0) + 1
            brightness[i], contrast[i] = self._add_pixels(pixels)
            self._offer_sample(label, key, path, pixels)
        self.decoded += int(good.sum())
        if shapes:
            self.shapes.add_counts(list(shapes), list(shapes.values()))
        self.brightness.add(brightness[good])
        self.contrast.add(contrast[good])

    def _add_pixels(self, pixels: np.ndarray) -> tuple[float, float]:
        """Adds one image's channel sums; returns its brightness and contrast (mean and sd of colour values)."""
        channels = pixels.shape[2]
        self.channels[channels] = self.channels.get(channels, 0) + 1
        flat = pixels.reshape(-1, channels)
        exact = flat.dtype.kind in "ui"
        sums, squares = _channel_sums(flat, np.int64 if exact else np.float64)
        colour_n, colour_sum, colour_sq = 0, 0.0, 0.0
        for c, name in enumerate(channel_names(channels)):
            s, q = (int(sums[c]), int(squares[c])) if exact else (float(sums[c]), float(squares[c]))
            kept = self.sums.setdefault(name, [0, 0, 0])
            kept[0] += len(flat)
            kept[1] += s
            kept[2] += q
            if name != "alpha":
                colour_n += len(flat)
                colour_sum += s
                colour_sq += q
        mean = colour_sum / colour_n
        return mean, math.sqrt(max(colour_sq / colour_n - mean * mean, 0.0))

    def _offer_sample(self, label: str, key: int, path: str, pixels: np.ndarray) -> None:
        if self.options.samples_per_class <= 0 or self.options.sample_classes <= 0:
            return
        kept = self.samples.get(label)
        if kept is None:
            if len(self.samples) >= self.options.sample_classes and label > max(self.samples):
                return
            kept = self.samples[label] = []
        k = self.options.samples_per_class
        if len(kept) >= k and (key, path) >= kept[-1][:2]:
            return
        kept.append((key, path, thumbnail(pixels, label, path)))
        kept.sort(key=_order)
        del kept[k:]
        self._trim_classes()

    def _trim_classes(self) -> None:
        while len(self.samples) > self.options.sample_classes:
            del self.samples[max(self.samples)]

    def _keep_undecodable(self, key: int, text: str) -> None:
        self.undecodable_examples.append((key, text))
        self.undecodable_examples.sort()
        del self.undecodable_examples[UNDECODABLE_EXAMPLES:]

    # -- merging and the result -------------------------------------------------

    def merge(self, other: ImageState) -> None:
        self.decoded += other.decoded
        self.undecodable += other.undecodable
        for item in other.undecodable_examples:
            self._keep_undecodable(*item)
        self.shapes.merge(other.shapes)
        for channels, count in other.channels.items():
            self.channels[channels] = self.channels.get(channels, 0) + count
        for name, (n, s, q) in other.sums.items():
            sums = self.sums.setdefault(name, [0, 0, 0])
            sums[0] += n
            sums[1] += s
            sums[2] += q
        for label, samples in other.samples.items():
            kept = self.samples.setdefault(label, [])
            kept.extend(samples)
            kept.sort(key=_order)
            del kept[self.options.samples_per_class :]
        self._trim_classes()
        self.brightness.merge(other.brightness)
        self.contrast.merge(other.contrast)
        if self.size is not None and other.size is not None:
            self.size.merge(other.size)

    def result(self, numeric: Any, top_k: int) -> ImageStatistics:
        """``numeric(state)`` turns a NumericState into NumericStatistics (the combiner's options)."""
        colour = [self.sums[name] for name in self.sums if name != "alpha"]
        n = sum(c[0] for c in colour)
        mean = sum(c[1] for c in colour) / n if n else None
        std = math.sqrt(max(sum(c[2] for c in colour) / n - mean * mean, 0.0)) if mean is not None else None
        order = [name for names in CHANNEL_NAMES.values() for name in names]
        moments = [
            ChannelMoments(
                channel=name,
                values=int(v),
                mean=s / v,
                std_dev=math.sqrt(max(q / v - (s / v) ** 2, 0.0)),
            )
            for name, (v, s, q) in sorted(
                self.sums.items(), key=lambda item: (order.index(item[0]) if item[0] in order else 99, item[0])
            )
            if v
        ]
        shapes = [
            ShapeCount(height=int(text.split("x")[0]), width=int(text.split("x")[1]), count=count)
            for text, count in self.shapes.top(max(top_k, 1))
        ]
        return ImageStatistics(
            decoded=self.decoded,
            undecodable=self.undecodable,
            undecodable_examples=[text for _, text in self.undecodable_examples],
            shapes=shapes,
            distinct_shapes=self.shapes.distinct(),
            shapes_are_exact=self.shapes.exact,
            channels=[ChannelCount(channels=c, count=n) for c, n in sorted(self.channels.items())],
            pixel_mean=mean,
            pixel_std_dev=std,
            channel_moments=moments,
            brightness=_some(numeric(self.brightness)),
            contrast=_some(numeric(self.contrast)),
            size_bytes=_some(numeric(self.size)) if self.size is not None else None,
            samples=[sample for label in sorted(self.samples) for _, _, sample in self.samples[label]],
        )


def _order(item: tuple[int, str, ImageSample]) -> tuple[int, str]:
    """Samples by hash, then path; never by the sample itself (equal keys happen: a file ingested twice)."""
    return item[0], item[1]


def _some(stats: NumericStatistics) -> NumericStatistics | None:
    return stats if stats.mean is not None else None


def _channel_sums(flat: np.ndarray, dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel sums of values and of squares, widened ``CHUNK`` pixels at a time: a 12-megapixel photo
    never becomes a 300 MB int64 copy."""
    sums: np.ndarray = np.zeros(flat.shape[1], dtype=dtype)
    squares: np.ndarray = np.zeros(flat.shape[1], dtype=dtype)
    for start in range(0, len(flat), CHUNK):
        wide: np.ndarray = flat[start : start + CHUNK].astype(dtype)
        sums += np.einsum("ij->j", wide)  # not sum(axis=0): a strided reduction, 4x slower on (n, 3)
        squares += np.einsum("ij,ij->j", wide, wide)
    return sums, squares


def thumbnail(pixels: np.ndarray, label: str, path: str, size: int = THUMBNAIL) -> ImageSample:
    """``pixels`` at most ``size`` a side (floats in 0..1 scaled to 0..255): PNG when gray, transparent or
    already small (every pixel exact), else JPEG, a few kB where a PNG photo thumbnail takes ten."""
    from PIL import Image

    if pixels.dtype != np.uint8:
        values = pixels.astype(np.float64)
        scale = 255.0 if values.size and float(values.max()) <= 1.0 else 1.0
        pixels = np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)
    channels = pixels.shape[2]
    # Pillow reads the mode off the array: (h, w) gray, (h, w, 2) gray + alpha, (h, w, 3) RGB, (h, w, 4) RGBA
    image = Image.fromarray(np.ascontiguousarray(pixels[:, :, 0] if channels not in (2, 3, 4) else pixels))
    small = max(image.size) <= size
    if not small:
        image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    if channels == 3 and not small:
        image.save(buffer, format="JPEG", quality=85)
        media_type = "image/jpeg"
    else:
        image.save(buffer, format="PNG", optimize=True)
        media_type = "image/png"
    return ImageSample(
        label=label,
        path=path,
        width=image.size[0],
        height=image.size[1],
        media_type=media_type,
        data=base64.b64encode(buffer.getvalue()).decode("ascii"),
    )
