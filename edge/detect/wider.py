"""The WIDER FACE ground-truth reader: format ``wider`` of ``annotations.read_annotations``.

Layout (``root`` is the data folder): ``wider_face_bbx_gt.txt`` (or the one ``*bbx_gt.txt`` in
``root``, or a path to it) + ``images/``; per image a path line (relative to ``images/``), a
box-count line, then one line per box ``x y w h blur expression illumination invalid occlusion pose``
(pixels, ``xywh``; an image with count 0 has one line of zeros). One class, ``face``; boxes flagged
``invalid`` are skipped (reported). Malformed lines stop the reading with an :class:`InputDataError`
naming the file, the line, what was expected and what was found (:func:`read_wider_gt` gives every
box with its attributes, for evaluations that treat invalid or small faces as "ignore").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.core.image import image_size
from edgecnn.edge.detect import boxes as B
from edgecnn.edge.detect.records import IMAGE_SUFFIXES, AnnotationSet, Issue, first_dir, make_record

WIDER_GT_FILE = "wider_face_bbx_gt.txt"
WIDER_FIELDS = ("x", "y", "w", "h", "blur", "expression", "illumination", "invalid", "occlusion", "pose")
WIDER_LABEL = "face"


@dataclass(frozen=True)
class WiderEntry:
    """One image of a WIDER ground-truth file, every box kept (invalid and empty ones too).

    ``xywh (N, 4)`` float32 pixels; ``attrs (N, 6)`` int64: blur, expression, illumination, invalid,
    occlusion, pose; ``line``: the 1-based line of the image's path in the file.
    """

    name: str
    xywh: np.ndarray
    attrs: np.ndarray
    line: int

    @property
    def invalid(self) -> np.ndarray:
        return self.attrs[:, 3].astype(bool)


def _wider_gt(root: Path) -> Path:
    if root.is_file():
        return root
    if not root.is_dir():
        raise InputDataError(f"{root}: data folder not found")
    if (root / WIDER_GT_FILE).is_file():
        return root / WIDER_GT_FILE
    found = sorted(root.glob("*bbx_gt.txt"))
    if len(found) == 1:
        return found[0]
    raise InputDataError(f"{root}: WIDER layout needs {WIDER_GT_FILE} (found {len(found)} *bbx_gt.txt files) "
                         "and images/")


def looks_like_wider(root: Path) -> bool:
    """True when ``root`` is a ``*bbx_gt.txt`` file, or a folder with ``wider_face_bbx_gt.txt`` or
    exactly one ``*bbx_gt.txt`` (how ``annotations.detect_format`` recognises the layout)."""
    root = Path(root)
    return (root.is_file() and root.name.endswith("bbx_gt.txt")) or (root.is_dir() and (
        (root / WIDER_GT_FILE).is_file() or len(list(root.glob("*bbx_gt.txt"))) == 1))


def _wider_numbers(text: str, where: str) -> list[float]:
    parts = text.split()
    if len(parts) != len(WIDER_FIELDS):
        raise InputDataError(f"{where}: expected {len(WIDER_FIELDS)} numbers ({' '.join(WIDER_FIELDS)}), "
                             f"got {len(parts)} field(s): {text.strip()[:80]!r}")
    try:
        vals = [float(v) for v in parts]
    except ValueError:
        raise InputDataError(f"{where}: expected {len(WIDER_FIELDS)} numbers ({' '.join(WIDER_FIELDS)}), "
                             f"got {text.strip()[:80]!r}") from None
    if not all(math.isfinite(v) for v in vals):
        raise InputDataError(f"{where}: expected finite numbers, got {text.strip()[:80]!r}")
    if any(v != int(v) or v < 0 for v in vals[4:]):
        raise InputDataError(f"{where}: expected non-negative integer attributes ({' '.join(WIDER_FIELDS[4:])}), "
                             f"got {' '.join(parts[4:])!r}")
    return vals


def read_wider_gt(path) -> list[WiderEntry]:
    """Parse a WIDER FACE ground-truth file (``wider_face_*_bbx_gt.txt``) strictly.

    Every box is returned, with its attributes; nothing is skipped here. Raises
    :class:`InputDataError` ``FILE:LINE: expected ..., got ...`` for a missing or non-integer box
    count, a box line without 10 numbers, or a file that ends before an image's boxes do.
    """
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise InputDataError(f"{path}: cannot read WIDER ground truth ({exc})") from None
    entries: list[WiderEntry] = []
    i, n_lines = 0, len(lines)
    while i < n_lines:
        name = lines[i].strip()
        if not name:  # blank lines between images (or at the end) are harmless
            i += 1
            continue
        head = i + 1
        if Path(name).suffix.lower() not in IMAGE_SUFFIXES:
            raise InputDataError(f"{path}:{head}: expected an image path (ending in {', '.join(IMAGE_SUFFIXES)}), "
                                 f"got {name[:80]!r}")
        if i + 1 >= n_lines:
            raise InputDataError(f"{path}:{head + 1}: expected the box count of {name}, got the end of the file")
        count_text = lines[i + 1].strip()
        try:
            count = int(count_text)
        except ValueError:
            count = -1
        if count < 0:
            raise InputDataError(f"{path}:{head + 1}: expected the box count of {name} (an integer >= 0), "
                                 f"got {count_text[:80]!r}")
        i += 2
        rows = []
        for k in range(count):
            if i >= n_lines:
                raise InputDataError(f"{path}:{i + 1}: expected {count} box lines for {name}, "
                                     f"got the end of the file after {k}")
            rows.append(_wider_numbers(lines[i], f"{path}:{i + 1}"))
            i += 1
        if count == 0 and i < n_lines and lines[i].strip() and \
                Path(lines[i].strip()).suffix.lower() not in IMAGE_SUFFIXES:
            zeros = _wider_numbers(lines[i], f"{path}:{i + 1}")  # the official files write one line of zeros
            if any(zeros):
                raise InputDataError(f"{path}:{i + 1}: expected a line of zeros after a box count of 0 for {name}, "
                                     f"got {lines[i].strip()[:80]!r}")
            i += 1
        arr = np.asarray(rows, np.float64).reshape(-1, len(WIDER_FIELDS))
        entries.append(WiderEntry(name, arr[:, :4].astype(np.float32), arr[:, 4:].astype(np.int64), head))
    return entries


def read_wider(root, labels=None) -> AnnotationSet:
    """WIDER FACE: ``wider_face_bbx_gt.txt`` + ``images/``; one class ``face``; invalid boxes skipped."""
    root = Path(root)
    gt = _wider_gt(root)
    base = gt.parent
    img_dir = first_dir(base, ("images",)) or base
    names = list(labels) if labels is not None else [WIDER_LABEL]
    cls = names.index(WIDER_LABEL) if WIDER_LABEL in names else None
    issues: list[Issue] = []
    records = []
    for e in read_wider_gt(gt):
        where = f"{gt}:{e.line}"
        img = img_dir / e.name
        if not img.is_file():
            issues.append(Issue(where, "missing image", "skipped image", e.name))
            continue
        try:
            w, h = image_size(img)
        except (OSError, InputDataError) as exc:
            issues.append(Issue(str(img), "unreadable image", "skipped image", str(exc)))
            continue
        boxes, ids = [], []
        for box, bad in zip(e.xywh, e.invalid, strict=True):
            if bad:
                issues.append(Issue(where, "invalid face", "skipped box", " ".join(f"{v:g}" for v in box)))
                continue
            if cls is None:
                issues.append(Issue(where, "unknown class", "skipped box", repr(WIDER_LABEL)))
                continue
            boxes.append(B.xywh_to_xyxy(box)[0])
            ids.append(cls)
        records.append(make_record(img, w, h, boxes, ids, where, issues))
    return AnnotationSet("wider", tuple(names), tuple(records), tuple(issues))
