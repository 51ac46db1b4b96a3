"""Ship an int8 ECG model as builtin:ecg: add training command, metrics and attribution to its metadata.

    python scripts/ecg_ship.py MODEL_int8.tflite --float-eval F.json --int8-eval Q.json \
        [--cv CV.json] [--command "..."] [--out edge/models/ecg_mitdb_int8.tflite]

F.json / Q.json: `edgecnn eval ... --json` of the float and int8 model on the same records;
CV.json: a pooled patient-disjoint cross-validation summary (scripts/ecg_pool_folds.py's
cv_summary.json or the sweep's pooled confusion), stored as is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgecnn.convert.tflite import embed_metadata
from edgecnn.edge.core.fileio import atomic_write_bytes
from edgecnn.edge.core.metadata import read_metadata
from edgecnn.train.ecg.recipe import ATTRIBUTION

KEEP = ("macro_f1", "accuracy", "per_class", "rpeak", "confusion", "signal_seconds", "realtime_factor")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--float-eval", required=True)
    ap.add_argument("--int8-eval", required=True)
    ap.add_argument("--cv", default=None)
    ap.add_argument("--command", default="make real DATA=../shared/data SHIP=1 (scripts/real_ecg.sh)")
    ap.add_argument("--out", default="edge/models/ecg_mitdb_int8.tflite")
    args = ap.parse_args()
    flat = Path(args.model).read_bytes()
    meta = read_metadata(flat)
    f, q = (json.loads(Path(p).read_text()) for p in (args.float_eval, args.int8_eval))
    ev = dict(meta.get("evaluation") or {})
    ev["ds1_all_records_training_set"] = {
        "note": "the training records themselves: float vs int8 parity, not a generalisation score",
        "float": {k: f[k] for k in KEEP if k in f}, "int8": {k: q[k] for k in KEEP if k in q}}
    if args.cv:
        ev["patient_disjoint_cv"] = json.loads(Path(args.cv).read_text())
    prov = dict(meta.get("provenance") or {})
    prov.update(command=args.command, attribution=ATTRIBUTION, license_of_training_data="ODC-By 1.0",
                data="MIT-BIH Arrhythmia Database, DS1 of de Chazal et al. 2004 (22 records)")
    meta.update(evaluation=ev, provenance=prov)
    atomic_write_bytes(args.out, embed_metadata(flat, meta))
    print(f"wrote {args.out} ({Path(args.out).stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
