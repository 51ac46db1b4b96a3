#!/usr/bin/env bash
# Real-data ECG recipe on MIT-BIH DS1 (../shared/data/mitdb), writing runs/ecg/:
#   scripts/real_ecg.sh DATA            (DATA = ../shared/data)
# 1. patient-disjoint K-fold inside DS1 (records of one patient never in train and test):
#    train on K-1 folds, convert to int8 (calibrated on the training records), evaluate the
#    .keras and the int8 model on the held-out records through the same edge/ code (R-peak
#    detection included); the confusion matrices and R-peak counts are pooled over the folds;
# 2. train on all of DS1, convert, evaluate float vs int8 on DS1 (training data: a parity check,
#    not a generalisation score), benchmark;
# 3. SHIP=1 writes the int8 model to edge/models/ecg_mitdb_int8.tflite (builtin:ecg) through
#    scripts/ecg_ship.py (adds the DS1 float/int8 evaluations, the pooled CV of runs/ecg/cv_summary.json
#    when there is one, and the command to the metadata).
# Environment: FOLDS (4), EPOCHS (8), PY (.venv/bin/python), SKIP_CV=1, SHIP=1, OUT (runs/ecg),
# ECG_ARGS (extra `edgecnn train ecg` flags, e.g. "--run 0.1"), CV_ONLY=1 (stop after the CV).
# Recipe (docs/ecg.md): class weights (n_max/n_c)^0.5 with F capped at 1, Q at 0 and S at 2, 30 % of the N
# beats drawn anew each epoch, ectopic beats twice, beat augmentation (amplitude, baseline, noise,
# time stretch), cosine learning-rate decay to 0 over 8 epochs, the 8 RR features, 5 % of the N beats of
# each batch made premature in their RR features and labelled S (--premature 0.05) and 5 % put inside a
# made-up SVT run and labelled S (--run 0.05); three networks (seeds 0, 1, 2) averaged into one model
# (--members 3), which takes the seed lottery out.
set -euo pipefail
DATA=${1:?usage: scripts/real_ecg.sh DATA}
MITDB="$DATA/mitdb"
FOLDS=${FOLDS:-4}
EPOCHS=${EPOCHS:-8}
PY=${PY:-.venv/bin/python}
E="$PY -m edgecnn.cli"
OUT=${OUT:-runs/ecg}
RECIPE=(--records DS1 --epochs "$EPOCHS" --batch-size 256 --lr 3e-3 --lr-schedule cosine --weight-power 0.5
        --max-weight F=1 Q=0 S=2 --n-keep 0.3 --ectopic-copies 1 --augment-amp 0.1 --augment-shift 0.1
        --augment-noise 0.05 --augment-stretch 0.08 --premature 0.05 --run 0.05 --members 3 --seed 0 --no-resume ${ECG_ARGS:-})
mkdir -p "$OUT"

held_out() {  # validation records written by `edgecnn train` into the sidecar metadata
  $PY -c "import json,sys; print(' '.join(json.load(open(sys.argv[1]))['provenance']['validation_records']))" "$1"
}

if [ -z "${SKIP_CV:-}" ]; then
  for ((i = 0; i < FOLDS; i++)); do
    d="$OUT/fold$i"
    echo "== ecg fold $i/$FOLDS: train" >&2
    $E train ecg --data "$MITDB" "${RECIPE[@]}" --folds "$FOLDS" --fold "$i" --out "$d"
    recs=$(held_out "$d/model.keras.json")
    echo "== ecg fold $i: convert, evaluate on held-out records $recs" >&2
    $E convert "$d/model.keras" --task ecg --calib "$MITDB" --out "$d/model_int8.tflite" --json > "$d/convert.json"
    for m in model.keras model_int8.tflite; do
      # shellcheck disable=SC2086
      $E eval "$d/$m" --data "$MITDB" --records $recs --json > "$d/eval_${m%%.*}.json"
    done
  done
  $PY scripts/ecg_pool_folds.py "$OUT" "$FOLDS" > "$OUT/cv_summary.md"
  cat "$OUT/cv_summary.md"
fi
if [ -n "${CV_ONLY:-}" ]; then exit 0; fi

d="$OUT/full"
echo "== ecg: train on all of DS1" >&2
$E train ecg --data "$MITDB" "${RECIPE[@]}" --out "$d"
$E convert "$d/model.keras" --task ecg --calib "$MITDB" --out "$d/model_int8.tflite" --eval-data "$MITDB" --json \
    > "$d/convert.json"
$E eval "$d/model_int8.tflite" --data "$MITDB" --json --report "$d/report_int8" > "$d/eval_int8_ds1.json"
$E eval "$d/model.keras" --data "$MITDB" --json > "$d/eval_float_ds1.json"
$PY bench/bench_ecg.py --data "$DATA" --model "$d/model_int8.tflite" --json > "$d/bench.json"
if [ -n "${SHIP:-}" ]; then
  cv=()
  if [ -f "$OUT/cv_summary.json" ]; then cv=(--cv "$OUT/cv_summary.json"); fi
  $PY scripts/ecg_ship.py "$d/model_int8.tflite" --float-eval "$d/eval_float_ds1.json" \
      --int8-eval "$d/eval_int8_ds1.json" "${cv[@]}" --command "SKIP_CV=1 SHIP=1 scripts/real_ecg.sh DATA" \
      --out edge/models/ecg_mitdb_int8.tflite
  echo "shipped edge/models/ecg_mitdb_int8.tflite (builtin:ecg)" >&2
fi
