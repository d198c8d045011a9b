"""headrace imports only as ``headrace.*``: a user's own components/, pipelines/ and metadata are theirs.

A Kubeflow-style repository often has its own ``components/`` and
``pipelines/`` packages and a ``metadata.py`` (or ``metadata/``); headrace
runs such a project through the CLI, its user components import their
sibling packages, and ``from headrace.components import component`` still
finds headrace.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from headrace.metadata.store import MetadataStore
from tests.projects import headrace

REPO = Path(__file__).resolve().parents[1]

FEATURES = '''
import os

from headrace.components import Artifact, Examples, Output, component  # headrace's, not this project's

import metadata
from components.cleaning import drop_rows
from pipelines.naming import report_name


class Cleaned(Artifact):
    """A note of what the user's own packages said."""


@component
def clean(examples: Examples, out: Output[Cleaned]) -> dict:
    os.makedirs(out.uri, exist_ok=True)
    with open(os.path.join(out.uri, report_name()), "w") as f:
        f.write(f"{metadata.OWNER} {drop_rows(examples.properties['row_counts']['train'])}")
    return {"rows": drop_rows(examples.properties["row_counts"]["train"])}
'''


def _user_project(folder: Path, metadata_as_package: bool) -> Path:
    done = headrace("init", str(folder))
    assert done.returncode == 0, done.stdout + done.stderr
    (folder / "components").mkdir()
    (folder / "components" / "__init__.py").write_text('"""The user\'s own components package."""\n')
    (folder / "components" / "features.py").write_text(FEATURES)
    (folder / "components" / "cleaning.py").write_text("def drop_rows(n):\n    return n - 1\n")
    (folder / "pipelines").mkdir()
    (folder / "pipelines" / "__init__.py").write_text("")
    (folder / "pipelines" / "naming.py").write_text("def report_name():\n    return 'cleaned.txt'\n")
    if metadata_as_package:
        (folder / "metadata").mkdir()
        (folder / "metadata" / "__init__.py").write_text("OWNER = 'data-team'\n")
    else:
        (folder / "metadata.py").write_text("OWNER = 'data-team'\n")
    pipeline = folder / "pipeline.yaml"
    with pipeline.open("a") as f:
        f.write("  clean:\n    type: components.features:clean\n    inputs:\n      examples: ingest.examples\n")
    return pipeline


@pytest.mark.parametrize("metadata_as_package", [False, True], ids=["metadata.py", "metadata/"])
def test_a_project_with_its_own_components_pipelines_and_metadata_runs(tmp_path: Path, metadata_as_package) -> None:
    folder = tmp_path / "my-project"
    pipeline = _user_project(folder, metadata_as_package)
    checked = headrace("validate", str(pipeline))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # run from inside the project, where its packages shadow any bare name on sys.path
    done = headrace("run", str(pipeline), cwd=str(folder))
    assert done.returncode == 0, done.stdout + done.stderr
    store = MetadataStore(f"sqlite:///{folder}/runs/metadata.db")
    run = store.list_runs()[0]
    assert run.state == "succeeded"
    clean = next(e for e in store.executions(run.id) if e.component == "clean")
    out = store.outputs_of(clean.id)["out"]
    train = next(
        a for e in store.executions(run.id) if e.component == "ingest" for a in store.outputs_of(e.id).values()
    ).properties["row_counts"]["train"]
    assert Path(out.uri, "cleaned.txt").read_text() == f"data-team {train - 1}"


def _imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_headrace_never_imports_the_bare_names() -> None:
    """Also an import-linter contract (scripts/check.sh); this one reads every import statement, nested ones too."""
    offenders = []
    for top in ("components", "pipelines", "metadata"):
        for path in sorted((REPO / top).rglob("*.py")):
            bare = _imported_names(path) & {"components", "pipelines", "metadata"}
            if bare:
                offenders.append(f"{path.relative_to(REPO)}: imports {', '.join(sorted(bare))}")
    assert offenders == []
