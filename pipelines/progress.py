"""What a person sees while a pipeline runs and when it ends.

Three observers of the same run (``headrace.pipelines.observers.RunObserver``):
a live rich table on a terminal, one plain line per state change when stdout
is not a TTY (CI logs, pipes), and nothing but warnings, failures and the
final line with ``--quiet``. All end with the same summary, which repeats the warnings
the run's artifacts carry (a live view overwrites the notes that first said them).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from headrace.pipelines.console import console_for

if TYPE_CHECKING:
    from headrace.pipelines.execution import NodeOutcome, RunResult
    from headrace.pipelines.graph import Pipeline

STYLES = {
    "waiting": "dim",
    "running": "bold cyan",
    "cached": "green",
    "complete": "bold green",
    "failed": "bold red",
    "skipped": "yellow",
}
LABELS = {"complete": "done"}
PLAIN_PROGRESS_EVERY_S = 5.0
"""Without a live view, a component's progress is printed at most this often."""


def state_label(state: str) -> str:
    """How a state reads to a person ("complete" reads "done")."""
    return LABELS.get(state, state)


class _Board:
    """Per-node state, start time, duration and note, shared by the views."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.nodes: list[str] = []
        self.types: dict[str, str] = {}
        self.state: dict[str, str] = {}
        self.note: dict[str, str] = {}
        self.progress: dict[str, str] = {}
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}

    def start(self, pipeline: Pipeline, nodes: list[str]) -> None:
        self.nodes = list(nodes)
        self.types = {n: pipeline.nodes[n].type_name for n in nodes}
        self.state = dict.fromkeys(nodes, "waiting")

    def update(self, node: str, state: str, note: str | None) -> None:
        with self.lock:
            now = time.perf_counter()
            if state == "progress":  # a running component says how far it is; the reason it ran stays
                self.progress[node] = note or ""
                return
            if state == "running":
                self.started[node] = now
            elif node in self.started:
                self.seconds[node] = now - self.started[node]
            else:
                self.seconds.setdefault(node, 0.0)
            self.state[node] = state
            if note:
                self.note[node] = note

    def table(self, title: str | None = None) -> Table:
        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=None)
        for column in ("component", "type", "state", "time", "why"):
            table.add_column(column, no_wrap=column != "why", overflow="fold")
        with self.lock:
            now = time.perf_counter()
            for node in self.nodes:
                state = self.state.get(node, "waiting")
                if node in self.seconds:
                    elapsed = f"{self.seconds[node]:.2f}s"
                elif node in self.started:
                    elapsed = f"{now - self.started[node]:.1f}s"
                else:
                    elapsed = ""
                why = self.note.get(node, "")
                if state == "running" and self.progress.get(node):
                    why = f"{why}: {self.progress[node]}" if why else self.progress[node]
                table.add_row(
                    node, self.types.get(node, ""), Text(state_label(state), STYLES.get(state, "")), elapsed, why
                )
        return table


def _final_line(result: RunResult) -> Text:
    counts: dict[str, int] = {}
    for outcome in result.outcomes.values():
        counts[outcome.state] = counts.get(outcome.state, 0) + 1
    parts = [f"{counts[s]} {state_label(s)}" for s in ("complete", "cached", "failed", "skipped") if counts.get(s)]
    style = "bold green" if result.state == "succeeded" else "bold red"
    return Text(
        f"run {result.run_id} {result.state} in {result.seconds:.2f}s ({', '.join(parts) or 'nothing to do'})", style
    )


def error_headline(error: str | None) -> str | None:
    """The one line of a stored error a table shows: the exception's own line, not the hint indented below it.

    Errors are stored as the end of a traceback (``File ...`` lines indented) followed by ``Type: message`` and,
    for headrace's own errors, indented ``hint:`` lines; the last line that is not indented is the message.
    """
    lines = [line for line in (error or "").strip().splitlines() if line.strip()]
    if not lines:
        return None
    return next((line for line in reversed(lines) if not line[0].isspace()), lines[-1])


def _failure_note(outcome: NodeOutcome) -> str:
    return error_headline(outcome.error) or "failed"


def _print_failures(console: Console, result: RunResult) -> None:
    for outcome in result.failed:
        console.print(Text(f"\n{outcome.node} failed", style="bold red"))
        if outcome.error:
            console.print(Text(outcome.error.rstrip()), markup=False, highlight=False, soft_wrap=True)
        for page in outcome.reports:
            console.print(f"report: {page}", markup=False, highlight=False, soft_wrap=True)
        if outcome.log_path:
            console.print(f"log: {outcome.log_path}", markup=False, highlight=False, soft_wrap=True)


def _print_warnings(console: Console, result: RunResult, nodes: list[str]) -> None:
    """Each warning the run's artifacts carry (property ``warnings``, e.g. a CSV column that is not UTF-8).

    A component says a warning as a progress note, which the live view
    overwrites; the summary says it again, in node order, for every view.
    """
    order = {node: i for i, node in enumerate(nodes)}
    for outcome in sorted(result.outcomes.values(), key=lambda o: order.get(o.node, len(order))):
        for name, artifact in outcome.outputs.items():
            for warning in artifact.properties.get("warnings") or []:
                console.print(Text(f"warning: {outcome.node}.{name}: {warning}", style="yellow"), soft_wrap=True)


class _BoardObserver:
    """The observer methods as one ``update(node, state, note)`` on the board, which each view extends."""

    board: _Board

    def update(self, node: str, state: str, note: str | None) -> None:
        self.board.update(node, state, note)

    def node_started(self, node: str, reason: str) -> None:
        self.update(node, "running", reason)

    def node_progress(self, node: str, note: str) -> None:
        self.update(node, "progress", note)

    def node_cached(self, outcome: NodeOutcome) -> None:
        self.update(outcome.node, "cached", f"cached from execution {outcome.cached_from}")

    def node_finished(self, outcome: NodeOutcome) -> None:
        self.update(outcome.node, "complete", None)

    def node_failed(self, outcome: NodeOutcome) -> None:
        self.update(outcome.node, "failed", _failure_note(outcome))

    def node_skipped(self, node: str, reason: str) -> None:
        self.update(node, "skipped", reason)


class LiveProgress(_BoardObserver):
    """A live table on a terminal, refreshed a few times a second."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.live import Live

        # The console is bound to today's stdout and Live must not redirect it: components'
        # print() output is routed to their log files (headrace.pipelines.component_logs), and a
        # second redirection would feed the live view back into itself.
        self.console = console or Console(file=sys.stdout, highlight=False)
        self.board = _Board()
        self.title = ""
        self.live = Live(
            console=self.console,
            refresh_per_second=8,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
            get_renderable=lambda: self.board.table(self.title),
        )

    def run_started(self, run_id: str, pipeline: Pipeline, nodes: list[str]) -> None:
        self.title = f"{pipeline.name} · run {run_id}"
        self.board.start(pipeline, nodes)
        self.live.start()

    def run_finished(self, result: RunResult) -> None:
        self.live.stop()
        self.console.print(self.board.table(self.title))
        _print_warnings(self.console, result, self.board.nodes)
        _print_failures(self.console, result)
        self.console.print(_final_line(result), soft_wrap=True)


class PlainProgress(_BoardObserver):
    """One line per state change: readable in CI logs and pipes."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or console_for(sys.stdout)  # in a pipe, summary rows stay one line each
        self.board = _Board()
        self.title = ""
        self._last_progress: dict[str, float] = {}

    def run_started(self, run_id: str, pipeline: Pipeline, nodes: list[str]) -> None:
        self.title = f"{pipeline.name} · run {run_id}"
        self.board.start(pipeline, nodes)
        self.console.print(f"run {run_id} of {pipeline.name}: {len(nodes)} components", markup=False)

    def update(self, node: str, state: str, note: str | None) -> None:
        self.board.update(node, state, note)
        if state == "progress":
            now = time.monotonic()
            if now - self._last_progress.get(node, 0.0) < PLAIN_PROGRESS_EVERY_S:
                return
            self._last_progress[node] = now
        seconds = self.board.seconds.get(node)
        timing = f" in {seconds:.2f}s" if seconds is not None and state != "running" else ""
        self.console.print(
            f"{node}: {state_label(state)}{timing}" + (f" ({note})" if note else ""), markup=False, soft_wrap=True
        )

    def run_finished(self, result: RunResult) -> None:
        self.console.print(self.board.table(self.title))
        _print_warnings(self.console, result, self.board.nodes)
        _print_failures(self.console, result)
        self.console.print(_final_line(result), soft_wrap=True)


class QuietProgress(PlainProgress):
    """Only the artifacts' warnings, failures and the final line."""

    def run_started(self, run_id: str, pipeline: Pipeline, nodes: list[str]) -> None:
        self.board.start(pipeline, nodes)

    def update(self, node: str, state: str, note: str | None) -> None:
        self.board.update(node, state, note)

    def run_finished(self, result: RunResult) -> None:
        _print_warnings(self.console, result, self.board.nodes)
        _print_failures(self.console, result)
        self.console.print(_final_line(result), soft_wrap=True)


def choose_progress(quiet: bool = False) -> LiveProgress | PlainProgress:
    if quiet:
        return QuietProgress()
    if sys.stdout is not None and sys.stdout.isatty():
        return LiveProgress()
    return PlainProgress()
