"""The TensorFlow extra is optional: without it, what needs it says which extra to install; the core never loads it.

These tests run whether or not TensorFlow is installed: they hide it from a
subprocess (``sys.modules['tensorflow'] = None`` makes its import fail, as on
a machine without the extra).
"""

from __future__ import annotations

import importlib.util
import os
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
    assert "TensorFlowNotInstalled: headrace.components.tensorflow.datasets needs TensorFlow and Keras 3" in last
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
