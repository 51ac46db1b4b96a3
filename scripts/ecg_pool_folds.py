"""Pool the per-fold ECG evaluations of scripts/real_ecg.sh / scripts/ecg_cv2.sh (float and int8) into one table.

    python scripts/ecg_pool_folds.py runs/ecg 4 > runs/ecg/cv_summary.md   (also writes cv_summary.json)

A fold folder holds ``eval_model.json`` / ``eval_model_int8.json`` (one database, scripts/real_ecg.sh)
or ``eval_model_DB.json`` / ``eval_model_int8_DB.json`` per database of its held-out records
(scripts/ecg_cv2.sh: ``DB`` = mitdb, svdb). The confusion matrices and R-peak counts are summed over
the folds per database, and over every database for the pooled rows. cv_summary.json keeps the
pooled result under ``model`` / ``model_int8`` (what scripts/ecg_ship.py stores) and adds
``per_database`` ({DB: {model, model_int8}}) when there are several databases. A run evaluated with
one kind only (``EVAL_KINDS=model_int8``) gets that kind's rows.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np

from edgecnn.edge.core.fileio import atomic_write_text
from edgecnn.edge.ecg.evaluate import class_metrics

KINDS = ("model", "model_int8")
LABEL = {"model": "float (.keras)", "model_int8": "int8 (.tflite)"}


EVAL_NAME = re.compile(r"eval_(?P<kind>model_int8|model)(?:_(?P<db>[A-Za-z0-9-]+))?\.json")


def fold_files(out: Path, folds: int, kind: str) -> dict[str, list[Path]]:
    """``{database: [eval json per fold]}``; database ``""`` for the one-database layout."""
    found: dict[str, list[Path]] = {}
    for i in range(folds):
        d = out / f"fold{i}"
        hits = [(m["db"] or "", p) for p in sorted(d.glob("eval_*.json"))
                if (m := EVAL_NAME.fullmatch(p.name)) and m["kind"] == kind]
        if not hits:
            raise SystemExit(f"{d}: no eval_{kind}.json nor eval_{kind}_DB.json")
        for db, p in hits:
            found.setdefault(db, []).append(p)
    return found


def pool(files: list[Path]) -> dict:
    cm = np.zeros((5, 5), np.int64)
    tp = fn = fp = 0
    records = 0
    for f in files:
        r = json.loads(f.read_text())
        cm += np.array(r["confusion"])
        tp, fn, fp = tp + r["rpeak"]["tp"], fn + r["rpeak"]["fn"], fp + r["rpeak"]["fp"]
        records += len(r.get("records") or {})
    m = class_metrics(cm)
    m["rpeak"] = {"se": tp / (tp + fn) if tp + fn else 0.0, "ppv": tp / (tp + fp) if tp + fp else 0.0,
                  "tp": tp, "fn": fn, "fp": fp}
    m["confusion"] = cm.tolist()
    m["records"] = records
    return m


def kinds_present(out: Path, folds: int) -> list[str]:
    """The model kinds (float ``model``, ``model_int8``) that have evaluations in the fold folders
    (a CV run with EVAL_KINDS=model_int8 has only the int8 ones; ``fold_files`` then requires them
    in every fold)."""
    names = [p.name for i in range(folds) for p in (out / f"fold{i}").glob("eval_*.json")]
    kinds = [k for k in KINDS if any((m := EVAL_NAME.fullmatch(n)) and m["kind"] == k for n in names)]
    if not kinds:
        raise SystemExit(f"{out}: no eval_model[_int8][_DB].json in fold0..fold{folds - 1}")
    return kinds


def summarize(out: Path, folds: int) -> dict:
    res: dict = {}
    per_db: dict = {}
    for kind in kinds_present(out, folds):
        files = fold_files(out, folds, kind)
        res[kind] = pool([f for fs in files.values() for f in fs])
        if len(files) > 1 or "" not in files:
            for db, fs in files.items():
                per_db.setdefault(db, {})[kind] = pool(fs)
    if per_db:
        res["per_database"] = per_db
    return res


def row(name: str, m: dict) -> str:
    pc = m["per_class"]
    cells = [f"{100 * (pc[c]['se'] or 0):.1f}/{100 * (pc[c]['ppv'] or 0):.1f}" for c in "NSVF"]
    return (f"| {name} | {m['records']} | {sum(map(sum, m['confusion']))} | {100 * m['rpeak']['se']:.2f} | "
            f"{100 * m['rpeak']['ppv']:.2f} | " + " | ".join(cells) + f" | {m['macro_f1']:.4f} | {m['accuracy']:.4f} |")


def main() -> None:
    out, folds = Path(sys.argv[1]), int(sys.argv[2])
    res = summarize(out, folds)
    kinds = [k for k in KINDS if k in res]
    atomic_write_text(out / "cv_summary.json", json.dumps(res, indent=1))
    dbs = sorted(res.get("per_database", {}))
    where = " + ".join(dbs) if dbs else "one database (MIT-BIH DS1 in scripts/real_ecg.sh)"
    print(f"# ECG: patient-disjoint {folds}-fold on {where} (pooled over folds)\n")
    print("| model | records | beats | R Se % | R +P % | N Se/+P % | S Se/+P % | V Se/+P % | F Se/+P % | macro-F1 | acc |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for db in dbs:
        for kind in kinds:
            print(row(f"{db}, {LABEL[kind]}", res["per_database"][db][kind]))
    if len(dbs) == 1:  # the pooled rows would repeat the database's
        return
    for kind in kinds:
        print(row(f"{'pooled, ' if dbs else ''}{LABEL[kind]}", res[kind]))


if __name__ == "__main__":
    main()
