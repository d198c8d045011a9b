"""The infra validator against the real ``mlflow models serve``: served or not, and never a server left running."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from headrace.components.artifacts import Examples, InfraBlessing, Model
from headrace.components.contract import ComponentError, Context
from headrace.components.pusher.infra_validator import (
    InfraValidatorComponent,
    InfraValidatorParameters,
    canary_request,
)
from tests.models import penguin_model

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Examples]:
    return penguin_model(tmp_path_factory.mktemp("penguin"))


def context(model: Model, examples: Examples | None, out: Path, **params: object) -> Context:
    return Context(
        component="infra_validator",
        inputs={"model": model, "examples": examples},
        outputs={"infra_blessing": InfraBlessing(uri=str(out))},
        params=InfraValidatorParameters.model_validate(params),
        log=logging.getLogger("tests.infra_validator"),
    )


def validate(model: Model, examples: Examples | None, out: Path, **params: object) -> InfraBlessing:
    ctx = context(model, examples, out, **params)
    InfraValidatorComponent().run(ctx)
    return ctx.outputs["infra_blessing"]  # type: ignore[return-value]


def servers_of(model_dir: str) -> list[str]:
    """Command lines of live processes serving ``model_dir`` (``mlflow models serve`` and its uvicorn)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "models serve" in command and model_dir in command:
            found.append(command)
    return found


def test_a_good_model_is_served_answers_every_canary_row_and_the_server_is_stopped(packaged, tmp_path):
    model, examples = packaged
    blessing = validate(model, examples, tmp_path / "blessing", canary_rows=7, requests=3)
    properties = blessing.properties
    assert properties["served"] is True, properties["error"]
    assert properties["canary_rows"] == 7
    assert properties["requests"] == 3
    assert properties["error"] is None
    assert 0 < properties["latency_ms_p50"] <= properties["latency_ms_max"]
    assert properties["startup_s"] > 0
    assert json.loads((tmp_path / "blessing" / "infra_blessing.json").read_text()) == {
        "served": True,
        "canary_rows": 7,
        "requests": 3,
        "error": None,
    }
    assert servers_of(model.uri) == []


def test_a_model_that_does_not_load_is_not_served_and_says_why(packaged, tmp_path):
    model, examples = packaged
    broken = tmp_path / "broken"
    shutil.copytree(model.uri, broken)
    (broken / "python_model.pkl").write_bytes(b"not a pickle")
    blessing = validate(Model(uri=str(broken)), examples, tmp_path / "blessing")
    properties = blessing.properties
    assert properties["served"] is False
    assert properties["error"].startswith("mlflow models serve exited with code 1 before answering: ")
    assert "UnpicklingError" in properties["error"] or "Error" in properties["error"].split(": ", 1)[1]
    assert properties["warnings"] == [f"not served: {properties['error']}"]
    assert json.loads((tmp_path / "blessing" / "infra_blessing.json").read_text())["served"] is False
    assert servers_of(str(broken)) == []


def test_a_server_that_does_not_answer_in_time_is_stopped_and_the_model_not_served(packaged, tmp_path):
    model, examples = packaged
    blessing = validate(model, examples, tmp_path / "blessing", startup_timeout_s=0.3)
    assert blessing.properties["served"] is False
    assert "did not answer" in blessing.properties["error"]
    assert "within 0.3 s" in blessing.properties["error"]
    assert servers_of(model.uri) == []


def test_a_directory_that_is_not_a_packaged_model_is_not_served(tmp_path, packaged):
    blessing = validate(Model(uri=str(tmp_path)), packaged[1], tmp_path / "blessing")
    assert blessing.properties["served"] is False
    assert "has no MLmodel file" in blessing.properties["error"]


def test_canary_rows_are_raw_rows_of_the_split_or_else_the_models_own_example(packaged, tmp_path):
    model, examples = packaged
    body = canary_request(context(model, examples, tmp_path, canary_rows=4), model.uri, ["island", "sex"])
    assert body["dataframe_split"]["columns"] == ["island", "sex"]
    assert len(body["dataframe_split"]["data"]) == 4
    rows = examples.to_table("eval", columns=["island", "sex"]).slice(0, 4).to_pylist()
    assert body["dataframe_split"]["data"] == [[row["island"], row["sex"]] for row in rows]  # a null as null

    own = canary_request(context(model, None, tmp_path), model.uri, ["island"])
    assert own == json.loads(Path(model.uri, "serving_input_example.json").read_text())


def test_a_split_that_does_not_exist_is_an_error_listing_the_splits(packaged, tmp_path):
    model, examples = packaged
    with pytest.raises(ComponentError, match=r"no split 'test' for canary rows \(splits: train, eval\)"):
        validate(model, examples, tmp_path / "blessing", split="test")
