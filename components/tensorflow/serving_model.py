"""A packaged Keras model as one TensorFlow SavedModel that takes raw features: what TF Serving and TFLite load.

TFX embeds the tf.Transform graph in the SavedModel it pushes, so the model
TF Serving loads takes raw features and cannot be fed differently than it was
trained. Here the fitted TransformGraph becomes Keras preprocessing layers
(``transform_layers.transform_model``) in front of the trained Keras model,
and one ``tf.function`` over both is exported as the ``serving_default``
signature:

- inputs: one 1-d tensor per column the model reads, ``info.required_columns``
  (the raw columns the transform reads and those the network takes as they
  are; listed as required in the model's MLflow signature, and the
  transform's in its report), named for the column, with the dtype and null
  encoding of ``transform_layers.raw_features`` (float64 with NaN, string
  with ``""``, int64 with ``INT_NULL``). Other raw columns (the label, an
  image folder's ``path``) are no inputs: a client sends only what the model
  reads, and a signature refuses a key it lacks;
- outputs, for a classifier: ``scores`` (float32, one column per class, in the
  order of ``classes``) and ``classes`` (the predicted label as a string, the
  class of the largest score); for a regressor: ``predictions`` (float32).

Its predictions equal the MLflow model's (``PackagedModel.predict``): the same
frozen values, the same network, the same argmax.
"""

from __future__ import annotations

import os
from typing import Any

from headrace.components.model_package import PackagedModel
from headrace.components.tensorflow import missing_tensorflow
from headrace.components.tensorflow.tensors import INT_NULL
from headrace.components.tensorflow.transform_layers import transform_model

try:
    import keras
    import tensorflow as tf
except ImportError as exc:
    raise missing_tensorflow(__name__, exc) from exc

SIGNATURE = "serving_default"
PIXELS_SIGNATURE = "serving_pixels"
"""The second signature of a model whose transform decodes images: uint8 pixels instead of encoded bytes."""


def serving_module(
    packaged: PackagedModel, *, int_null: int = INT_NULL, float_dtype: str = "float64", pixels: bool = False
) -> tuple[Any, Any]:
    """``(serve, tracked)``: the raw-features ``tf.function`` and the Keras models it uses (to track their variables).

    ``float_dtype``: of the raw floats and the transform's arithmetic (float32 for TFLite). ``pixels``: image
    columns are taken as uint8 pixels ``[batch, height, width, channels]``, not encoded bytes. Raises
    ``NotExpressibleInKeras`` naming the op when the transform has no Keras form.
    """
    info = packaged.info
    transform = transform_model(
        packaged.transform,
        exclude=unread_columns(packaged),
        int_null=int_null,
        float_dtype=float_dtype,
        pixels=pixels,
        name="transform_pixels" if pixels else "transform",
    )
    network = packaged.estimator
    specs = {
        name: tf.TensorSpec(shape=tensor.shape if len(tensor.shape) > 1 else (None,), dtype=tensor.dtype, name=name)
        for name, tensor in transform.input.items()
    }
    classes = tf.constant([str(c) for c in info.classes or []], dtype=tf.string)

    def serve(features: dict[str, Any]) -> dict[str, Any]:
        transformed = transform(features, training=False)
        output = network({name: transformed[name] for name in info.features}, training=False)
        output = tf.cast(output, tf.float32)
        if info.task != "classification":
            return {"predictions": tf.reshape(output, (-1,))}
        if output.shape[-1] == 1:  # one sigmoid unit: the second of two classes
            output = tf.concat([1.0 - output, output], axis=-1)
        return {"scores": output, "classes": tf.gather(classes, tf.argmax(output, axis=-1))}

    return tf.function(serve, input_signature=[specs]), [transform, network]


def unread_columns(packaged: PackagedModel) -> list[str]:
    """The raw columns the SavedModel takes no input for: the label and those outside ``info.required_columns``."""
    required = set(packaged.info.required_columns)
    return [name for name in packaged.transform.input_schema.names if name not in required]


def export_saved_model(
    packaged: PackagedModel, path: str, *, int_null: int = INT_NULL, float_dtype: str = "float64", pixels: bool = False
) -> str:
    """Write ``packaged`` as a SavedModel at ``path`` (``saved_model.pb`` and ``variables/``); ``path``.

    ``float_dtype="float32"``: the variant TFLite converts (see ``transform_layers``). When the transform
    decodes images, ``serving_pixels`` beside ``serving_default`` takes them as uint8 pixels; ``pixels=True``:
    ``serving_default`` itself takes pixels and is the only signature (TFLite's variant: its builtin ops
    cannot decode PNG or JPEG).
    """
    serve, tracked = serving_module(packaged, int_null=int_null, float_dtype=float_dtype, pixels=pixels)
    archive = keras.export.ExportArchive()
    for model in tracked:
        archive.track(model)
    archive.add_endpoint(name=SIGNATURE, fn=serve)
    if not pixels and any(chain.tensor is None for chain in packaged.transform.image_chains().values()):
        serve_pixels, tracked_pixels = serving_module(packaged, int_null=int_null, float_dtype=float_dtype, pixels=True)
        archive.track(tracked_pixels[0])
        archive.add_endpoint(name=PIXELS_SIGNATURE, fn=serve_pixels)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    archive.write_out(path, verbose=False)
    return path
