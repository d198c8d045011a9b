"""Statistics of every split of an Examples artifact, on the engine the parameters and data call for.

There is one implementation of the statistics, ``combiners.StatisticsCombineFn``;
``engines.combine_per_split`` decides *where* its four methods are called
(in this process, or as the CombineFn of a Beam pipeline on the pipeline
file's runner). ``engine: auto`` stays in-process when the data has at most
``in_process_max_rows`` rows (counted from the Parquet footers, without
reading data) and the runner is the local DirectRunner.

Both engines read with ``batch_size`` rows per RecordBatch, so memory is
bounded by batch size and sketch sizes, never by the number of rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from headrace.components.artifacts import Examples
from headrace.components.beam_options import runner_name
from headrace.components.engines import Engine, choose_engine, combine_per_split
from headrace.components.examples_io import SplitFiles, list_split
from headrace.components.validator.combiners import StatisticsCombineFn, StatisticsOptions
from headrace.components.validator.formats import DatasetStatistics


def compute_statistics(
    examples: Examples,
    options: StatisticsOptions,
    *,
    engine: Engine = "auto",
    in_process_max_rows: int = 2_000_000,
    batch_size: int = 65_536,
    beam_options: dict[str, Any] | None = None,
    work_uri: str | None = None,
    log: logging.Logger | None = None,
    progress: Callable[[str], None] = lambda note: None,
) -> tuple[DatasetStatistics, str]:
    """Statistics of every split of ``examples`` and the engine that computed them.

    ``work_uri`` is a directory every Beam worker can write to (the output
    artifact's staging URI); the Beam engine leaves per-split results there
    for the driver to read back, as DaskRunner returns no values.
    """
    log = log or logging.getLogger("headrace.statistics")
    beam_options = dict(beam_options or {"runner": "DirectRunner"})
    splits = [list_split(examples, s) for s in examples.splits]
    rows = sum(s.num_rows for s in splits)
    chosen = choose_engine(engine, runner=runner_name(beam_options), small=rows <= in_process_max_rows)
    log.info("statistics over %d rows in %d split(s), engine=%s", rows, len(splits), chosen)

    def fn_for_split(split: SplitFiles) -> StatisticsCombineFn:
        return StatisticsCombineFn(options, split.schema)

    results = combine_per_split(
        fn_for_split,
        splits,
        engine=chosen,
        batch_size=batch_size,
        beam_options=beam_options,
        work_uri=work_uri,
        progress=progress,
    )
    named = {name: stats.model_copy(update={"name": name}) for name, stats in results.items()}
    return DatasetStatistics(splits=named), chosen
