"""The digits image pipeline (``examples/digits``) cold and fully cached, its peak memory, and its decode speed.

In one run of this script:

(a) the pipeline cold: a fresh copy of ``examples/digits`` (its PNG folder
    written once by ``make_data.py``; no store, no cache) through the real
    CLI, start to exit: ingest, statistics, schema, validator, transform,
    the CNN trainer (TensorFlow imported), evaluator, pusher;
(b) the same pipeline fully cached, including the CLI's start: the second
    and third runs (the example's evaluator has no baseline, so nothing
    changes after the first run).

Peak RSS is the largest sum of resident memory over the process tree, sampled
from /proc every 10 ms (``benchmarks/penguin.py``'s sampler). Then the decode
throughput, in this process, over the train split: ``ctx.train.tf_dataset``'s
way (``examples_dataset`` with the fitted transform: the PNG bytes read from
Parquet, decoded and z-scored by the transform's Keras layers in a parallel map)
against a hand-written tf.data pipeline over the same PNG files
(``list_files -> read_file -> decode_png -> cast -> normalize`` in a parallel
map, then ``batch`` and ``prefetch``), several epochs, batches of 256, each
consumed in a graph (``Dataset.reduce``) as ``Model.fit`` does. And the same
two with augmentation, ``AUGMENT`` (flip, rotation, translation, zoom):
headrace's way is the trainer's YAML ``augment:`` (``examples_dataset(...,
augment=...)``: the Keras random layers on each whole batch in the decode's
map); the hand-written way is what a Keras user writes, the decode pipeline
above then a parallel ``map`` of a ``Sequential`` of ``RandomFlip``,
``RandomRotation``, ``RandomTranslation`` and ``RandomZoom`` called with
``training=True`` on each batch, then ``prefetch``. Targets (issue 17): cold
under 30 s on 2 cores, fully cached under 1 s including the CLI's start,
tf_dataset at least 0.8x the hand-written pipeline, decoding and augmenting.

    .venv/bin/python benchmarks/digits.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

from penguin import timed

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(os.path.dirname(HERE), "examples", "digits")
HEADRACE = os.path.join(os.path.dirname(sys.executable), "headrace")
ROUNDS = int(os.environ.get("ROUNDS", "2"))
EPOCHS, BATCH = 20, 256
AUGMENT = {"flip": "horizontal", "rotation": 0.1, "translation": 0.1, "zoom": 0.1}

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def one_round(folder: str, data: str) -> dict[str, tuple[float, float]]:
    project = os.path.join(folder, "digits")
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("runs", "serving", "data", "__pycache__"))
    os.symlink(data, os.path.join(project, "data"))
    pipeline = os.path.join(project, "pipeline.yaml")
    results = {"cold": timed([HEADRACE, "run", pipeline, "-q"], project)}
    results["cached"] = min(timed([HEADRACE, "run", pipeline, "-q"], project) for _ in range(2))
    return results


def images_per_second(dataset: Any, images: int) -> float:
    """Images per second over ``EPOCHS`` epochs of ``dataset`` (batches of pixels, or (features, label) pairs)."""
    import tensorflow as tf

    def count(total: Any, element: Any) -> Any:
        pixels = element[0]["image"] if isinstance(element, tuple) else element
        return total + tf.cast(tf.shape(pixels)[0], tf.int64) + tf.cast(tf.reduce_sum(pixels) * 0, tf.int64)

    dataset.take(1).reduce(tf.constant(0, tf.int64), count)  # warm: the first batch reads Parquet, fills caches
    started = time.perf_counter()
    seen = dataset.repeat(EPOCHS).reduce(tf.constant(0, tf.int64), count)
    assert int(seen) == images * EPOCHS, (int(seen), images)
    return images * EPOCHS / (time.perf_counter() - started)


def decode_speed(project: str, data: str, augment: bool = False) -> tuple[float, float, int]:
    """(tf_dataset images/s, hand-written tf.data images/s, train images) over the last round's artifacts.

    ``augment``: both pipelines also augment each batch with ``AUGMENT`` (headrace's by the trainer's
    ``augment`` settings, the hand-written one by a Keras ``Sequential`` of the random layers).
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from headrace.components.artifacts import Examples
    from headrace.components.tensorflow.datasets import examples_dataset
    from headrace.components.transform.graph import FittedTransform
    from headrace.metadata.store import MetadataStore
    from headrace.pipelines.loader import load_pipeline

    store = MetadataStore(load_pipeline(os.path.join(project, "pipeline.yaml")).metadata_url)
    found = store.latest_artifact("Examples", component="ingest")
    graph = store.latest_artifact("TransformGraph", component="transform")
    assert found is not None and graph is not None
    examples = Examples(uri=found.uri, properties=found.properties)
    fitted = FittedTransform.load(graph.uri)
    train = int(found.properties["row_counts"]["train"])
    theirs = examples_dataset(
        examples,
        "train",
        label="label",
        batch_size=BATCH,
        transform=fitted,
        features=["image"],
        augment=AUGMENT if augment else None,
    )
    ours = images_per_second(theirs, train)

    normalize = next(s for s in fitted.image_chains()["image"].steps if s["op"] == "normalize")
    mean = np.asarray(normalize["mean"], np.float32)
    std = np.sqrt(np.asarray(normalize["variance"], np.float32))

    def decode(path: Any) -> Any:  # the same frozen per-channel mean and variance, applied by hand
        pixels = tf.io.decode_png(tf.io.read_file(path), channels=1)
        return (tf.cast(pixels, tf.float32) - mean) / std

    files = tf.data.Dataset.list_files(os.path.join(data, "*", "*.png"), shuffle=False).take(train)
    hand = files.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(BATCH)
    if augment:
        layers = keras.Sequential(
            [
                keras.layers.RandomFlip("horizontal"),
                keras.layers.RandomRotation(AUGMENT["rotation"]),
                keras.layers.RandomTranslation(AUGMENT["translation"], AUGMENT["translation"]),
                keras.layers.RandomZoom(AUGMENT["zoom"]),
            ]
        )
        hand = hand.map(lambda x: layers(x, training=True), num_parallel_calls=tf.data.AUTOTUNE)
    return ours, images_per_second(hand.prefetch(tf.data.AUTOTUNE), train), train


def main() -> None:
    folder = tempfile.mkdtemp(prefix="headrace-digits-bench-")
    data = os.path.join(folder, "data")
    try:
        subprocess.run([sys.executable, os.path.join(EXAMPLE, "make_data.py"), data], check=True, capture_output=True)
        one_round(folder, data)  # warm the OS file cache and bytecode
        rounds = [one_round(folder, data) for _ in range(ROUNDS)]
        ours, hand, images = decode_speed(os.path.join(folder, "digits"), data)
        ours_augment, hand_augment, _ = decode_speed(os.path.join(folder, "digits"), data, augment=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def best(case: str) -> tuple[float, float]:
        return min(r[case][0] for r in rounds), max(r[case][1] for r in rounds)

    (cold, cold_rss), (cached, cached_rss) = best("cold"), best("cached")
    load = os.getloadavg()
    print(f"digits pipeline (1,797 8x8 PNGs), best wall of {ROUNDS} rounds (peak tree RSS: the largest seen);")
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    print(f"  (a) cold, fresh store:       {cold:5.2f} s  {cold_rss:5.0f} MB   (target: under 30 s)")
    print(f"  (b) fully cached, with CLI:  {cached:5.2f} s  {cached_rss:5.0f} MB   (target: under 1 s)")
    print(f"decode, the train split ({images} images), {EPOCHS} epochs, batches of {BATCH}:")
    print(f"  tf_dataset (Parquet bytes, the transform's layers): {ours:8.0f} images/s")
    print(f"  hand-written tf.data over the PNG files:            {hand:8.0f} images/s")
    print(f"  ratio: {ours / hand:.2f}x (target: at least 0.8x)")
    print(f"decode and augment ({', '.join(f'{k} {v}' for k, v in AUGMENT.items())}), the same split and epochs:")
    print(f"  tf_dataset (the trainer's augment: settings):      {ours_augment:8.0f} images/s")
    print(f"  hand-written tf.data, map(Sequential(Random*)):     {hand_augment:8.0f} images/s")
    print(f"  ratio: {ours_augment / hand_augment:.2f}x (target: at least 0.8x)")


if __name__ == "__main__":
    main()
