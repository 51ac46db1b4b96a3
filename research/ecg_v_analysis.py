"""Where the false V beats of the ECG cross-validation come from, and two things that do not fix them.

    python research/ecg_v_analysis.py [--oof runs/ecg/oof.npz] [--cache /tmp/ds1_r3.npz]

Reads the out-of-fold beats of scripts/ecg_oof.py and the cached device preprocessing of
research/ecg_cv_sweep.py --make-cache (the same detector beats, in record/sample order). Prints

1. a V probability threshold on the int8 beats: a beat whose top class is V but whose p(V) is
   below t gets its second class; V Se and +P for several t (how much V Se a +P of 90 % costs);
2. the beat-vs-template deviation in the QRS (mean |beat - template| from 80 ms before R to 110 ms
   after, in template-std units) as a score for "true V" among the beats that are V or called V:
   its AUC over all records and within record 203, and the AUC of the deviation divided by the
   record's recent deviation (a percentile over the previous 31 beats);
3. the same AUC for the QRS width of the beat, and of the beat minus that of its template.
"""

from __future__ import annotations

import argparse

import numpy as np
from ecg_cv_sweep import (  # this folder (research/) is on sys.path when run as a script
    qrs_width,
    recent_percentile,
)

from edgecnn.edge.eval_face import auc as roc_auc

V = 2
QRS = (-14, 20)   # samples around R at 180 Hz


def auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of ``score`` for ``positive`` (edge.eval_face.auc ranks by ascending distance)."""
    return roc_auc(-np.asarray(score, np.float64), np.asarray(positive, bool))


def v_threshold(p: np.ndarray, t: float) -> np.ndarray:
    """Classes of probabilities ``p`` where a beat whose top class is V but whose p(V) is below
    ``t`` gets its second class."""
    q = p.copy()
    q[(p.argmax(1) == V) & (p[:, V] < t), V] = -1.0
    return q.argmax(1)


def v_se_ppv(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    tp = np.sum((pred == V) & (y == V))
    return 100 * tp / max(1, np.sum(y == V)), 100 * tp / max(1, np.sum(pred == V))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--oof", default="runs/ecg/oof.npz")
    ap.add_argument("--cache", default="/tmp/ds1_r3.npz")
    ap.add_argument("--r-index", type=int, default=54, help="R position in the beat window (default 54)")
    args = ap.parse_args()
    oof, cache = np.load(args.oof), np.load(args.cache)
    order = np.lexsort((oof["sample"], oof["record"]))
    y, rec, p = oof["y"][order], oof["record"][order], oof["p_int8"][order]
    if not (np.array_equal(cache["record"], rec) and np.array_equal(cache["label"], y)):
        raise SystemExit(f"{args.cache} and {args.oof} do not hold the same beats in record order")
    pred = p.argmax(1)

    print("1. V threshold on the int8 out-of-fold beats")
    for t in (0.0, 0.5, 0.7, 0.8, 0.9, 0.95):
        se, ppv = v_se_ppv(y, v_threshold(p, t))
        print(f"   t={t:.2f}: V Se {se:.1f} %  +P {ppv:.1f} %")

    a, b = args.r_index + QRS[0], args.r_index + QRS[1]
    beat = cache["beat"].astype(np.float32)
    dev = np.abs(beat[:, a:b, 0] - beat[:, a:b, 1]).mean(1)
    m = (y == V) | (pred == V)
    m203 = m & (rec == "203")
    print("2. true V among the beats that are V or called V: AUC of the deviation from the template")
    print(f"   deviation: all records {auc(y[m] == V, dev[m]):.3f}, record 203 {auc(y[m203] == V, dev[m203]):.3f}")
    for q in (25, 50):
        ratio = dev / np.maximum(recent_percentile(dev, rec, q), 1e-3)
        print(f"   deviation / its {q}th percentile over the last 31 beats: all records "
              f"{auc(y[m] == V, ratio[m]):.3f}, record 203 {auc(y[m203] == V, ratio[m203]):.3f}")
    wb, wt = qrs_width(beat[:, :, 0], args.r_index), qrs_width(beat[:, :, 1], args.r_index)
    print("3. the same AUC for the QRS width (ecg_cv_sweep.qrs_width)")
    for name, w in (("beat", wb), ("beat - template", wb - wt)):
        print(f"   {name}: all records {auc(y[m] == V, w[m]):.3f}, record 203 {auc(y[m203] == V, w[m203]):.3f}")


if __name__ == "__main__":
    main()
