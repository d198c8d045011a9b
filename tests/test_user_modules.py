"""User code found by import path: the right module, the right classes, whatever else was loaded before."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from headrace.components.registry import load_component
from headrace.metadata.store import MetadataStore
from tests.projects import headrace

MAKER = '''
import os

from headrace.components import Artifact, Output, component


class Report(Artifact):
    """Version 1 of a report."""


@component
def make(report: Output[Report]) -> None:
    os.makedirs(report.uri, exist_ok=True)
    open(os.path.join(report.uri, "made"), "w").close()
'''

USER = '''
import os

from headrace.components import Artifact, Output, component


class Report(Artifact):
    """Version 2 of a report: same name, another class."""

    def describe(self) -> str:
        return "v2"


@component
def make(report: Output[Report]) -> None:
    os.makedirs(report.uri, exist_ok=True)


@component
def use(report: Report, seen: Output[Report]) -> None:
    os.makedirs(seen.uri, exist_ok=True)
    with open(os.path.join(seen.uri, "class.txt"), "w") as f:
        f.write(f"{type(report).__module__}.{type(report).__qualname__} {report.describe()}")
'''


def test_an_input_is_built_from_its_declared_class_not_the_first_of_that_name(tmp_path: Path) -> None:
    """v1.Report is imported first (component `old`); `use` declares and gets v2.Report."""
    (tmp_path / "v1.py").write_text(MAKER)
    (tmp_path / "v2.py").write_text(USER)
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        textwrap.dedent(
            """
            name: classes
            root: ./runs
            metadata: sqlite:///runs/metadata.db
            components:
              old: {type: "v1:make"}
              make: {type: "v2:make"}
              use: {type: "v2:use", inputs: {report: make.report}}
            """
        )
    )
    done = headrace("run", str(pipeline))
    assert done.returncode == 0, done.stdout + done.stderr
    store = MetadataStore(f"sqlite:///{tmp_path}/runs/metadata.db")
    run = store.list_runs()[0]
    use = next(e for e in store.executions(run.id) if e.component == "use")
    seen = store.outputs_of(use.id)["seen"]
    assert Path(seen.uri, "class.txt").read_text() == "v2.Report v2"


def _package_project(folder: Path, label: str) -> None:
    package = folder / "mypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "steps.py").write_text(
        "from headrace.components import Artifact, Output, component\n\n"
        f"PROJECT = {label!r}\n\n\n"
        "@component\n"
        "def step(out: Output[Artifact]) -> None:\n"
        "    pass\n"
    )


@pytest.fixture
def forget_mypkg():
    yield
    for name in [n for n in sys.modules if n == "mypkg" or n.startswith("mypkg.")]:
        del sys.modules[name]


def test_a_dotted_path_loads_the_package_next_to_its_own_pipeline(tmp_path: Path, forget_mypkg, monkeypatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    a, b = tmp_path / "a", tmp_path / "b"
    _package_project(a, "a")
    _package_project(b, "b")
    first = load_component("mypkg.steps:step", str(a))
    assert first.code_file == os.path.join(a, "mypkg", "steps.py")
    second = load_component("mypkg.steps:step", str(b))
    assert second.code_file == os.path.join(b, "mypkg", "steps.py")  # the file that enters b's cache key
    assert sys.modules["mypkg.steps"].PROJECT == "b"
    assert sys.modules["mypkg"].__file__ == os.path.join(b, "mypkg", "__init__.py")


def test_headrace_itself_is_never_user_code_even_when_run_from_its_checkout(tmp_path: Path) -> None:
    """A strict editable install links headrace's files to the checkout: run from there, they are still a library."""
    from headrace.pipelines.fingerprints import code_fingerprint

    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    (tmp_path / "model.py").write_text("from headrace.components import TrainerContext\nimport helpers\n")
    (tmp_path / "helpers.py").write_text("from headrace.components.trainer import context\n")
    found = code_fingerprint(str(tmp_path / "model.py"), [str(tmp_path), checkout])  # the cwd: the checkout
    assert sorted(found) == ["helpers.py", "model.py"]
