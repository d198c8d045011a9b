"""The transform on Beam: the analyze passes and the transform pass as one pipeline.

Every Beam pipeline costs a start (a tenth of a second on the DirectRunner in
memory, two seconds with multi_processing workers, minutes on Dataflow), so
the passes are not one pipeline each: the analysis state
(``analysis.AnalysisState``) is an element that flows from pass to pass, and
the pipeline ends with the transform pass, which runs once the state says
the analysis is done. How many passes a transform needs is known only after
running them (a ``preprocessing_fn`` is done when its values stop changing),
so ``passes_to_unroll`` guesses; a pass stage after the analysis is done
reads nothing, and when the guess was short the driver starts another
pipeline from the state it got back.

Each pass joins the state to every file of the split by file number
(``Flatten`` + ``GroupByKey``), so files are read in parallel on every runner
(DaskRunner translates neither side inputs nor ``Reshuffle`` usefully), adds
each file's RecordBatches into one accumulator (``engines.accumulate_file``),
and folds the state and the accumulators into the next state in a
``CombinePerKey``. The files are read by DoFns, as DaskRunner does not
translate Beam's ``Read``; DaskRunner computes only the last transform's
output, so the pipeline is one chain that ends in the transform pass, and
the final state is pickled under ``work_uri`` for the driver to read back.

Imported only when the Beam engine runs (importing Beam costs about a second).
"""

from __future__ import annotations

import logging
import pickle
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import apache_beam as beam

from headrace.components.beam_options import pipeline_options, run_pipeline
from headrace.components.engines import accumulate_file
from headrace.components.files import filesystem
from headrace.components.transform.analysis import (
    AnalysisState,
    advance,
    fitted,
    log_passes,
    next_pass,
    passes_to_unroll,
)
from headrace.components.transform.engine import EngineSettings, FileTask, transform_file
from headrace.components.transform.graph import FittedTransform
from headrace.components.transform.scope import Recording, TransformError


@dataclass(frozen=True)
class PassError:
    """A ``TransformError`` met while reading a file in a pass, carried to the fold as data."""

    message: str


def fit_and_transform_on_beam(
    state: AnalysisState,
    paths: list[str],
    tasks: list[FileTask],
    settings: EngineSettings,
    log: logging.Logger,
    progress: Callable[[str], None],
) -> FittedTransform:
    """Finish the analysis from ``state`` over the files ``paths`` and transform ``tasks``: usually one pipeline."""
    runner = settings.beam_options.get("runner", "DirectRunner")
    while True:
        unrolled = passes_to_unroll(state)
        logged = len(state.log)
        progress(f"analyze ({unrolled} pass(es) of {state.split}, {state.rows:,} rows) and transform on {runner}")
        state = _run(state, paths, tasks, unrolled, settings)
        log_passes(state, log, since=logged)
        if state.error is not None:
            raise TransformError(state.error)
        if state.done:
            return fitted(state)  # the pipeline's last stage has transformed every file with it


def _run(
    state: AnalysisState, paths: list[str], tasks: list[FileTask], unrolled: int, settings: EngineSettings
) -> AnalysisState:
    batch_size = settings.batch_size
    scratch = f"{settings.work_uri.rstrip('/')}/_beam-{uuid.uuid4().hex[:8]}"
    pipeline = beam.Pipeline(options=pipeline_options(settings.beam_options))
    states = pipeline | "Start" >> beam.Create([state])
    files = pipeline | "Files" >> beam.Create(list(enumerate(paths)))
    for number in range(1, unrolled + 1):
        states = _analyze_pass(states, files, len(paths), batch_size, f"Pass{number}")
    fitted_per_task = (
        states
        | "KeepState" >> beam.ParDo(WriteState(scratch))
        | "PerTask" >> beam.FlatMap(_transform_tasks, len(tasks))
    )
    _ = _join(fitted_per_task, pipeline | "Tasks" >> beam.Create(list(enumerate(tasks))), "Task") | (
        "Transform" >> beam.FlatMap(_transform, batch_size)
    )
    run_pipeline(pipeline)
    fs, root = filesystem(scratch)
    try:
        with fs.open_input_stream(f"{root}/state.pickle") as handle:
            return pickle.loads(handle.read())
    except FileNotFoundError:
        raise RuntimeError(
            f"the Beam pipeline finished without the analysis state (expected {root}/state.pickle); "
            "the runner dropped the output of a step"
        ) from None
    finally:
        fs.delete_dir(root)


def _analyze_pass(states: Any, files: Any, count: int, batch_size: int, label: str) -> Any:
    """States -> the next states: the pass's CombineFn over each file (in parallel), folded with the state."""
    accumulated = _join(
        states | f"{label}PerFile" >> beam.FlatMap(_pass_per_file, count), files, f"{label}Read"
    ) | f"{label}Accumulate" >> beam.FlatMap(_accumulate, batch_size)
    return (
        (states, accumulated)
        | f"{label}StateAndFiles" >> beam.Flatten()
        | f"{label}OneKey" >> beam.Map(lambda element: (None, element))
        | f"{label}Fold" >> beam.CombinePerKey(FoldPass())
        | f"{label}State" >> beam.Values()
    )


def _join(per_number: Any, numbered: Any, label: str) -> Any:
    """``(number, payload)`` and ``(number, item)`` -> ``(payload, item)`` for each number that has both.

    A ``GroupByKey`` on the number, which every runner translates and which
    spreads the numbers over workers (DaskRunner shuffles a group-by by key).
    """
    tagged = (
        per_number | f"{label}Payload" >> beam.MapTuple(lambda number, payload: (number, (0, payload))),
        numbered | f"{label}Item" >> beam.MapTuple(lambda number, item: (number, (1, item))),
    )
    return (
        tagged
        | f"{label}Both" >> beam.Flatten()
        | f"{label}ByNumber" >> beam.GroupByKey()
        | f"{label}Pairs" >> beam.FlatMapTuple(_pairs)
    )


def _pairs(number: int, tagged: Any) -> Iterator[tuple[Any, Any]]:
    payloads = [value for tag, value in tagged if tag == 0]
    items = [value for tag, value in tagged if tag == 1]
    for payload in payloads:
        for item in items:
            yield payload, item


def _pass_per_file(state: AnalysisState, count: int) -> Iterator[tuple[int, Any]]:
    """The state's next pass, once per file number; nothing when the analysis is over."""
    if state.done or state.error is not None:
        return
    try:
        fn = next_pass(state)
    except TransformError as exc:
        yield 0, PassError(str(exc))
        return
    for number in range(count):
        yield number, fn


def _accumulate(element: tuple[Any, str], batch_size: int) -> Iterator[Any]:
    fn, path = element
    if isinstance(fn, PassError):
        yield fn
        return
    try:
        yield accumulate_file(fn, path, batch_size, fn.columns)
    except TransformError as exc:
        yield PassError(str(exc))


class FoldPass(beam.CombineFn):
    """The state and the pass's per-file accumulators (any order, any grouping) -> the state after the pass.

    Accumulator: ``[state or None, merged Recording or None, error message or None]``;
    of several errors the smallest message wins, so every runner reports the same one.
    """

    def create_accumulator(self) -> list[Any]:
        return [None, None, None]

    def add_input(self, accumulator: list[Any], element: Any) -> list[Any]:
        return self.merge_accumulators([accumulator, _as_accumulator(element)])

    def merge_accumulators(self, accumulators: Any) -> list[Any]:
        merged: list[Any] = [None, None, None]
        for state, recording, error in accumulators:
            if state is not None:
                merged[0] = state
            if recording is not None:
                if merged[1] is None:
                    merged[1] = Recording()
                merged[1].merge(recording)
            if error is not None:
                merged[2] = error if merged[2] is None else min(merged[2], error)
        return merged

    def extract_output(self, accumulator: list[Any]) -> AnalysisState:
        state, recording, error = accumulator
        assert state is not None, "a pass's fold always receives the state"
        if state.done or state.error is not None:
            return state
        if error is not None:
            return replace(state, error=error)
        return advance(state, (recording or Recording()).extract())


def _as_accumulator(element: Any) -> list[Any]:
    if isinstance(element, AnalysisState):
        return [element, None, None]
    if isinstance(element, PassError):
        return [None, None, element.message]
    return [None, element, None]


class WriteState(beam.DoFn):
    """The state -> ``<scratch>/state.pickle`` for the driver (some runners return nothing), then passed on."""

    def __init__(self, scratch: str) -> None:
        self.scratch = scratch

    def process(self, state: AnalysisState) -> Iterator[AnalysisState]:
        fs, root = filesystem(self.scratch)
        fs.create_dir(root, recursive=True)
        with fs.open_output_stream(f"{root}/state.pickle") as out:
            out.write(pickle.dumps(state))
        yield state


def _transform_tasks(state: AnalysisState, count: int) -> Iterator[tuple[int, FittedTransform]]:
    """The frozen transform once per task, when the analysis is done (a freezing error is the driver's to raise)."""
    if not state.done or state.error is not None:
        return
    try:
        transform = fitted(state)
    except TransformError:
        return
    for number in range(count):
        yield number, transform


def _transform(element: tuple[FittedTransform, FileTask], batch_size: int) -> Iterator[int]:
    transform, task = element
    yield transform_file(transform, task, batch_size)
