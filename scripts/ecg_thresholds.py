"""Class decision offsets for the ECG classifier, fitted on out-of-fold beats with leave-one-fold-out nesting.

    python scripts/ecg_thresholds.py OOF.npz [--kind int8] [--classes S] [--objective s_f1] [--json OUT]

``OOF.npz`` comes from scripts/ecg_oof.py. Rule: class = argmax_c(log p_c + b_c) (p clipped below at
half an int8 output step, 1/512), b = 0 for the classes not fitted. Fitted by a grid search
(coordinate-wise, GRID) on the beats of the *other* folds and applied to the fold being scored
(``nested``); the folds' confusions are pooled per database and over all. The score of a fold never
sees its own beats. Objectives: ``s_f1`` (F1 of S: the balance of S Se and S +P), ``macro``
(macro-F1 of N, S, V, F). ``all_folds``: b fitted on every beat (in-sample: the offsets a shipped
model would carry, not a score).

Also printed: the trade-off of one global S offset (``--sweep``) and S +P at the argmax's S Se
(``ppv_at_se``: the offset that gives the same pooled S Se, found on the pooled beats; a comparison of
two models' S curves at equal sensitivity, not a deployable number).

On the device the offsets are one multiply per class: ``probs * exp(b)`` then argmax (the model's
metadata could carry ``params.decision.log_offsets``; the confidence would stay the model's probability).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edgecnn.edge.ecg.evaluate import class_metrics

GRID = np.round(np.arange(-3.0, 3.0001, 0.05), 2)
FLOOR = 1.0 / 512
ROUNDS = 10


def decide(probs: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (np.log(np.maximum(probs.astype(np.float64), FLOOR)) + b).argmax(axis=1)


def confusion(y, pred, k: int = 5) -> np.ndarray:
    return np.bincount(y * k + pred, minlength=k * k).reshape(k, k)


def objective(cm: np.ndarray, name: str) -> float:
    m = class_metrics(cm)
    if name == "macro":
        return m["macro_f1"]
    return m["per_class"]["S"]["f1"] or 0.0


def fit(y, probs, classes: list[int], name: str) -> np.ndarray:
    """Coordinate search over GRID (ties keep the value nearer 0)."""
    b = np.zeros(probs.shape[1])
    logp = np.log(np.maximum(probs.astype(np.float64), FLOOR))
    best = objective(confusion(y, logp.argmax(axis=1)), name)
    for _ in range(ROUNDS):
        moved = False
        for c in classes:
            for v in sorted(GRID, key=abs):
                t = b.copy()
                t[c] = v
                s = objective(confusion(y, (logp + t).argmax(axis=1)), name)
                if s > best + 1e-12:
                    best, b, moved = s, t, True
        if not moved:
            break
    return b


def pct(m: dict, c: str) -> str:
    pc = m["per_class"][c]
    return f"{100 * (pc['se'] or 0):.1f}/{100 * (pc['ppv'] or 0):.1f}"


def row(name: str, cm: np.ndarray, extra: str = "") -> str:
    m = class_metrics(cm)
    return (f"| {name} | {pct(m, 'N')} | {pct(m, 'S')} | {pct(m, 'V')} | {pct(m, 'F')} | "
            f"{m['macro_f1']:.4f} | {extra} |")


def nested(d, kind: str, classes: list[int], name: str) -> tuple[np.ndarray, dict]:
    """Predicted class of every beat with offsets fitted on the other folds; {fold: offsets}."""
    y, p, fold = d["y"], d[f"p_{kind}"], d["fold"]
    pred = np.empty(len(y), np.int64)
    offs = {}
    for f in np.unique(fold):
        test = fold == f
        b = fit(y[~test], p[~test], classes, name)
        pred[test] = decide(p[test], b)
        offs[int(f)] = b
    return pred, offs


def ppv_at_se(y, p, target_se: float, s: int = 1) -> tuple[float, float]:
    """(S +P, b_S) at the global S offset whose pooled S Se is closest to ``target_se`` (from above)."""
    best = None
    for v in np.round(np.arange(-4.0, 4.0001, 0.02), 2):
        b = np.zeros(p.shape[1])
        b[s] = v
        m = class_metrics(confusion(y, decide(p, b)))["per_class"]["S"]
        if (m["se"] or 0) >= target_se and (best is None or v < best[1]):
            best = (m["ppv"] or 0.0, v)
    return best if best is not None else (float("nan"), float("nan"))


def groups(d) -> list[tuple[str, np.ndarray]]:
    dbs = sorted(set(d["db"].tolist()))
    out = [(db, d["db"] == db) for db in dbs]
    return out + ([("pooled", np.ones(len(d["y"]), bool))] if len(dbs) > 1 else [])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("oof", type=Path)
    ap.add_argument("--kind", default="int8", help="int8 or float (p_KIND in the .npz)")
    ap.add_argument("--classes", nargs="+", default=["S"], help="classes whose offset is fitted (default S)")
    ap.add_argument("--objective", nargs="+", default=["s_f1", "macro"], choices=("s_f1", "macro"))
    ap.add_argument("--sweep", nargs="*", type=float, default=[-1.0, -0.75, -0.5, -0.25, 0.25, 0.5],
                    help="global S offsets to tabulate")
    ap.add_argument("--se-target", type=float, default=None,
                    help="pooled S Se for ppv_at_se (default: this model's own argmax S Se)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    d = dict(np.load(args.oof))
    labels = [str(x) for x in d["labels"]]
    classes = [labels.index(c) for c in args.classes]
    y, p = d["y"], d[f"p_{args.kind}"]
    res: dict = {"oof": str(args.oof), "kind": args.kind, "classes": args.classes}
    print(f"# {args.oof} ({args.kind}): offsets on {', '.join(args.classes)}\n")
    print("| rows | N Se/+P % | S Se/+P % | V Se/+P % | F Se/+P % | macro-F1 | offsets |")
    print("|---|---:|---:|---:|---:|---:|---|")
    base = p.argmax(axis=1)
    preds = {"argmax": (base, None)}
    for name in args.objective:
        pred, offs = nested(d, args.kind, classes, name)
        preds[f"nested {name}"] = (pred, offs)
        full = fit(y, p, classes, name)
        res[f"all_folds {name}"] = {c: float(full[i]) for c, i in zip(args.classes, classes, strict=True)}
        res[f"nested {name}"] = {str(f): {c: float(b[i]) for c, i in zip(args.classes, classes, strict=True)}
                                 for f, b in offs.items()}
    for db, sel in groups(d):
        for how, (pred, offs) in preds.items():
            extra = "-" if offs is None else "; ".join(
                f"f{f}: " + ",".join(f"{b[i]:+.2f}" for i in classes) for f, b in offs.items())
            print(row(f"{db}, {how}", confusion(y[sel], pred[sel]), extra))
            res.setdefault("rows", {})[f"{db}, {how}"] = {"confusion": confusion(y[sel], pred[sel]).tolist()}
    print("\nGlobal S offset (pooled, in-sample trade-off):\n")
    print("| b_S | S Se/+P % | S F1 | V Se/+P % | macro-F1 |")
    print("|---:|---:|---:|---:|---:|")
    for v in sorted({0.0, *args.sweep}):
        b = np.zeros(p.shape[1])
        b[labels.index("S")] = v
        m = class_metrics(confusion(y, decide(p, b)))
        print(f"| {v:+.2f} | {pct(m, 'S')} | {m['per_class']['S']['f1']:.4f} | {pct(m, 'V')} | {m['macro_f1']:.4f} |")
    target = args.se_target
    if target is None:
        target = class_metrics(confusion(y, base))["per_class"]["S"]["se"]
    ppv, v = ppv_at_se(y, p, target)
    res["ppv_at_se"] = {"se_target": target, "ppv": ppv, "b_S": v}
    print(f"\nS +P at pooled S Se >= {100 * target:.1f} %: {100 * ppv:.1f} % (global b_S = {v:+.2f})")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
