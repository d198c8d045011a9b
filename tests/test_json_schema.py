"""``headrace schema`` describes the whole file: examples pass it, mistakes fail it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from headrace.pipelines.cli import main
from headrace.pipelines.json_schema import pipeline_json_schema

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(REPO.glob("examples/**/pipeline.yaml"))


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = pipeline_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(validator: jsonschema.Draft202012Validator, document: dict) -> list[str]:
    return [e.message for e in validator.iter_errors(document)]


def penguin() -> dict:
    return yaml.safe_load((REPO / "examples" / "penguin" / "pipeline.yaml").read_text())


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(REPO)))
def test_examples_validate(validator, path: Path) -> None:
    assert errors(validator, yaml.safe_load(path.read_text())) == []


def test_has_titles_and_descriptions_and_one_entry_per_builtin(validator) -> None:
    from headrace.components.registry import BUILTINS

    schema = validator.schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "headrace pipeline"
    assert "description" in schema["properties"]["name"]
    entries = schema["properties"]["components"]["additionalProperties"]["anyOf"]
    consts = {schema["$defs"][e["$ref"].split("/")[-1]]["properties"]["type"].get("const") for e in entries}
    assert set(BUILTINS) <= consts
    assert None in consts  # the import-path entry


def test_unknown_keys_fail(validator) -> None:
    doc = penguin()
    doc["rooot"] = "x"
    assert errors(validator, doc)
    doc = penguin()
    doc["components"]["ingest"]["retry"] = 1
    assert errors(validator, doc)
    doc = penguin()
    doc["components"]["ingest"]["params"]["sourec"] = "x.csv"
    assert errors(validator, doc)


def test_wrong_types_fail(validator) -> None:
    doc = penguin()
    doc["components"]["ingest"]["retries"] = "many"
    assert errors(validator, doc)
    doc = penguin()
    doc["components"]["ingest"]["params"]["source"] = ["not", "a", "path"]
    assert errors(validator, doc)
    doc = penguin()
    doc["components"]["ingest"]["type"] = "ingset"
    assert errors(validator, doc)
    doc = penguin()
    doc["components"]["class_balance"]["inputs"]["examples"] = "ingest"
    assert errors(validator, doc)


def test_interpolation_is_accepted_for_typed_values(validator) -> None:
    doc = penguin()
    doc["components"]["ingest"]["retries"] = "${params.retries}"
    doc["components"]["ingest"]["cache"] = "${env:CACHE}"
    assert errors(validator, doc) == []


def test_cli_schema_prints_it() -> None:
    result = CliRunner().invoke(main, ["schema"], catch_exceptions=False)
    assert result.exit_code == 0
    assert json.loads(result.output) == pipeline_json_schema()


def test_committed_schema_file_is_current() -> None:
    """Editors read headrace.schema.json from the repo: it must match what `headrace schema` prints."""
    committed = json.loads((REPO / "headrace.schema.json").read_text())
    assert committed == pipeline_json_schema(), "run: headrace schema > headrace.schema.json"


def test_init_template_validates(validator, tmp_path) -> None:
    from headrace.pipelines.starter import write_starter

    write_starter(str(tmp_path / "starter"))
    document = yaml.safe_load((tmp_path / "starter" / "pipeline.yaml").read_text())
    assert errors(validator, document) == []
