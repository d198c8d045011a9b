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
