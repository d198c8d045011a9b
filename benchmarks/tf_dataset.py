"""tf.data from Examples: ``tf_dataset`` streaming Parquet against ``from_tensor_slices`` of the data in memory.

1M penguin-like rows (Parquet, made once by the real ingest component and
cached under ``benchmarks/.data/``), every split, label ``species``, the
seven other columns as features. Each way runs one epoch in a fresh
subprocess, so its peak RSS (VmHWM) is its own:

- ``stream``: ``tf_dataset`` over the RecordBatches of the Parquet files
  (``Examples.batches``), batches of 256, prefetched;
- ``stream+shuffle``: the same with a shuffle buffer of 10,000 rows;
- ``memory``: the same columns read whole, converted to arrays once, then
  ``tf.data.Dataset.from_tensor_slices(...).batch(256).prefetch(AUTOTUNE)``,
  the usual way when the data fits;
- ``memory+shuffle``: the same with ``.shuffle(10_000)`` before ``.batch``.

The epoch is consumed in a graph (``Dataset.reduce``), as ``Model.fit``'s
compiled loop consumes it: a Python ``for`` over the dataset would add
about half a millisecond per batch to every way alike. rows/s is over the epoch; for ``memory`` the time to load and convert the
data is shown apart (``load s``) and counted in ``rows/s incl. load``.
``RSS after import`` is the process after ``import tensorflow``, before any
data: what any TensorFlow process pays. Streaming is also run over a tenth of
the rows to show that its memory does not grow with the data.

    .venv/bin/python benchmarks/tf_dataset.py [rows] [batch_size]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from statistics import child, examples_for  # noqa: E402  (benchmarks/statistics.py: shared data and subprocess)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_RUN = r"""
import itertools, json, sys, time
_PEAK = lambda: next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
import tensorflow as tf
after_import = _PEAK()
from headrace.components.artifacts import Examples
from headrace.components.tensorflow.datasets import tf_dataset
from headrace.components.tensorflow.tensors import INT_NULL, column_array
examples = Examples(**json.loads(sys.argv[1]))
way, batch_size, limit = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
label, shuffle = "species", 10_000 if way.endswith("shuffle") else 0

def batches():
    left = limit
    for split in examples.splits:
        for batch in examples.batches(split, 65_536):
            if left <= 0:
                return
            yield batch.slice(0, left)
            left -= batch.num_rows

load = 0.0
start = time.perf_counter()
if way.startswith("stream"):
    dataset = tf_dataset(batches, label=label, batch_size=batch_size, shuffle=shuffle, seed=0, int_null=INT_NULL)
else:
    import pyarrow as pa
    table = pa.Table.from_batches(list(batches()))
    features = {n: column_array(n, table[n], int_null=INT_NULL) for n in table.column_names if n != label}
    target = column_array(label, table[label], int_null=None)
    del table
    dataset = tf.data.Dataset.from_tensor_slices((features, target))
    if shuffle:
        dataset = dataset.shuffle(shuffle, seed=0)
    dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    load = time.perf_counter() - start
count = lambda total, element: total + tf.shape(element[1], out_type=tf.int64)[0]
rows = int(dataset.reduce(tf.constant(0, tf.int64), count))  # consumed in a graph, as Model.fit does
seconds = time.perf_counter() - start
print(json.dumps({"rows": rows, "seconds": seconds, "load": load, "peak_mb": _PEAK(), "import_mb": after_import}))
"""

WAYS = ("stream", "stream+shuffle", "memory", "memory+shuffle")


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    batch_size = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    artifact = json.dumps(examples_for(rows))
    print(f"batch_size {batch_size}")
    header = f"{'rows':>10} {'way':>15} {'load s':>7} {'epoch s':>8} {'rows/s':>10} {'rows/s incl. load':>18}"
    print(f"{header} {'peak RSS MB':>12} {'RSS after import MB':>20}")
    runs = [(rows, way) for way in WAYS] + [(rows // 10, "stream")]
    for limit, way in runs:
        r = child(_RUN, artifact, way, str(batch_size), str(limit))
        assert r["rows"] == limit, r
        epoch = r["seconds"] - r["load"]
        print(
            f"{limit:>10,} {way:>15} {r['load']:>7.2f} {epoch:>8.2f} {limit / epoch:>10,.0f} "
            f"{limit / r['seconds']:>18,.0f} {r['peak_mb']:>12.0f} {r['import_mb']:>20.0f}"
        )


if __name__ == "__main__":
    main()
