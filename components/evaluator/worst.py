"""The worst-classified eval images: the rows whose true class got the lowest probability, kept while streaming.

Only ``n`` rows are ever held (their encoded image bytes, or their pixels for a
tensor column, and a few figures), whatever the split's size: each batch's
candidates are merged with those kept so far and the list is cut back to
``n``. The order is total, so the page is the same on every run: the
probability the model gave the true class (lowest first), then the image's
path, then its row number in the split. A model that gives no probabilities
falls back to the misclassified rows, by path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from headrace.components.images import ImageError, decode, is_image_field

BY_PROBABILITY = "true_class_probability"
BY_MISTAKE = "misclassified"
THUMBNAIL = 96
"""Largest side of a worst image's thumbnail: photos stay recognisable, 8x8 digits are kept exact."""


@dataclass
class WorstRow:
    """One kept row: where it is, what it is, what the model said, and its image (bytes, or tensor pixels)."""

    probability: float | None  # of the true class; None when the model gives no probabilities
    path: str
    row: int  # its position among the split's labelled rows
    label: Any
    predicted: Any
    image: bytes | np.ndarray | None

    def key(self) -> tuple[float, str, int]:
        return (self.probability if self.probability is not None else 0.0, self.path, self.row)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "row": self.row,
            "label": _plain(self.label),
            "predicted": _plain(self.predicted),
            "probability": self.probability,
        }


@dataclass
class WorstImages:
    """The ``n`` worst rows so far of the image column ``column``; ``path_column`` names their files (if present)."""

    column: str
    path_column: str | None
    n: int
    classes: list[Any] | None
    kept: list[WorstRow] = field(default_factory=list)
    seen: int = 0
    by: str = BY_PROBABILITY

    def add(self, batch: pa.RecordBatch, y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None) -> None:
        """Offer one batch of labelled rows with the model's labels and probabilities (None without)."""
        first, self.seen = self.seen, self.seen + batch.num_rows
        if self.n == 0 or batch.num_rows == 0:
            return
        if proba is not None and self.classes:
            index = {_plain(c): i for i, c in enumerate(self.classes)}
            where = np.array([index.get(_plain(v), -1) for v in y_true.tolist()], dtype=np.int64)
            # a label the model was never trained on got probability 0 from it: the worst there is
            true_p = np.where(where >= 0, proba[np.arange(len(where)), np.maximum(where, 0)], 0.0)
            candidates = np.arange(batch.num_rows)
            if len(candidates) > self.n:  # only rows at or below the n-th lowest probability can be among the n
                cut = np.partition(true_p, self.n - 1)[self.n - 1]
                candidates = np.flatnonzero(true_p <= cut)
        else:
            self.by = BY_MISTAKE
            true_p = None
            candidates = np.flatnonzero(np.asarray(y_true != y_pred))
        paths = self._paths(batch, first, candidates)
        keys = [
            (float(true_p[i]) if true_p is not None else 0.0, path, first + int(i))
            for i, path in zip(candidates, paths, strict=True)
        ]
        order = sorted(range(len(keys)), key=keys.__getitem__)[: self.n]
        if self.kept and len(self.kept) == self.n:
            worst_kept = self.kept[-1].key()
            order = [j for j in order if keys[j] < worst_kept]  # only rows that would displace one kept
        if not order:
            return
        chosen = [int(candidates[j]) for j in order]
        images = self._images(batch, chosen)
        for j, i, image in zip(order, chosen, images, strict=True):
            self.kept.append(
                WorstRow(
                    probability=float(true_p[i]) if true_p is not None else None,
                    path=paths[j],
                    row=keys[j][2],
                    label=y_true[i],
                    predicted=y_pred[i],
                    image=image,
                )
            )
        self.kept.sort(key=WorstRow.key)
        del self.kept[self.n :]

    def _paths(self, batch: pa.RecordBatch, first: int, rows: np.ndarray) -> list[str]:
        if self.path_column is not None and self.path_column in batch.schema.names:
            values = batch.column(self.path_column).take(pa.array(rows, type=pa.int64())).to_pylist()
            return [str(v) if v is not None else "" for v in values]
        return [f"row {first + int(i)}" for i in rows]

    def _images(self, batch: pa.RecordBatch, rows: list[int]) -> list[bytes | np.ndarray | None]:
        column = batch.column(self.column).take(pa.array(rows, type=pa.int64()))
        if isinstance(column.type, pa.FixedShapeTensorType):
            pixels = column.storage.is_valid().to_pylist()
            tensor = column.to_numpy_ndarray()
            return [tensor[k] if valid else None for k, valid in enumerate(pixels)]
        return column.to_pylist()

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "path_column": self.path_column,
            "by": self.by,
            "requested": self.n,
            "rows": [w.to_json() for w in self.kept],
        }

    def thumbnails(self) -> list[dict[str, Any]]:
        """Each kept row's thumbnail (``media_type``, ``width``, ``height``, base64 ``data``), or why there is none."""
        from headrace.components.validator.image_statistics import thumbnail

        shown: list[dict[str, Any]] = []
        for w in self.kept:
            if w.image is None:
                shown.append({"problem": "no image (null)"})
                continue
            try:
                pixels = decode(w.image) if isinstance(w.image, bytes) else w.image
            except ImageError as exc:
                shown.append({"problem": str(exc)})
                continue
            if pixels.ndim == 2:
                pixels = pixels[:, :, None]
            sample = thumbnail(pixels, str(w.label), w.path, THUMBNAIL)
            shown.append(sample.model_dump(include={"media_type", "width", "height", "data"}))
        return shown


def image_column(schema: pa.Schema) -> str | None:
    """The first image column of the evaluated rows, if they have one."""
    return next((f.name for f in schema if is_image_field(f)), None)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
