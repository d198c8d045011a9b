"""The TensorFlow extra is optional: without it, what needs it says which extra to install; the core never loads it.

These tests run whether or not TensorFlow is installed: they hide it from a
subprocess (``sys.modules['tensorflow'] = None`` makes its import fail, as on
a machine without the extra).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

from headrace.components.tensorflow import TensorFlowNotInstalled, require_tensorflow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HIDE_TENSORFLOW = "import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None\n"


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)


def test_a_tensorflow_module_without_the_extra_names_the_extra():
    done = run(HIDE_TENSORFLOW + "import headrace.components.tensorflow.datasets")
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    # named: the module of the package that imported TensorFlow first (datasets, or a sibling it imports)
    assert re.search(
        r"TensorFlowNotInstalled: headrace\.components\.tensorflow\.\w+ needs TensorFlow and Keras 3", last
    )
    assert "install the extra: pip install 'headrace[tensorflow]'" in last


def test_require_tensorflow_names_what_needs_it_and_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    with pytest.raises(
        TensorFlowNotInstalled, match=r"trainer 'fit' \(framework: keras\) needs TensorFlow.*tensorflow is"
    ):
        require_tensorflow("trainer 'fit' (framework: keras)")
    with pytest.raises(TensorFlowNotInstalled, match=r"install the extra: pip install 'headrace\[tensorflow\]'"):
        require_tensorflow("x")


def test_the_package_and_require_tensorflow_load_nothing_of_tensorflow():
    code = (
        "import sys\nimport headrace.components.tensorflow as t\n"
        "try:\n    t.require_tensorflow('x')\nexcept t.TensorFlowNotInstalled:\n    pass\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    done = run(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_tf_dataset_of_a_training_split_without_the_extra_names_the_extra(monkeypatch):
    from headrace.components.trainer.context import Split

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    split = Split(None, "train", ["bill_length_mm"], "species")  # type: ignore[arg-type]  # never read
    with pytest.raises(
        TensorFlowNotInstalled,
        match=r"ctx\.train\.tf_dataset\(\) needs TensorFlow.*install the extra: pip install 'headrace\[tensorflow\]'",
    ):
        split.tf_dataset(32)


def test_a_distribution_without_the_extra_fails_validation_naming_the_extra(monkeypatch, tmp_path):
    from headrace.components.trainer.component import TrainerComponent
    from headrace.components.trainer.spec import TrainerParameters

    (tmp_path / "model.py").write_text("def train(ctx):\n    pass\n")
    params = TrainerParameters(
        module="model.py", label="species", distribution={"strategy": "multi_worker", "workers": 2}
    )
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    (problem,) = TrainerComponent.check_params(params, str(tmp_path))
    assert problem.path == ("distribution",)
    assert problem.message.startswith("distribution: {strategy: multi_worker} needs TensorFlow and Keras 3")
    assert "install the extra: pip install 'headrace[tensorflow]'" in problem.message


NEEDS_TENSORFLOW_PIPELINE = """\
name: needs_tensorflow
root: ./runs
metadata: sqlite:///runs/metadata.db
components:
  ingest:
    type: ingest
    params: {source: data/penguins.csv}
  transform:
    type: transform
    inputs: {examples: ingest.examples}
    params:
      ops: [{scale_to_z_score: {select: {type: numeric}}}]
  base:
    type: importer
    params:
      source: base.keras
      artifact_type: KerasModel
  trainer:
    type: trainer
    inputs:
      examples: transform.transformed_examples
      transform_graph: transform.transform_graph
      base_model: base.result
    params:
      module: model.py
      label: species
  embed:
    type: steps.py:embed
    inputs: {examples: ingest.examples}
    params: {accelerator: tpu}
"""

STEPS = """
from typing import Annotated

from headrace.components import Examples, NeedsTensorFlow, component


@component
def embed(examples: Examples, accelerator: Annotated[str, NeedsTensorFlow("gpu", "tpu")] = "cpu") -> None:
    pass
"""

VALIDATE_AND_RUN = HIDE_TENSORFLOW + (
    "import sys\nfrom click.testing import CliRunner\nfrom headrace.pipelines.cli import main\n"
    "for command in ('validate', 'run'):\n"
    "    result = CliRunner().invoke(main, [command, sys.argv[1]])\n"
    "    print(f'== {command} exit {result.exit_code}')\n    print(result.output)\n"
    "print('loaded:', sorted(m for m in ('tensorflow', 'keras') if sys.modules.get(m) is not None))\n"
)


def test_a_pipeline_that_asks_for_tensorflow_without_the_extra_fails_validation_naming_the_extra(tmp_path):
    import shutil
    import zipfile

    from tests.projects import PENGUINS

    (tmp_path / "data").mkdir()
    shutil.copy(PENGUINS, tmp_path / "data" / "penguins.csv")
    (tmp_path / "model.py").write_text("from nets import network\n\n\ndef train(ctx):\n    return network(ctx)\n")
    (tmp_path / "nets.py").write_text("from keras import layers\n\n\ndef network(ctx):\n    return layers\n")
    (tmp_path / "steps.py").write_text(STEPS)
    with zipfile.ZipFile(tmp_path / "base.keras", "w") as archive:  # a .keras archive, as far as reading tells
        archive.writestr("config.json", "{}")
        archive.writestr("metadata.json", "{}")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(NEEDS_TENSORFLOW_PIPELINE)
    lines = NEEDS_TENSORFLOW_PIPELINE.splitlines()

    def at(text: str) -> str:
        number = next(i for i, line in enumerate(lines, 1) if text in line)
        return f"pipeline.yaml:{number}:{lines[number - 1].index(text.split(': ')[-1]) + 1}: error: "

    done = subprocess.run(
        [sys.executable, "-c", VALIDATE_AND_RUN, str(pipeline)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    validated, ran = done.stdout.split("== run")
    why = "needs TensorFlow and Keras 3, but tensorflow and keras are not installed here"
    assert "== validate exit 2" in validated
    assert at("artifact_type: KerasModel") + f"artifact_type: KerasModel {why}" in validated
    assert at("module: model.py") + f"model.py imports keras through nets.py, and that {why}" in validated
    assert at("accelerator: tpu") + f"accelerator: tpu {why}" in validated  # any component's marked parameter
    assert validated.count("hint: install the extra: pip install 'headrace[tensorflow]'") == 3
    assert "3 errors in" in validated
    assert ran.startswith(" exit 2") and why in ran  # run validates first: nothing ran
    assert not (tmp_path / "runs" / "needs_tensorflow").exists()
    assert done.stdout.strip().endswith("loaded: []")


def test_a_pipeline_that_asks_nothing_of_tensorflow_is_valid_without_it(tmp_path):
    import shutil

    from tests.projects import PENGUINS

    (tmp_path / "data").mkdir()
    shutil.copy(PENGUINS, tmp_path / "data" / "penguins.csv")
    (tmp_path / "model.py").write_text("from sklearn.linear_model import LogisticRegression\n\n\ndef train(ctx): ...\n")
    trainer = "  trainer:" + NEEDS_TENSORFLOW_PIPELINE.split("  trainer:")[1].split("  embed:")[0]
    plain = NEEDS_TENSORFLOW_PIPELINE.split("  base:")[0] + trainer.replace("      base_model: base.result\n", "")
    (tmp_path / "pipeline.yaml").write_text(plain)
    code = HIDE_TENSORFLOW + (
        "import sys\nfrom click.testing import CliRunner\nfrom headrace.pipelines.cli import main\n"
        "result = CliRunner().invoke(main, ['validate', sys.argv[1]])\nprint(result.exit_code, result.output)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "pipeline.yaml")], cwd=ROOT, capture_output=True, text=True
    )
    assert done.stdout.startswith("0 "), done.stdout + done.stderr
