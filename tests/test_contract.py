"""The component contract as a component author sees it: typed parameters, typed inputs, gates."""

from __future__ import annotations

import typing

import pytest

from headrace.components import ComponentError, Context, Examples, GateFailed, Statistics
from headrace.components.registry import BUILTINS, load_component


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_each_built_in_types_its_context_by_its_own_parameters(name):
    """``run(self, ctx: Context[XParameters])``: ctx.params is typed, no isinstance checks needed."""
    cls = load_component(name)
    hints = typing.get_type_hints(cls.run, globalns=vars(__import__(cls.__module__, fromlist=["_"])))
    assert hints["ctx"] == Context[cls.Parameters]  # type: ignore[name-defined]
    assert cls.__orig_bases__[0].__args__ == (cls.Parameters,)  # type: ignore[attr-defined]


def test_typed_inputs_say_what_is_missing_or_wrong():
    examples = Examples(uri="/tmp/e")
    ctx: Context[typing.Any] = Context(
        component="stats", inputs={"examples": examples, "baseline": None}, outputs={}, params=None
    )
    assert ctx.input("examples", Examples) is examples
    assert ctx.optional_input("baseline", Statistics) is None
    with pytest.raises(ComponentError, match="needs its `schema` input wired"):
        ctx.input("schema", Statistics)
    with pytest.raises(ComponentError, match="input `examples` of component `stats` is Examples, not Statistics"):
        ctx.input("examples", Statistics)


def test_a_gate_failure_is_a_component_error():
    """Shown as its message, like any ComponentError; the runner publishes the outputs first."""
    assert issubclass(GateFailed, ComponentError)


def test_a_component_can_point_at_its_parameters_in_the_pipeline_file(tmp_path):
    """Run-time problems in what the parameters say ("this selector selects nothing") name file:line:col."""
    from headrace.pipelines.loader import load_pipeline

    data = tmp_path / "d.csv"
    data.write_text("x,y\n1,a\n")
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text(
        f"name: t\ncomponents:\n  ingest:\n    type: ingest\n    params: {{source: {data}}}\n"
        "  transform:\n    type: transform\n    inputs: {examples: ingest.examples}\n    params:\n      ops:\n"
        "        - log1p: {columns: [x]}\n        - drop:\n            columns: [y]\n"
    )
    node = load_pipeline(str(pipeline)).nodes["transform"]
    ctx: Context[typing.Any] = Context(
        component="transform",
        inputs={},
        outputs={},
        params=node.params,
        pipeline_file="pipeline.yaml",
        param_positions=node.param_positions,
    )
    assert ctx.location("ops", 0, "log1p") == "pipeline.yaml:11:11"
    assert ctx.location("ops", 1, "drop", "columns", 0) == "pipeline.yaml:13:23"
    assert ctx.location("ops", 5) == "pipeline.yaml:10:7"  # the nearest place that was written: ops
    assert Context(component="c", inputs={}, outputs={}, params=None).location("ops") == ""
