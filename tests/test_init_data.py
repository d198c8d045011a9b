"""``headrace init DIR --data FILE --label COLUMN``: a pipeline for a table headrace has never seen, run as written.

Three real runs cover the formats and the label kinds that change what the model is (a string label from a CSV
outside DIR, a float label from a Parquet file inside it, a boolean label from JSON Lines); the other shapes are
checked by ``headrace validate`` on the written file and by the choices the plan makes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import yaml

from headrace.components.problems import ProblemError
from headrace.pipelines.starter_plan import plan_starter
from headrace.pipelines.starter_text import scalar
from tests.projects import cli, latest_outputs

ODD = 'rate "${x}" %'
"""A column name YAML and ${...} interpolation would both misread if it were written unquoted."""


def customers(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """A table whose label depends on its columns, with nulls, odd names, an id, a date and an empty column."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 15, rows)
    age = rng.integers(18, 80, rows).astype(float)
    plan = rng.choice(["basic", "plus", "premium"], rows)
    member = rng.random(rows) < 0.4
    score = (income - 50) / 15 + (plan == "premium") * 1.5 + member * 0.8
    frame = pd.DataFrame(
        {
            "customer id": [f"c{i:05d}" for i in range(rows)],
            "income (k$)": income,
            "age": age,
            ODD: rng.random(rows),
            "plan": plan,
            "member": pd.array(member, dtype="boolean"),
            "signup": pd.date_range("2020-01-01", periods=rows).date,
            "notes": [None] * rows,
        }
    )
    frame.loc[rng.random(rows) < 0.1, "income (k$)"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "age"] = np.nan
    frame.loc[rng.random(rows) < 0.1, "plan"] = None
    frame.loc[rng.random(rows) < 0.1, "member"] = pd.NA
    frame["will buy?"] = np.where(score > 0.3, "yes", "no")
    return frame


def init(directory: Path, data: Path, label: str, *more: str) -> tuple[int, str]:
    return cli("init", str(directory), "--data", str(data), "--label", label, *more)


def run_and_outputs(pipeline: Path) -> dict:
    code, out = cli("run", str(pipeline))
    assert code == 0, out
    assert "succeeded" in out
    return {name: outputs for name, (_, outputs) in latest_outputs(str(pipeline)).items()}


def pushed_model_of(outputs: dict):
    from headrace.components.model_package import load_model

    assert outputs["evaluator"]["blessing"].properties["blessed"] is True
    pushed = outputs["pusher"]["pushed_model"].properties
    assert pushed["pushed"] is True, pushed
    return load_model(pushed["path"])


# -- real runs ----------------------------------------------------------------------------------------------------


def test_a_csv_outside_the_folder_runs_as_written_and_its_pushed_model_takes_raw_rows(tmp_path: Path) -> None:
    data = tmp_path / "data" / "customers.csv"
    data.parent.mkdir()
    frame = customers()
    frame.to_csv(data, index=False)
    majority = frame["will buy?"].value_counts(normalize=True).max()
    project = tmp_path / "project"
    code, out = init(project, data, "will buy?")
    assert code == 0, out
    assert "classification of 'will buy?'" in out
    assert sorted(os.listdir(project)) == ["headrace.schema.json", "model.py", "pipeline.yaml"]
    text = (project / "pipeline.yaml").read_text()
    assert "source: ../data/customers.csv" in text  # referenced where it lies, relative to the pipeline file
    spec = yaml.safe_load(text)
    dropped = spec["components"]["transform"]["params"]["ops"][0]["drop"]["columns"]
    assert dropped == ["customer id", "signup", "notes"]
    assert spec["components"]["evaluator"]["params"]["thresholds"] == {"accuracy": {"min": int(majority * 100) / 100}}
    assert json.loads((project / "headrace.schema.json").read_text())["title"]

    outputs = run_and_outputs(project / "pipeline.yaml")
    model = pushed_model_of(outputs)
    assert model.info.task == "classification" and sorted(model.classes) == ["no", "yes"]
    rows = customers(4, seed=9).drop(columns=["will buy?"])
    rows.loc[0, ["income (k$)", "age", "plan", "member"]] = [np.nan, np.nan, None, pd.NA]  # every feature null
    rows.loc[1, "plan"] = "enterprise"  # a category training never saw
    assert set(model.predict(rows)) <= {"no", "yes"}
    assert np.allclose(model.predict_proba(rows).sum(axis=1), 1.0)


def test_a_parquet_regression_inside_the_folder_with_categoricals_and_decimals(tmp_path: Path) -> None:
    import decimal

    rng = np.random.default_rng(1)
    rows = 300
    size = rng.normal(100, 30, rows)
    district = rng.choice(["north", "south", "east"], rows)
    price = 2.0 * size + (district == "north") * 40 + rng.normal(0, 5, rows)
    frame = pd.DataFrame(
        {
            "size": size,
            "district": pd.Categorical(district),  # Parquet keeps it a dictionary column
            "fee": [decimal.Decimal(f"{v:.2f}") for v in rng.uniform(0, 9, rows)],
            "listed": pd.date_range("2024-01-01", periods=rows, freq="h", tz="UTC"),
            "photo": [bytes([i % 7]) for i in range(rows)],
            "price": price,
        }
    )
    frame.loc[::17, "price"] = np.nan  # rows without a label are left out of training
    frame.loc[::13, "district"] = None
    project = tmp_path / "houses"
    project.mkdir()
    frame.to_parquet(project / "houses.parquet")  # the data may sit in the folder: it is all the folder holds
    code, out = init(project, project / "houses.parquet", "price")
    assert code == 0, out
    text = (project / "pipeline.yaml").read_text()
    assert "source: houses.parquet" in text and "HistGradientBoostingRegressor" in (project / "model.py").read_text()
    spec = yaml.safe_load(text)["components"]
    assert spec["transform"]["params"]["ops"][0] == {"drop": {"columns": ["listed", "photo"]}}
    assert spec["evaluator"]["params"]["thresholds"] == {"r2": {"min": 0.0}}

    model = pushed_model_of(run_and_outputs(project / "pipeline.yaml"))
    assert model.info.task == "regression"
    evaluation = latest_outputs(str(project / "pipeline.yaml"))["evaluator"][1]["evaluation"]
    metrics = json.loads((Path(evaluation.uri) / "metrics.json").read_text())
    assert metrics["model"]["metrics"]["r2"] > 0.8
    rows = pd.DataFrame({"size": [90.0, None], "district": ["west", None], "fee": [1.5, None]})
    served = model.predict(rows.assign(listed=pd.Timestamp("2025-01-01", tz="UTC"), photo=[b"", None]))
    assert np.isfinite(served).all()


def test_jsonl_with_a_boolean_label_and_only_categorical_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rows = 300
    colour = rng.choice(["red", "green", "blue", None], rows)
    urgent = [None if i % 11 == 0 else bool(v) for i, v in enumerate(rng.random(rows) < 0.5)]
    weekday = rng.choice(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], rows)
    region = rng.choice(["n", "s", "e", "w", "c"], rows)
    records = [
        {
            "colour": c,
            "urgent": u,
            "weekday": w,
            "region": r,
            "tags": ["a"] * (i % 3),  # a list: not a feature, dropped and said why
            "late": bool(c == "red") != bool(rng.random() < 0.1),
        }
        for i, (c, u, w, r) in enumerate(zip(colour, urgent, weekday, region, strict=True))
    ]
    data = tmp_path / "orders.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    project = tmp_path / "orders"
    code, out = init(project, data, "late", "--name", "late-orders")
    assert code == 0, out
    spec = yaml.safe_load((project / "pipeline.yaml").read_text())
    assert spec["name"] == "late-orders"
    ops = [next(iter(op)) for op in spec["components"]["transform"]["params"]["ops"]]
    assert ops == ["drop", "fill_missing", "fill_missing", "compute_and_apply_vocabulary"]  # no numeric op

    model = pushed_model_of(run_and_outputs(project / "pipeline.yaml"))
    assert sorted(model.classes) == [False, True]
    rows = pd.DataFrame(
        {"colour": ["red", None], "urgent": [None, True], "weekday": ["fri", "?"], "region": ["n", None]}
    )
    assert list(model.predict(rows.assign(tags=[[], None]))) == [True, False]


# -- validate-only shapes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("columns", "label", "task", "metric"),
    [
        ({"a": "float", "b": "int", "stars": "stars"}, "stars", "classification", "accuracy"),  # few integers
        ({"a": "float", "b": "int", "count": "count"}, "count", "regression", "r2"),  # many integers
        ({"a": "float", "b": "float", "y": "float"}, "y", "regression", "r2"),  # only numeric features
        ({"s": "str", "t": "str", "y": "str"}, "y", "classification", "accuracy"),  # only categorical features
    ],
    ids=["low-cardinality-int", "high-cardinality-int", "only-numeric", "only-categorical"],
)
def test_each_shape_gets_a_valid_pipeline_of_the_right_task(tmp_path: Path, columns, label, task, metric) -> None:
    rng = np.random.default_rng(3)
    makers = {
        "float": lambda: rng.normal(size=100),
        "int": lambda: rng.integers(0, 1000, 100),
        "stars": lambda: rng.integers(1, 6, 100),
        "count": lambda: rng.integers(0, 500, 100),
        "str": lambda: rng.choice(["p", "q", "r"], 100),
    }
    data = tmp_path / "table.csv"
    pd.DataFrame({name: makers[kind]() for name, kind in columns.items()}).to_csv(data, index=False)
    code, out = init(tmp_path / "p", data, label)
    assert code == 0, out
    code, out = cli("validate", str(tmp_path / "p" / "pipeline.yaml"))
    assert code == 0, out
    params = yaml.safe_load((tmp_path / "p" / "pipeline.yaml").read_text())["components"]
    assert params["trainer"]["params"]["task"] == task
    assert list(params["evaluator"]["params"]["thresholds"]) == [metric]


def test_task_overrides_the_judgement_and_a_string_label_cannot_be_regressed(tmp_path: Path) -> None:
    data = tmp_path / "table.csv"
    pd.DataFrame({"x": np.arange(100) % 7, "y": np.arange(100) % 3, "s": ["a", "b"] * 50}).to_csv(data, index=False)
    code, out = init(tmp_path / "p", data, "y", "--task", "regression")
    assert code == 0, out
    assert "HistGradientBoostingRegressor" in (tmp_path / "p" / "model.py").read_text()
    code, out = init(tmp_path / "q", data, "s", "--task", "regression")
    assert code == 2
    assert "--task regression needs a numeric label, but 's' holds string" in out
    assert not (tmp_path / "q").exists()


# -- bad input: a clear message, nothing written ------------------------------------------------------------------


def test_a_label_naming_no_column_lists_the_columns_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "customers.csv"
    customers(30).to_csv(data, index=False)
    code, out = init(tmp_path / "p", data, "will_buy")
    assert code == 2
    assert f"{data}: error: --label 'will_buy' names no column; the columns are: 'customer id', " in out
    assert "hint: did you mean 'will buy?'?" in out and "nothing written" in out
    assert not (tmp_path / "p").exists()


def test_an_all_null_label_and_a_missing_file_write_nothing(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("a,b,y\n1,x,\n2,y,\n")
    code, out = init(tmp_path / "p", data, "y")
    assert code == 2 and "the label 'y' is null in all 2 rows read" in out
    code, out = init(tmp_path / "p", tmp_path / "nope.csv", "y")
    assert code == 2 and "nope.csv" in out and "does not exist" in out
    assert not (tmp_path / "p").exists()


def test_a_folder_in_use_is_refused_but_one_holding_only_the_data_is_not(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "data").mkdir()
    customers(30).to_csv(project / "data" / "c.csv", index=False)
    (project / "notes.txt").write_text("mine")
    code, out = init(project, project / "data" / "c.csv", "will buy?")
    assert code != 0 and "is not empty (notes.txt)" in out
    assert sorted(os.listdir(project)) == ["data", "notes.txt"]
    (project / "notes.txt").unlink()
    code, out = init(project, project / "data" / "c.csv", "will buy?")
    assert code == 0, out
    assert "source: data/c.csv" in (project / "pipeline.yaml").read_text()
    code, out = cli("init", str(project))  # the sample starter still refuses to overwrite
    assert code != 0 and "already exist" in out


# -- the choices --------------------------------------------------------------------------------------------------


def table(**columns) -> pa.Table:
    return pa.table(columns)


def test_the_plan_sorts_columns_by_kind_and_says_why_it_leaves_some_out() -> None:
    import datetime

    ids = [f"id{i}" for i in range(40)]
    plan = plan_starter(
        table(
            y=["a", "b"] * 20,
            n=list(range(40)),
            f=[0.5] * 40,
            s=["u", "v", None, "w"] * 10,
            b=[True, None] * 20,
            id=ids,
            d=[datetime.date(2024, 1, 1)] * 40,
            empty=pa.nulls(40, pa.string()),
        ),
        "y",
        None,
        "t.csv",
    )
    assert (plan.numeric, plan.strings, plan.booleans) == (["n", "f"], ["s"], ["b"])
    assert list(plan.dropped) == ["id", "d", "empty"]
    assert "an id or free text" in plan.dropped["id"] and "date32" in plan.dropped["d"]
    assert plan.dropped["empty"] == "null in all 40 rows read"
    assert (plan.task, plan.metric, plan.minimum) == ("classification", "accuracy", 0.5)


def test_the_task_is_the_trainers_judgement_of_the_label() -> None:
    from headrace.components.trainer.task import MAX_CLASSES

    x = list(range(60))
    few = plan_starter(table(x=x, y=[i % 3 for i in x]), "y", None, "t.csv")
    assert few.task == "classification" and "3 distinct values" in few.task_reason
    many = plan_starter(table(x=x, y=x), "y", None, "t.csv")
    assert many.task == "regression" and f"more than {MAX_CLASSES}" in many.task_reason
    assert plan_starter(table(x=x, y=[i % 2 == 0 for i in x]), "y", None, "t.csv").task == "classification"
    regression = plan_starter(table(x=x, y=[i / 7 for i in x]), "y", None, "t.csv")
    assert (regression.task, regression.metric, regression.minimum) == ("regression", "r2", 0.0)


def test_the_accuracy_bar_is_the_majority_share_rounded_down() -> None:
    plan = plan_starter(table(x=list(range(30)), y=["a"] * 20 + ["b"] * 10), "y", None, "t.csv")
    assert plan.minimum == 0.66  # 20 of 30 = 0.666...
    assert "'a', 67% of the labels read" in plan.baseline_note


@pytest.mark.parametrize(
    ("columns", "label", "task", "message"),
    [
        ({"x": [1, 2], "y": ["k", "k"]}, "y", None, "has one value ('k')"),
        ({"y": [1.0, 2.0], "d": pa.nulls(2, pa.string())}, "y", None, "no column besides the label 'y'"),
        ({"x": [1, 2], "y": [[1], [2]]}, "y", None, "holds list<item: int64>, which is neither classes"),
        ({"x": [1, 2], "y": [True, False]}, "y", "regression", "--task regression needs a numeric label"),
    ],
    ids=["one-class", "no-features", "list-label", "regression-of-booleans"],
)
def test_labels_that_cannot_make_a_model_are_errors_naming_the_file(columns, label, task, message) -> None:
    with pytest.raises(ProblemError, match=r"^t\.csv: error: ") as raised:
        plan_starter(table(**columns), label, task, "t.csv")
    assert message in str(raised.value)


@pytest.mark.parametrize("name", ["plain", "with space", "true", "1.5", "a: b", "${x}", 'q"uote', "-dash", "é"])
def test_names_are_written_so_the_pipeline_reads_them_back(name: str) -> None:
    from headrace.pipelines.interpolation import interpolate

    for document in (f"k: {scalar(name)}", f"k: [{scalar(name)}]"):
        resolved = interpolate(yaml.safe_load(document), {}, {}).resolved["k"]
        assert (resolved if isinstance(resolved, str) else resolved[0]) == name
