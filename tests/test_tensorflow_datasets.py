"""tf.data from an Examples split: what a Keras user feeds to ``model.fit``.

What a user relies on: every row arrives once, in batches of the size asked
for, as tensors of the Arrow columns' types, nulls encoded as documented; the
shuffled order is random but repeatable from the seed; mistakes (a label
that is not a column, a null integer, a null label) fail with the column and
the fix.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

tf = pytest.importorskip("tensorflow", reason="the TensorFlow path needs the extra: pip install 'headrace[tensorflow]'")

from headrace.components.artifacts import Examples  # noqa: E402
from headrace.components.problems import ProblemError  # noqa: E402
from headrace.components.tensorflow.datasets import examples_dataset, tf_dataset  # noqa: E402
from headrace.components.tensorflow.tensors import INT_NULL  # noqa: E402
from tests.examples_files import penguin_examples  # noqa: E402


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> Examples:
    return penguin_examples(tmp_path_factory.mktemp("penguins") / "examples")


def rows_of(dataset) -> tuple[dict[str, list], list]:
    """All batches of a (features, label) dataset, joined: column -> values, and the labels."""
    features: dict[str, list] = {}
    labels: list = []
    for batch_features, batch_labels in dataset.as_numpy_iterator():
        for name, values in batch_features.items():
            features.setdefault(name, []).extend(values.tolist())
        labels.extend(batch_labels.tolist())
    return features, labels


def test_a_split_streams_as_typed_batches_with_nulls_encoded(penguins):
    dataset = examples_dataset(penguins, "eval", label="year", batch_size=32, int_null=INT_NULL)
    features, label = dataset.element_spec
    assert {n: s.dtype.name for n, s in features.items()} == {
        "species": "string",
        "island": "string",
        "bill_length_mm": "float32",
        "bill_depth_mm": "float32",
        "flipper_length_mm": "int64",
        "body_mass_g": "int64",
        "sex": "string",
    }
    assert label.dtype == tf.int64
    sizes = [len(y) for _, y in dataset.as_numpy_iterator()]
    table = penguins.to_table("eval")
    assert sizes == [32, 32, 22] and dataset.cardinality() == 3  # the last batch has the rest; Keras knows the length
    got, years = rows_of(dataset)
    assert years == table["year"].to_pylist()
    assert got["island"][-2:] == [b"Anvers", b""]  # an unseen value as is; a null string is ""
    assert np.isnan(got["bill_length_mm"][-2]) and got["bill_depth_mm"][-2] == 18.0  # a null float is NaN
    assert got["body_mass_g"][-2:] == [INT_NULL, 4000]  # a null integer is int_null
    assert np.allclose(got["bill_length_mm"], table["bill_length_mm"].to_numpy(), equal_nan=True)


def test_shuffling_is_random_repeatable_and_loses_no_row(penguins):
    def years(seed: int, epochs: int = 1) -> list[list]:
        dataset = examples_dataset(
            penguins,
            "train",
            label="species",
            features=["body_mass_g"],
            batch_size=50,
            shuffle=64,
            seed=seed,
            int_null=INT_NULL,
        )
        out = []
        for _ in range(epochs):
            out.append([m for f, _ in dataset.as_numpy_iterator() for m in f["body_mass_g"].tolist()])
        return out

    first, second = years(1, epochs=2)
    in_order = penguins.to_table("train")["body_mass_g"].fill_null(INT_NULL).to_pylist()
    assert sorted(first) == sorted(in_order) and first != in_order
    assert first != second  # each epoch has its own order
    assert years(1, epochs=2) == [first, second]  # the same seed gives the same orders
    assert years(2)[0] != first


def test_a_label_that_is_not_a_column_names_the_columns(penguins):
    with pytest.raises(ProblemError, match=r"label 'specie' is not a column.*island.*did you mean 'species'"):
        examples_dataset(penguins, "train", label="specie", batch_size=8)


def test_a_null_integer_needs_int_null_and_a_null_label_is_refused(penguins):
    # found in the Parquet footers when the dataset is made, not an epoch into training
    with pytest.raises(
        ProblemError, match=r"column 'flipper_length_mm' has 2 null value\(s\) in split 'eval'.*int_null"
    ):
        examples_dataset(penguins, "eval", label="year", features=["flipper_length_mm"], batch_size=8)
    with pytest.raises(ProblemError, match=r"label 'species' has 1 null value\(s\) in split 'eval'.*remove those rows"):
        examples_dataset(penguins, "eval", label="species", features=["year"], batch_size=8)
    # and in any RecordBatches, when they arrive
    table = penguins.to_table("eval")
    dataset = tf_dataset(lambda: table.to_batches(), label="year", features=["flipper_length_mm"], batch_size=8)
    with pytest.raises(Exception, match=r"column 'flipper_length_mm' has 2 null value\(s\) in a batch.*fill_missing"):
        list(dataset.as_numpy_iterator())


def test_label_classes_give_the_label_as_its_index_and_refuse_a_value_not_among_them(penguins):
    classes = ["Adelie", "Chinstrap", "Gentoo"]
    dataset = examples_dataset(
        penguins, "train", label="species", features=["year"], batch_size=64, label_classes=classes
    )
    assert dataset.element_spec[1].dtype == tf.int64
    _, indices = rows_of(dataset)
    assert [classes[i] for i in indices] == penguins.to_table("train")["species"].to_pylist()
    dataset = examples_dataset(
        penguins, "train", label="species", features=["year"], batch_size=64, label_classes=["Adelie", "Chinstrap"]
    )
    with pytest.raises(Exception, match=r"label 'species' has value\(s\) 'Gentoo' that are not among its classes"):
        list(dataset.as_numpy_iterator())


def test_any_record_batches_feed_keras(tmp_path: Path):
    keras = pytest.importorskip("keras")
    table = pa.table({"x": np.linspace(-1, 1, 1000), "flag": [i % 3 == 0 for i in range(1000)]})
    table = table.append_column("y", pa.array((table["x"].to_numpy() > 0).astype(np.int64)))
    dataset = tf_dataset(
        lambda: table.to_batches(max_chunksize=300), label="y", batch_size=100, shuffle=True, rows=table.num_rows
    )
    assert dataset.element_spec[0]["flag"].dtype == tf.bool
    x = keras.Input(shape=(), dtype="float32", name="x")
    flag = keras.Input(shape=(), dtype="bool", name="flag")
    model = keras.Model(
        {"x": x, "flag": flag}, keras.layers.Dense(1, activation="sigmoid")(keras.ops.expand_dims(x, 1))
    )
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(dataset, epochs=3, shuffle=False, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
