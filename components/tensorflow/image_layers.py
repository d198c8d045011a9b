"""The transform's image steps as Keras layers: the one implementation that decodes, resizes and scales pixels.

``FittedTransform.image_chains()`` gives, per image column, the steps the
transform recorded with their frozen values (``transform.image_ops``); this
module builds them as layers, used in three places that must agree to the
bit: the ``tf.data`` pipeline of ``examples_dataset`` (a parallel ``map``),
the Keras inputs ``keras_predict`` builds for a request's rows, and the
SavedModel's signatures in front of the model.

- ``DecodeImage``: ``tf.io.decode_image`` (``expand_animations=False``) to the
  chain's channel count, each image of a batch resized by the chain's Keras
  ``Resizing`` (images may differ in size) or checked to have the one size the
  model takes; the output has a static shape ``[batch, height, width, channels]``;
- ``Rescaling(1/255)`` for ``scale_to_0_1``; ``Normalization(axis=-1)`` with
  the frozen per-channel mean and variance for ``scale_to_z_score``.

``image_model(chain)`` takes encoded bytes (a string tensor ``[batch]``);
``pixels_model(chain)`` takes ``uint8`` pixels ``[batch, height, width,
channels]`` (a second serving signature, for clients that decoded already)
and runs the same steps after the decode. Outputs are ``float32``. A tensor
column's chain (``chain.tensor``) has no decode: its input is the tensor's
pixels ``[batch, h, w, c]`` in their own value type, and ``FitPixels`` starts it.
"""

from __future__ import annotations

import json
from typing import Any

from headrace.components.tensorflow import missing_tensorflow
from headrace.components.transform.image_ops import ImageChain

try:
    import keras
    import tensorflow as tf
except ImportError as exc:
    raise missing_tensorflow(__name__, exc) from exc


@keras.saving.register_keras_serializable(package="headrace")
class DecodeImage(keras.layers.Layer):
    """Encoded images ``[batch]`` (strings) -> ``float32`` pixels ``[batch, height, width, channels]``.

    With ``resize`` each image goes through a Keras ``Resizing`` to the size;
    without it every image must have that size already (an image of another
    size is an error naming both sizes).
    """

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        resize: bool = False,
        interpolation: str = "bilinear",
        **kwargs: Any,
    ) -> None:
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.height = int(height)
        self.width = int(width)
        self.resize = bool(resize)
        self.interpolation = interpolation
        self.resizing = (
            keras.layers.Resizing(self.height, self.width, interpolation=interpolation, dtype="float32")
            if self.resize
            else None
        )

    def build(self, input_shape: Any) -> None:
        if self.resizing is not None:
            self.resizing.build((self.height, self.width, self.channels))
        self.built = True

    def decode_one(self, data: Any) -> Any:
        image = tf.io.decode_image(data, channels=self.channels, expand_animations=False, dtype=tf.uint8)
        return self.fit_size(image)

    def fit_size(self, image: Any) -> Any:
        """One image ``[h, w, c]`` (any numeric dtype) at the layer's size, as float32."""
        pixels = tf.cast(image, tf.float32)
        if self.resizing is not None:
            pixels = self.resizing(pixels)
        else:
            shape = tf.shape(pixels)
            tf.debugging.assert_equal(
                shape[:2],
                tf.constant([self.height, self.width]),
                message=f"an image is not {self.height}x{self.width}, the size the model takes; "
                "add a resize op to the transform",
            )
        return tf.ensure_shape(pixels, (self.height, self.width, self.channels))

    def call(self, data: Any) -> Any:
        data = tf.reshape(data, (-1,))
        spec = tf.TensorSpec((self.height, self.width, self.channels), tf.float32)
        return tf.map_fn(self.decode_one, data, fn_output_signature=spec)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (input_shape[0], self.height, self.width, self.channels)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "channels": self.channels,
            "height": self.height,
            "width": self.width,
            "resize": self.resize,
            "interpolation": self.interpolation,
        }


@keras.saving.register_keras_serializable(package="headrace")
class FitPixels(DecodeImage):
    """Decoded pixels ``[batch, h, w, channels]`` (uint8) -> ``float32`` at the chain's size: the decode's other half."""

    def call(self, pixels: Any) -> Any:
        pixels = tf.cast(pixels, tf.float32)
        if self.resizing is not None:
            return self.resizing(pixels)
        return self.fit_size_batch(pixels)

    def fit_size_batch(self, pixels: Any) -> Any:
        if tuple(pixels.shape[1:3]) == (self.height, self.width):  # the input's shape says so (no runtime check,
            return pixels  # which TFLite has no builtin op for)
        shape = tf.shape(pixels)
        tf.debugging.assert_equal(
            shape[1:3],
            tf.constant([self.height, self.width]),
            message=f"the pixels are not {self.height}x{self.width}, the size the model takes",
        )
        return tf.ensure_shape(pixels, (None, self.height, self.width, self.channels))


def _size(chain: ImageChain) -> tuple[int, int, bool, str]:
    resize = next((s for s in chain.steps if s["op"] == "resize"), None)
    size = chain.size
    if size is None or 0 in size:
        raise ValueError(f"image column {chain.column!r}: the transform recorded no image size")
    return size[0], size[1], resize is not None, (resize or {}).get("interpolation", "bilinear")


def pixels_shape(chain: ImageChain) -> tuple[int | None, int | None, int]:
    """The shape of one image of a pixels input: any size when the chain resizes, else the size the model takes
    (a tensor column's: its own shape)."""
    if chain.tensor is not None:
        height, width, channels = chain.tensor["shape"]
        return int(height), int(width), int(channels)
    height, width, resize, _ = _size(chain)
    return (None, None, chain.channels) if resize else (height, width, chain.channels)


def _scaling(chain: ImageChain, prefix: str) -> list[Any]:
    layers = []
    for step in chain.steps:
        if step["op"] == "rescale":
            layers.append(
                keras.layers.Rescaling(step["scale"], dtype="float32", name=f"{prefix}_ops{step['index']}_rescale")
            )
        elif step["op"] == "normalize":
            layers.append(
                keras.layers.Normalization(
                    axis=-1,
                    mean=step["mean"],
                    variance=step["variance"],
                    dtype="float32",
                    name=f"{prefix}_ops{step['index']}_normalize",
                )
            )
    return layers


def image_layers(chain: ImageChain, *, pixels: bool = False, prefix: str | None = None) -> list[Any]:
    """The chain's layers, in order: ``DecodeImage`` (or ``FitPixels`` for decoded pixels, and always for a tensor
    column), then the scalings."""
    prefix = prefix or chain.column
    pixels = pixels or chain.tensor is not None
    height, width, resize, interpolation = _size(chain)
    first = (FitPixels if pixels else DecodeImage)(
        chain.channels,
        height,
        width,
        resize,
        interpolation,
        name=f"{prefix}_{'pixels' if pixels else 'decode'}",
    )
    return [first, *_scaling(chain, prefix)]


def apply_layers(layers: list[Any], x: Any) -> Any:
    for layer in layers:
        x = layer(x)
    return x


def image_model(chain: ImageChain, *, pixels: bool = False) -> keras.Model:
    """The chain as a Keras model: encoded bytes ``[batch]`` (or uint8 pixels) -> float32 ``[batch, h, w, c]``."""
    if pixels or chain.tensor is not None:
        dtype = chain.tensor["dtype"] if chain.tensor is not None else "uint8"
        source = keras.Input(shape=pixels_shape(chain), dtype=dtype, name=chain.column)
    else:
        source = keras.Input(shape=(), dtype="string", name=chain.column)
    return keras.Model(source, apply_layers(image_layers(chain, pixels=pixels), source), name=f"{chain.column}_image")


def image_models(fitted: Any) -> dict[str, keras.Model]:
    """Every image column's :func:`image_model` of a fitted transform (none when it has no image steps)."""
    return {name: image_model(chain) for name, chain in fitted.image_chains().items()}


class _BatchSeeds(keras.random.SeedGenerator):
    """Stateless seeds for one batch, derived from a seed tensor: each draw folds in its own count.

    A Keras ``SeedGenerator`` keeps its state in a variable, which the parallel calls of a ``tf.data`` map would
    advance in whatever order they run; these seeds depend only on the batch's seed, so a run repeats.
    """

    def __init__(self, seed: Any) -> None:  # no state variable: deliberately not SeedGenerator.__init__
        self.seed = seed
        self.draws = 0

    def next(self, ordered: bool = True) -> Any:
        self.draws += 1
        return tf.random.experimental.stateless_fold_in(self.seed, self.draws)


def augment_layers(augment: dict[str, Any], prefix: str) -> list[Any]:
    """The trainer's ``augment`` (``Augment.model_dump()``) as Keras random layers, in pixel space [0, 255]."""
    layers: list[Any] = []
    if augment.get("flip"):
        layers.append(keras.layers.RandomFlip(augment["flip"], name=f"{prefix}_flip"))
    if augment.get("rotation"):
        layers.append(keras.layers.RandomRotation(augment["rotation"], name=f"{prefix}_rotation"))
    if augment.get("translation"):
        factor = augment["translation"]
        layers.append(keras.layers.RandomTranslation(factor, factor, name=f"{prefix}_translation"))
    if augment.get("zoom"):
        layers.append(keras.layers.RandomZoom(augment["zoom"], name=f"{prefix}_zoom"))
    if augment.get("contrast"):
        layers.append(keras.layers.RandomContrast(augment["contrast"], value_range=(0, 255), name=f"{prefix}_contrast"))
    if augment.get("brightness"):
        layers.append(
            keras.layers.RandomBrightness(augment["brightness"], value_range=(0, 255), name=f"{prefix}_brightness")
        )
    return layers


def apply_augment(layers: list[Any], images: Any, seed: Any) -> Any:
    """A batch ``[b, h, w, c]`` through the random layers, every draw seeded from ``seed`` (an int64 ``[2]``)."""
    seeds = _BatchSeeds(seed)
    for layer in layers:
        change = layer.get_random_transformation(images, training=True, seed=seeds)
        images = layer.transform_images(images, change, training=True)
    return images


_DECODERS: dict[str, Any] = {}


def decode_images(chain: ImageChain, data: Any) -> Any:
    """Encoded images (a NumPy array of bytes; a tensor column's pixels) -> the float32 pixels the chain's layers
    give, as NumPy.

    The layers run as one traced ``tf.function`` per chain (kept for the process), as in ``tf.data``.
    """
    key = json.dumps(chain.to_json(), sort_keys=True)
    decoder = _DECODERS.get(key)
    if decoder is None:
        layers = image_layers(chain)
        spec = (
            tf.TensorSpec((None,), tf.string)
            if chain.tensor is None
            else tf.TensorSpec((None, *pixels_shape(chain)), tf.float32)
        )
        decoder = _DECODERS[key] = tf.function(lambda x: apply_layers(layers, x), input_signature=[spec])
    return decoder(tf.constant(data, dtype=tf.string if chain.tensor is None else tf.float32)).numpy()
