"""The distribution installs one import package, ``headrace``, with every sub-package of the three folders."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {"components": "headrace.components", "pipelines": "headrace.pipelines", "metadata": "headrace.metadata"}


def _listed_packages() -> set[str]:
    with (REPO / "pyproject.toml").open("rb") as f:
        return set(tomllib.load(f)["tool"]["setuptools"]["packages"])


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """A new sub-package missing from ``[tool.setuptools] packages`` would be left out of the wheel."""
    found = set()
    for folder, package in FOLDERS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder)
            found.add(".".join([package, *relative.parts]))
    missing = sorted(found - _listed_packages())
    assert missing == [], f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    data_only = {p for p in _listed_packages() - found if _folder(p).is_dir()}  # template folders, no code
    assert sorted(_listed_packages() - found - data_only) == [], "pyproject lists packages that do not exist"


def _folder(package: str) -> Path:
    _, folder, *rest = package.split(".")
    return REPO.joinpath(folder, *rest)


def test_the_wheel_installs_only_headrace_at_top_level(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in FOLDERS:
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", str(source), "-w", str(tmp_path / "dist")],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("headrace-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
        assert archive.read(top_level).decode().split() == ["headrace"]
    tops = {name.split("/", 1)[0] for name in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"headrace"}
    for package in _listed_packages():
        prefix = package.replace(".", "/") + "/"
        assert any(n.startswith(prefix) for n in names), f"{package} is not in the wheel"
    assert "headrace/pipelines/starter_template/pipeline.yaml.tmpl" in names
    # a link to examples/digits/model.py in the repository: the wheel holds the file's text
    model = archive_text(wheel, "headrace/pipelines/starter_template/image_model.py.tmpl")
    assert model.startswith('"""A small convolutional network for any image folder')


def archive_text(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(name).decode("utf-8")
