"""Pool the per-fold ECG evaluations of scripts/real_ecg.sh (float and int8) into one table.

    python scripts/ecg_pool_folds.py runs/ecg 4 > runs/ecg/cv_summary.md   (also writes cv_summary.json)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from edgecnn.edge.ecg.evaluate import class_metrics


def pool(out: Path, folds: int, kind: str) -> dict:
    cm = np.zeros((5, 5), np.int64)
    tp = fn = fp = 0
    for i in range(folds):
        r = json.loads((out / f"fold{i}" / f"eval_{kind}.json").read_text())
        cm += np.array(r["confusion"])
        tp, fn, fp = tp + r["rpeak"]["tp"], fn + r["rpeak"]["fn"], fp + r["rpeak"]["fp"]
    m = class_metrics(cm)
    m["rpeak"] = {"se": tp / (tp + fn), "ppv": tp / (tp + fp), "tp": tp, "fn": fn, "fp": fp}
    m["confusion"] = cm.tolist()
    return m


def main() -> None:
    out, folds = Path(sys.argv[1]), int(sys.argv[2])
    res = {k: pool(out, folds, k) for k in ("model", "model_int8")}
    (out / "cv_summary.json").write_text(json.dumps(res, indent=1))
    print(f"# ECG: patient-disjoint {folds}-fold on MIT-BIH DS1 (pooled over folds)\n")
    print("| model | R Se % | R +P % | N Se/+P % | S Se/+P % | V Se/+P % | F Se/+P % | macro-F1 | acc |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, m in res.items():
        pc = m["per_class"]
        cells = [f"{100 * (pc[c]['se'] or 0):.1f}/{100 * (pc[c]['ppv'] or 0):.1f}" for c in "NSVF"]
        print(f"| {'float (.keras)' if name == 'model' else 'int8 (.tflite)'} | {100 * m['rpeak']['se']:.2f} | "
              f"{100 * m['rpeak']['ppv']:.2f} | " + " | ".join(cells) + f" | {m['macro_f1']:.4f} | {m['accuracy']:.4f} |")


if __name__ == "__main__":
    main()
