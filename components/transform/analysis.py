"""The analyze phase: passes over the training split until every analyzer value is final.

One pass is one CombineFn (``AnalyzePassFn``) over the split's RecordBatches:
it runs the plan on each batch with a ``tx`` that records every analyzer whose
value is not final yet. A value computed from inputs that did not depend on
any non-final value is *ready* and becomes final after the pass. Ops know
their dependencies (taint, see ``ops``), so the YAML ops take one pass per
chain of dependent analyzers (``fill_missing: mean`` then ``scale_to_z_score``:
two); an analyzer over a column that depends on a value not yet final is
*deferred* (not computed at all), and a pass stops after the last op that
still has work. In a ``preprocessing_fn`` a call made after another analyzer
handed out a not-yet-final value might depend on it; it becomes final when a
pass recomputes it unchanged from inputs that were not themselves guesses (so
a function with several analyzers takes two passes, and one more per level
of genuine dependency).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa

from headrace.components.transform.graph import FittedTransform, empty_batch
from headrace.components.transform.ops import op_index
from headrace.components.transform.plan import Plan
from headrace.components.transform.scope import Recording, TransformError

MAX_PASSES = 10

CombineRunner = Callable[["AnalyzePassFn"], dict[str, Any]]
"""Runs one pass's CombineFn over the analyze split (in-process or on Beam) and returns its output."""


class AnalyzePassFn:
    """One analyze pass as Beam's four CombineFn methods over RecordBatches (no Beam import)."""

    def __init__(
        self,
        plan: Plan,
        values: dict[str, Any],
        final: set[str],
        until: int | None = None,
        columns: list[str] | None = None,
    ) -> None:
        self.plan = plan
        self.values = values
        self.final = frozenset(final)
        self.until = until
        self.columns = columns
        """The columns this pass reads (None: all); engines read only these from Parquet."""

    def create_accumulator(self) -> Recording:
        return Recording()

    def add_input(self, accumulator: Recording, batch: pa.RecordBatch) -> Recording:
        columns = {name: batch.column(i) for i, name in enumerate(batch.schema.names)}
        self.plan.run(columns, self.plan.scope(self.values, self.final, accumulator), until=self.until)
        return accumulator

    def merge_accumulators(self, accumulators: Any) -> Recording:
        merged = Recording()
        for accumulator in accumulators:
            merged.merge(accumulator)
        return merged

    def extract_output(self, accumulator: Recording) -> dict[str, Any]:
        return accumulator.extract()


@dataclass
class AnalysisState:
    """Where the analyze phase stands between passes: plain data, so a Beam pipeline can carry it from pass to pass.

    The in-process engine advances it in a loop; the Beam engine unrolls
    passes into one pipeline, each pass a stage that reads the state as an
    element. A ``TransformError`` met on a worker is kept in ``error`` (an
    exception would reach the driver wrapped differently by every runner) and
    raised by the driver; ``log`` keeps what each pass would have logged.
    """

    plan: Plan
    input_schema: pa.Schema
    split: str
    rows: int
    values: dict[str, Any] = field(default_factory=dict)
    final: set[str] = field(default_factory=set)
    passes: int = 0
    until: int | None = None
    """The last op index the next pass needs to run (None: all of them, the user function too)."""
    done: bool = False
    error: str | None = None
    log: list[tuple[str, str]] = field(default_factory=list)
    """(level, message) per pass, for the driver's log."""


def start_analysis(plan: Plan, input_schema: pa.Schema, *, split: str, rows: int) -> AnalysisState:
    """The state before the first pass; bad selectors and column types fail here, in milliseconds."""
    if rows == 0:
        raise TransformError(f"the analyze split {split!r} has no rows: there is nothing to compute analyzers from")
    from headrace.components.transform.image_ops import image_columns

    plan.images = image_columns(input_schema)
    _check_on_empty(plan, input_schema)
    return AnalysisState(plan, input_schema, split, rows)


def next_pass(state: AnalysisState) -> AnalyzePassFn:
    """The CombineFn of the state's next pass, reading only the columns that pass needs."""
    needed = _needed_columns(state.plan, state.input_schema, state.values, state.final, state.until)
    return AnalyzePassFn(state.plan, state.values, state.final, state.until, needed)


def advance(state: AnalysisState, result: dict[str, Any]) -> AnalysisState:
    """The state after a pass whose CombineFn output is ``result``: which values are final, what is still pending."""
    values, final, log = dict(state.values), set(state.final), list(state.log)
    passes = state.passes + 1
    recorded, deferred = result.get("analyzers", {}), result.get("deferred", [])
    for key, entry in recorded.items():
        if entry["ready"] or (not entry.get("tainted") and values.get(key) == entry["value"]):
            final.add(key)
        values[key] = entry["value"]
    pending = [k for k in recorded if k not in final] + list(deferred)
    log.append(
        ("info", f"transform: analyze pass {passes} computed {len(recorded)} analyzer(s), {len(pending)} still pending")
    )
    done, until = not pending, state.until
    if pending and passes >= MAX_PASSES:
        log.append(("warning", f"transform: analyzers still changing after {passes} passes; keeping the last values"))
        final.update(recorded)
        done = True
    elif pending:
        indices = [op_index(k) for k in pending]
        until = None if None in indices else max(i for i in indices if i is not None)
    return replace(state, values=values, final=final, passes=passes, until=until, done=done, log=log)


def fitted(state: AnalysisState) -> FittedTransform:
    """The frozen transform of a finished analysis."""
    assert state.done and state.error is None
    transform = freeze(state.plan, {k: v for k, v in state.values.items() if k in state.final}, state.input_schema)
    transform.analysis = {"split": state.split, "rows": state.rows, "passes": state.passes}
    return transform


def finish(
    state: AnalysisState,
    run_pass: CombineRunner,
    log: logging.Logger,
    progress: Callable[[str], None] = lambda note: None,
) -> FittedTransform:
    """Run the state's remaining passes one after the other, each by ``run_pass``; freeze."""
    while not state.done:
        progress(f"analyze pass {state.passes + 1} over {state.rows:,} rows of {state.split}")
        logged = len(state.log)
        state = advance(state, run_pass(next_pass(state)))
        log_passes(state, log, since=logged)
    return fitted(state)


def passes_to_unroll(state: AnalysisState) -> int:
    """How many passes to put into one Beam pipeline: a guess, as only running them tells.

    None when the analysis is done; one when YAML ops alone are left and no
    analyzer waits for another's value (a dry run on no rows defers none);
    else two: a chain of two ops (``fill_missing`` then ``scale_to_z_score``)
    or the usual ``preprocessing_fn``. A pass after the end costs a stage that
    reads nothing; a missing one, another pipeline.
    """
    if state.done:
        return 0
    if state.plan.user is None or state.until is not None:
        empty = empty_batch(state.input_schema)
        recording = Recording()
        columns = {name: empty.column(i) for i, name in enumerate(state.input_schema.names)}
        state.plan.run(columns, state.plan.scope(state.values, frozenset(state.final), recording), None, state.until)
        if not recording.deferred:
            return 1
    return 2


def log_passes(state: AnalysisState, log: logging.Logger, since: int = 0) -> None:
    for level, message in state.log[since:]:
        getattr(log, level)(message)


def _check_on_empty(plan: Plan, input_schema: pa.Schema) -> None:
    """Run the plan once on no rows before reading data: bad selectors and column types fail in milliseconds."""
    empty = empty_batch(input_schema)
    columns = {name: empty.column(i) for i, name in enumerate(input_schema.names)}
    plan.run(columns, plan.scope({}, frozenset(), Recording()))


def _needed_columns(
    plan: Plan, input_schema: pa.Schema, values: dict[str, Any], final: set[str], until: int | None
) -> list[str] | None:
    """The input columns a pass reads: what its ops select (on no rows); None when a user function runs."""
    if plan.user is not None and until is None:
        return None  # what a function reads may depend on the data: read everything
    empty = empty_batch(input_schema)
    columns = {name: empty.column(i) for i, name in enumerate(input_schema.names)}
    reads: set[str] = set()
    plan.run(columns, plan.scope(values, frozenset(final), Recording()), reads, until)
    return [name for name in input_schema.names if name in reads]


def mark_images(schema: pa.Schema, images: set[str]) -> pa.Schema:
    """``schema`` with the image columns the ops leave marked as images (their bytes pass through unchanged)."""
    from headrace.components.images import image_field

    return pa.schema([image_field(f.name) if f.name in images and pa.types.is_binary(f.type) else f for f in schema])


def freeze(plan: Plan, values: dict[str, Any], input_schema: pa.Schema) -> FittedTransform:
    """Fix each op's selector to the columns it chose, and record which input columns are read and the output."""
    from headrace.components.transform.ops import apply_op, selected

    empty = empty_batch(input_schema)
    columns = {name: empty.column(i) for i, name in enumerate(input_schema.names)}
    tx = plan.scope(values, frozenset(values))
    tainted: set[str] = set()
    tx.start_images()
    for op in plan.ops:
        op.columns = selected(op, columns, tx.image_columns)
        columns = apply_op(op, columns, tx, tainted)
    reads: set[str] = set()
    columns = {name: empty.column(i) for i, name in enumerate(input_schema.names)}
    plan.run(columns, tx, reads)
    fitted = FittedTransform(plan, values, input_schema, [n for n in input_schema.names if n in reads])
    fitted.output_schema = mark_images(fitted.empty_output().schema, tx.image_columns)
    return fitted
