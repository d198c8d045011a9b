"""Who watches a run: one observer protocol, any number of observers.

Like Kedro's hooks, the runner and ``execute_task`` call these methods at
fixed points and do not know who listens: the progress views implement it
today, the MLflow mirror will tomorrow. Calls for different nodes can come
from different threads at once; an observer guards its own state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from headrace.pipelines.execution import NodeOutcome, RunResult
    from headrace.pipelines.graph import Pipeline


class RunObserver(Protocol):
    """The points of a run an observer hears about."""

    def run_started(self, run_id: str, pipeline: Pipeline, nodes: list[str]) -> None:
        """The run (or a resumed run) starts executing ``nodes``, in topological order."""

    def node_started(self, node: str, reason: str) -> None:
        """``node`` runs, and why (``no earlier execution``, ``parameter `x` changed ...``)."""

    def node_progress(self, node: str, note: str) -> None:
        """A running component says how far it has come (``1,200,000 rows read``); may come often."""

    def node_cached(self, outcome: NodeOutcome) -> None:
        """``node`` reused execution ``outcome.cached_from``'s outputs."""

    def node_finished(self, outcome: NodeOutcome) -> None:
        """``node`` ran and published its outputs."""

    def node_failed(self, outcome: NodeOutcome) -> None:
        """``node`` failed (a failed gate has published its outputs first: ``outcome.outputs``)."""

    def node_skipped(self, node: str, reason: str) -> None:
        """``node`` did not run because an upstream did not complete."""

    def run_finished(self, result: RunResult) -> None:
        """Every selected node has an outcome; ``result.state`` is ``succeeded`` or ``failed``."""


class SilentObserver:
    """Hears everything, does nothing: the default, and a base for observers that need a few events only."""

    def run_started(self, run_id: str, pipeline: Pipeline, nodes: list[str]) -> None:
        pass

    def node_started(self, node: str, reason: str) -> None:
        pass

    def node_progress(self, node: str, note: str) -> None:
        pass

    def node_cached(self, outcome: NodeOutcome) -> None:
        pass

    def node_finished(self, outcome: NodeOutcome) -> None:
        pass

    def node_failed(self, outcome: NodeOutcome) -> None:
        pass

    def node_skipped(self, node: str, reason: str) -> None:
        pass

    def run_finished(self, result: RunResult) -> None:
        pass


class Observers:
    """Several observers heard as one, in the order given (e.g. the progress view, then the MLflow mirror)."""

    def __init__(self, observers: Iterable[RunObserver]) -> None:
        self.observers = list(observers)

    def run_started(self, run_id: str, pipeline: Pipeline, nodes: list[str]) -> None:
        for o in self.observers:
            o.run_started(run_id, pipeline, nodes)

    def node_started(self, node: str, reason: str) -> None:
        for o in self.observers:
            o.node_started(node, reason)

    def node_progress(self, node: str, note: str) -> None:
        for o in self.observers:
            o.node_progress(node, note)

    def node_cached(self, outcome: NodeOutcome) -> None:
        for o in self.observers:
            o.node_cached(outcome)

    def node_finished(self, outcome: NodeOutcome) -> None:
        for o in self.observers:
            o.node_finished(outcome)

    def node_failed(self, outcome: NodeOutcome) -> None:
        for o in self.observers:
            o.node_failed(outcome)

    def node_skipped(self, node: str, reason: str) -> None:
        for o in self.observers:
            o.node_skipped(node, reason)

    def run_finished(self, result: RunResult) -> None:
        for o in self.observers:
            o.run_finished(result)
