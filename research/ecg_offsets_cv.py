"""Per-class decision offsets for the ECG classifier, measured with leave-one-fold-out nesting.

    python research/ecg_offsets_cv.py [--oof runs/ecg/oof.npz] [--out runs/ecg/offsets_cv.json]

Rule: class = argmax(log p + b) = argmax(p * exp(b)), b_N = 0, b_Q = 0; b_S, b_V, b_F are fitted by
coordinate search over GRID to maximise the pooled macro-F1 (N, S, V, F) of the beats they are
fitted on. Reported per model (float, int8) on the out-of-fold beats of scripts/ecg_oof.py
(``--kinds int8 float``):

* ``none``: argmax of p;
* ``nested``: for each fold, b fitted on the other folds' beats and applied to this fold's; the four
  confusion matrices pooled (the honest number);
* ``all_folds``: b fitted on all beats and applied to them (in-sample, for information; these are
  the offsets a shipped model would carry);
* ``nested_s70`` / ``all_folds_s70``: same, but b maximises macro-F1 among offsets that give
  S Se >= 70 % on the beats they are fitted on (what reaching the S target costs).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from edgecnn.edge.eval_ecg import class_metrics
from edgecnn.edge.fileio import atomic_write_json

FITTED = ("S", "V", "F")
GRID = np.round(np.arange(-6.0, 6.0001, 0.1), 2)
S_SE_TARGET = 0.70
MAX_ROUNDS = 20
MODELS = ("int8", "float")


def decide(probs: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (probs.astype(np.float64) * np.exp(b)).argmax(axis=1)


def confusion(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def objective(cm: np.ndarray, labels: list[str], s_se_min: float | None) -> float:
    """Macro-F1; with ``s_se_min``, offsets below the S Se floor score S Se - 1 (< any feasible one)."""
    m = class_metrics(cm, labels)
    s_se = m["per_class"]["S"]["se"] or 0.0
    return m["macro_f1"] if s_se_min is None or s_se >= s_se_min else s_se - 1.0


def fit(y, probs, labels, s_se_min=None) -> np.ndarray:
    """Coordinate search of b over GRID (ties keep the current value, then prefer the smaller |b|)."""
    k = len(labels)
    b = np.zeros(k)
    best = objective(confusion(y, decide(probs, b), k), labels, s_se_min)
    for _ in range(MAX_ROUNDS):
        moved = False
        for c in (labels.index(name) for name in FITTED):
            for v in sorted(GRID, key=abs):
                trial = b.copy()
                trial[c] = v
                score = objective(confusion(y, decide(probs, trial), k), labels, s_se_min)
                if score > best + 1e-12:
                    best, b, moved = score, trial, True
        if not moved:
            break
    return b


def nested(y, probs, fold, labels, s_se_min=None) -> dict:
    k = len(labels)
    cm = np.zeros((k, k), np.int64)
    per_fold = {}
    for f in np.unique(fold):
        test = fold == f
        b = fit(y[~test], probs[~test], labels, s_se_min)
        cm += confusion(y[test], decide(probs[test], b), k)
        per_fold[int(f)] = b.round(2).tolist()
    return {"metrics": _metrics(cm, labels), "log_offsets_per_fold": per_fold}


def in_sample(y, probs, labels, s_se_min=None) -> dict:
    b = fit(y, probs, labels, s_se_min)
    return {"metrics": _metrics(confusion(y, decide(probs, b), len(labels)), labels), "log_offsets": b.round(2).tolist()}


def _metrics(cm: np.ndarray, labels: list[str]) -> dict:
    return {**class_metrics(cm, labels), "confusion": cm.tolist()}


def evaluate_model(y, probs, fold, labels) -> dict:
    k = len(labels)
    return {"none": {"metrics": _metrics(confusion(y, decide(probs, np.zeros(k)), k), labels)},
            "nested": nested(y, probs, fold, labels), "all_folds": in_sample(y, probs, labels),
            "nested_s70": nested(y, probs, fold, labels, S_SE_TARGET),
            "all_folds_s70": in_sample(y, probs, labels, S_SE_TARGET)}


def table(res: dict, labels: list[str]) -> str:
    lines = ["| model | offsets | macro-F1 | N Se/+P % | S Se/+P % | V Se/+P % | F Se/+P % | b (S, V, F) |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for model in MODELS:
        for how, r in res[model].items():
            pc = r["metrics"]["per_class"]
            cells = [f"{100 * (pc[c]['se'] or 0):.1f}/{100 * (pc[c]['ppv'] or 0):.1f}" for c in "NSVF"]
            b = r.get("log_offsets") or r.get("log_offsets_per_fold")
            if isinstance(b, dict):
                b = "; ".join(f"f{f}: {_fitted(v, labels)}" for f, v in b.items())
            else:
                b = _fitted(b, labels) if b else "-"
            lines.append(f"| {model} | {how} | {r['metrics']['macro_f1']:.4f} | " + " | ".join(cells) + f" | {b} |")
    return "\n".join(lines)


def _fitted(b: list[float], labels: list[str]) -> str:
    return ", ".join(f"{b[labels.index(c)]:+.1f}" for c in FITTED)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oof", type=Path, default=Path("runs/ecg/oof.npz"))
    ap.add_argument("--out", type=Path, default=Path("runs/ecg/offsets_cv.json"))
    args = ap.parse_args()
    d = np.load(args.oof)
    labels = [str(x) for x in d["labels"]]
    res = {m: evaluate_model(d["y"], d[f"p_{m}"], d["fold"], labels) for m in MODELS}
    out = {"labels": labels, "fitted": list(FITTED), "grid": [float(GRID[0]), float(GRID[-1]), 0.1],
           "s_se_target": S_SE_TARGET, "oof": str(args.oof), "beats": int(len(d["y"])), **res}
    atomic_write_json(args.out, out)
    print(table(res, labels))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
