"""Image ops of the transform: recorded with their frozen values, executed by TensorFlow alone.

An image column (``images.is_image_field``: encoded bytes marked as images,
or a fixed-shape tensor of pixels) passes through the transform's Arrow pass UNCHANGED: decoding, resizing and
scaling pixels in NumPy or Pillow here and in TensorFlow at serving would be
two implementations that could disagree (training/serving skew). Instead the
ops over an image column build an :class:`ImageChain`, the list of steps with
their frozen values, which ``headrace.components.tensorflow.image_layers``
turns into the same Keras layers for the ``tf.data`` pipeline of
``ctx.train.tf_dataset`` and for the SavedModel in front of the model.

The ops, in the order written (a decode is implied first when omitted). On a
tensor column the pixels are there already: its decode only takes them (a
``[height, width]`` tensor as one channel), and ``ImageChain.tensor`` records
the tensor's shape and value type, the input the layers and the served model take:

- ``decode_image {channels: 1|3|4|auto}``: ``auto`` is the channel count most
  images of the analyzed split have (a tensor's own; converting a tensor's
  channels is refused: the pixels are the user's to shape before ingest);
- ``resize {height, width, interpolation}``: Keras ``Resizing``; without a size,
  the most common decoded shape of the split;
- ``scale_to_0_1``: ``Rescaling(1/255)``, so for 0..255 pixels: refused on a
  float tensor, whose range headrace cannot know (use ``scale_to_z_score``);
- ``scale_to_z_score``: per-channel ``Normalization`` with the mean and variance
  of the decoded pixels of the analyzed split (after the scaling before it).

The analyzer (``ImagePixels``) decodes each image once per pass (a tensor
batch is read as one NumPy block, no per-row Python) and keeps
exact integer sums (float64 for float tensors) per channel and of channel products, per native channel
count, so it merges in any order to the same value and gives the moments of
any channel conversion the decode asks for (gray to RGB repeats the channel;
RGB to gray uses ITU-R 601 weights, as close as a linear map gets to the
decoders'). Moments are over the pixels before ``resize`` (interpolation moves
them by a fraction of a grey level).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from headrace.components.images import ImageError, decode, is_image_field, tensor_pixels
from headrace.components.sketch_values import ValueCounter

if TYPE_CHECKING:
    from headrace.components.transform.ops import Op
    from headrace.components.transform.scope import AnalyzerScope

IMAGE_OPS = ("decode_image", "resize", "scale_to_0_1", "scale_to_z_score")
"""The ops that apply to an image column (besides drop and rename)."""
CHUNK = 1 << 18
"""Pixels widened to int64 at a time for the sums."""
SHAPE_CAP = 1000
"""Distinct decoded shapes counted exactly (``ValueCounter``); the graph keeps the ``SHAPES_KEPT`` most common."""
SHAPES_KEPT = 20
GRAY = (Fraction(299, 1000), Fraction(587, 1000), Fraction(114, 1000))


def image_columns(schema: pa.Schema) -> frozenset[str]:
    """The image columns of ``schema``: marked binary columns and fixed-shape tensors of pixels."""
    return frozenset(f.name for f in schema if is_image_field(f))


def tensor_info(arrow_type: pa.DataType) -> dict[str, Any] | None:
    """A tensor image column's ``{"shape": [h, w, c], "dtype": ...}`` (rank 2: one channel); None for bytes."""
    if not isinstance(arrow_type, pa.FixedShapeTensorType):
        return None
    shape = [int(n) for n in arrow_type.shape]
    dtype = np.dtype(arrow_type.value_type.to_pandas_dtype()).name
    return {"shape": shape if len(shape) == 3 else [*shape, 1], "dtype": dtype}


# -- the analyzer ---------------------------------------------------------------------------------------------------


class ImagePixels:
    """Decoded shapes, channel counts and exact per-channel pixel sums of an image column (mergeable)."""

    __slots__ = ("channels", "images", "pixels", "shapes", "undecodable")

    def __init__(self) -> None:
        self.images = 0
        self.undecodable = 0
        self.channels: dict[int, int] = {}
        self.shapes = ValueCounter(cap=SHAPE_CAP)
        self.pixels: dict[int, list[Any]] = {}  # native channels -> [pixel count, sums (C), cross products (C x C)]

    def add(self, column: Any) -> None:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if isinstance(column.type, pa.FixedShapeTensorType):
            self.add_pixels(tensor_pixels(column.filter(column.is_valid()) if column.null_count else column))
            return
        shapes: dict[str, int] = {}
        for data in column.to_pylist():
            if data is None:
                continue
            try:
                image = decode(data)
            except ImageError:
                self.undecodable += 1
                continue
            height, width, channels = image.shape
            self.images += 1
            self.channels[channels] = self.channels.get(channels, 0) + 1
            shape = f"{height}x{width}"
            shapes[shape] = shapes.get(shape, 0) + 1
            self.add_sums(image.reshape(-1, channels))
        if shapes:
            self.shapes.add_counts(list(shapes), list(shapes.values()))

    def add_pixels(self, pixels: Any) -> None:
        """A block of same-shaped pixels ``(n, height, width, channels)`` (a tensor column's batch)."""
        count, height, width, channels = pixels.shape
        if count == 0:
            return
        self.images += count
        self.channels[channels] = self.channels.get(channels, 0) + count
        self.shapes.add_counts([f"{height}x{width}"], [count])
        self.add_sums(pixels.reshape(-1, channels))

    def add_sums(self, flat: Any) -> None:
        """Per-channel sums and cross products of pixels ``(pixels, channels)``: exact integers, or float64 sums
        for float pixels (``pixel_moments`` takes either)."""
        channels = flat.shape[1]
        wide_type = np.float64 if flat.dtype.kind == "f" else np.int64
        plain = float if flat.dtype.kind == "f" else int
        entry = self.pixels.get(channels)
        if entry is None:
            entry = self.pixels[channels] = [0, [0] * channels, [[0] * channels for _ in range(channels)]]
        for start in range(0, len(flat), CHUNK):
            wide = flat[start : start + CHUNK].astype(wide_type)
            sums = wide.sum(axis=0)
            cross = wide.T @ wide
            entry[0] += len(wide)
            for i in range(channels):
                entry[1][i] += plain(sums[i])
                for j in range(channels):
                    entry[2][i][j] += plain(cross[i, j])

    def merge(self, other: ImagePixels) -> None:
        self.images += other.images
        self.undecodable += other.undecodable
        for k, n in other.channels.items():
            self.channels[k] = self.channels.get(k, 0) + n
        self.shapes.merge(other.shapes)
        for k, (count, sums, cross) in other.pixels.items():
            mine = self.pixels.get(k)
            if mine is None:
                self.pixels[k] = [count, list(sums), [list(row) for row in cross]]
                continue
            mine[0] += count
            mine[1] = [a + b for a, b in zip(mine[1], sums, strict=True)]
            mine[2] = [[a + b for a, b in zip(r, s, strict=True)] for r, s in zip(mine[2], cross, strict=True)]

    def extract(self) -> dict[str, Any]:
        return {
            "count": self.images,
            "undecodable": self.undecodable,
            "channels": {str(k): v for k, v in sorted(self.channels.items())},
            "shapes": dict(sorted(self.shapes.top(SHAPES_KEPT), key=lambda item: (-item[1], item[0]))),
            "pixels": {
                str(k): {"count": count, "sum": sums, "cross": cross}
                for k, (count, sums, cross) in sorted(self.pixels.items())
            },
        }


PLACEHOLDER: dict[str, Any] = {
    "count": 0,
    "undecodable": 0,
    "channels": {},
    "shapes": {},
    "pixels": {},
    "placeholder": True,
}


def majority(counts: dict[str, int]) -> str | None:
    """The most common key (ties: the first in sorted order, so every runner agrees)."""
    return min(counts, key=lambda k: (-counts[k], k)) if counts else None


def _conversion(native: int, target: int) -> tuple[list[list[Fraction]], list[Fraction]]:
    """``y = M x + b``: what decoding an image of ``native`` channels to ``target`` channels does to a pixel."""
    one, zero = Fraction(1), Fraction(0)
    colour = min(native, 3) if native != 2 else 1  # 1 (gray) or 3 (RGB) colour channels
    if colour == 1:
        rgb = [[one] + [zero] * (native - 1) for _ in range(3)]
        gray = [[one] + [zero] * (native - 1)]
    else:
        rgb = [[one if j == i else zero for j in range(native)] for i in range(3)]
        gray = [[*GRAY, *([zero] * (native - 3))]]
    alpha_row = [zero] * (native - 1) + [one] if native in (2, 4) else None
    rows = gray if target == 1 else rgb
    offsets = [zero] * len(rows)
    if target == 4:
        rows = [*rows, alpha_row or [zero] * native]
        offsets.append(zero if alpha_row else Fraction(255))
    return rows, offsets


def pixel_moments(value: dict[str, Any], channels: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and variance of the decoded pixels, decoded to ``channels`` channels."""
    total = Fraction(0)
    first = [Fraction(0)] * channels
    second = [Fraction(0)] * channels
    for native_text, entry in value.get("pixels", {}).items():
        native = int(native_text)
        rows, offsets = _conversion(native, channels)
        count, sums, cross = entry["count"], entry["sum"], entry["cross"]
        total += count
        for t, (row, b) in enumerate(zip(rows, offsets, strict=True)):
            linear = sum((w * s for w, s in zip(row, sums, strict=True)), Fraction(0))
            quadratic = sum((row[i] * row[j] * cross[i][j] for i in range(native) for j in range(native)), Fraction(0))
            first[t] += linear + b * count
            second[t] += quadratic + 2 * b * linear + b * b * count
    if total == 0:
        return [0.0] * channels, [1.0] * channels
    means = [m / total for m in first]
    return [float(m) for m in means], [
        float(max(s / total - m * m, Fraction(0))) for s, m in zip(second, means, strict=True)
    ]


# -- the chain an image column goes through -------------------------------------------------------------------------


@dataclass
class ImageChain:
    """The steps of one image column with their frozen values, as the Keras layers and the report read them.

    ``steps``: ``{"op": "decode_image", "channels": c}``, ``{"op": "resize", "height", "width",
    "interpolation"}``, ``{"op": "rescale", "scale"}``, ``{"op": "normalize", "mean": [...],
    "variance": [...]}``, each with ``index`` (its op's position) and ``where``.
    """

    column: str
    stats: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)
    offsets: list[float] = field(default_factory=list)
    """The affine map the steps so far apply to each channel of the decoded pixels: ``scales * x + offsets``."""
    tensor: dict[str, Any] | None = None
    """A tensor column's ``tensor_info`` (the pixels the layers take); None for encoded bytes."""

    @property
    def channels(self) -> int:
        return int(self.steps[0]["channels"])

    @property
    def size(self) -> tuple[int, int] | None:
        """(height, width) after the steps: the resize's, else the most common decoded shape (None if unknown)."""
        for step in self.steps:
            if step["op"] == "resize":
                return int(step["height"]), int(step["width"])
        if self.tensor is not None:
            return int(self.tensor["shape"][0]), int(self.tensor["shape"][1])
        shape = majority(self.stats.get("shapes", {}))
        if shape is None:
            return None
        height, width = shape.split("x")
        return int(height), int(width)

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "channels": self.channels,
            "size": self.size,
            "steps": self.steps,
            **({"tensor": self.tensor} if self.tensor is not None else {}),
        }


def apply_image_op(op: Op, name: str, tx: AnalyzerScope, column: Any, ready: bool) -> bool:
    """Record ``op`` on image column ``name`` in ``tx``'s chain for it; whether its value is final."""
    if op.args.get("suffix"):
        raise op.fail(
            name,
            "an image op changes the image column itself (its bytes stay, the steps are recorded); remove 'suffix'",
        )
    chain = tx.image_chains.get(name)
    final = True
    if op.name == "decode_image" and chain is not None:
        first = chain.steps[0]
        by = f"ops[{first['index']}]" + (
            " (implied: an image op before a decode decodes first)"
            if first["index"] != op.index and first["where"].endswith("(implied)")
            else ""
        )
        raise op.fail(name, f"the column is decoded already, by {by}; decode it once, as the first image op")
    if chain is None:
        value, final = tx.analyze(op.key(name), "image", column, {}, ready)
        if final and value.get("count", 0) == 0:
            raise op.fail(
                name,
                f"no image of the analyzed split decodes ({value.get('undecodable', 0)} undecodable), so there "
                "is nothing to compute the op from; check the column holds image files' bytes",
            )
        wanted = op.args.get("channels", "auto") if op.name == "decode_image" else "auto"
        channels = int(majority(value.get("channels", {})) or 3) if wanted == "auto" else int(wanted)
        tensor = tensor_info(column.type)
        if tensor is not None:
            channels = _tensor_channels(op, name, tensor, wanted)
        where = op.where if op.name == "decode_image" else f"{op.where} (implied)"
        chain = tx.image_chains[name] = ImageChain(name, value, tensor=tensor)
        chain.scales, chain.offsets = [1.0] * channels, [0.0] * channels
        chain.steps.append({"op": "decode_image", "channels": channels, "index": op.index, "where": where})
        if op.name == "decode_image":
            return final
    if op.name == "resize":
        if any(step["op"] == "resize" for step in chain.steps):
            raise op.fail(name, "the column is resized already; resize it once")
        height, width = op.args.get("height"), op.args.get("width")
        if height is None or width is None:
            size = chain.size or (0, 0)
            height, width = height or size[0], width or size[1]
        chain.steps.append(
            {
                "op": "resize",
                "height": int(height),
                "width": int(width),
                "interpolation": op.args.get("interpolation", "bilinear"),
                "index": op.index,
                "where": op.where,
            }
        )
    elif op.name == "scale_to_0_1":
        if chain.tensor is not None and chain.tensor["dtype"].startswith("float"):
            raise op.fail(
                name,
                f"the tensor column holds {chain.tensor['dtype']} pixels, and scale_to_0_1 divides by 255 (it is "
                "for 0..255 pixels, like uint8 ones): use scale_to_z_score, which takes any range, or store uint8",
            )
        scale = 1.0 / 255.0
        chain.scales = [s * scale for s in chain.scales]
        chain.offsets = [o * scale for o in chain.offsets]
        chain.steps.append({"op": "rescale", "scale": scale, "index": op.index, "where": op.where})
    elif op.name == "scale_to_z_score":
        means, variances = pixel_moments(chain.stats, chain.channels)
        mean = [s * m + o for m, s, o in zip(means, chain.scales, chain.offsets, strict=True)]
        # a constant channel (an opaque alpha) is only centred, as the numeric op centres a constant column
        variance = [s * s * v if v > 0 else 1.0 for v, s in zip(variances, chain.scales, strict=True)]
        chain.steps.append(
            {"op": "normalize", "mean": mean, "variance": variance, "index": op.index, "where": op.where}
        )
        stds = [v**0.5 for v in variance]
        chain.scales = [s / d for s, d in zip(chain.scales, stds, strict=True)]
        chain.offsets = [(o - m) / d for o, m, d in zip(chain.offsets, mean, stds, strict=True)]
    return final


def _tensor_channels(op: Op, name: str, tensor: dict[str, Any], wanted: Any) -> int:
    """A tensor's own channel count: its decode takes the pixels as they are, so another ``channels`` is an error."""
    native = int(tensor["shape"][2])
    if wanted != "auto" and int(wanted) != native:
        raise op.fail(
            name,
            f"it is a tensor column of shape {tensor['shape']} ({native} channel(s)), and decode_image asks for "
            f"{wanted}: tensor pixels are taken as they are; set channels: {native} (or auto), or convert the "
            "pixels before ingest",
        )
    return native
