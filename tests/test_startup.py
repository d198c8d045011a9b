"""The CLI starts fast: validating a pipeline never imports the heavy libraries.

Beam, MLflow, kfp, scikit-learn and TensorFlow cost seconds to import; they
are imported inside the functions that need them, never by a component
module, since every component module is imported to validate a pipeline.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from headrace.components.registry import BUILTINS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEAVY = ("apache_beam", "mlflow", "kfp", "sklearn", "tensorflow")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.split()


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_component_module_imports_nothing_heavy(name):
    module, _, attr = BUILTINS[name].partition(":")
    assert _loaded_after(f"import {module} as m; assert m.{attr}.type == {name!r}") == []


def test_validating_the_example_imports_nothing_heavy():
    code = "from headrace.pipelines.loader import load_pipeline; load_pipeline('examples/penguin/pipeline.yaml', environ={})"
    assert _loaded_after(code) == []
