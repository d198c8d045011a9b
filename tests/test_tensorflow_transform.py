"""A fitted TransformGraph as Keras layers: the same features as the transform, and a SavedModel that takes raw rows.

What a user relies on: the Keras model's outputs are ``FittedTransform.transform``'s
(nulls, an unseen island and all), op by op; a transform that has no exact
Keras form is refused naming the op; and a Keras model behind the layers,
exported as a SavedModel and loaded with ``tf.saved_model.load``, answers raw
rows through ``serving_default`` with the predictions it gives on the
transform's own output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

tf = pytest.importorskip("tensorflow", reason="the TensorFlow path needs the extra: pip install 'headrace[tensorflow]'")
keras = pytest.importorskip("keras", reason="the TensorFlow path needs the extra: pip install 'headrace[tensorflow]'")

from headrace.components import TransformGraph  # noqa: E402
from headrace.components.artifacts import Examples  # noqa: E402
from headrace.components.tensorflow.datasets import examples_dataset  # noqa: E402
from headrace.components.tensorflow.tensors import INT_NULL, column_array  # noqa: E402
from headrace.components.tensorflow.transform_layers import (  # noqa: E402
    NotExpressibleInKeras,
    raw_features,
    transform_model,
)
from headrace.components.transform.graph import FittedTransform  # noqa: E402
from headrace.components.transform.run import run_transform  # noqa: E402
from headrace.components.transform.spec import TransformParameters  # noqa: E402
from tests.examples_files import penguin_examples, write_examples  # noqa: E402

MEASUREMENTS = {"type": "numeric", "pattern": "_(mm|g)$"}
PENGUIN_OPS = [
    {"fill_missing": {"select": MEASUREMENTS, "strategy": "mean"}},
    {"scale_to_z_score": {"select": MEASUREMENTS}},
    {"compute_and_apply_vocabulary": {"select": {"type": "categorical", "exclude": ["species"]}}},
]
EVERY_OTHER_OP = [
    {"fill_missing": {"columns": ["bill_depth_mm"], "strategy": "median", "suffix": "_median"}},
    {"scale_to_0_1": {"columns": ["bill_length_mm"], "suffix": "_01"}},
    {"bucketize": {"columns": ["flipper_length_mm"], "num_buckets": 4, "suffix": "_bucket"}},
    {"log1p": {"columns": ["body_mass_g"], "suffix": "_log"}},
    {"clip": {"columns": ["body_mass_g"], "min": 3000, "max": 5000}},  # integers stay integers
    {"clip": {"columns": ["bill_length_mm"], "max": 45.5, "suffix": "_clipped"}},
    {"cross": {"columns": ["island", "sex", "year"]}},
    {"fill_missing": {"columns": ["sex"], "strategy": "mode", "suffix": "_mode"}},
    {"fill_missing": {"columns": ["island"], "strategy": "constant", "value": "nowhere", "suffix": "_filled"}},
    {"fill_missing": {"columns": ["flipper_length_mm"], "strategy": "constant", "value": 0, "suffix": "_0"}},
    {"vocabulary": {"columns": ["species"]}},
    {"compute_and_apply_vocabulary": {"columns": ["sex"], "num_oov_buckets": 0, "default_value": -7, "suffix": "_i"}},
    {"compute_and_apply_vocabulary": {"columns": ["island_filled"]}},
    {"one_hot": {"columns": ["island"], "top_k": 2}},
    {"drop": {"columns": ["bill_depth_mm"]}},
    {"rename": {"columns": {"body_mass_g_log": "log_mass"}}},
]


@pytest.fixture(scope="module")
def penguins(tmp_path_factory: pytest.TempPathFactory) -> Examples:
    return penguin_examples(tmp_path_factory.mktemp("penguins") / "examples")


def fit(examples: Examples, out: Path, ops: list[dict], **params) -> tuple[FittedTransform, Examples]:
    """The transform component's work, in process: the fitted graph (loaded back from its file) and its examples."""
    transformed = Examples(uri=str(out / "examples"))
    parameters = TransformParameters.model_validate({"ops": ops, "engine": "in_process", **params})
    run_transform(examples, None, parameters, transformed=transformed, graph_uri=str(out / "graph"))
    return TransformGraph.load(str(out / "graph")), transformed


def assert_same_features(got: dict, want: pa.Table, absent: tuple[str, ...] = ()) -> None:
    """``got`` (tensors) holds ``want``'s columns, encoded as the signature does; floats to float32 rounding."""
    assert sorted(got) == sorted(n for n in want.column_names if n not in absent)
    for name in got:
        expected = column_array(name, want[name], int_null=INT_NULL)
        actual = np.asarray(got[name])
        assert actual.dtype == expected.dtype, name
        if expected.dtype.kind == "f":
            np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=0, equal_nan=True, err_msg=name)
        else:
            assert actual.tolist() == expected.tolist(), name


def test_the_penguin_transform_as_keras_layers(penguins, tmp_path):
    fitted, _ = fit(penguins, tmp_path, PENGUIN_OPS)
    model = transform_model(fitted, exclude=["species"])
    assert sorted(model.input) == sorted(n for n in fitted.input_schema.names if n != "species")
    rows = penguins.to_table("eval")  # ends with an unseen island and a row of nulls
    got = model(raw_features(model, rows))
    want = fitted.transform(rows)
    assert_same_features(got, want, absent=("species",))
    island = got["island"].numpy()
    assert island[-2] == 3 and island[-1] == INT_NULL  # 3 islands: unseen -> the OOV index 3; null stays null
    assert any(isinstance(layer, keras.layers.Normalization) for layer in model.layers)
    assert any(isinstance(layer, keras.layers.StringLookup) for layer in model.layers)


def test_every_op_gives_the_transform_values(penguins, tmp_path):
    fitted, _ = fit(penguins, tmp_path, EVERY_OTHER_OP)
    model = transform_model(fitted)
    rows = penguins.to_table("eval")
    want = fitted.transform(rows)
    got = {k: v.numpy() for k, v in model(raw_features(model, rows)).items()}
    assert_same_features(got, want)
    # the rows that matter, spelled out: the unseen island and the row of nulls
    assert got["island_x_sex_x_year"][-2:].tolist() == [b"", b""]  # a null part makes the cross null
    assert got["flipper_length_mm_bucket"][-1] == INT_NULL
    assert got["island_OOV"][-2:].tolist() == [1, 0]  # unseen is out of the vocabulary; null is neither
    assert got["sex_i"][-2:].tolist() == [INT_NULL, 0]  # num_oov_buckets 0: unseen would be -7; null stays null
    assert got["body_mass_g"][-2] == 3000  # Arrow's clip makes a null the lower bound
    assert {"Discretization", "CategoryEncoding", "StringLookup"} <= {type(x).__name__ for x in model.layers}


def test_the_layers_save_and_load_as_a_keras_file_bit_for_bit(penguins, tmp_path):
    fitted, _ = fit(penguins, tmp_path, [*PENGUIN_OPS, *EVERY_OTHER_OP[:4]])
    model = transform_model(fitted)
    rows = penguins.to_table("eval")
    path = tmp_path / "transform.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # the layers are registered when headrace.components.tensorflow loads
    before, after = model(raw_features(model, rows)), loaded(raw_features(loaded, rows))
    for name in before:
        np.testing.assert_array_equal(after[name].numpy(), before[name].numpy(), err_msg=name)


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([{"hash_bucket": {"columns": ["island"], "num_buckets": 8}}], r"ops\[0\]: hash_bucket over column 'island'"),
        ([{"cross": {"columns": ["island", "sex"], "num_buckets": 8}}], r"ops\[0\]: cross cannot .* HashedCrossing"),
        (
            [{"compute_and_apply_vocabulary": {"columns": ["island"], "num_oov_buckets": 3}}],
            r"compute_and_apply_vocabulary over column 'island' .* num_oov_buckets 3",
        ),
        ([{"cross": {"columns": ["island", "bill_length_mm"]}}], r"cross over column 'bill_length_mm' .* double"),
    ],
)
def test_ops_without_an_exact_keras_form_are_refused_naming_the_op(penguins, tmp_path, ops, expected):
    fitted, _ = fit(penguins, tmp_path, ops)
    with pytest.raises(NotExpressibleInKeras, match=expected) as caught:
        transform_model(fitted)
    assert "the MLflow model, which applies the TransformGraph itself, still serves" in str(caught.value)


def test_a_preprocessing_fn_is_refused(penguins, tmp_path):
    module = tmp_path / "prep.py"
    module.write_text("def preprocessing_fn(inputs, tx):\n    return {'year': inputs['year']}\n")
    fitted, _ = fit(penguins, tmp_path, [], module=str(module))
    with pytest.raises(
        NotExpressibleInKeras, match=r"runs preprocessing_fn 'preprocessing_fn'.*no Keras form.*still serves"
    ):
        transform_model(fitted)


def test_outputs_of_an_excluded_column_are_left_out(penguins, tmp_path):
    ops = [{"compute_and_apply_vocabulary": {"columns": ["species", "island"]}}]
    fitted, _ = fit(penguins, tmp_path, ops)
    model = transform_model(fitted, exclude=["species"])
    assert "species" not in model.input and "species" not in model.output
    with pytest.raises(ValueError, match=r"exclude names 'label'.*species, island"):
        transform_model(fitted, exclude=["label"])


def test_a_column_name_a_signature_cannot_carry_is_an_error(tmp_path):
    table = pa.table({"bill length": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    examples = write_examples(tmp_path / "odd", {"train": [table]})
    fitted, _ = fit(examples, tmp_path / "out", [{"scale_to_z_score": {"columns": ["bill length"]}}])
    with pytest.raises(NotExpressibleInKeras, match=r"raw column 'bill length' cannot name a tensor.*rename"):
        transform_model(fitted)


def test_a_keras_model_behind_the_layers_serves_raw_rows_as_a_saved_model(penguins, tmp_path):
    ops = [
        {"fill_missing": {"select": MEASUREMENTS, "strategy": "mean"}},
        {"scale_to_z_score": {"select": MEASUREMENTS}},
        {"fill_missing": {"columns": ["island", "sex"], "strategy": "constant", "value": "unknown"}},
        {"compute_and_apply_vocabulary": {"columns": ["island", "sex"]}},
        {"compute_and_apply_vocabulary": {"columns": ["species"], "suffix": "_index"}},
    ]
    fitted, transformed = fit(penguins, tmp_path, ops)
    numbers = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    features = [*numbers, "island", "sex"]

    # the model a user trains on the transformed examples, fed by tf.data
    inputs = {n: keras.Input(shape=(), dtype="float32" if n in numbers else "int64", name=n) for n in features}
    x = keras.ops.concatenate(
        [keras.ops.stack([inputs[n] for n in numbers], axis=1)]
        + [keras.layers.CategoryEncoding(num_tokens=6, output_mode="one_hot")(inputs[n]) for n in ("island", "sex")],
        axis=1,
    )
    head = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))
    head.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    keras.utils.set_random_seed(0)
    train = examples_dataset(transformed, "train", label="species_index", features=features, batch_size=32)
    head.fit(train, epochs=2, shuffle=False, verbose=0)

    # served: the transform's layers in front of it, one SavedModel that takes raw rows
    transform = transform_model(fitted, exclude=["species"])
    outputs = transform(transform.input)
    served = keras.Model(transform.input, head({n: outputs[n] for n in features}))
    served.export(str(tmp_path / "saved" / "1"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "saved" / "1"))
    signature = loaded.signatures["serving_default"]
    spec = signature.structured_input_signature[1]
    assert {n: s.dtype.name for n, s in spec.items()} == {
        "island": "string",
        "bill_length_mm": "float64",
        "bill_depth_mm": "float64",
        "flipper_length_mm": "int64",
        "body_mass_g": "int64",
        "sex": "string",
        "year": "int64",
    }

    rows = penguins.to_table("eval")  # an unseen island and a row of nulls at the end
    answer = signature(**{n: tf.constant(v) for n, v in raw_features(transform, rows).items()})
    (probabilities,) = answer.values()
    on_transformed = fitted.transform(rows)  # the transform reads the label too; the SavedModel does not
    expected = head.predict({n: column_array(n, on_transformed[n], int_null=None) for n in features}, verbose=0)
    assert probabilities.shape == (rows.num_rows, 4)
    np.testing.assert_allclose(probabilities.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_booleans_and_integers_with_nulls(tmp_path):
    table = pa.table(
        {
            "flag": [True, False, True, True, False, True],
            "n": pa.array([3, None, 7, -1, 12, 5], pa.int64()),
            "tag": ["a", "b", None, "a", "c", "a"],
        }
    )
    serving = pa.table(
        {
            "flag": [False, True, True],
            "n": pa.array([None, 100, -5], pa.int64()),
            "tag": ["z", None, "b"],  # unseen, null, seen
        }
    )
    examples = write_examples(tmp_path / "mixed", {"train": [table]})
    ops = [
        {"compute_and_apply_vocabulary": {"columns": ["flag"], "suffix": "_index"}},
        {"one_hot": {"columns": ["flag"]}},
        {"cross": {"columns": ["tag", "n"], "output": "tag_n"}},
        {"clip": {"columns": ["n"], "min": 0, "suffix": "_low"}},
        {"clip": {"columns": ["n"], "max": 10, "suffix": "_high"}},
        {"fill_missing": {"columns": ["n"], "strategy": "mean", "suffix": "_mean"}},
        {"fill_missing": {"columns": ["tag"], "strategy": "mode", "suffix": "_mode"}},
        {"scale_to_z_score": {"columns": ["n"]}},
    ]
    fitted, _ = fit(examples, tmp_path / "out", ops)
    model = transform_model(fitted)
    for rows in (table, serving):
        assert_same_features(model(raw_features(model, rows)), fitted.transform(rows))
