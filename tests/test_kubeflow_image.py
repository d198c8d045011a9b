"""The image: what the compiled tasks call exists in the installed package and starts.

No container runtime is available here, so the Dockerfile is not built in the
tests; they check that every command a compiled task runs is importable and
starts (``--help``) in this installation, and that the Dockerfile installs
the package the same way and fetches nothing at run time.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner

from headrace.pipelines.cli import main
from tests.projects import HEADRACE
from tests.test_kubeflow_compile import project  # noqa: F401  (the cluster-ready penguin fixture)

REPO = Path(__file__).resolve().parent.parent


def test_every_compiled_task_calls_an_entry_point_that_exists_and_starts(project):  # noqa: F811
    result = CliRunner().invoke(main, ["compile", "pipeline.yaml", "-o", "ir.yaml"])
    assert result.exit_code == 0, result.output
    executors = yaml.safe_load((project / "ir.yaml").read_text())["deploymentSpec"]["executors"]
    entry_points = set()
    for executor in executors.values():
        container = executor["container"]
        assert "python3 -m kfp.dsl.executor_main" in container["command"][2]
        source = container["command"][-1]
        entry_points |= set(re.findall(r"from (headrace\.[\w.]+) import (\w+)", source))
    assert entry_points == {("headrace.pipelines.kubeflow.task_entry", "run_node")}
    (module, name), *_ = entry_points
    assert callable(getattr(importlib.import_module(module), name))

    for command in (
        [sys.executable, "-m", "kfp.dsl.executor_main", "--help"],
        [sys.executable, "-m", module, "--help"],
        [HEADRACE, "--help"],
    ):
        started = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, (command, started.stderr)
        assert "usage" in started.stdout.lower()


def test_the_dockerfile_installs_headrace_and_checks_the_entry_points():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    for folder in ("components", "pipelines", "metadata"):
        assert f"COPY {folder} ./{folder}" in dockerfile
    assert "pip install ." in dockerfile
    assert "python -m headrace.pipelines.kubeflow.task_entry --help" in dockerfile
    assert not re.search(r"^(ENTRYPOINT|CMD).*pip", dockerfile, re.M)  # nothing is installed when a task starts
    assert "docker build -t" in (REPO / "README.md").read_text()
