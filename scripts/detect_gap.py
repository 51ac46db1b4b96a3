"""Float vs int8 mAP on the same images, with a paired bootstrap interval for the difference.

    python scripts/detect_gap.py FLOAT.keras INT8.tflite --data DIR [--split split.json] [--boot 2000] [--json]

A 26-32 image validation split has 35-58 boxes: one box whose IoU crosses 0.5 moves mAP@0.5 by
2-3 points. Both models are run once through the same edge/ code as `edgecnn eval`; then the
images are resampled with replacement (the same resample for both models) and mAP@0.5 is
recomputed, giving a 95 % interval for int8 - float. Also printed: the share of the float
model's confident detections (score >= 0.25) that the int8 model reproduces (same class, IoU >= 0.5).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from edgecnn.edge.boxes import iou_matrix
from edgecnn.edge.detect import Detector
from edgecnn.edge.eval_detect import EVAL_CONF, evaluate_detections, load_eval_set, predict_records
from edgecnn.edge.loader import open_model


def agreement(float_preds, int8_preds, conf: float = 0.25) -> float:
    """Share of float detections with score >= conf that int8 has too (same class, IoU >= 0.5, score >= conf)."""
    hit = total = 0
    for a, b in zip(float_preds, int8_preds, strict=True):
        a, b = a[a.scores >= conf], b[b.scores >= conf]
        total += len(a)
        if not len(a) or not len(b):
            continue
        iou = iou_matrix(a.xyxy, b.xyxy) * (a.class_ids[:, None] == b.class_ids[None, :])
        hit += int((iou.max(axis=1) >= 0.5).sum())
    return hit / total if total else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("float_model")
    p.add_argument("int8_model")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default=None, help="split.json of the training run: evaluate its validation images")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    models = [open_model(a.float_model, task="detect"), open_model(a.int8_model, task="detect")]
    dets = [Detector(m).with_config(conf=EVAL_CONF, max_det=300) for m in models]
    ann = load_eval_set(a.data, None, dets[0].labels, a.split)
    truths = [(r.xyxy, r.class_ids) for r in ann.records]
    preds = [predict_records(d, ann.records) for d in dets]
    labels = dets[0].labels
    full = [evaluate_detections(p_, truths, labels)["map50"] for p_ in preds]
    rng = np.random.default_rng(a.seed)
    n = len(truths)
    diffs = []
    for _ in range(a.boot):
        idx = rng.integers(0, n, n)
        t = [truths[i] for i in idx]
        m = [evaluate_detections([pr[i] for i in idx], t, labels)["map50"] for pr in preds]
        diffs.append(m[1] - m[0])
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    res = {"images": n, "boxes": int(sum(len(t[0]) for t in truths)), "float_map50": full[0], "int8_map50": full[1],
           "int8_minus_float": full[1] - full[0], "ci95": [float(lo), float(hi)], "boot": a.boot,
           "agreement_at_0.25": agreement(*preds)}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{n} images, {res['boxes']} boxes: mAP@0.5 float {full[0]:.3f}, int8 {full[1]:.3f}, "
              f"int8 - float {100 * (full[1] - full[0]):+.1f} points (95 % paired bootstrap "
              f"{100 * lo:+.1f} .. {100 * hi:+.1f}); int8 reproduces {100 * res['agreement_at_0.25']:.1f} % of the "
              f"float detections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
