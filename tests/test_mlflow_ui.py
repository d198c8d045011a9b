"""`headrace ui` seen in a real browser: the experiment, the parent run, a child run and the lineage picture."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.browser import chromium_path
from tests.projects import HEADRACE, headrace
from tests.test_mlflow_mirror import client, default_uri, mirror_status, mirrored_project, run_id_of

pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.skipif(chromium_path() is None, reason="no Chromium (apt-get install chromium)"),
]

SHOTS = os.environ.get("HEADRACE_SCREENSHOTS")
"""A folder to copy the screenshots to, for a person to look at."""


def read_url(process: subprocess.Popen, timeout: float = 180) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if ready:
            line = process.stdout.readline()
            seen += line
            if "http://127.0.0.1:" in line:
                return line.split(": ", 1)[1].strip()
        if process.poll() is not None:
            break
    raise AssertionError(f"headrace ui printed no URL; said:\n{seen}{process.stderr.read() if process.stderr else ''}")


@pytest.fixture
def populated(tmp_path: Path) -> tuple[str, str, str]:
    pipeline = mirrored_project(tmp_path)
    first = run_id_of(headrace("run", pipeline, "-q", check=True))
    second = run_id_of(headrace("run", pipeline, "-q", "--set", "params.scale=2.0", check=True))
    for run_id in (first, second):
        assert mirror_status(tmp_path, run_id)["state"] == "mirrored"
    return pipeline, first, second


def test_the_mlflow_ui_shows_runs_metrics_and_the_lineage_picture(
    populated: tuple[str, str, str], tmp_path: Path
) -> None:
    from tests.web_pages import Browser

    pipeline, first, second = populated
    runs = client(default_uri(tmp_path)).search_runs(["1"], max_results=100)
    parent = next(r for r in runs if r.info.run_name == f"demo {second}")
    count = next(
        r for r in runs if r.info.run_name == "count" and r.data.tags["mlflow.parentRunId"] == parent.info.run_id
    )
    ui = subprocess.Popen(
        [HEADRACE, "ui", pipeline], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    browser = None
    try:
        url = read_url(ui)
        assert url.endswith("/#/experiments/1/runs")
        base = url.removesuffix("/runs")
        browser = Browser()
        experiment = browser.open(url, [f"demo {second}", f"demo {first}"], tmp_path / "experiment.png")
        assert "Training runs" in experiment

        page = browser.open(
            f"{base}/runs/{parent.info.run_id}", [f"demo {second}", "Child runs"], tmp_path / "parent.png"
        )
        assert f"headrace run {second} of pipeline demo: succeeded" in page
        assert f"headrace diff {first} {second}" in page
        for component in ("ingest", "count", "publish"):
            assert component in page

        child = browser.open(f"{base}/runs/{count.info.run_id}", ["count", "rows"], tmp_path / "child.png")
        assert "344" in child and "scale" in child and "2.0" in child
        assert "parameter `scale` changed from 1.0 to 2.0" in child

        browser.open(
            f"{base}/runs/{parent.info.run_id}/artifacts/lineage.svg", ["lineage.svg"], tmp_path / "lineage.png"
        )
        deadline = time.monotonic() + 30
        widths: list = []
        while time.monotonic() < deadline and not any(w > 300 for w in widths):
            widths = browser.evaluate("Array.from(document.images).map(i => i.naturalWidth)") or []  # type: ignore[assignment]
            time.sleep(0.5)
        assert any(w > 300 for w in widths), f"no lineage image on the artifact page (images: {widths})"
    finally:
        if browser is not None:
            browser.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGTERM)
        ui.wait(30)
        if SHOTS:
            for shot in tmp_path.glob("*.png"):
                shutil.copy(shot, Path(SHOTS) / shot.name)
    assert ui.returncode is not None
