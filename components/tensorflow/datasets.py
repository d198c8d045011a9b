"""``tf.data`` over Arrow RecordBatches: an Examples split streamed into Keras, never held in memory.

``tf_dataset`` wraps a generator in ``tf.data.Dataset.from_generator`` with an
explicit ``output_signature`` taken from the Arrow schema (dtypes and nulls as
``tensors`` says). The generator turns each RecordBatch into NumPy column
arrays at once and hands TensorFlow the whole block, which ``rebatch`` cuts
into batches of ``batch_size`` rows: no per-row elements (they cost
microseconds each, most of an epoch for a small model, which is what makes
``from_tensor_slices(...).batch(...)`` slow) and one Python call per
RecordBatch. Shuffling is done on the arrays, with a bounded buffer: memory is
one RecordBatch plus the buffer, whatever the size of the split::

    from headrace.components.tensorflow.datasets import examples_dataset
    train = examples_dataset(examples, "train", label="species", batch_size=64, shuffle=True)
    model.fit(train, epochs=10)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from headrace.components.artifacts import Examples
from headrace.components.problems import ProblemError
from headrace.components.suggestions import did_you_mean
from headrace.components.tensorflow import missing_tensorflow
from headrace.components.tensorflow.tensors import FLOAT, column_array, image_shape, null_error, raw_dtype, tensor_dtype
from headrace.components.transform.graph import FittedTransform
from headrace.components.transform.image_ops import ImageChain

try:
    import tensorflow as tf
except ImportError as exc:
    raise missing_tensorflow(__name__, exc) from exc

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_ROWS = 10_000
"""The shuffle buffer of ``shuffle=True``, in rows."""
READ_ROWS = 65_536
"""Rows per RecordBatch read from Parquet by :func:`examples_dataset`."""

Arrays = dict[str, np.ndarray]


def tf_dataset(
    batches: Callable[[], Iterable[pa.RecordBatch]],
    *,
    label: str | None,
    batch_size: int,
    shuffle: bool | int = False,
    seed: int = 0,
    features: Sequence[str] | None = None,
    schema: pa.Schema | None = None,
    rows: int | None = None,
    int_null: int | None = None,
    drop_remainder: bool = False,
    prefetch: int = AUTOTUNE,
    label_classes: Sequence[Any] | None = None,
    image_chains: Mapping[str, ImageChain] | None = None,
    augment: Mapping[str, Any] | None = None,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(features, label)`` batches (``features`` alone when ``label`` is None).

    ``batches`` is called once per epoch and gives the RecordBatches (e.g.
    ``lambda: examples.batches("train")``). ``features`` are the columns to
    feed (default: every column but the label); each is a 1-d tensor per
    batch, keyed by column name. ``shuffle``: False, True (a buffer of
    ``SHUFFLE_ROWS`` rows) or a buffer size in rows (rows are drawn from the
    buffer and the RecordBatch being read); the order depends only on
    ``seed`` and the epoch, so a run can be repeated. ``schema``: the Arrow
    schema of the batches (read from the first batch when not given). Nulls
    become NaN (floats) and ``""`` (strings); a null integer is an error
    unless ``int_null`` gives the value to encode it as, and a null label
    is always an error. ``label_classes``: the label's classes, in order; the
    label then comes as the int64 index of its value among them (what
    ``sparse_categorical_crossentropy`` takes), a value not among them an error.
    ``image_chains``: image column -> its transform steps (``FittedTransform.image_chains()``); such a
    feature comes as float32 pixels ``[batch, height, width, channels]``, decoded and scaled by the
    steps' Keras layers (``image_layers``) in a parallel ``map`` after batching. A fixed-shape tensor image
    column comes as float32 pixels ``[batch, height, width, channels]`` too, through its steps if it has any,
    else as it is (``[h, w]`` tensors with one channel); it is read and shuffled in its own value type
    (uint8 pixels are a quarter of float32's memory) and cast in the ``map``.
    ``augment``: the trainer's ``augment`` settings (``Augment.model_dump()``): the image columns' pixels go
    through Keras random layers after the decode and resize, before the scaling, in the same ``map``; each
    batch's draws come from ``seed``, the epoch and the batch's first row, so a run repeats whatever order the
    parallel calls run in (and every worker of a distributed training augments a global batch alike).
    """
    if batch_size < 1:
        raise ProblemError(f"batch_size is {batch_size}; it must be at least 1")
    buffer = _shuffle_rows(shuffle)
    schema = schema if schema is not None else _first_schema(batches)
    names = _feature_names(schema, label, features)
    dtypes = {name: tensor_dtype(name, schema.field(name).type) for name in names}
    label_dtype = tensor_dtype(label, schema.field(label).type) if label is not None else None
    classes = _class_values(label, schema.field(label).type, label_classes) if label is not None else None
    if classes is not None:
        label_dtype = "int64"
    shapes = {name: image_shape(schema.field(name).type) or () for name in names}
    dtypes = {
        name: raw_dtype(name, schema.field(name).type, FLOAT) if shapes[name] else d for name, d in dtypes.items()
    }
    # the generator yields whole RecordBatches' rows; rebatch cuts them into batches of batch_size
    blocks_spec = {name: tf.TensorSpec((None, *shapes[name]), dtype, name=name) for name, dtype in dtypes.items()}
    decoding = {name: chain for name, chain in (image_chains or {}).items() if name in dtypes}
    casting = [name for name, shape in shapes.items() if shape and name not in decoding and dtypes[name] != FLOAT]
    augmenting = bool(augment and decoding)  # features without an image column have nothing to augment
    if augmenting:  # each row's place in the epoch: the batch's first one seeds its random draws
        blocks_spec[ROW_KEY] = tf.TensorSpec((None,), "int64", name="headrace_row")  # a valid graph node name
    signature: Any = blocks_spec if label is None else (blocks_spec, tf.TensorSpec((None,), label_dtype, name=label))
    epochs = itertools.count()

    def generate() -> Iterator[Any]:
        epoch = next(epochs)
        rng = np.random.default_rng([seed, epoch])
        blocks = _blocks(batches(), dtypes, label, label_dtype, int_null, classes)
        if buffer:
            blocks = _shuffled(blocks, buffer, rng)
        if augmenting:
            blocks = _numbered(blocks, epoch)
        for block in blocks:
            if label is None:
                yield block
            else:
                target = block.pop(label)
                yield block, target

    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    dataset = dataset.rebatch(batch_size, drop_remainder=drop_remainder)
    if decoding:
        decoder = _image_decoder(decoding, label is not None, augment if augmenting else None, seed)
        dataset = dataset.map(decoder, num_parallel_calls=AUTOTUNE)
    if casting:
        dataset = dataset.map(_as_float(casting, label is not None), num_parallel_calls=AUTOTUNE)
    dataset = dataset.with_options(_sharded_by_data())
    if rows is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(_batches_of(rows, batch_size, drop_remainder)))
    return dataset.prefetch(prefetch) if prefetch else dataset


def examples_dataset(
    examples: Examples,
    split: str,
    *,
    label: str | None,
    batch_size: int,
    transform: FittedTransform | None = None,
    **options: Any,
) -> tf.data.Dataset:
    """:func:`tf_dataset` over one split of an Examples artifact, reading only the columns it feeds.

    ``transform``: the fitted transform that wrote the examples; its image columns' steps then run in the
    pipeline (``image_chains`` of :func:`tf_dataset`).
    """
    from headrace.components.examples_io import list_split

    if transform is not None:
        options.setdefault("image_chains", transform.image_chains())
    files = list_split(examples, split)
    schema = files.schema
    names = _feature_names(schema, label, options.pop("features", None))
    columns = [*names, label] if label is not None else names
    _check_nulls(files, {n: tensor_dtype(n, schema.field(n).type) for n in names}, label, options.get("int_null"))
    read_rows = max(READ_ROWS, batch_size)
    return tf_dataset(
        lambda: examples.batches(split, read_rows, columns),
        label=label,
        batch_size=batch_size,
        features=names,
        schema=pa.schema([schema.field(c) for c in columns]),
        rows=files.num_rows,
        **options,
    )


# -- building blocks ---------------------------------------------------------------------------------------------


ROW_KEY = "__headrace_row__"
"""With ``augment``: each row's epoch and place in it (``epoch << 32 | row``), dropped once it seeded the batch."""


def _numbered(blocks: Iterator[Arrays], epoch: int) -> Iterator[Arrays]:
    start = epoch << 32
    for block in blocks:
        rows = _length(block)
        yield {**block, ROW_KEY: np.arange(start, start + rows, dtype=np.int64)}
        start += rows


def _image_decoder(
    chains: Mapping[str, ImageChain], labelled: bool, augment: Mapping[str, Any] | None = None, seed: int = 0
) -> Callable[..., Any]:
    """The ``map`` function that replaces each image column's bytes by the pixels its steps give.

    With ``augment``, the random layers run on the whole batch between the decode (and resize) and the
    scaling: in pixel space, where brightness and contrast have their range [0, 255] (the geometric ones give
    the same images before or after a per-channel scaling), and batched, one vectorised affine transform per
    layer rather than one per image.
    """
    from headrace.components.tensorflow.image_layers import apply_augment, apply_layers, augment_layers, image_layers

    layers = {name: image_layers(chain) for name, chain in chains.items()}
    randoms = {name: augment_layers(dict(augment), name) for name in chains} if augment else {}

    def decode(features: dict[str, Any], *label: Any) -> Any:
        features = dict(features)
        rows = features.pop(ROW_KEY, None)
        for index, (name, steps) in enumerate(layers.items()):
            pixels = steps[0](features[name])
            if rows is not None:
                batch_seed = tf.stack([tf.constant(seed + index, tf.int64), rows[0]])
                pixels = apply_augment(randoms[name], pixels, batch_seed)
            features[name] = apply_layers(steps[1:], pixels)
        return (features, *label) if labelled else features

    return decode


def _as_float(names: Sequence[str], labelled: bool) -> Callable[..., Any]:
    """The ``map`` function that casts tensor image columns without image steps to float32 pixels."""

    def cast(features: dict[str, Any], *label: Any) -> Any:
        features = {**features, **{name: tf.cast(features[name], tf.float32) for name in names}}
        return (features, *label) if labelled else features

    return cast


def _sharded_by_data() -> tf.data.Options:
    """Under MultiWorkerMirroredStrategy, each worker takes its share of every global batch (DATA sharding).

    A generator has no files to shard by, so each worker reads the whole
    stream, in the same order (it depends only on the seed and the epoch),
    and keeps its part of each batch. Reading the split once per worker
    costs little next to training (400,000+ rows/s), and every worker runs the
    same number of steps of the same global batch, which synchronised
    training needs; shares of whole RecordBatches per worker would read less
    but give workers unequal step counts, and their collectives would hang.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return options


def _shuffle_rows(shuffle: bool | int) -> int:
    if shuffle is True:
        return SHUFFLE_ROWS
    if shuffle is False:
        return 0
    if shuffle < 0:
        raise ProblemError(f"shuffle is {shuffle}; give True, False, or a buffer size in rows (0 or more)")
    return int(shuffle)


def _batches_of(rows: int, batch_size: int, drop_remainder: bool) -> int:
    return rows // batch_size if drop_remainder else -(-rows // batch_size)


def _first_schema(batches: Callable[[], Iterable[pa.RecordBatch]]) -> pa.Schema:
    iterator = iter(batches())
    try:
        first = next(iterator, None)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
    if first is None:
        raise ProblemError("the data has no RecordBatches, so its columns are unknown; pass schema=<the Arrow schema>")
    return first.schema


def _feature_names(schema: pa.Schema, label: str | None, features: Sequence[str] | None) -> list[str]:
    present = list(schema.names)
    if label is not None and label not in present:
        hint = did_you_mean(label, present)
        raise ProblemError(
            f"label {label!r} is not a column of the data; its columns are: {', '.join(present)}"
            + (f"; {hint}" if hint else "")
        )
    if features is None:
        return [name for name in present if name != label]
    unknown = [name for name in features if name not in present]
    if unknown:
        hint = did_you_mean(unknown[0], present)
        raise ProblemError(
            f"feature(s) {', '.join(repr(u) for u in unknown)} not in the data; its columns are: {', '.join(present)}"
            + (f"; {hint}" if hint else "")
        )
    if label is not None and label in features:
        raise ProblemError(f"label {label!r} is also listed as a feature; a model must not see its own label")
    return list(features)


def _class_values(label: str, arrow_type: pa.DataType, classes: Sequence[Any] | None) -> pa.Array | None:
    """``classes`` as an Arrow array of the label's value type (what ``index_in`` looks values up in), or None."""
    if classes is None:
        return None
    kind = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    try:
        return pa.array(list(classes), type=kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise ProblemError(f"label_classes do not fit the label {label!r}, a {arrow_type} column: {exc}") from None


def _class_indices(label: str, column: Any, classes: pa.Array) -> np.ndarray:
    """Each label value's position in ``classes``; a value not among them is an error naming it."""
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    index = pc.index_in(column, value_set=classes)
    if index.null_count:
        unknown = pc.unique(pc.filter(column, pc.is_null(index))).to_pylist()[:5]
        raise ProblemError(
            f"label {label!r} has value(s) {', '.join(repr(u) for u in unknown)} that are not among its classes "
            f"({', '.join(repr(c) for c in classes.to_pylist())})"
        )
    return pc.cast(index, pa.int64()).to_numpy(zero_copy_only=False)


def _blocks(
    batches: Iterable[pa.RecordBatch],
    dtypes: dict[str, str],
    label: str | None,
    label_dtype: str | None,
    int_null: Any,
    classes: pa.Array | None = None,
) -> Iterator[Arrays]:
    """Each RecordBatch as column arrays (the label's under its name); nulls encoded, a null label refused."""
    for batch in batches:
        if batch.num_rows == 0:
            continue
        present = set(batch.schema.names)
        block: Arrays = {}
        for name, dtype in dtypes.items():
            if name not in present:
                raise ProblemError(f"a RecordBatch lacks column {name!r} (it has: {', '.join(batch.schema.names)})")
            block[name] = column_array(name, batch.column(name), int_null=int_null, dtype=dtype)
        if label is not None:
            if label not in present:
                raise ProblemError(f"a RecordBatch lacks the label column {label!r}")
            target = batch.column(label)
            if target.null_count:
                raise _label_nulls(label, target.null_count, f"in a batch of {batch.num_rows} rows")
            if classes is not None:
                block[label] = _class_indices(label, target, classes)
            else:
                block[label] = column_array(label, target, int_null=None, dtype=label_dtype)
        yield block


def _label_nulls(label: str, count: int, where: str) -> ProblemError:
    return ProblemError(
        f"label {label!r} has {count} null value(s) {where}; a row without a label cannot be trained on: "
        "remove those rows from the data"
    )


def _check_nulls(files: Any, dtypes: dict[str, str], label: str | None, int_null: int | None) -> None:
    """Nulls a tensor cannot hold, found from the Parquet footers' statistics: an error now, not in ``fit``."""
    import pyarrow.parquet as pq

    from headrace.components.files import filesystem

    refused = {name for name, dtype in dtypes.items() if dtype == "bool" or (dtype == "int64" and int_null is None)}
    if label is not None:
        refused.add(label)
    counts = dict.fromkeys(refused, 0)
    for path in files.paths:
        fs, inner = filesystem(path)
        with fs.open_input_file(inner) as handle:
            metadata = pq.ParquetFile(handle).metadata
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                stats = chunk.statistics
                if chunk.path_in_schema in counts and stats is not None and stats.has_null_count:
                    counts[chunk.path_in_schema] += stats.null_count
    where = f"in split {files.name!r}"
    label_nulls = counts.pop(label, 0) if label is not None else 0
    if label is not None and label_nulls:
        raise _label_nulls(label, label_nulls, where)
    for name, count in counts.items():
        if count:
            raise null_error(name, dtypes[name], count, where)


def _length(block: Arrays) -> int:
    return len(next(iter(block.values())))


def _take(block: Arrays, index: Any) -> Arrays:
    return {name: values[index] for name, values in block.items()}


def _joined(a: Arrays | None, b: Arrays) -> Arrays:
    return b if a is None or _length(a) == 0 else {name: np.concatenate([a[name], b[name]]) for name in b}


def _shuffled(blocks: Iterator[Arrays], buffer: int, rng: np.random.Generator) -> Iterator[Arrays]:
    """Blocks with rows in random order, through a buffer of ``buffer`` rows (as ``Dataset.shuffle``, per array).

    Each incoming block joins the buffer; the joined rows are permuted; all but
    ``buffer`` of them go on, the rest stay. An output row is so drawn from the
    rows seen so far that have not gone on yet, like ``tf.data``'s shuffle.
    """
    kept: Arrays | None = None
    for block in blocks:
        joined = _joined(kept, block)
        order = rng.permutation(_length(joined))
        out = _length(joined) - buffer
        if out > 0:
            yield _take(joined, order[:out])
            kept = _take(joined, order[out:])
        else:
            kept = _take(joined, order)
    if kept is not None and _length(kept):
        yield _take(kept, rng.permutation(_length(kept)))
