"""The pipeline file loader: every error kind, where it points, and what it suggests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from headrace.pipelines.cli import main
from headrace.pipelines.loader import PipelineSpecError, SpecIssue, load_pipeline

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "penguin" / "pipeline.yaml"

COMPONENTS = """
from pydantic import BaseModel, ConfigDict
from headrace.components import Artifact, Component, Examples, Output, Parameters, Statistics, component


class Splits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train: int = 8
    eval: int = 2


class ReaderParameters(Parameters):
    source: str
    splits: Splits = Splits()
    token: str = ""
    label: str = "species"


class Reader(Component):
    outputs = {"examples": Examples}
    Parameters = ReaderParameters


@component
def stats(examples: Examples, statistics: Output[Statistics], bins: int = 10) -> None:
    pass


@component
def check(statistics: Statistics, report: Output[Artifact], examples: Examples | None = None) -> None:
    pass
"""


@pytest.fixture
def project(tmp_path: Path):
    """A folder with a user component module (unique name: modules are cached per process)."""
    module = f"uc_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{module}.py").write_text(COMPONENTS)

    def write(text: str, name: str = "pipeline.yaml") -> str:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n").replace("MOD", module))
        return str(path)

    write.module = module  # type: ignore[attr-defined]
    return write


def issues(path: str, overrides: list[str] = (), environ: dict | None = None) -> list[SpecIssue]:
    with pytest.raises(PipelineSpecError) as info:
        load_pipeline(path, list(overrides), environ=environ or {})
    return info.value.errors


def only(path: str, **kwargs) -> SpecIssue:
    found = issues(path, **kwargs)
    assert len(found) == 1, [i.render() for i in found]
    return found[0]


GOOD = """
name: demo
params: {n: 5, src: data.csv, nest: {x: 3}}
components:
  read:
    type: MOD:Reader
    params:
      source: ${params.src}
      splits: {train: "${params.n}", eval: 1}
  stats:
    type: MOD:stats
    inputs: {examples: read.examples}
  check:
    type: MOD:check
    inputs: {statistics: stats.statistics}
"""


# -- the valid case -------------------------------------------------------------------------------


def test_penguin_example_loads_in_topological_order():
    pipeline = load_pipeline(str(EXAMPLE), environ={})
    folder = str(EXAMPLE.parent)
    assert pipeline.name == "penguin"
    order = list(pipeline.nodes)
    assert set(order) == {
        "ingest",
        "statistics",
        "schema",
        "baseline_ingest",
        "baseline_statistics",
        "validator",
        "transform",
        "trainer",
        "evaluator",
        "pusher",
        "class_balance",
    }
    for position, name in enumerate(order):
        assert all(order.index(up) < position for up in pipeline.nodes[name].upstream), order
    assert pipeline.base_dir == folder
    assert pipeline.root == os.path.join(folder, "runs")
    assert pipeline.metadata_url == "sqlite:///" + os.path.join(folder, "runs", "metadata.db")
    assert pipeline.metadata_url.startswith("sqlite:////")
    balance = pipeline.nodes["class_balance"]
    assert balance.params.label == "species"
    assert str(balance.inputs["examples"]) == "ingest.examples"
    assert pipeline.beam_runner == "DirectRunner"


def test_valid_pipeline_fields(project):
    pipeline = load_pipeline(project(GOOD), environ={})
    assert list(pipeline.nodes) == ["read", "stats", "check"]
    read = pipeline.nodes["read"]
    assert read.params.splits.train == 5
    assert read.display_params == {
        "source": "data.csv",
        "splits": {"train": 5, "eval": 1},
        "token": "",
        "label": "species",
    }
    assert pipeline.nodes["check"].cache is True and pipeline.nodes["check"].retries == 0
    assert pipeline.metadata_url.endswith("/runs/metadata.db")
    assert pipeline.spec["components"]["read"]["params"]["splits"]["train"] == 5


# -- errors, one kind at a time --------------------------------------------------------------------


def test_unknown_top_level_key(project):
    issue = only(project(GOOD.replace("params:", "parmas:", 1)))
    assert (issue.line, issue.column) == (2, 1)
    assert "unknown key 'parmas'" in issue.message
    assert issue.hint == "did you mean 'params'?"


def test_unknown_key_of_a_component(project):
    path = project(
        GOOD.replace("    inputs: {examples: read.examples}", "    inputs: {examples: read.examples}\n    retry: 2")
    )
    issue = only(path)
    assert (issue.line, issue.column) == (12, 5)
    assert issue.hint == "did you mean 'retries'?"


def test_unknown_key_deep_in_params(project):
    issue = only(project(GOOD.replace("{train:", "{trian:")))
    assert (issue.line, issue.column) == (8, 16)
    assert "unknown key 'trian' in 'components.read.params.splits'" in issue.message
    assert issue.hint == "did you mean 'train'?"


def test_bad_parameter_value_uses_pydantics_message_at_the_value(project):
    issue = only(project(GOOD.replace("eval: 1", "eval: lots")))
    assert (issue.line, issue.column) == (8, 44)
    assert "Input should be a valid integer" in issue.message
    assert "'lots'" in issue.message
    assert "components.read.params.splits.eval" in issue.message


def test_missing_required_key_points_at_the_mapping(project):
    issue = only(project(GOOD.replace("    params:\n      source: ${params.src}\n", "    params:\n")))
    # read.params is now empty (null) -> the Reader's required 'source' is missing from params
    assert "missing required key 'source'" in issue.message
    assert (issue.line, issue.column) == (6, 5)


def test_missing_pipeline_name(project):
    issue = only(project(GOOD.replace("name: demo\n", "")))
    assert "missing required key 'name' at the top level" in issue.message
    assert (issue.line, issue.column) == (1, 1)


def test_unknown_builtin_type_suggests_near_name(project):
    issue = only(
        project("""
        name: demo
        components:
          ingest: {type: ingset, params: {source: x.csv}}
    """)
    )
    assert (issue.line, issue.column) == (3, 18)
    assert "unknown component type 'ingset'" in issue.message
    assert issue.hint == "did you mean 'ingest'?"


def test_import_path_failure_says_why(project):
    path = project(GOOD.replace("MOD:stats", "MOD:stast"))
    issue = only(path)
    assert (issue.line, issue.column) == (10, 11)
    assert "has no attribute 'stast'" in issue.message
    issue = only(project(GOOD.replace("MOD:stats", "no_such_module_xyz:stats")))
    assert "cannot import module 'no_such_module_xyz'" in issue.message


def test_unknown_input_name(project):
    issue = only(project(GOOD.replace("{examples: read.examples}", "{exampels: read.examples}")))
    assert (issue.line, issue.column) == (11, 14)
    assert issue.message == f"unknown input 'exampels' of component 'stats' ({project.module}:stats)"
    assert issue.hint == "did you mean 'examples'?"


def test_reference_to_unknown_node(project):
    issue = only(project(GOOD.replace("read.examples", "raed.examples")))
    assert (issue.line, issue.column) == (11, 24)
    assert "unknown component 'raed'" in issue.message
    assert issue.hint == "did you mean 'read'?"


def test_reference_to_unknown_output(project):
    issue = only(project(GOOD.replace("read.examples", "read.exampels")))
    assert (issue.line, issue.column) == (11, 24)
    assert "has no output 'exampels'" in issue.message
    assert issue.hint == "did you mean 'examples'?"


def test_malformed_reference(project):
    issue = only(project(GOOD.replace("read.examples", "read")))
    assert (issue.line, issue.column) == (11, 24)
    assert "expected 'component.output'" in issue.message


def test_wrong_artifact_type_names_both(project):
    issue = only(
        project(
            GOOD.replace("{statistics: stats.statistics}", "{statistics: stats.statistics, examples: stats.statistics}")
        )
    )
    assert (issue.line, issue.column) == (14, 54)
    assert "expects Examples" in issue.message and "is Statistics" in issue.message
    assert issue.hint == "'read.examples' is Examples"


def test_missing_required_input_names_input_and_type(project):
    issue = only(project(GOOD.replace("    inputs: {statistics: stats.statistics}\n", "")))
    assert (issue.line, issue.column) == (12, 3)  # the component 'check'
    assert "missing required input 'statistics' (Statistics)" in issue.message
    assert issue.hint == "wire it: inputs: {statistics: stats.statistics}"


def test_cycle_is_listed_with_its_path(project):
    found = issues(
        project("""
        name: demo
        components:
          a: {type: MOD:stats, inputs: {examples: b.statistics}}
          b: {type: MOD:stats, inputs: {examples: a.statistics}}
    """)
    )
    cycles = [i for i in found if i.message.startswith("cycle:")]
    assert len(cycles) == 1
    assert cycles[0].message in ("cycle: a -> b -> a", "cycle: b -> a -> b")
    assert cycles[0].line in (3, 4)


def test_duplicate_key(project):
    issue = only(project(GOOD.replace("name: demo\n", "name: demo\nname: again\n")))
    assert (issue.line, issue.column) == (2, 1)
    assert "duplicate key 'name' (first written on line 1)" in issue.message


# -- the file itself -------------------------------------------------------------------------------


def test_yaml_syntax_error_has_position(project):
    issue = only(project(GOOD.replace("{n: 5,", "{n: [5,")))
    assert issue.line >= 2 and issue.column >= 1
    assert issue.message.startswith("invalid YAML")


def test_tab_indentation(project):
    issue = only(project(GOOD.replace("  stats:", "\tstats:")))
    assert (issue.line, issue.column) == (9, 1)
    assert "tab" in issue.message.lower() or "tab" in (issue.hint or "")
    assert issue.hint == "YAML does not allow tabs for indentation; use spaces"


def test_empty_file(project):
    issue = only(project("# nothing here\n"))
    assert (issue.line, issue.column) == (1, 1)
    assert issue.message == "the file is empty"


def test_top_level_must_be_a_mapping(project):
    issue = only(project("- name: demo\n"))
    assert (issue.line, issue.column) == (1, 1)
    assert "must be a mapping" in issue.message


def test_missing_file(tmp_path):
    issue = only(str(tmp_path / "nope.yaml"))
    assert issue.line == 0 and issue.message == "no such file"
    assert issue.render() == f"{tmp_path / 'nope.yaml'}: error: no such file"


def test_not_utf8(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_bytes(b"name: demo\ncomponents: \xff\xfe\n")
    issue = only(str(path))
    assert (issue.line, issue.column) == (2, 13)


def test_all_errors_at_once(project):
    path = project(
        GOOD.replace("params:", "parmas:", 1).replace("{train:", "{trian:").replace("read.examples", "read.exampels")
    )
    found = issues(path)
    assert [(i.line, i.column) for i in found] == [(2, 1), (8, 16), (11, 24)]
    # parmas was not params: ${params.src} and ${params.n} have nothing to read, reported where used
    path = project(
        GOOD.replace("retries", "x")
        .replace("{train:", "{trian:")
        .replace("read.examples", "read.exampels")
        .replace("MOD:check", "MOD:chekc")
    )
    assert len(issues(path)) == 3


def test_render_reads_like_a_compiler(project):
    path = project(GOOD.replace("{examples: read.examples}", "{exampels: read.examples}"))
    with pytest.raises(PipelineSpecError) as info:
        load_pipeline(path, environ={})
    assert info.value.render() == (
        f"{path}:11:14: error: unknown input 'exampels' of component 'stats' ({project.module}:stats)\n"
        "  hint: did you mean 'examples'?\n"
        f"1 error in {path}"
    )


# -- interpolation ---------------------------------------------------------------------------------


def test_exact_reference_keeps_its_type_and_embedded_ones_format(project):
    path = project(
        GOOD.replace("source: ${params.src}", "source: data/${params.n}-${params.nest.x}.csv").replace(
            "inputs: {examples: read.examples}",
            "inputs: {examples: read.examples}\n    params: {bins: '${params.nest.x}'}",
        )
    )
    pipeline = load_pipeline(path, environ={})
    assert pipeline.nodes["read"].params.source == "data/5-3.csv"
    assert pipeline.nodes["stats"].params.bins == 3
    assert pipeline.spec["components"]["stats"]["params"]["bins"] == 3  # a number, not "3"


def test_unknown_param_suggests(project):
    issue = only(project(GOOD.replace("${params.src}", "${params.scr}")))
    assert (issue.line, issue.column) == (7, 15)
    assert "unknown parameter 'params.scr'" in issue.message
    assert issue.hint == "did you mean 'src'?"


def test_unset_env_var_is_named_and_default_applies(project):
    path = project(GOOD.replace("source: ${params.src}", "source: ${env:HR_SOURCE}"))
    issue = only(path)
    assert (issue.line, issue.column) == (7, 15)
    assert "environment variable 'HR_SOURCE' is not set" in issue.message
    assert "${env:HR_SOURCE:-value}" in issue.hint
    path = project(GOOD.replace("source: ${params.src}", "source: ${env:HR_SOURCE:-fallback.csv}"))
    assert load_pipeline(path, environ={}).nodes["read"].params.source == "fallback.csv"
    assert load_pipeline(path, environ={"HR_SOURCE": "s.csv"}).nodes["read"].params.source == "s.csv"


def test_bad_interpolation_syntax(project):
    issue = only(project(GOOD.replace("${params.src}", "${prams.src}")))
    assert "cannot interpolate '${prams.src}'" in issue.message


def test_secrets_stay_references(project):
    path = project(
        GOOD.replace("      source: ${params.src}\n", "      source: ${params.src}\n      token: ${env:HR_TOKEN}\n")
        + "metadata: postgresql://me:${env:HR_PASSWORD}@db/meta\n"
    )
    env = {"HR_TOKEN": "s3cr3t-token", "HR_PASSWORD": "hunter22"}
    pipeline = load_pipeline(path, environ=env)
    assert pipeline.nodes["read"].params.token == "s3cr3t-token"
    assert pipeline.nodes["read"].display_params["token"] == "${env:HR_TOKEN}"
    assert pipeline.spec["components"]["read"]["params"]["token"] == "${env:HR_TOKEN}"
    assert pipeline.spec["metadata"] == "postgresql://me:${env:HR_PASSWORD}@db/meta"
    assert pipeline.metadata_url == "postgresql://me:hunter22@db/meta"
    assert pipeline.secrets == frozenset({"s3cr3t-token", "hunter22"})
    assert "s3cr3t" not in repr(pipeline.spec) and "hunter22" not in repr(pipeline.spec)
    assert all("s3cr3t" not in repr(n.display_params) for n in pipeline.nodes.values())


# -- --set -----------------------------------------------------------------------------------------


def test_set_overrides_params_before_interpolation(project):
    pipeline = load_pipeline(project(GOOD), ["params.src=other.csv", "params.n=7"], environ={})
    assert pipeline.nodes["read"].params.source == "other.csv"
    assert pipeline.nodes["read"].params.splits.train == 7
    assert pipeline.params["n"] == 7


def test_set_is_typed_by_the_schema(project):
    path = project(GOOD)
    pipeline = load_pipeline(
        path,
        [
            "components.read.params.splits.eval=9",
            "components.read.params.label=123",
            "components.stats.retries=3",
            "components.stats.cache=false",
            "beam.runner=DaskRunner",
            "beam.options.direct_num_workers=2",
        ],
        environ={},
    )
    read = pipeline.nodes["read"]
    assert read.params.splits.eval == 9
    assert read.params.label == "123"  # a str field: the text, not the number
    assert pipeline.nodes["stats"].retries == 3 and pipeline.nodes["stats"].cache is False
    assert pipeline.beam_runner == "DaskRunner" and pipeline.beam_options == {"direct_num_workers": 2}


def test_bad_set_is_located_at_the_option(project):
    path = project(GOOD)
    found = issues(
        path,
        overrides=["components.raed.params.source=x", "nonsense", "params.src.deep=1", "components.stats.retries=-1"],
    )
    rendered = [i.render() for i in found]
    assert all(i.line == 0 for i in found), rendered
    assert {i.file for i in found} == {
        "--set components.raed.params.source",
        "--set nonsense",
        "--set params.src.deep",
        "--set components.stats.retries",
    }
    by_file = {i.file: i for i in found}
    assert by_file["--set components.raed.params.source"].hint == "did you mean 'read'?"
    assert "greater than or equal to 0" in by_file["--set components.stats.retries"].message


# -- the CLI ---------------------------------------------------------------------------------------


def test_cli_validate_example():
    result = CliRunner().invoke(main, ["validate", str(EXAMPLE)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    count = len(load_pipeline(str(EXAMPLE)).nodes)
    assert f"pipeline 'penguin' is valid ({count} components)" in result.output


def test_cli_validate_bad_file(project):
    path = project(GOOD.replace("read.examples", "read.exampels"))
    result = CliRunner().invoke(main, ["validate", path], catch_exceptions=False)
    assert result.exit_code == 2
    assert f"{path}:11:24: error:" in result.output
    assert "did you mean 'examples'?" in result.output
    assert result.output.strip().endswith(f"1 error in {path}")


def test_cli_validate_with_set():
    result = CliRunner().invoke(
        main, ["validate", str(EXAMPLE), "--set", "params.label=island"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output


def test_cli_validate_as_a_real_process(project):
    script = Path(sys.executable).parent / "headrace"
    ok = subprocess.run([str(script), "validate", str(EXAMPLE)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = project(GOOD.replace("name: demo", "name: demo\nroots: x"))
    failed = subprocess.run([str(script), "validate", bad], capture_output=True, text=True, timeout=60)
    assert failed.returncode == 2
    assert f"{bad}:2:1: error: unknown key 'roots' at the top level" in failed.stderr
    assert "Traceback" not in failed.stderr


# -- inputs from earlier runs ---------------------------------------------------------------------

EARLIER = GOOD.replace(
    "    inputs: {statistics: stats.statistics}\n",
    "    inputs: {statistics: stats.statistics, examples: {latest: WIRE}}\n",
)


def test_an_earlier_run_input_is_a_wire_that_waits_for_nothing(project):
    pipeline = load_pipeline(project(EARLIER.replace("WIRE", "read.examples")))
    wire = pipeline.nodes["check"].inputs["examples"]
    assert (wire.node, wire.output, wire.latest, wire.blessed) == ("read", "examples", True, False)
    assert pipeline.nodes["check"].upstream == {"stats"}


def test_an_earlier_run_input_is_checked_like_any_wire(project):
    issue = only(project(EARLIER.replace("WIRE", "read.exampels")))
    assert (issue.line, issue.column) == (14, 63)  # at the wire written under latest:
    assert "has no output 'exampels'" in issue.message and issue.hint == "did you mean 'examples'?"
    issue = only(project(EARLIER.replace("WIRE", "raed.examples")))
    assert "unknown component 'raed'" in issue.message and issue.hint == "did you mean 'read'?"
    issue = only(project(EARLIER.replace("WIRE", "stats.statistics")))
    assert "expects Examples, but 'stats.statistics' is Statistics" in issue.message
    issue = only(project(EARLIER.replace("WIRE", "read.examples, blessed: true")))
    assert "'blessed: true' of input 'examples'" in issue.message and "needs a Model output" in issue.message
    issue = only(project(EARLIER.replace("WIRE", "read.examples, blesed: true")))
    assert "unknown key 'blesed'" in issue.message and issue.hint == "did you mean 'blessed'?"
