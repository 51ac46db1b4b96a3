"""The record types every detection annotation reader returns, and the helpers the readers share.

An :class:`AnnotationSet` holds image records (:class:`ImageRecord`: ``xyxy`` boxes in pixels of
the original image, integer class ids into ``labels``) and the problems found (:class:`Issue`). The
readers live in :mod:`edgecnn.edge.detect.annotations` (YOLO, VOC, COCO, and the dispatch
``read_annotations``) and :mod:`edgecnn.edge.detect.wider` (WIDER FACE); both import from here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecnn.edge.detect import boxes as B

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass(frozen=True)
class Issue:
    file: str
    reason: str  # e.g. "box outside image", "zero area", "unknown class", "missing image"
    action: str  # "clipped", "skipped box", "skipped image", "kept as background"
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.file}: {self.reason}{extra} -> {self.action}"


@dataclass(frozen=True)
class ImageRecord:
    """One image: its path, size and boxes (``xyxy`` pixels of the original image)."""

    path: str
    width: int
    height: int
    xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    class_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self):
        xyxy = B.as_boxes(self.xyxy, "xyxy")
        ids = np.asarray(self.class_ids, np.int64).reshape(-1)
        if len(ids) != len(xyxy):
            raise ValueError(f"class_ids: expected {len(xyxy)} values (one per box), got {len(ids)}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "class_ids", ids)


@dataclass(frozen=True)
class AnnotationSet:
    format: str
    labels: tuple[str, ...]
    records: tuple[ImageRecord, ...]
    issues: tuple[Issue, ...] = ()

    def summary(self) -> dict:
        """Counts: images, boxes, boxes per class, and problems by reason and action."""
        per_class = Counter()
        for r in self.records:
            per_class.update(self.labels[i] for i in r.class_ids)
        return {
            "format": self.format,
            "images": len(self.records),
            "boxes": int(sum(len(r.class_ids) for r in self.records)),
            "per_class": {name: per_class.get(name, 0) for name in self.labels},
            "issues": dict(Counter(f"{i.reason} -> {i.action}" for i in self.issues)),
        }

    def subset(self, indices) -> AnnotationSet:
        return AnnotationSet(self.format, self.labels, tuple(self.records[i] for i in indices), self.issues)


# --------------------------------------------------------------------------- helpers


def check_boxes(xyxy, width: int, height: int, file: str, issues: list[Issue],
                min_size: float = 1.0) -> np.ndarray:
    """Validate boxes against the image: clip those partly outside, drop empty ones.

    Returns a keep mask; clips ``xyxy`` in place; appends one :class:`Issue` per problem.
    """
    keep = np.ones(len(xyxy), bool)
    for k, box in enumerate(xyxy):
        desc = "[" + ", ".join(f"{v:.1f}" for v in box) + "]"
        if not np.all(np.isfinite(box)):
            issues.append(Issue(file, "non-finite coordinates", "skipped box", desc))
            keep[k] = False
            continue
        if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
            issues.append(Issue(file, "zero area", "skipped box", desc))
            keep[k] = False
            continue
        clipped = B.clip_xyxy(box, width, height)[0]
        if clipped[2] - clipped[0] < min_size or clipped[3] - clipped[1] < min_size:
            issues.append(Issue(file, "box outside image", "skipped box", f"{desc} in {width}x{height}"))
            keep[k] = False
            continue
        if np.any(np.abs(clipped - box) > 1e-3):
            issues.append(Issue(file, "box outside image", "clipped", f"{desc} in {width}x{height}"))
            xyxy[k] = clipped
    return keep


def first_dir(root: Path, names) -> Path | None:
    """``root / name`` for the first of ``names`` that is a folder, else None."""
    for n in names:
        if (root / n).is_dir():
            return root / n
    return None


def make_record(img, w, h, boxes, ids, file, issues) -> ImageRecord:
    """An :class:`ImageRecord` of the boxes that pass :func:`check_boxes` (clipped ones clipped)."""
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    keep = check_boxes(xyxy, w, h, file, issues)
    return ImageRecord(str(img), w, h, xyxy[keep], np.asarray(ids, np.int64)[keep])
