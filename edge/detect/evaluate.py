"""Detection metrics: all-point interpolated AP (VOC2010+ style), IoU 0.50 and 0.50:0.95, no detection cap.

The same NumPy code judges the Keras model (during training and in ``edgecnn eval``) and the
int8 model. Matching follows COCO: predictions of one class, by descending score, each take the
unmatched ground-truth box of that class with the highest IoU >= the threshold (no crowd or area
ranges). AP is the area under the precision envelope at every recall step (all-point
interpolation, PASCAL VOC 2010+), not COCO's mean over 101 recall points; ``map50_95`` averages
the ten IoU thresholds 0.50, 0.55, ..., 0.95 as COCO does. Every prediction passed in counts: there
is no per-image cap like COCO's ``maxDets=100`` (``edgecnn eval`` keeps what the detector keeps,
at most 300 per image). mAP averages over the classes that have ground truth in the data.
``interpolation="coco101"`` gives pycocotools' number on the same matches
(tests/edge/test_eval_detect_coco.py checks both against ``COCOeval``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecnn.edge.core.image import load_image
from edgecnn.edge.detect import boxes as B
from edgecnn.edge.detect.annotations import READERS, AnnotationSet, read_annotations
from edgecnn.edge.detect.runtime import Detections, Detector, draw_detections

IOU_THRESHOLDS = np.round(np.arange(0.5, 0.96, 0.05), 2)
EVAL_CONF = 0.001
RECALL_101 = np.linspace(0.0, 1.0, 101)  # as pycocotools builds its recThrs
METRIC = ("all-point interpolated AP (VOC2010+ style), IoU 0.50 and 0.50:0.95, "
          "no detection cap in the metric (the detector keeps at most 300 per image)")


def _envelope(precision) -> np.ndarray:
    """Precision made non-increasing along recall: the best precision at this recall or beyond."""
    p = np.asarray(precision, np.float64)
    return np.maximum.accumulate(p[::-1])[::-1]


def ap_all_point(recall, precision) -> float:
    """All-point interpolated AP: sum of recall steps times the precision envelope (VOC 2010+)."""
    r = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    p = _envelope(np.concatenate([[1.0], np.asarray(precision, np.float64), [0.0]]))
    steps = np.flatnonzero(r[1:] != r[:-1])
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


def ap_coco101(recall, precision) -> float:
    """COCO's 101-point AP: mean over recall 0, 0.01, ..., 1 of the precision envelope at the first
    point reaching that recall, 0 where none does (pycocotools ``COCOeval.accumulate``)."""
    r = np.asarray(recall, np.float64)
    if len(r) == 0:
        return 0.0
    p = _envelope(precision)
    idx = np.searchsorted(r, RECALL_101, side="left")
    return float(np.mean(np.where(idx < len(r), p[np.minimum(idx, len(r) - 1)], 0.0)))


INTERPOLATIONS: dict[str, Callable] = {"all-point": ap_all_point, "coco101": ap_coco101}


def average_precision(recall, precision, interpolation: str = "all-point") -> float:
    """AP of one precision-recall curve; ``interpolation``: ``all-point`` (default) or ``coco101``."""
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation: expected one of {sorted(INTERPOLATIONS)}, got {interpolation!r}")
    return INTERPOLATIONS[interpolation](recall, precision)


def match(pred_xyxy, pred_scores, gt_xyxy, thresholds=IOU_THRESHOLDS) -> np.ndarray:
    """True positives ``(P, T)`` for one image and one class (predictions in any order)."""
    pred_xyxy, gt_xyxy = B.as_boxes(pred_xyxy), B.as_boxes(gt_xyxy)
    tp = np.zeros((len(pred_xyxy), len(thresholds)), bool)
    if len(pred_xyxy) == 0 or len(gt_xyxy) == 0:
        return tp
    iou = B.iou_matrix(pred_xyxy, gt_xyxy)
    order = B.score_order(pred_scores)
    for t, thr in enumerate(thresholds):
        taken = np.zeros(len(gt_xyxy), bool)
        for i in order:
            cand = np.where(taken, -1.0, iou[i])
            j = int(np.argmax(cand))
            if cand[j] >= thr:
                taken[j] = True
                tp[i, t] = True
    return tp


def pr_curve(tp: np.ndarray, scores: np.ndarray, n_gt: int) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision along descending score for one column of true positives."""
    order = B.score_order(scores)
    ctp = np.cumsum(tp[order])
    cfp = np.cumsum(~tp[order])
    return ctp / max(n_gt, 1), ctp / np.maximum(ctp + cfp, 1)


def evaluate_detections(preds, truths, labels, thresholds=IOU_THRESHOLDS, interpolation: str = "all-point") -> dict:
    """mAP over images. ``preds``: Detections per image; ``truths``: ``(xyxy, class_ids)`` per image.

    All-point interpolated AP (VOC2010+ style) at IoU 0.50 and averaged over ``thresholds``
    (0.50:0.95), every prediction counted (no detection cap); ``interpolation="coco101"`` for COCO's
    101-point AP. Returns ``{"map50", "map50_95", "per_class": {name: {"ap50", "ap50_95", "n_gt",
    "n_pred"}}, "curves": {name: (recall, precision)}}`` (curves at IoU 0.5, for plots).
    """
    if len(preds) != len(truths):
        raise ValueError(f"preds: expected {len(truths)} entries (one per image), got {len(preds)}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation: expected one of {sorted(INTERPOLATIONS)}, got {interpolation!r}")
    thresholds = np.asarray(thresholds, np.float64)
    i50 = int(np.argmin(np.abs(thresholds - 0.5)))
    per_class, curves, ap50s, aps = {}, {}, [], []
    for c, name in enumerate(labels):
        tps, scores, n_gt = [], [], 0
        for det, (gt_xyxy, gt_ids) in zip(preds, truths, strict=False):
            gt = B.as_boxes(gt_xyxy)[np.asarray(gt_ids).reshape(-1) == c]
            m = det.class_ids == c
            n_gt += len(gt)
            tps.append(match(det.xyxy[m], det.scores[m], gt, thresholds))
            scores.append(det.scores[m])
        tp, sc = np.concatenate(tps), np.concatenate(scores)
        ap = [average_precision(*pr_curve(tp[:, t], sc, n_gt), interpolation) if n_gt else 0.0
              for t in range(len(thresholds))]
        per_class[name] = {"ap50": ap[i50], "ap50_95": float(np.mean(ap)), "n_gt": n_gt, "n_pred": int(len(sc))}
        curves[name] = pr_curve(tp[:, i50], sc, n_gt)
        if n_gt:
            ap50s.append(ap[i50])
            aps.append(float(np.mean(ap)))
    return {"map50": float(np.mean(ap50s)) if ap50s else 0.0,
            "map50_95": float(np.mean(aps)) if aps else 0.0,
            "per_class": per_class, "curves": curves}


# --------------------------------------------------------------------------- the eval verb


@dataclass(frozen=True)
class Options:
    """What to evaluate and how; ``edgecnn eval`` fills it from its flags (same names)."""

    data: str  # an annotated image set (VOC, YOLO, COCO, CSV, WIDER; see annotations.READERS)
    format: str | None = None  # annotation format (guessed when None)
    conf: float = EVAL_CONF  # score threshold before matching
    iou: float | None = None  # NMS IoU threshold (None: the model's)
    max_images: int | None = None  # evaluate at most this many images
    split: str | None = None  # a split.json from training: score only its "test" images
    samples: int = 6  # sample prediction images in the report
    report: str | None = None  # a folder for eval.md, PR curves and samples


def add_eval_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=sorted(READERS), default=None, help="annotation format (guessed when omitted)")
    p.add_argument("--conf", type=float, default=EVAL_CONF, help=f"score threshold for mAP (default {EVAL_CONF})")
    p.add_argument("--iou", type=float, default=None, help="NMS IoU threshold (default: the model's)")
    p.add_argument("--max-images", type=int, default=None, help="evaluate at most this many images")
    p.add_argument("--split", default=None,
                   help="a split.json written by `edgecnn train detect`: evaluate its 'val' images only")
    p.add_argument("--samples", type=int, default=6, help="sample prediction images in --report (default 6)")


def load_eval_set(data, fmt=None, labels=None, split=None, max_images=None) -> AnnotationSet:
    """Read a data folder for evaluation, mapping its class names onto the model's ``labels``."""
    ann = read_annotations(data, fmt, labels=list(labels) if labels else None)
    if split:
        import json

        wanted = set(json.loads(Path(split).read_text())["val"])
        ann = ann.subset([i for i, r in enumerate(ann.records) if Path(r.path).name in wanted])
    if max_images is not None:
        ann = ann.subset(range(min(max_images, len(ann.records))))
    return ann


def predict_records(detector: Detector, records) -> list[Detections]:
    return [detector(load_image(r.path)) for r in records]


def evaluate(model, opts: Options) -> dict:
    """mAP and friends of a detection model (EdgeModel or KerasModel) on ``opts.data``."""
    detector = Detector(model)
    detector = detector.with_config(conf=opts.conf, iou=opts.iou, max_det=300)
    ann = load_eval_set(opts.data, opts.format, detector.labels, opts.split, opts.max_images)
    preds = predict_records(detector, ann.records)
    result = evaluate_detections(preds, [(r.xyxy, r.class_ids) for r in ann.records], detector.labels)
    curves = result.pop("curves")
    result = {"metric": METRIC, **result}
    result["images"] = len(ann.records)
    result["annotation_issues"] = len(ann.issues)
    if opts.report:
        write_report(Path(opts.report), curves, ann, preds, result, opts.samples)
    return result


def write_report(out: Path, curves: dict, ann: AnnotationSet, preds, result: dict, samples: int) -> None:
    """PR-curve PNG (IoU 0.5) and sample prediction images (green: truth, coloured: predictions)."""
    import cv2

    from edgecnn.edge.core.plots import line_plot, save_png

    out.mkdir(parents=True, exist_ok=True)
    plot = {f"{name} AP50={result['per_class'][name]['ap50']:.3f}": (r, p) for name, (r, p) in curves.items()
            if len(r)}
    line_plot(out / "pr_curve.png", plot, title="precision-recall at IoU 0.5 (AP: all-point interpolated)", xlabel="recall",
              ylabel="precision", xlim=(0, 1), ylim=(0, 1))
    for k, (rec, det) in enumerate(zip(ann.records[:samples], preds, strict=False)):
        img = cv2.cvtColor(load_image(rec.path), cv2.COLOR_RGB2BGR)
        for box in rec.xyxy:
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            cv2.rectangle(img, (x1, y1), (x2, y2), (0, 200, 0), 1)
        save_png(out / f"sample_{k:02d}.png", draw_detections(img, det[det.scores >= 0.25]))
