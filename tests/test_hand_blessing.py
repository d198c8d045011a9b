"""A model blessed by hand after its run is pushed by the next run, on every store backend.

The evaluator's thresholds are out of reach (accuracy >= 1.01), so it never
blesses: the first run declines to push. ``headrace bless`` then records a
person's verdict in the store; running the same pipeline file again re-runs
the pusher alone (the hand blessing is in its cache key) and pushes, saying
who blessed it and why, in the run's output, ``show`` and ``lineage``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from headrace.metadata.records import ArtifactRecord
from headrace.metadata.store import MetadataStore
from headrace.pipelines.cli import main
from tests.databases import KINDS, fresh_database
from tests.models import PENGUINS, TRAINING_COMPONENTS

PIPELINE = (
    """
name: hand
root: ./runs
metadata: METADATA
components:
"""
    + TRAINING_COMPONENTS
    + """  evaluator:
    type: evaluator
    inputs: {model: trainer.model, examples: ingest.examples}
    params: {thresholds: {accuracy: {min: 1.01}}}
  pusher:
    type: pusher
    inputs: {model: trainer.model, blessing: evaluator.blessing}
    params: {push_dir: serving}
"""
)


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@dataclass
class Project:
    pipeline: str
    store: MetadataStore

    @property
    def serving(self) -> Path:
        return Path(self.pipeline).parent / "serving"

    def run(self, *args: str) -> tuple[str, str]:
        """``headrace run`` on the same pipeline file: its output and the run's id."""
        output = cli("run", self.pipeline, *args)
        return output, self.store.list_runs(pipeline="hand", limit=1)[0].id

    def bless(self, model_id: int, reason: str, by: str) -> str:
        return cli("bless", str(model_id), "--reason", reason, "--by", by, "-p", self.pipeline)

    def pushed(self, run_id: str) -> tuple[ArtifactRecord, dict[str, str]]:
        """The run's PushedModel, and each component's state in the run."""
        executions = self.store.executions(run_id)
        pusher = next(e for e in executions if e.component == "pusher")
        return self.store.outputs_of(pusher.id)["pushed_model"], {e.component: e.state for e in executions}


@pytest.fixture(params=KINDS)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    folder = tmp_path
    (folder / "data").mkdir()
    shutil.copy(PENGUINS, folder / "data" / "penguins.csv")
    with fresh_database(request.param, folder) as url:
        (folder / "pipeline.yaml").write_text(PIPELINE.replace("METADATA", url))
        yield Project(str(folder / "pipeline.yaml"), MetadataStore(url))


def test_a_model_blessed_by_hand_is_pushed_by_the_next_run_and_show_and_lineage_say_who_and_why(project):
    output, first = project.run()
    declined, _ = project.pushed(first)
    assert declined.properties["pushed"] is False
    assert "not pushed: the model is not blessed" in output
    assert not project.serving.exists()

    said = project.bless(declined.properties["model_artifact_id"], "accuracy 1.01 is a typo", "alice")
    assert "a pusher that gets this model pushes it on the next `headrace run`" in said

    output, second = project.run()  # the same pipeline file, nothing changed but the store
    pushed, states = project.pushed(second)
    assert states == {"ingest": "cached", "transform": "cached", "trainer": "cached", "evaluator": "cached"} | {
        "pusher": "complete"
    }
    pusher = next(e for e in project.store.executions(second) if e.component == "pusher")
    assert pusher.reason == "model blessed by hand by alice: accuracy 1.01 is a typo"
    assert pushed.properties["pushed"] is True and pushed.properties["version"] == 1
    assert pushed.properties["reason"] == "blessed by hand by alice: accuracy 1.01 is a typo"
    hand = project.store.inputs_of(pusher.id)["blessed_by_hand"]
    assert pushed.properties["blessed_by_hand"] == {
        "by": "alice",
        "reason": "accuracy 1.01 is a typo",
        "blessing_id": hand.id,
    }
    assert os.listdir(project.serving) == ["1"]
    assert "not pushed" not in output

    shown = cli("show", second, "-p", project.pipeline)
    assert f"pushed as version 1: {project.serving / '1'}; blessed by hand by alice: accuracy 1.01 is a typo" in shown
    assert f"pusher input blessed_by_hand  ModelBlessing #{hand.id}, the blessing by hand from run" in shown
    traced = cli("lineage", str(pushed.id), "-p", project.pipeline)
    assert f"blessed_by_hand: ModelBlessing #{hand.id}" in traced
    assert "(blessed by hand by alice: accuracy 1.01 is a typo)  <- headrace bless" in traced

    _, third = project.run()  # nothing changed since: all cached, no second version
    pushed_again, states = project.pushed(third)
    assert set(states.values()) == {"cached"} and pushed_again.id == pushed.id
    assert os.listdir(project.serving) == ["1"]

    # another model, not blessed; blessed by hand, then `--only pusher`: the pusher alone pushes it
    other = ("--set", "components.trainer.params.C=0.3")
    declined, _ = project.pushed(project.run(*other)[1])
    assert declined.properties["pushed"] is False
    project.bless(declined.properties["model_artifact_id"], "for the demo", "bob")
    pushed, states = project.pushed(project.run(*other, "--only", "pusher")[1])
    assert states == {"pusher": "complete"}
    assert pushed.properties["model_artifact_id"] == declined.properties["model_artifact_id"]
    assert pushed.properties["pushed"] is True and pushed.properties["blessed_by_hand"]["by"] == "bob"
    assert sorted(os.listdir(project.serving)) == ["1", "2"]
