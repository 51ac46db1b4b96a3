"""Float vs int8 mAP on the same images, with a paired bootstrap interval for the difference.

    python scripts/detect_gap.py FLOAT.keras INT8.tflite --data DIR [--split split.json] [--boot 2000] [--json]
    python scripts/detect_gap.py --runs RUN_DIR... --data DIR [--json]     # K-fold runs, pooled

``--runs``: training folders each holding model.keras, model_int8.tflite and split.json (e.g. the
folds of `train detect --folds K --fold k`); every model is run on its own validation images and
the detections are pooled (cross-validated mAP over all the images the folds held out).

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

from edgecnn.edge.core.loader import open_model
from edgecnn.edge.detect.boxes import as_boxes, iou_matrix
from edgecnn.edge.detect.evaluate import (
    EVAL_CONF,
    average_precision,
    evaluate_detections,
    load_eval_set,
    match,
    pr_curve,
    predict_records,
)
from edgecnn.edge.detect.runtime import Detector


def image_stats(preds, truths, num_classes: int) -> list:
    """Per image and class: (scores, true positives at IoU 0.5, ground-truth count). Matching is
    per image, so a bootstrap resample only re-concatenates these (no IoU recomputed)."""
    out = []
    for det, (gt_xyxy, gt_ids) in zip(preds, truths, strict=True):
        gt_all, ids = as_boxes(gt_xyxy), np.asarray(gt_ids).reshape(-1)
        row = []
        for c in range(num_classes):
            m = det.class_ids == c
            row.append((det.scores[m], match(det.xyxy[m], det.scores[m], gt_all[ids == c], [0.5])[:, 0],
                        int((ids == c).sum())))
        out.append(row)
    return out


def map50(stats, idx, num_classes: int) -> float:
    """mAP@0.5 of the images ``idx`` (repeats allowed), as evaluate_detections computes it."""
    aps = []
    for c in range(num_classes):
        n_gt = sum(stats[i][c][2] for i in idx)
        if n_gt:
            sc = np.concatenate([stats[i][c][0] for i in idx])
            tp = np.concatenate([stats[i][c][1] for i in idx])
            aps.append(average_precision(*pr_curve(tp, sc, n_gt)))
    return float(np.mean(aps)) if aps else 0.0


def run_files(run_dir: str) -> tuple[str, str, str]:
    """(float model, int8 model, split) of a training folder."""
    return f"{run_dir}/model.keras", f"{run_dir}/model_int8.tflite", f"{run_dir}/split.json"


def pool_runs(data: str, runs, models_for) -> tuple[list, dict, tuple, list]:
    """Each run's models on that run's validation images, detections pooled over the runs.

    ``runs``: ``(float model, int8 model, split.json or None)``; ``models_for(float, int8)`` gives the
    models to evaluate, ``{name: model}``. Returns (truths, {name: predictions}, labels, spans),
    ``spans`` = ``(float model path, first, end)`` of each run's images in the pooled lists.
    """
    truths, preds, labels, spans = [], {}, None, []
    if any(str(m).endswith(".keras") for run in runs for m in run[:2]):
        import edgecnn.train.core.keras_model  # noqa: F401  (registers the .keras opener: a workstation script)
    for fm, qm, split in runs:
        models = models_for(open_model(fm, task="detect"), open_model(qm, task="detect"))
        dets = {k: Detector(m).with_config(conf=EVAL_CONF, max_det=300) for k, m in models.items()}
        run_labels = next(iter(dets.values())).labels
        if labels is not None and list(run_labels) != list(labels):
            raise ValueError(f"{fm}: classes {list(run_labels)} differ from the first run's {list(labels)}")
        labels = run_labels
        ann = load_eval_set(data, None, labels, split)
        truths += [(r.xyxy, r.class_ids) for r in ann.records]
        for k, d in dets.items():
            preds.setdefault(k, []).extend(predict_records(d, ann.records))
        spans.append((fm, len(truths) - len(ann.records), len(truths)))
    return truths, preds, labels, spans


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
    p.add_argument("float_model", nargs="?")
    p.add_argument("int8_model", nargs="?")
    p.add_argument("--runs", nargs="+", default=None, help="run folders (model.keras, model_int8.tflite, split.json), pooled")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default=None, help="split.json of the training run: evaluate its validation images")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if bool(a.runs) == bool(a.float_model and a.int8_model):
        p.error("give FLOAT INT8 (one split) or --runs DIR... (pooled folds), not both or neither")
    runs = [run_files(r) for r in a.runs] if a.runs else [(a.float_model, a.int8_model, a.split)]
    try:
        truths, pooled, labels, spans = pool_runs(a.data, runs, lambda f, q: {"float": f, "int8": q})
    except ValueError as exc:
        p.error(str(exc))
    preds = [pooled["float"], pooled["int8"]]
    full = [evaluate_detections(p_, truths, labels)["map50"] for p_ in preds]
    stats = [image_stats(p_, truths, len(labels)) for p_ in preds]
    n = len(truths)
    for st, m in zip(stats, full, strict=True):  # the fast path is the same number
        assert abs(map50(st, range(n), len(labels)) - m) < 1e-9, (map50(st, range(n), len(labels)), m)
    rng = np.random.default_rng(a.seed)
    diffs = []
    for _ in range(a.boot):
        idx = rng.integers(0, n, n)
        diffs.append(map50(stats[1], idx, len(labels)) - map50(stats[0], idx, len(labels)))
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    res = {"runs": len(runs), "images": n, "boxes": int(sum(len(t[0]) for t in truths)), "float_map50": full[0], "int8_map50": full[1],
           "int8_minus_float": full[1] - full[0], "ci95": [float(lo), float(hi)], "boot": a.boot,
           "agreement_at_0.25": agreement(*preds)}
    if len(runs) > 1:
        res["per_run"] = [{"model": fm, "images": hi_ - lo_,
                           **{k: evaluate_detections(pr[lo_:hi_], truths[lo_:hi_], labels)["map50"]
                              for k, pr in zip(("float_map50", "int8_map50"), preds, strict=True)}}
                          for fm, lo_, hi_ in spans]
    if a.json:
        print(json.dumps(res))
    else:
        for r in res.get("per_run", []):
            print(f"{r['model']}: {r['images']} images, mAP@0.5 float {r['float_map50']:.3f}, int8 {r['int8_map50']:.3f}")
        print(f"{n} images, {res['boxes']} boxes: mAP@0.5 float {full[0]:.3f}, int8 {full[1]:.3f}, "
              f"int8 - float {100 * (full[1] - full[0]):+.1f} points (95 % paired bootstrap "
              f"{100 * lo:+.1f} .. {100 * hi:+.1f}); int8 reproduces {100 * res['agreement_at_0.25']:.1f} % of the "
              f"float detections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
