"""The digits example as a user runs it: write the PNG folder tree, run the pipeline, every split validates clean."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.projects import cli as run
from tests.projects import latest_outputs as outputs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_digits_example_ingests_describes_and_validates_its_images(tmp_path):
    target = tmp_path / "digits"
    shutil.copytree(os.path.join(REPO, "examples", "digits"), target, ignore=shutil.ignore_patterns("runs", "data"))
    made = subprocess.run([sys.executable, "make_data.py"], cwd=target, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert len(list((target / "data").glob("*/*.png"))) == 1797
    pipeline = str(target / "pipeline.yaml")
    code, out = run("run", pipeline)
    assert code == 0, out
    found = outputs(pipeline)
    examples = found["ingest"][1]["examples"].properties
    assert sum(examples["row_counts"].values()) == 1797 and examples["bad_rows"]["count"] == 0
    assert examples["classes"] == [str(d) for d in range(10)] and examples["image_shape"] == [8, 8, 1]
    anomalies = found["validator"][1]["anomalies"]
    assert anomalies.properties["counts"] == {"error": 0, "warning": 0}
    statistics = found["statistics"][1]["statistics"].uri
    splits = json.loads(Path(statistics, "statistics.json").read_text())["splits"]
    image = splits["train"]["columns"]["image"]["image"]
    assert image["shapes"] == [{"height": 8, "width": 8, "count": examples["row_counts"]["train"]}]
    assert 0 < image["pixel_mean"] < 255 and image["undecodable"] == 0
    assert Path(statistics, "statistics.html").read_text().count("<img") >= 10  # thumbnails of every class
