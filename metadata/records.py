"""Plain records returned by the metadata store.

They are dataclasses, not ORM objects: the store is SQLAlchemy Core, and
callers (runner, CLI, lineage renderers) only ever read these values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def says_blessed(properties: dict[str, Any] | None) -> bool:
    """The one rule for "blessed": a ``ModelBlessing`` whose property ``blessed`` is ``True``.

    The store's "latest blessed model" query and the pusher both decide with it.
    """
    return (properties or {}).get("blessed") is True


def says_blessed_by_hand(properties: dict[str, Any] | None) -> bool:
    """A blessing a person forced (``headrace bless``: ``forced: true``), not an evaluator's verdict."""
    return says_blessed(properties) and (properties or {}).get("forced") is True


def hand_blessing_text(properties: dict[str, Any] | None) -> str:
    """``blessed by hand by alice: labels fixed upstream``: who blessed a model by hand and why, said one way."""
    said = properties or {}
    return f"blessed by hand by {said.get('by', '?')}: {said.get('reason', '')}"


@dataclass
class RunRecord:
    id: str
    pipeline: str
    state: str  # running | succeeded | failed
    started_at: datetime
    ended_at: datetime | None = None
    pipeline_file: str = ""
    root: str = ""
    spec: dict[str, Any] = field(default_factory=dict)
    host: str = ""
    pid: int | None = None


@dataclass
class ExecutionRecord:
    id: int
    run_id: str
    component: str  # the node name in the pipeline file
    component_type: str
    component_version: str
    state: str  # running | complete | cached | failed | skipped | interrupted
    parameters: dict[str, Any] = field(default_factory=dict)
    cache_key: str | None = None
    cache_inputs: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # why it ran instead of hitting the cache
    cached_from: int | None = None  # execution whose outputs a cache hit reused
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None
    log_uri: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None


@dataclass
class ArtifactRecord:
    id: int
    type: str
    uri: str
    state: str  # pending (being published) | live | discarded (its execution died publishing) | deleted
    properties: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    created_at: datetime | None = None
    manifest: dict[str, int] | None = None
    """Every file of the artifact (path relative to ``uri``) and its size when it was published."""
