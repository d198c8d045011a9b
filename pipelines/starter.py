"""``headrace init``: a starter project that validates and runs as written."""

from __future__ import annotations

import json
import os
import re
from importlib import resources

TEMPLATE = "starter_template"
SCHEMA_FILE = "headrace.schema.json"


def pipeline_name(directory: str, name: str | None = None) -> str:
    """``name``, else the directory's name made a pipeline name (lower case, ``-`` for anything odd)."""
    return (
        name
        or re.sub(r"[^a-z0-9_-]+", "-", os.path.basename(os.path.abspath(directory)).lower()).strip("-")
        or "pipeline"
    )


def write_json_schema(directory: str) -> str:
    """``headrace.schema.json`` in ``directory``, so an editor completes pipeline.yaml right away; its path."""
    from headrace.pipelines.json_schema import pipeline_json_schema

    schema_file = os.path.join(directory, SCHEMA_FILE)
    with open(schema_file, "w", encoding="utf-8") as f:
        json.dump(pipeline_json_schema(), f, indent=2)
    return schema_file


def write_starter(directory: str, name: str | None = None) -> list[str]:
    """Write the starter files into ``directory``; refuses to overwrite an existing file."""
    name = pipeline_name(directory, name)
    root = resources.files("headrace.pipelines") / TEMPLATE
    templates = {
        "pipeline.yaml": root / "pipeline.yaml.tmpl",
        "steps.py": root / "steps.py.tmpl",
        os.path.join("data", "measurements.csv"): root / "data" / "measurements.csv.tmpl",
    }
    targets = {os.path.join(directory, rel): src for rel, src in templates.items()}
    existing = [t for t in [*targets, os.path.join(directory, SCHEMA_FILE)] if os.path.exists(t)]
    if existing:
        raise FileExistsError(f"{', '.join(existing)} already exist; choose an empty directory")
    for target, source in targets.items():
        os.makedirs(os.path.dirname(target), exist_ok=True)
        text = source.read_text(encoding="utf-8")
        if target.endswith("pipeline.yaml"):
            text = text.format(name=name)
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)
    return [*targets, write_json_schema(directory)]
