#!/usr/bin/env bash
# ECG demo on built-in synthetic data (offline, ~2 min on 2 cores): train a small 1-D CNN,
# convert to int8, classify a synthetic record with `edgecnn ecg` (batch and --stream), evaluate.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EDGECNN="$PY -m edgecnn.edge.cli"
OUT=${OUT:-runs/demo/ecg}
mkdir -p "$OUT"
echo "== ecg: synthetic WFDB records for evaluation -> $OUT/data" >&2
$PY -m edgecnn.train.data.synthetic_ecg --out "$OUT/data" --records 3 --duration 120 --seed 7
echo "== ecg: train (builtin:synthetic)" >&2
$EDGECNN train ecg --data builtin:synthetic --synthetic-records 16 --out "$OUT" --epochs "${EPOCHS:-6}" \
    --width 0.5 --seed 0 --no-resume
echo "== ecg: convert to int8 (float vs int8 evaluated on $OUT/data)" >&2
$EDGECNN convert "$OUT/model.keras" --task ecg --out "$OUT/model_int8.tflite" --eval-data "$OUT/data"
echo "== ecg: classify a record (last lines)" >&2
$EDGECNN ecg "$OUT/model_int8.tflite" "$OUT/data/syn000" | tail -n 4
echo "== ecg: the same record streamed from text samples, 90 samples per step (first beats)" >&2
$PY - "$OUT" <<'PY'
import sys
from edgecnn.edge.ecg_io import read_wfdb
rec = read_wfdb(f"{sys.argv[1]}/data/syn000")
open(f"{sys.argv[1]}/syn000.csv", "w").write("\n".join(f"{v:.4f}" for v in rec.signal) + "\n")
PY
$EDGECNN ecg "$OUT/model_int8.tflite" - --stream --fs 360 --chunk 90 --json < "$OUT/syn000.csv" | head -n 3
echo "== ecg: evaluate int8 -> $OUT/report" >&2
$EDGECNN eval "$OUT/model_int8.tflite" --data "$OUT/data" --report "$OUT/report" | head -n 12
