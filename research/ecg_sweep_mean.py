"""Average the held-out probabilities of several research/ecg_cv_sweep.py runs (--save-probs), as a
multi-member model does, and print the pooled metrics, the same without one record, and where the
false and missed V beats are:

    python research/ecg_sweep_mean.py runs/ecg_lopo/recipe_seed{0,1,2}_probs.npz [--without 203] [--thresholds 0.6 0.9]

The runs must be on the same cache (same beats in the same order).
"""

from __future__ import annotations

import argparse

import numpy as np
from ecg_cv_sweep import (  # this folder (research/) is on sys.path when run as a script
    confusion,
    params_with_rr,
    summary,
)
from ecg_v_analysis import v_se_ppv, v_threshold

from edgecnn.edge.ecg_io import AAMI_CLASSES
from edgecnn.edge.eval_ecg import class_metrics

V = AAMI_CLASSES.index("V")


def line(name: str, label: np.ndarray, pred: np.ndarray) -> str:
    return f"{name}: {summary(class_metrics(confusion(label, pred)))}"


def profile(cache: str, label: np.ndarray, record: np.ndarray, pred: np.ndarray, rec: str) -> None:
    z = np.load(cache)
    if not (np.array_equal(z["label"], label) and np.array_equal(z["record"], record)):
        raise SystemExit(f"{cache}: other beats than the runs")
    names = params_with_rr(z["rr_names"] if "rr_names" in z.files else None).rr.names
    pre_local = z["rr"][:, names.index("pre_local")]
    beat = z["beat"].astype(np.float32)
    dev = np.sqrt(((beat[:, :, 0] - beat[:, :, 1]) ** 2).mean(axis=1))
    n_v, n_n = (record == rec) & (label == 0) & (pred == V), (record == rec) & (label == 0) & (pred == 0)
    print(f"record {rec}, N beats called V ({n_v.sum()}) / called N ({n_n.sum()}): median pre/local "
          f"{np.median(pre_local[n_v]):.2f} / {np.median(pre_local[n_n]):.2f}, median RMS deviation from the "
          f"template {np.median(dev[n_v]):.2f} / {np.median(dev[n_n]):.2f}; true V (all records) deviating more "
          f"than that median: {100 * np.mean(dev[label == V] > np.median(dev[n_v])):.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("probs", nargs="+", help="NAME_seedS_probs.npz files of ecg_cv_sweep.py --save-probs")
    ap.add_argument("--without", default="203", help="also report the pooled metrics without this record")
    ap.add_argument("--cache", default=None,
                    help="the cache the runs used: also profile the N beats of --without called V against those "
                         "called N (pre/local RR, RMS deviation from the template)")
    ap.add_argument("--thresholds", type=float, nargs="*", default=[],
                    help="also V Se/+P when a beat called V with p(V) below t gets its second class")
    args = ap.parse_args()
    runs = [np.load(p) for p in args.probs]
    label, record = runs[0]["label"], runs[0]["record"]
    for p, r in zip(args.probs, runs, strict=True):
        if not (np.array_equal(r["label"], label) and np.array_equal(r["record"], record)):
            raise SystemExit(f"{p}: other beats than {args.probs[0]} (runs must share one cache)")
    probs = np.mean([r["probs"] for r in runs], axis=0)
    pred = probs.argmax(axis=1)
    print(line(f"mean of {len(runs)}", label, pred))
    keep = record != args.without
    print(line(f"without {args.without}", label[keep], pred[keep]))
    rows = []
    for rec in np.unique(record):
        m = record == rec
        false_v, missed_v = int(np.sum(m & (pred == V) & (label != V))), int(np.sum(m & (pred != V) & (label == V)))
        if false_v + missed_v >= 10:
            rows.append(f"{rec} {false_v}/{missed_v}")
    print("false/missed V per record (>= 10):", ", ".join(rows))
    if args.cache:
        profile(args.cache, label, record, pred, args.without)
    for t in args.thresholds:
        pt = v_threshold(probs, t)
        (se, ppv), (se_w, ppv_w) = v_se_ppv(label, pt), v_se_ppv(label[keep], pt[keep])
        print(f"V threshold {t:g}: V Se/+P {se:.1f}/{ppv:.1f} %, without {args.without} {se_w:.1f}/{ppv_w:.1f} %")


if __name__ == "__main__":
    main()
