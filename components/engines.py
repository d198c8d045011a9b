"""Where a data component's work runs: ``engine: auto | beam | in_process``, and one CombineFn over every split.

Every data component has the same switch (ingest, statistics, transform):

- ``"beam"``: a Beam pipeline on the runner of the pipeline file's
  ``beam: {runner, options}`` (DirectRunner, DaskRunner, Dataflow, ...).
- ``"in_process"``: the same code called directly in this process. Beam is
  not even imported (its import alone costs about a second), which keeps a
  pipeline of small data fast.
- ``"auto"``: ``in_process`` when the data is small *and* the runner is a
  local one (an in-process engine is no worse than the DirectRunner there);
  otherwise ``beam``. A configured distributed runner is always used.

Aggregates (statistics, transform analyzers) are written once, as an object
with Beam's four ``CombineFn`` methods over Arrow RecordBatches, and
``combine_per_split`` runs it over each split of an Examples artifact on
either engine with identical results: in-process it is called exactly as a
runner would call it (one accumulator per file, then merged), on Beam it is
the ``CombineFn`` of a ``CombinePerKey``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, TypeVar

from headrace.components.beam_options import is_local_runner
from headrace.components.examples_io import SplitFiles, read_batches
from headrace.components.read_ahead import read_ahead

Engine = Literal["auto", "beam", "in_process"]
"""The value of a data component's ``engine`` parameter."""

ChosenEngine = Literal["beam", "in_process"]

A = TypeVar("A")
O = TypeVar("O", covariant=True)  # noqa: E741 (the output type, as in Beam's CombineFn[InputT, AccumT, OutputT])


class BatchCombineFn(Protocol[A, O]):
    """Beam's ``CombineFn`` protocol over RecordBatches; a plain object, Beam need not be imported.

    It must be picklable (Beam ships it to workers) and ``merge_accumulators``
    must not depend on the order of its arguments' creation, as on any runner.
    """

    def create_accumulator(self) -> A: ...

    def add_input(self, accumulator: A, batch: Any, /) -> A: ...

    def merge_accumulators(self, accumulators: Any, /) -> A: ...

    def extract_output(self, accumulator: A, /) -> O: ...


def choose_engine(engine: Engine, *, runner: str, small: bool | Callable[[], bool]) -> ChosenEngine:
    """The engine that runs: ``engine`` itself unless it is ``auto``.

    ``small`` says whether the data fits in-process; as a callable it is asked
    only when the answer matters (sizing the data may list remote files).
    """
    if engine != "auto":
        return engine
    if not is_local_runner(runner):
        return "beam"
    fits = small() if callable(small) else small
    return "in_process" if fits else "beam"


def combine_per_split(
    fn_for_split: Callable[[SplitFiles], BatchCombineFn[Any, O]],
    splits: Sequence[SplitFiles],
    *,
    engine: ChosenEngine,
    batch_size: int = 65_536,
    beam_options: dict[str, Any] | None = None,
    work_uri: str | None = None,
    progress: Callable[[str], None] = lambda note: None,
    columns: Sequence[str] | None = None,
) -> dict[str, O]:
    """``{split name: fn.extract_output(...)}``: each split's RecordBatches combined by its own CombineFn.

    ``fn_for_split(split)`` gives the CombineFn of a split (it may use the
    split's footer ``schema``, e.g. to describe a split with no rows). Memory
    is bounded by ``batch_size`` rows per batch and the accumulators' size.

    On ``"beam"``, ``beam_options`` are the pipeline file's ``{runner, ...}``
    and ``work_uri`` a directory every worker can write to (an output
    artifact's staging URI): each split's output is pickled there by the last
    step and read back, since some runners (DaskRunner) return no values to
    the driver. A split with no rows is never sent to Beam; its output is
    ``extract_output(create_accumulator())`` on both engines. ``columns``:
    the only columns read from the files (None: all).
    """
    fns = {split.name: fn_for_split(split) for split in splits}
    results: dict[str, O] = {}
    for split in splits:
        if split.num_rows == 0:
            fn = fns[split.name]
            results[split.name] = fn.extract_output(fn.create_accumulator())
    with_rows = [split for split in splits if split.num_rows]
    if engine == "in_process":
        for number, split in enumerate(with_rows, 1):
            progress(f"split {split.name} ({number} of {len(with_rows)}, {split.num_rows:,} rows)")
            results[split.name] = combine_in_process(fns[split.name], split.paths, batch_size, columns)
    elif with_rows:
        if work_uri is None:
            raise ValueError("the beam engine needs work_uri: a directory every worker can write to")
        from headrace.components.engines_beam import combine_on_beam

        options = dict(beam_options or {"runner": "DirectRunner"})
        progress(f"{sum(s.num_rows for s in with_rows):,} rows on {options.get('runner', 'DirectRunner')}")
        results.update(combine_on_beam(fns, with_rows, batch_size, options, work_uri, columns))
    return {split.name: results[split.name] for split in splits}


def combine_in_process(
    fn: BatchCombineFn[Any, O], paths: Sequence[str], batch_size: int, columns: Sequence[str] | None = None
) -> O:
    """The CombineFn's four methods called as a runner would: one accumulator per file, then merged."""
    total = fn.create_accumulator()
    for path in paths:
        total = fn.merge_accumulators([total, accumulate_file(fn, path, batch_size, columns)])
    return fn.extract_output(total)


def accumulate_file(fn: BatchCombineFn[A, Any], path: str, batch_size: int, columns: Sequence[str] | None = None) -> A:
    """One accumulator over one Parquet file's RecordBatches, decoded on a reader thread while ``fn`` adds them."""
    accumulator = fn.create_accumulator()
    for batch in read_ahead(read_batches(path, batch_size, columns), name="combine-reader"):
        accumulator = fn.add_input(accumulator, batch)
    return accumulator
