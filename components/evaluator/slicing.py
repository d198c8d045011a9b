"""Rows grouped by the values of slice columns: ``[island]`` gives one group per island, null included.

Groups come from the per-row codes the collection kept, so slicing costs a
sort of integers, not a second pass over the data. A slicing over a column
with very many values (an id) keeps its largest ``MAX_SLICES`` groups and
says how many it left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from headrace.components.evaluator.collect import ColumnCodes

MAX_SLICES = 200


@dataclass
class SliceGroup:
    values: dict[str, Any]  # column -> value (None for null)
    rows: np.ndarray  # indices into the collected rows

    @property
    def name(self) -> str:
        return ", ".join(f"{c}={display(v)}" for c, v in self.values.items())


def display(value: Any) -> str:
    """How a slice value is written: null as ``null``, the rest as text."""
    return "null" if value is None else str(value)


def groups(slicing: tuple[str, ...], columns: dict[str, ColumnCodes]) -> tuple[list[SliceGroup], int]:
    """The slicing's groups ordered by their values (null last), and how many small groups were left out."""
    if not slicing:
        return [], 0
    stacked = np.stack([columns[c].codes() for c in slicing], axis=1)
    if stacked.shape[0] == 0:
        return [], 0
    keys, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(counts)[:-1]
    members = np.split(order, bounds)
    found = [
        SliceGroup({c: columns[c].values[int(code)] for c, code in zip(slicing, key, strict=True)}, rows)
        for key, rows in zip(keys, members, strict=True)
    ]
    omitted = 0
    if len(found) > MAX_SLICES:
        found.sort(key=lambda g: -len(g.rows))
        omitted = len(found) - MAX_SLICES
        found = found[:MAX_SLICES]
    found.sort(key=lambda g: tuple(_order(v) for v in g.values.values()))
    return found, omitted


def _order(value: Any) -> tuple[bool, Any]:
    return (value is None, value if value is not None else 0)
