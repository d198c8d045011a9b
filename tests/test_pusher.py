"""The pusher on real packaged models: versioned serving directories, declines that say why, the MLflow registry."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from headrace.components.artifacts import InfraBlessing, Model, ModelBlessing, PushedModel
from headrace.components.contract import ComponentError, Context
from headrace.components.pusher.component import PusherComponent, PusherParameters
from headrace.components.pusher.saved_model import default_model_name
from headrace.components.pusher.versions import place, tree_digest
from tests.models import REPO, fit_and_save, fit_transform, penguin_examples


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Model, Model]:
    """Two different packaged penguin models (another C), made once for the module."""
    folder = tmp_path_factory.mktemp("models")
    raw = penguin_examples(folder / "raw")
    transformed, graph = fit_transform(raw, folder / "transform")
    models = []
    for i, c in enumerate((1.0, 0.05)):
        path = str(folder / f"model-{i}")
        fit_and_save(path, transformed, graph.uri, raw, label="species", C=c)
        models.append(Model(uri=path, id=11 + i))
    return models[0], models[1]


def blessing(blessed: object = True, **properties: object) -> ModelBlessing:
    return ModelBlessing(uri="unused", properties={"blessed": blessed, **properties}, id=21)


def push(
    tmp_path: Path,
    model: Model,
    verdict: ModelBlessing,
    infra: InfraBlessing | None = None,
    tracking_uri: str = "",
    by_hand: ModelBlessing | None = None,
    **params: object,
) -> PushedModel:
    params.setdefault("push_dir", str(tmp_path / "serving"))
    out = tmp_path / f"pushed-{len(list(tmp_path.glob('pushed-*')))}"
    ctx = Context(
        component="pusher",
        inputs={"model": model, "blessing": verdict, "infra_blessing": infra},
        outputs={"pushed_model": PushedModel(uri=str(out))},
        params=PusherParameters.model_validate(params),
        log=logging.getLogger("tests.pusher"),
        run_id="20261130-000000-abcd",
        execution_id=7,
        pipeline="penguin",
        mlflow_tracking_uri=tracking_uri,
        blessed_by_hand=by_hand,
    )
    PusherComponent().run(ctx)
    return ctx.outputs["pushed_model"]  # type: ignore[return-value]


def version_dirs(push_dir: Path) -> list[str]:
    return sorted(os.listdir(push_dir))


def digest(path: str) -> str:
    from pyarrow.fs import LocalFileSystem

    return tree_digest(LocalFileSystem(), path)


def test_a_blessed_model_is_copied_to_the_next_version_and_the_same_content_is_not_pushed_twice(models, tmp_path):
    first, second = models
    serving = tmp_path / "serving"

    pushed = push(tmp_path, first, blessing())
    assert pushed.properties["pushed"] is True
    assert pushed.properties["version"] == 1
    assert pushed.properties["path"] == str(serving / "1")
    assert pushed.properties["model_artifact_id"] == 11
    assert digest(str(serving / "1")) == digest(first.uri)  # the MLflow model, file for file
    assert json.loads(Path(pushed.uri, "pushed_model.json").read_text())["version"] == 1

    (serving / "1" / "registered_model_meta").write_text("model_name: penguin\n")  # loading models:/ writes it
    again = push(tmp_path, first, blessing())  # a re-run with --no-cache: idempotent
    assert again.properties["pushed"] is True
    assert again.properties["version"] == 1
    assert "already holds this model" in again.properties["reason"]
    assert version_dirs(serving) == ["1"]

    assert push(tmp_path, second, blessing()).properties["version"] == 2
    rollback = push(tmp_path, first, blessing())  # an older model pushed again becomes the newest
    assert rollback.properties["version"] == 3
    assert version_dirs(serving) == ["1", "2", "3"]  # no staging folder left behind


def test_versions_continue_after_the_highest_number_and_ignore_other_entries(models, tmp_path):
    serving = tmp_path / "serving"
    (serving / "7").mkdir(parents=True)
    (serving / "7" / "model.txt").write_text("an older model pushed by hand")
    (serving / "notes").mkdir()
    (serving / "README").write_text("not a version")
    assert push(tmp_path, models[0], blessing()).properties["version"] == 8


@pytest.mark.parametrize("verdict", [False, None, "yes"])
def test_a_model_that_is_not_blessed_is_not_pushed_and_the_output_says_why(models, tmp_path, verdict):
    pushed = push(tmp_path, models[0], blessing(verdict))
    assert pushed.properties["pushed"] is False
    reason = pushed.properties["reason"]
    assert reason == f"the model is not blessed (ModelBlessing #21 says blessed: {json.dumps(verdict)})"
    assert pushed.properties["warnings"] == [f"not pushed: {reason}"]  # repeated under the run's summary
    assert not (tmp_path / "serving").exists()


def test_the_reason_is_the_evaluators_own_words_when_it_gives_them(models, tmp_path):
    said = blessing(False, summary="NOT blessed: 1 of 1 threshold(s) fail (accuracy)")
    assert push(tmp_path, models[0], said).properties["reason"] == (
        "the model is not blessed (ModelBlessing #21): 1 of 1 threshold(s) fail (accuracy)"
    )
    said.properties["warnings"] = ["NOT blessed: accuracy 0.7125 < min 0.9"]
    assert push(tmp_path, models[0], said).properties["reason"] == (
        "the model is not blessed (ModelBlessing #21): accuracy 0.7125 < min 0.9"
    )


def test_a_blessed_model_that_failed_infra_validation_is_not_pushed(models, tmp_path):
    infra = InfraBlessing(uri="unused", properties={"served": False, "error": "ValueError: bad pickle"}, id=22)
    pushed = push(tmp_path, models[0], blessing(), infra)
    assert pushed.properties["pushed"] is False
    assert pushed.properties["reason"] == (
        "the model failed infra validation (InfraBlessing #22: not served): ValueError: bad pickle"
    )
    served = InfraBlessing(uri="unused", properties={"served": True}, id=23)
    assert push(tmp_path, models[0], blessing(), served).properties["pushed"] is True


def hand_blessing() -> ModelBlessing:
    """What ``headrace bless`` records, as the runner hands it to the pusher."""
    said = {"blessed": True, "forced": True, "by": "alice", "reason": "eval labels fixed upstream"}
    return ModelBlessing(uri="unused", properties=said, id=31)


def test_a_model_blessed_by_hand_is_pushed_and_registered_saying_who_and_why(models, tmp_path):
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    pushed = push(tmp_path, models[0], blessing(False), tracking_uri=uri, by_hand=hand_blessing())
    assert pushed.properties["pushed"] is True and pushed.properties["version"] == 1
    assert pushed.properties["reason"] == "blessed by hand by alice: eval labels fixed upstream"
    assert pushed.properties["blessed_by_hand"] == {
        "by": "alice",
        "reason": "eval labels fixed upstream",
        "blessing_id": 31,
    }
    assert "; blessed by hand by alice: eval labels fixed upstream (ModelBlessing #31)" in pushed.properties["summary"]
    champion = MlflowClient(tracking_uri=uri, registry_uri=uri).get_model_version_by_alias("penguin", "champion")
    assert champion.tags["headrace.blessed_by_hand"] == "blessed by hand by alice: eval labels fixed upstream"
    assert "The evaluator did not bless it: blessed by hand by alice" in champion.description


def test_a_hand_blessing_does_not_excuse_a_failed_infra_validation_nor_matter_once_the_evaluator_blessed(
    models, tmp_path
):
    infra = InfraBlessing(uri="unused", properties={"served": False, "error": "ValueError: bad pickle"}, id=22)
    declined = push(tmp_path, models[0], blessing(False), infra, by_hand=hand_blessing())
    assert declined.properties["pushed"] is False
    assert declined.properties["reason"].startswith("the model failed infra validation (InfraBlessing #22")

    pushed = push(tmp_path, models[0], blessing(), by_hand=hand_blessing())  # pushed on the evaluator's own verdict
    assert pushed.properties["reason"] == "blessed" and "blessed_by_hand" not in pushed.properties


def test_a_push_dir_that_cannot_be_written_is_an_error_naming_it_and_the_fix(models, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(ComponentError) as caught:
        push(tmp_path, models[0], blessing(), push_dir=str(blocker / "serving"))
    message = str(caught.value)
    assert message.startswith(f"components.pusher.params.push_dir: cannot push to {blocker / 'serving'}: ")
    assert "set push_dir to a folder" in message


def test_a_push_dir_without_write_permission_is_an_error_saying_how_to_fix_it(models, tmp_path):
    if os.geteuid() == 0:  # root writes into read-only folders, but not into sysfs
        serving = Path("/sys/headrace-serving")
    else:
        (tmp_path / "locked").mkdir(mode=0o500)
        serving = tmp_path / "locked" / "serving"
    with pytest.raises(ComponentError) as caught:
        push(tmp_path, models[0], blessing(), push_dir=str(serving))
    message = str(caught.value)
    assert f"cannot push to {serving}: " in message
    assert "make it writable by this user (e.g. chmod u+w, or chown it), or set push_dir to a folder" in message


def test_pushed_models_are_registered_with_an_alias_and_a_link_back_to_the_run(models, tmp_path):
    from mlflow import MlflowClient

    first, second = models
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    pushed = push(tmp_path, first, blessing(), tracking_uri=uri)
    assert pushed.properties["registered_model"] == "penguin"
    assert pushed.properties["registered_version"] == 1
    assert pushed.properties["alias"] == "champion"
    champion = client.get_model_version_by_alias("penguin", "champion")
    assert champion.source == str(tmp_path / "serving" / "1")
    assert "run `20261130-000000-abcd`" in champion.description
    assert "Model #11" in champion.description
    assert champion.tags["headrace.run_id"] == "20261130-000000-abcd"
    assert champion.tags["headrace.model_artifact_id"] == "11"

    push(tmp_path, first, blessing(), tracking_uri=uri)  # again: no second registered version
    assert len(client.search_model_versions("name = 'penguin'")) == 1

    newer = push(tmp_path, second, blessing(), tracking_uri=uri, alias="production", registered_model_name="birds")
    assert newer.properties["registered_version"] == 1
    assert client.get_model_version_by_alias("birds", "production").source == str(tmp_path / "serving" / "2")
    assert int(client.get_model_version_by_alias("penguin", "champion").version) == 1


def test_without_a_tracking_store_nothing_is_registered(models, tmp_path):
    pushed = push(tmp_path, models[0], blessing())
    assert pushed.properties["pushed"] is True
    assert "registered_model" not in pushed.properties


def test_push_dir_may_be_a_uri(models, tmp_path):
    first, second = models
    uri = f"file://{tmp_path}/remote-serving"
    pushed = push(tmp_path, first, blessing(), push_dir=uri)
    assert pushed.properties["path"] == f"{uri}/1"
    assert digest(str(tmp_path / "remote-serving" / "1")) == digest(first.uri)
    assert push(tmp_path, first, blessing(), push_dir=uri).properties["version"] == 1
    assert push(tmp_path, second, blessing(), push_dir=uri).properties["path"] == f"{uri}/2"
    assert version_dirs(tmp_path / "remote-serving") == ["1", "2"]


# -- the SavedModel for TF Serving (a Keras model's; tests/test_penguin_keras.py pushes one) -------------------------


def test_a_scikit_learn_model_gets_no_saved_model_and_the_pusher_never_imports_tensorflow(models, tmp_path):
    script = f"""
import sys
from pathlib import Path
from headrace.components.artifacts import Model
from tests.test_pusher import blessing, push
pushed = push(Path({str(tmp_path)!r}), Model(uri={models[0].uri!r}, id=11), blessing())
assert pushed.properties["pushed"] is True and "saved_model" not in pushed.properties, pushed.properties
print(pushed.properties["model_name"], sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras")))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "penguin []"  # the pipeline's name, for `headrace serve`; TensorFlow untouched
    assert version_dirs(tmp_path / "serving") == ["1"]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("42", "'42' is a number: the folder would be taken for a version of the MLflow model; e.g. model_42"),
        ("penguin model", "'penguin model' is not a TF Serving model name: use letters, digits and _ . -"),
        (".hidden", "'.hidden' is not a TF Serving model name"),
    ],
)
def test_a_model_name_tf_serving_cannot_take_is_refused_when_the_pipeline_is_validated(name, problem):
    with pytest.raises(ValidationError, match=re.escape(problem)):
        PusherParameters.model_validate({"push_dir": "serving", "model_name": name})
    with pytest.raises(ValidationError, match=r"saved_model\n.*'auto' or 'never'"):
        PusherParameters.model_validate({"push_dir": "serving", "saved_model": "always"})


def test_the_default_model_name_is_the_pipelines_name_as_tf_serving_takes_it():
    assert default_model_name("penguin_keras") == "penguin_keras"
    assert default_model_name("penguin keras/v2") == "penguin_keras_v2"
    assert default_model_name("2026") == "model_2026"  # never a number: that is a version folder
    assert default_model_name("") == "model"


def test_a_tree_placed_at_a_version_replaces_a_stale_one_in_one_rename(tmp_path):
    source = tmp_path / "exported"
    (source / "variables").mkdir(parents=True)
    (source / "saved_model.pb").write_text("new")
    parent = tmp_path / "serving" / "penguin"
    (parent / "3").mkdir(parents=True)
    (parent / "3" / "saved_model.pb").write_text("stale: its MLflow version 3 was deleted and numbered again")
    (parent / "3" / "leftover.txt").write_text("")
    assert place(str(source), str(parent), 3) == str(parent / "3")
    assert sorted(os.listdir(parent)) == ["3"]  # neither the stale tree nor a staging folder is left
    assert sorted(os.listdir(parent / "3")) == ["saved_model.pb", "variables"]
    assert (parent / "3" / "saved_model.pb").read_text() == "new"
    assert place(str(source), str(parent), 4) == str(parent / "4")
    remote = f"file://{tmp_path}/remote/penguin"  # a URI (gs://, s3://) is copied with pyarrow.fs
    assert place(str(source), remote, 1) == f"{remote}/1"
    assert sorted(os.listdir(tmp_path / "remote" / "penguin" / "1")) == ["saved_model.pb", "variables"]
