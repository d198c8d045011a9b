"""`headrace submit` and `headrace schedule` through kfp.Client, against a local stand-in of the KFP API."""

from __future__ import annotations

import socket

import pytest
import yaml
from click.testing import CliRunner

from headrace.pipelines.cli import main
from tests.kfp_api import fake_kfp
from tests.test_kubeflow_compile import SECRET_URL, project  # noqa: F401  (the cluster-ready penguin fixture)


def headrace(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_submit_sends_the_compiled_pipeline_and_its_parameters(project):  # noqa: F811
    with fake_kfp() as kfp:
        code, out = headrace("submit", "pipeline.yaml", "--host", kfp.url, "--param", "label=island")
        assert code == 0, out
        assert "submitted run run-1 of pipeline 'penguin' to experiment 'penguin'" in out
        (experiment,) = kfp.sent("POST", "/experiments")
        assert experiment.body["display_name"] == "penguin"
        (run,) = kfp.sent("POST", "/runs")
    assert run.body["experiment_id"] == "exp-1"
    spec = run.body["pipeline_spec"]
    assert spec["pipelineInfo"]["name"] == "penguin"
    assert set(spec["root"]["dag"]["tasks"]) >= {"ingest", "validator", "class-balance"}
    assert run.body["runtime_config"]["parameters"] == {"label": "island"}
    assert "s3cret-pw" not in str(run.body)


def test_schedule_again_updates_the_one_recurring_run(project):  # noqa: F811
    with fake_kfp() as kfp:
        code, out = headrace("schedule", "pipeline.yaml", "--host", kfp.url, "--cron", "0 3 * * *")
        assert code == 0, out
        assert "created schedule 'penguin'" in out
        (first,) = kfp.recurring_runs.values()
        assert first["trigger"]["cron_schedule"]["cron"] == "0 0 3 * * *"  # KFP's cron has seconds first
        assert first["pipeline_version_reference"]["pipeline_version_id"] == "version-1"

        code, out = headrace("schedule", "pipeline.yaml", "--host", kfp.url, "--cron", "30 4 * * 1")
        assert code == 0, out
        assert "updated schedule 'penguin'" in out
        (second,) = kfp.recurring_runs.values()  # still one: the old one was replaced
        assert second["trigger"]["cron_schedule"]["cron"] == "0 30 4 * * 1"
        assert second["pipeline_version_reference"]["pipeline_version_id"] == "version-2"
        assert second["display_name"] == "penguin"
        assert len(kfp.sent("POST", "/pipelines/upload")) == 1  # one pipeline, a new version per schedule
        assert len(kfp.sent("POST", "/pipelines/upload_version")) == 2
        assert kfp.sent("DELETE", f"/recurringruns/{first['recurring_run_id']}")
        version = yaml.safe_load(kfp.versions["version-2"]["spec"])
        assert version["pipelineInfo"]["name"] == "penguin"

        code, out = headrace("schedule", "--list", "--host", kfp.url)
        assert code == 0 and "penguin\t0 30 4 * * 1" in out
        code, out = headrace("schedule", "--delete", "penguin", "--host", kfp.url)
        assert code == 0 and "deleted schedule 'penguin'" in out
        assert not kfp.recurring_runs
        code, out = headrace("schedule", "--delete", "penguin", "--host", kfp.url)
        assert code == 2 and "no recurring run named 'penguin'" in out


def test_dry_run_prints_what_would_be_sent_and_sends_nothing(project):  # noqa: F811
    with fake_kfp() as kfp:
        code, out = headrace("schedule", "pipeline.yaml", "--host", kfp.url, "--cron", "0 3 * * *", "--dry-run")
        assert code == 0, out
        assert "dry run: would create or update recurring run (nothing sent)" in out
        assert 'cron: "0 0 3 * * *"' in out and 'schedule: "penguin"' in out
        code, out = headrace("submit", "pipeline.yaml", "--host", kfp.url, "--param", "label=island", "--dry-run")
        assert code == 0, out
        assert 'arguments: {"label": "island"}' in out
        assert kfp.requests == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["schedule", "pipeline.yaml", "--cron", "every day at 3"], "is not a cron expression"),
        (["schedule", "pipeline.yaml", "--cron", "0 25 * * *"], "hour field '25'"),
        (["submit", "pipeline.yaml", "--param", "lable=island"], "did you mean 'label'"),
        (["schedule", "pipeline.yaml", "--cron", "0 3 * * *", "--image", "Bad Image"], "not a container image"),
    ],
)
def test_bad_input_is_refused_before_anything_is_sent(project, args, said):  # noqa: F811
    with fake_kfp() as kfp:
        code, out = headrace(*args, "--host", kfp.url)
        assert code == 2, out
        assert said in out
        assert kfp.requests == []


def test_an_unreachable_host_is_a_clear_error(project):  # noqa: F811
    code, out = headrace("submit", "pipeline.yaml", "--host", f"http://127.0.0.1:{_closed_port()}")
    assert code == 2, out
    assert "cannot reach the KFP API at --host http://127.0.0.1:" in out and "port-forward" in out
    assert "Traceback" not in out
