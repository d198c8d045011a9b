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

import contextlib
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
    scratch = f"{settings.work_uri.rstrip('/')}/_beam-{uuid.uuid4().hex[:8]}"
    pipeline = beam.Pipeline(options=pipeline_options(settings.beam_options))
    states = pipeline | "Start" >> beam.Create([(None, state)], reshuffle=False)
    files = pipeline | "Files" >> beam.Create(_numbered(paths), reshuffle=False)
    for number in range(1, unrolled + 1):
        states = _analyze_pass(states, files, len(paths), settings.batch_size, f"Pass{number}")
    per_task = states | "KeepStateThenPerTask" >> beam.ParDo(KeepStateThenPerTask(scratch, len(tasks)))
    _ = (
        (per_task, pipeline | "Tasks" >> beam.Create(_numbered(tasks), reshuffle=False))
        | "TaskAndTransform" >> beam.Flatten()
        | "ByTask" >> beam.GroupByKey()
        | "Transform" >> beam.FlatMap(_transform, settings.batch_size)
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
        with contextlib.suppress(FileNotFoundError):  # nothing written there: the error above is the one to report
            fs.delete_dir(root)


PAYLOAD, ITEM = 0, 1
"""Tags of what meets at a file (or task) number: the pass (or frozen transform) and the file (or task)."""


def _numbered(items: list[Any]) -> list[tuple[int, tuple[int, Any]]]:
    return [(number, (ITEM, item)) for number, item in enumerate(items)]


def _analyze_pass(states: Any, files: Any, count: int, batch_size: int, label: str) -> Any:
    """``(None, state)`` -> ``(None, next state)``: the pass's CombineFn over each file, folded with the state.

    The pass meets each file at its number in a ``GroupByKey``, which every
    runner translates and which spreads the files over workers (DaskRunner
    shuffles a group-by by key; it translates neither side inputs nor
    ``Reshuffle`` into anything that does).
    """
    accumulated = (
        (states | f"{label}PerFile" >> beam.FlatMap(_pass_per_file, count), files)
        | f"{label}PassAndFile" >> beam.Flatten()
        | f"{label}ByFile" >> beam.GroupByKey()
        | f"{label}Accumulate" >> beam.FlatMap(_accumulate, batch_size)
    )
    return (
        (states, accumulated)
        | f"{label}StateAndFiles" >> beam.Flatten()
        | f"{label}Fold" >> beam.CombinePerKey(FoldPass())
    )


def _tagged(values: Any) -> tuple[list[Any], list[Any]]:
    """The payloads and the items among a group's tagged values."""
    values = list(values)
    return [v for tag, v in values if tag == PAYLOAD], [v for tag, v in values if tag == ITEM]


def _pass_per_file(keyed: tuple[None, AnalysisState], count: int) -> Iterator[tuple[int, tuple[int, Any]]]:
    """The state's next pass, once per file number; nothing when the analysis is over."""
    state = keyed[1]
    if state.done or state.error is not None:
        return
    try:
        fn: Any = next_pass(state)
    except TransformError as exc:
        yield 0, (PAYLOAD, PassError(str(exc)))
        return
    for number in range(count):
        yield number, (PAYLOAD, fn)


def _accumulate(group: tuple[int, Any], batch_size: int) -> Iterator[tuple[None, Any]]:
    """The pass's accumulator over the file (or the error it met), keyed for the fold."""
    passes, paths = _tagged(group[1])
    for fn in passes:
        if isinstance(fn, PassError):
            yield None, fn
            continue
        for path in paths:
            try:
                yield None, accumulate_file(fn, path, batch_size, fn.columns)
            except TransformError as exc:
                yield None, PassError(str(exc))


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


class KeepStateThenPerTask(beam.DoFn):
    """``(None, state)`` -> ``<scratch>/state.pickle`` for the driver (some runners return nothing), then,
    when the analysis is done, the frozen transform once per task number (a freezing error is the driver's to
    raise: it freezes the state it reads back).
    """

    def __init__(self, scratch: str, count: int) -> None:
        self.scratch = scratch
        self.count = count

    def process(self, element: tuple[None, AnalysisState]) -> Iterator[tuple[int, tuple[int, FittedTransform]]]:
        state = element[1]
        fs, root = filesystem(self.scratch)
        fs.create_dir(root, recursive=True)
        with fs.open_output_stream(f"{root}/state.pickle") as out:
            out.write(pickle.dumps(state))
        if not state.done or state.error is not None:
            return
        try:
            transform = fitted(state)
        except TransformError:
            return
        for number in range(self.count):
            yield number, (PAYLOAD, transform)


def _transform(group: tuple[int, Any], batch_size: int) -> Iterator[int]:
    transforms, tasks = _tagged(group[1])
    for transform in transforms:
        for task in tasks:
            yield transform_file(transform, task, batch_size)
