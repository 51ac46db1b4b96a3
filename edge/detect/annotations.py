"""Detection annotation readers: YOLO txt, Pascal VOC XML, COCO JSON, WIDER FACE txt -> one record type.

Every reader returns an :class:`AnnotationSet` (the types are in :mod:`edgecnn.edge.detect.records`):
image records with ``xyxy`` boxes in pixels of the original image, integer class ids into
``labels``, and the list of problems found. A problem (missing file, box outside the image, zero
area, unknown class, unparsable line) is never dropped silently: the box is clipped or skipped, and
an :class:`Issue` names the file, the reason and the action; :meth:`AnnotationSet.summary` counts
them.

Layouts (``root`` is the data folder):

* ``yolo``: ``images/**.jpg`` + ``labels/**.txt`` (same relative path) + a class-name file
  (``classes.txt``, ``obj.names`` or ``*.names``; one name a line). Lines ``cls cx cy w h``
  normalised to the image size (``cxcywh_norm``).
* ``voc``: ``annotations/*.xml`` (or ``Annotations/``) + ``images/`` (or ``JPEGImages/``);
  ``<bndbox>`` corners in pixels (``xyxy``).
* ``coco``: ``annotations.json`` (or the one ``*.json`` in ``root``, or a path to it) + ``images/``;
  ``bbox`` as ``[x, y, w, h]`` in pixels (``xywh``).
* ``wider``: ``wider_face_bbx_gt.txt`` + ``images/`` (WIDER FACE); read by
  :mod:`edgecnn.edge.detect.wider`, which describes the layout.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.core.image import image_size
from edgecnn.edge.detect import boxes as B
from edgecnn.edge.detect.records import (
    IMAGE_SUFFIXES,
    AnnotationSet,
    ImageRecord,
    Issue,
    first_dir,
    make_record,
)
from edgecnn.edge.detect.wider import looks_like_wider, read_wider

CLASS_FILES = ("classes.txt", "obj.names", "classes.names", "labels.txt")


# --------------------------------------------------------------------------- helpers


def _label_index(labels: list[str], fixed: bool):
    def index(name: str) -> int | None:
        if name in labels:
            return labels.index(name)
        if fixed:
            return None
        labels.append(name)
        return len(labels) - 1

    return index


def _find_image(folder: Path, stem_or_name: str) -> Path | None:
    p = folder / stem_or_name
    if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
        return p
    for suffix in IMAGE_SUFFIXES + tuple(s.upper() for s in IMAGE_SUFFIXES):
        q = folder / (Path(stem_or_name).stem + suffix)
        if q.is_file():
            return q
    return None


def _finish(fmt, labels, records, issues, sort_labels: bool) -> AnnotationSet:
    if sort_labels and labels:
        order = sorted(range(len(labels)), key=lambda i: labels[i])
        remap = np.empty(len(labels), np.int64)
        remap[order] = np.arange(len(labels))
        labels = [labels[i] for i in order]
        records = [ImageRecord(r.path, r.width, r.height, r.xyxy, remap[r.class_ids]) for r in records]
    return AnnotationSet(fmt, tuple(labels), tuple(records), tuple(issues))


# --------------------------------------------------------------------------- YOLO txt


def read_class_names(root: Path) -> list[str] | None:
    """Class names from the first class file found in ``root`` (one name a line)."""
    candidates = [root / n for n in CLASS_FILES] + sorted(root.glob("*.names"))
    for c in candidates:
        if c.is_file():
            return [ln.strip() for ln in c.read_text().splitlines() if ln.strip()]
    return None


def read_yolo(root, labels=None) -> AnnotationSet:
    """YOLO txt: ``images/`` + ``labels/`` + a class-name file (or ``labels=``)."""
    root = Path(root)
    img_dir, lbl_dir = root / "images", root / "labels"
    if not img_dir.is_dir() or not lbl_dir.is_dir():
        raise InputDataError(f"{root}: YOLO layout needs images/ and labels/ folders")
    names = list(labels) if labels is not None else read_class_names(root)
    if names is None:
        raise InputDataError(f"{root}: YOLO layout needs a class-name file ({', '.join(CLASS_FILES)} or *.names)")
    issues: list[Issue] = []
    records = []
    images = sorted(p for p in img_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    seen = set()
    for img in images:
        rel = img.relative_to(img_dir).with_suffix(".txt")
        seen.add(rel)
        rec = _yolo_record(img, lbl_dir / rel, names, issues)
        if rec is not None:
            records.append(rec)
    for txt in sorted(lbl_dir.rglob("*.txt")):
        if txt.relative_to(lbl_dir) not in seen:
            issues.append(Issue(str(txt), "missing image", "skipped image"))
    return AnnotationSet("yolo", tuple(names), tuple(records), tuple(issues))


def _yolo_record(img: Path, txt: Path, names: list[str], issues: list[Issue]) -> ImageRecord | None:
    try:
        w, h = image_size(img)
    except (OSError, InputDataError) as exc:
        issues.append(Issue(str(img), "unreadable image", "skipped image", str(exc)))
        return None
    if not txt.is_file():
        issues.append(Issue(str(img), "no label file", "kept as background"))
        return ImageRecord(str(img), w, h)
    boxes, ids = [], []
    for n, line in enumerate(txt.read_text(errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{txt}:{n}"
        try:
            cls_f = float(parts[0])
            vals = [float(v) for v in parts[1:5]]
            if len(vals) != 4 or not math.isfinite(cls_f) or cls_f != int(cls_f) \
                    or not all(math.isfinite(v) for v in vals):
                raise ValueError
            cls = int(cls_f)
        except ValueError:
            issues.append(Issue(where, "unparsable line", "skipped box", line.strip()[:60]))
            continue
        if not 0 <= cls < len(names):
            issues.append(Issue(where, "unknown class", "skipped box", f"id {cls}, {len(names)} classes"))
            continue
        boxes.append(B.cxcywh_norm_to_xyxy(vals, w, h)[0])
        ids.append(cls)
    return make_record(img, w, h, boxes, ids, str(txt), issues)


# --------------------------------------------------------------------------- Pascal VOC


def read_voc(root, labels=None) -> AnnotationSet:
    """Pascal VOC XML: ``annotations/*.xml`` + ``images/``; classes sorted by name unless given."""
    root = Path(root)
    ann_dir = first_dir(root, ("annotations", "Annotations"))
    img_dir = first_dir(root, ("images", "JPEGImages"))
    if ann_dir is None or img_dir is None:
        raise InputDataError(f"{root}: VOC layout needs annotations/ (or Annotations/) and images/ (or JPEGImages/)")
    names = list(labels) if labels is not None else []
    index = _label_index(names, fixed=labels is not None)
    issues: list[Issue] = []
    records = []
    for xml in sorted(ann_dir.glob("*.xml")):
        rec = _voc_record(xml, img_dir, index, issues)
        if rec is not None:
            records.append(rec)
    return _finish("voc", names, records, issues, sort_labels=labels is None)


def _voc_record(xml: Path, img_dir: Path, index, issues: list[Issue]) -> ImageRecord | None:
    try:
        tree = ET.parse(xml).getroot()
    except ET.ParseError as exc:
        issues.append(Issue(str(xml), "unparsable XML", "skipped image", str(exc)))
        return None
    fname = (tree.findtext("filename") or xml.stem).strip()
    img = _find_image(img_dir, fname) or _find_image(img_dir, xml.stem)
    if img is None:
        issues.append(Issue(str(xml), "missing image", "skipped image", fname))
        return None
    try:
        w, h = image_size(img)
    except (OSError, InputDataError) as exc:
        issues.append(Issue(str(img), "unreadable image", "skipped image", str(exc)))
        return None
    boxes, ids = [], []
    for obj in tree.iter("object"):
        name = (obj.findtext("name") or "").strip()
        bb = obj.find("bndbox")
        try:
            box = [float(bb.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
        except (AttributeError, TypeError, ValueError):
            issues.append(Issue(str(xml), "unparsable box", "skipped box", name))
            continue
        cls = index(name)
        if cls is None:
            issues.append(Issue(str(xml), "unknown class", "skipped box", repr(name)))
            continue
        boxes.append(box)
        ids.append(cls)
    return make_record(img, w, h, boxes, ids, str(xml), issues)


# --------------------------------------------------------------------------- COCO JSON


def _coco_json(root: Path) -> Path:
    if root.is_file():
        return root
    for name in ("annotations.json", "instances.json", "_annotations.coco.json"):
        if (root / name).is_file():
            return root / name
    found = sorted(root.glob("*.json")) + sorted((root / "annotations").glob("*.json"))
    if len(found) == 1:
        return found[0]
    raise InputDataError(f"{root}: COCO layout needs annotations.json (found {len(found)} candidate .json files)")


def read_coco(root, labels=None) -> AnnotationSet:
    """COCO JSON: ``annotations.json`` + ``images/``; labels in category-id order unless given."""
    root = Path(root)
    js = _coco_json(root)
    base = js.parent if root.is_file() else root
    img_dir = first_dir(base, ("images",)) or base
    try:
        data = json.loads(js.read_text())
        cats = sorted(data["categories"], key=lambda c: c["id"])
        images = data["images"]
        anns = data.get("annotations", [])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputDataError(f"{js}: not a COCO detection file ({exc})") from exc
    names = list(labels) if labels is not None else [str(c["name"]) for c in cats]
    cat_to_id = {c["id"]: names.index(str(c["name"])) for c in cats if str(c["name"]) in names}
    by_image: dict = {}
    issues: list[Issue] = []
    for a in anns:
        by_image.setdefault(a.get("image_id"), []).append(a)
    records = []
    for im in images:
        rec = _coco_record(im, by_image.pop(im.get("id"), []), img_dir, cat_to_id, js, issues)
        if rec is not None:
            records.append(rec)
    for image_id, lost in by_image.items():
        issues.append(Issue(str(js), "annotation for unknown image", "skipped box",
                            f"image_id {image_id}, {len(lost)} boxes"))
    return AnnotationSet("coco", tuple(names), tuple(records), tuple(issues))


def _coco_record(im: dict, anns: list, img_dir: Path, cat_to_id: dict, js: Path,
                 issues: list[Issue]) -> ImageRecord | None:
    fname = str(im.get("file_name", ""))
    img = img_dir / fname
    where = f"{js}[{fname}]"
    if not fname or not img.is_file():
        issues.append(Issue(where, "missing image", "skipped image"))
        return None
    w, h = int(im.get("width") or 0), int(im.get("height") or 0)
    if w <= 0 or h <= 0:
        w, h = image_size(img)
    boxes, ids = [], []
    for a in anns:
        if a.get("iscrowd"):
            issues.append(Issue(where, "crowd region", "skipped box"))
            continue
        if a.get("category_id") not in cat_to_id:
            issues.append(Issue(where, "unknown class", "skipped box", f"category_id {a.get('category_id')}"))
            continue
        try:
            boxes.append(B.xywh_to_xyxy([float(v) for v in a["bbox"]])[0])
        except (KeyError, TypeError, ValueError):
            issues.append(Issue(where, "unparsable box", "skipped box"))
            continue
        ids.append(cat_to_id[a["category_id"]])
    return make_record(img, w, h, boxes, ids, where, issues)


# --------------------------------------------------------------------------- dispatch

READERS = {"yolo": read_yolo, "voc": read_voc, "coco": read_coco, "wider": read_wider}


def detect_format(root) -> str:
    """Guess the layout of ``root``: ``coco`` (a .json), ``voc`` (XML folder), ``yolo`` (labels/) or
    ``wider`` (a ``*bbx_gt.txt``)."""
    root = Path(root)
    if not root.exists():
        raise InputDataError(f"{root}: data folder not found")
    if root.is_file() and root.suffix == ".json":
        return "coco"
    if looks_like_wider(root):
        return "wider"
    if first_dir(root, ("annotations", "Annotations")) and any(
            first_dir(root, ("annotations", "Annotations")).glob("*.xml")):
        return "voc"
    if (root / "labels").is_dir():
        return "yolo"
    if list(root.glob("*.json")) or list((root / "annotations").glob("*.json")):
        return "coco"
    raise InputDataError(f"{root}: cannot tell the annotation format (expected one of {sorted(READERS)} layouts)")


def read_annotations(root, fmt: str | None = None, labels=None) -> AnnotationSet:
    """Read ``root`` in format ``fmt`` (one of ``READERS``; guessed when None)."""
    fmt = fmt or detect_format(root)
    if fmt not in READERS:
        raise ValueError(f"format: expected one of {sorted(READERS)}, got {fmt!r}")
    return READERS[fmt](root, labels=labels)
