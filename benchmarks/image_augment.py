"""The trainer's ``augment`` in ``tf_dataset``: images/s decoded only, against decoded and augmented.

20,000 generated 16x16 RGB PNGs through a transform that decodes, resizes to
32x32 and normalizes (``tests.test_image_transform``'s helpers), read by
``examples_dataset`` in batches of 256, consumed in a graph
(``Dataset.reduce``, as ``Model.fit`` does), three epochs each (the first traces and reads
Parquet cold). Ways:

- ``decode``: no augment;
- ``augment``: ``{flip: horizontal, rotation: 0.1, translation: 0.1, zoom: 0.1}``,
  the Keras layers on the whole batch in the decode's map (what headrace does);
- ``augment per image``: the same layers called on each image of the batch
  (``tf.map_fn``), the alternative of augmenting before batching.

    .venv/bin/python benchmarks/image_augment.py [images]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

AUGMENT = {"flip": "horizontal", "rotation": 0.1, "translation": 0.1, "zoom": 0.1}


def main(count: int) -> None:
    import tensorflow as tf

    from headrace.components.tensorflow import image_layers
    from headrace.components.tensorflow.datasets import examples_dataset
    from headrace.components.tensorflow.image_layers import apply_augment
    from tests.test_image_transform import fit, images

    root = Path(tempfile.mkdtemp(prefix="augment-bench-"))
    table, _ = images(count, seed=0, size=16)
    ops = [
        {"decode_image": {"select": {"type": "image"}, "channels": 3}},
        {"resize": {"select": {"type": "image"}, "height": 32, "width": 32}},
        {"scale_to_z_score": {"select": {"type": "image"}}},
    ]
    transform, transformed = fit(root, ops, train=table, eval=table.slice(0, 10))

    def per_image(layers: list, images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        def one(args: tuple) -> tf.Tensor:
            image, index = args
            return apply_augment(layers, image[None], tf.random.experimental.stateless_fold_in(seed, index))[0]

        indices = tf.range(tf.shape(images)[0], dtype=tf.int64)
        return tf.map_fn(one, (images, indices), fn_output_signature=tf.float32)

    batched = image_layers.apply_augment
    for way in ("decode", "augment", "augment per image"):
        image_layers.apply_augment = per_image if way == "augment per image" else batched
        dataset = examples_dataset(
            transformed,
            "train",
            label="label",
            batch_size=256,
            transform=transform,
            features=["image"],
            augment=None if way == "decode" else AUGMENT,
        )
        rates = []
        for _ in range(3):
            start = time.perf_counter()
            rows = int(dataset.reduce(tf.constant(0, tf.int64), lambda n, e: n + tf.shape(e[1], tf.int64)[0]))
            rates.append(rows / (time.perf_counter() - start))
        print(f"{way:18} " + "  ".join(f"epoch {n}: {r:>7,.0f} images/s" for n, r in enumerate(rates, 1)), flush=True)
    image_layers.apply_augment = batched


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
