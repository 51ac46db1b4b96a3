"""Ship an int8 ECG model as builtin:ecg: add training command, metrics and attribution to its metadata.

    python scripts/ecg_ship.py MODEL_int8.tflite --eval NAME FLOAT.json INT8.json [--eval NAME2 ...] \
        [--cv CV.json] [--command "..."] [--out edge/models/ecg_mitdb_int8.tflite]

``--eval NAME F.json Q.json`` (repeatable): `edgecnn eval ... --json` of the float and int8 model on
the same records, the model's own training records of database NAME (a float vs int8 parity check,
stored as ``evaluation.NAME_all_records_training_set``); ``--float-eval F --int8-eval Q`` is the
one-database spelling (NAME ``ds1``). CV.json: a pooled patient-disjoint cross-validation summary
(scripts/ecg_pool_folds.py's cv_summary.json), stored as is. The attribution is the one
`edgecnn train ecg` wrote for the databases the model was trained on (``provenance.attribution``),
and ``provenance.data`` names them with their record counts.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from edgecnn.convert.tflite import embed_metadata
from edgecnn.edge.core.fileio import atomic_write_bytes
from edgecnn.edge.core.metadata import read_metadata
from edgecnn.train.ecg.recipe import ATTRIBUTION
from edgecnn.train.ecg.records import DS1

KEEP = ("macro_f1", "accuracy", "per_class", "rpeak", "confusion", "signal_seconds", "realtime_factor")
DATABASES = {"mitdb": "MIT-BIH Arrhythmia Database", "svdb": "MIT-BIH Supraventricular Arrhythmia Database"}


def data_note(records: list[str]) -> str:
    """``provenance.data``: the training databases and record counts, from the records' ``DB/NAME``
    names (bare names: MIT-BIH, the one-database layout of scripts/real_ecg.sh)."""
    per_db: dict[str, set[str]] = defaultdict(set)
    for r in records:
        db, _, name = r.rpartition("/")
        per_db[db or "mitdb"].add(name)
    parts = []
    for db, names in sorted(per_db.items()):
        what = DATABASES.get(db, db)
        if db == "mitdb" and names == set(DS1):
            parts.append(f"{what}, DS1 of de Chazal et al. 2004 ({len(names)} records)")
        else:
            parts.append(f"{what} ({len(names)} records)")
    return " + ".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--eval", nargs=3, action="append", default=[], metavar=("NAME", "FLOAT_JSON", "INT8_JSON"))
    ap.add_argument("--float-eval", default=None)
    ap.add_argument("--int8-eval", default=None)
    ap.add_argument("--cv", default=None)
    ap.add_argument("--command", default="make real DATA=../shared/data SHIP=1 (scripts/real_ecg.sh)")
    ap.add_argument("--out", default="edge/models/ecg_mitdb_int8.tflite")
    args = ap.parse_args()
    evals = list(args.eval)
    if (args.float_eval is None) != (args.int8_eval is None):
        ap.error("--float-eval and --int8-eval go together")
    if args.float_eval:
        evals.append(("ds1", args.float_eval, args.int8_eval))
    if not evals:
        ap.error("give the training records' evaluations: --eval NAME FLOAT.json INT8.json (or --float-eval/--int8-eval)")
    flat = Path(args.model).read_bytes()
    meta = read_metadata(flat)
    ev = dict(meta.get("evaluation") or {})
    for name, fpath, qpath in evals:
        f, q = (json.loads(Path(p).read_text()) for p in (fpath, qpath))
        ev[f"{name}_all_records_training_set"] = {
            "note": "the training records themselves: float vs int8 parity, not a generalisation score",
            "float": {k: f[k] for k in KEEP if k in f}, "int8": {k: q[k] for k in KEEP if k in q}}
    if args.cv:
        ev["patient_disjoint_cv"] = json.loads(Path(args.cv).read_text())
    prov = dict(meta.get("provenance") or {})
    prov.update(command=args.command, attribution=prov.get("attribution") or ATTRIBUTION,
                license_of_training_data="ODC-By 1.0", data=data_note(prov.get("records") or []))
    meta.update(evaluation=ev, provenance=prov)
    atomic_write_bytes(args.out, embed_metadata(flat, meta))
    print(f"wrote {args.out} ({Path(args.out).stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
