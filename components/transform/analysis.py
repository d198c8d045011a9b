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


def analyze(
    plan: Plan,
    input_schema: pa.Schema,
    run_pass: CombineRunner,
    *,
    split: str,
    rows: int,
    log: logging.Logger,
    progress: Callable[[str], None] = lambda note: None,
) -> FittedTransform:
    """Run passes until every analyzer is final; resolve selectors; freeze into a ``FittedTransform``."""
    if rows == 0:
        raise TransformError(f"the analyze split {split!r} has no rows: there is nothing to compute analyzers from")
    _check_on_empty(plan, input_schema)
    values: dict[str, Any] = {}
    final: set[str] = set()
    passes = 0
    until: int | None = None  # the first pass runs everything: nothing is known yet
    while True:
        passes += 1
        progress(f"analyze pass {passes} over {rows:,} rows of {split}")
        needed = _needed_columns(plan, input_schema, values, final, until)
        result = run_pass(AnalyzePassFn(plan, values, final, until, needed))
        recorded, deferred = result.get("analyzers", {}), result.get("deferred", [])
        for key, entry in recorded.items():
            if entry["ready"] or (not entry.get("tainted") and values.get(key) == entry["value"]):
                final.add(key)
            values[key] = entry["value"]
        pending = [k for k in recorded if k not in final] + list(deferred)
        log.info(
            "transform: analyze pass %d computed %d analyzer(s), %d still pending", passes, len(recorded), len(pending)
        )
        if not pending:
            break
        if passes >= MAX_PASSES:
            log.warning("transform: analyzers still changing after %d passes; keeping the last values", passes)
            final.update(recorded)
            break
        indices = [op_index(k) for k in pending]
        until = None if None in indices else max(i for i in indices if i is not None)
    fitted = freeze(plan, {k: v for k, v in values.items() if k in final}, input_schema)
    fitted.analysis = {"split": split, "rows": rows, "passes": passes}
    return fitted


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


def freeze(plan: Plan, values: dict[str, Any], input_schema: pa.Schema) -> FittedTransform:
    """Fix each op's selector to the columns it chose, and record which input columns are read and the output."""
    from headrace.components.transform.ops import apply_op, selected

    empty = empty_batch(input_schema)
    columns = {name: empty.column(i) for i, name in enumerate(input_schema.names)}
    tx = plan.scope(values, frozenset(values))
    tainted: set[str] = set()
    for op in plan.ops:
        op.columns = selected(op, columns)
        columns = apply_op(op, columns, tx, tainted)
    reads: set[str] = set()
    columns = {name: empty.column(i) for i, name in enumerate(input_schema.names)}
    plan.run(columns, tx, reads)
    fitted = FittedTransform(plan, values, input_schema, [n for n in input_schema.names if n in reads])
    fitted.output_schema = fitted.empty_output().schema
    return fitted
