"""`headrace compile`: the KFP IR a user uploads, and the inputs it refuses before writing anything."""

from __future__ import annotations

import base64
import io
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from headrace.pipelines.cli import main
from headrace.pipelines.loader import load_pipeline

REPO = Path(__file__).resolve().parent.parent
SECRET_URL = "postgresql://headrace:s3cret-pw@db.internal/headrace"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The penguin example made cluster-ready: store from a secret, root in object storage, an image."""
    target = tmp_path / "penguin"
    shutil.copytree(REPO / "examples" / "penguin", target, ignore=shutil.ignore_patterns("runs", "__pycache__"))
    text = (target / "pipeline.yaml").read_text()
    text = text.replace(
        "metadata: sqlite:///runs/metadata.db",
        "metadata: ${env:HEADRACE_METADATA}\nkubeflow: {image: ghcr.io/acme/headrace:0.1.0}",
    ).replace("root: ./runs ", "root: gs://bucket/headrace")
    text = text.replace(
        "  statistics:\n    type: statistics\n",
        "  statistics:\n    type: statistics\n    resources: {cpu: 2, memory: 4Gi}\n    retries: 2\n",
    )
    (target / "pipeline.yaml").write_text(text)
    monkeypatch.setenv("HEADRACE_METADATA", SECRET_URL)
    monkeypatch.chdir(target)
    return target


def compile_(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["compile", *args])
    return result.exit_code, result.output


def test_ir_has_one_task_per_component_wired_by_the_yaml(project):
    code, out = compile_("pipeline.yaml", "-o", "penguin.kfp.yaml")
    assert code == 0, out
    components = set(load_pipeline(str(project / "pipeline.yaml")).nodes)
    assert f"penguin.kfp.yaml: pipeline 'penguin', {len(components)} tasks, image ghcr.io/acme/headrace:0.1.0" in out
    text = (project / "penguin.kfp.yaml").read_text()
    assert "s3cret-pw" not in text  # the store URL is read from the pod's environment
    ir = yaml.safe_load(text)
    tasks = ir["root"]["dag"]["tasks"]
    assert {t["taskInfo"]["name"] for t in tasks.values()} == components  # one task per component
    assert sorted(tasks["validator"]["dependentTasks"]) == ["baseline-statistics", "schema", "statistics"]
    assert "dependentTasks" not in tasks["ingest"]
    assert all(not t["cachingOptions"].get("enableCache") for t in tasks.values())
    assert tasks["statistics"]["retryPolicy"]["maxRetryCount"] == 2
    inputs = ir["root"]["inputDefinitions"]["parameters"]
    assert inputs["label"] == {"defaultValue": "species", "isOptional": True, "parameterType": "STRING"}
    assert tasks["class-balance"]["inputs"]["parameters"]["label"] == {"componentInputParameter": "label"}
    executors = ir["deploymentSpec"]["executors"]
    statistics = executors["exec-statistics"]["container"]
    assert statistics["image"] == "ghcr.io/acme/headrace:0.1.0"
    assert statistics["resources"]["resourceCpuLimit"] == "2"
    assert statistics["resources"]["resourceMemoryLimit"] == "4Gi"
    assert "pip install" not in " ".join(statistics["command"])  # nothing is fetched at run time
    assert "run_node('statistics'" in statistics["command"][-1]

    packed = zipfile.ZipFile(io.BytesIO(base64.b64decode(inputs["headrace_code"]["defaultValue"])))
    assert set(packed.namelist()) == {
        "headrace-pack.json",
        "pipeline/pipeline.yaml",
        "pipeline/summarize.py",
        "pipeline/model.py",  # the trainer's module (a CodePath) travels too
        "pipeline/schema.yaml",
        "pipeline/data/penguins.csv",
    }


def test_compiling_twice_gives_the_same_file(project):
    assert compile_("pipeline.yaml", "-o", "a.yaml")[0] == 0
    assert compile_("pipeline.yaml", "-o", "b.yaml")[0] == 0
    assert (project / "a.yaml").read_bytes() == (project / "b.yaml").read_bytes()


def test_a_pipeline_parameter_set_at_compile_time_is_the_default(project):
    assert compile_("pipeline.yaml", "-o", "p.yaml", "--set", "params.label=island")[0] == 0
    ir = yaml.safe_load((project / "p.yaml").read_text())
    assert ir["root"]["inputDefinitions"]["parameters"]["label"]["defaultValue"] == "island"


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--set", "metadata=sqlite:///runs/metadata.db"], "is a SQLite file, which Kubeflow pods cannot share"),
        (["--set", "root=./runs"], "is a local path"),
        (["--set", "root=file:///srv/runs"], "is a local path"),
        (["--set", "mlflow.tracking_uri=sqlite:///mlflow.db"], "is local to this machine"),
        (["--image", "Not An Image"], "'Not An Image' is not a container image reference"),
        (["--set", f"metadata={SECRET_URL}"], "the value holds a password"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(project, args, said):
    code, out = compile_("pipeline.yaml", "-o", "out.yaml", *args)
    assert code == 2, out
    assert said in out
    assert "Traceback" not in out
    assert not (project / "out.yaml").exists()


def test_a_missing_store_or_image_says_what_to_write(project):
    text = (project / "pipeline.yaml").read_text()
    (project / "pipeline.yaml").write_text(text.replace("metadata: ${env:HEADRACE_METADATA}\n", ""))
    code, out = compile_("pipeline.yaml", "-o", "out.yaml")
    assert code == 2 and "no metadata store" in out and "metadata: ${env:HEADRACE_METADATA}" in out
    (project / "pipeline.yaml").write_text(text.replace("kubeflow: {image: ghcr.io/acme/headrace:0.1.0}", ""))
    code, out = compile_("pipeline.yaml", "-o", "out.yaml")
    assert code == 2 and "no container image" in out and "--image" in out
    assert not (project / "out.yaml").exists()


def test_a_local_root_is_accepted_for_kfp_local(project):
    code, out = compile_("pipeline.yaml", "-o", "local.yaml", "--local", "--set", "root=./runs")
    assert code == 0, out
    assert f"root={project / 'runs'}" in (project / "local.yaml").read_text()


def test_the_kubeflow_keys_can_be_set_from_the_command_line(project):
    code, out = compile_(
        "pipeline.yaml",
        "-o",
        "set.yaml",
        "--set",
        "kubeflow.image=ghcr.io/acme/headrace:0.2.0",
        "--set",
        "components.ingest.resources.memory=2Gi",
    )
    assert code == 0, out
    ir = yaml.safe_load((project / "set.yaml").read_text())
    ingest = ir["deploymentSpec"]["executors"]["exec-ingest"]["container"]
    assert ingest["image"] == "ghcr.io/acme/headrace:0.2.0"
    assert ingest["resources"]["resourceMemoryLimit"] == "2Gi"


def test_the_spec_keys_and_the_set_keys_agree():
    from headrace.pipelines.interpolation import COMPONENT_KEYS, TOP_LEVEL_KEYS
    from headrace.pipelines.spec import ComponentSpec, PipelineSpec

    assert set(TOP_LEVEL_KEYS) == set(PipelineSpec.model_fields)
    assert set(COMPONENT_KEYS) == set(ComponentSpec.model_fields)


def test_a_password_written_in_the_file_is_refused(project):
    text = (project / "pipeline.yaml").read_text()
    (project / "pipeline.yaml").write_text(text.replace("${env:HEADRACE_METADATA}", SECRET_URL))
    code, out = compile_("pipeline.yaml", "-o", "out.yaml")
    assert code == 2, out
    assert "the URL holds a password" in out and "${env:HEADRACE_METADATA}" in out
    assert "s3cret-pw" not in out
    assert not (project / "out.yaml").exists()


def test_each_pod_reads_the_store_url_from_a_kubernetes_secret(project):
    text = (project / "pipeline.yaml").read_text()
    (project / "pipeline.yaml").write_text(
        text.replace(
            "kubeflow: {image: ghcr.io/acme/headrace:0.1.0}",
            "kubeflow:\n  image: ghcr.io/acme/headrace:0.1.0\n"
            "  secret_env: {HEADRACE_METADATA: {secret: headrace-db, key: url}}\n",
        )
    )
    code, out = compile_("pipeline.yaml", "-o", "secret.yaml")
    assert code == 0, out
    documents = list(yaml.safe_load_all((project / "secret.yaml").read_text()))
    platform = documents[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert len(platform) == len(load_pipeline(str(project / "pipeline.yaml")).nodes)  # every pod
    for executor in platform.values():
        (secret,) = executor["secretAsEnv"]
        assert secret["keyToEnv"] == [{"envVar": "HEADRACE_METADATA", "secretKey": "url"}]
        assert secret["secretName"] == "headrace-db"
