#!/usr/bin/env bash
# Two databases, one recipe: patient-disjoint K-fold over MIT-BIH DS1 + SVDB, writing runs/ecg_cv2/:
#   scripts/ecg_cv2.sh DATA            (DATA = ../shared/data, holding mitdb/ and svdb/)
# Each record is one patient (MIT-BIH 201/202 are kept together); the folds are stratified by database
# (train/ecg/records.py patient_folds: every fold holds records of both). Per fold: train on the other
# folds' records of both databases (`edgecnn train ecg --data DATA --records DS1 SVDB`, records named
# mitdb/101, svdb/800; svdb's 128 Hz beats are interpolated to the model's 180 Hz, the lead of each
# record comes from the lead table of edge/ecg/io.py: MLII for mitdb, ECG1 for svdb), convert to int8
# (calibrated on the fold's training records of both databases), evaluate the .keras and the int8
# model on the held-out records of each database through `edgecnn eval` (R-peak detection included):
# fold$i/eval_{model,model_int8}_{mitdb,svdb}.json. scripts/ecg_pool_folds.py pools the confusion
# matrices and R-peak counts per database and over both: cv_summary.md / cv_summary.json.
# Environment: FOLDS (4), EPOCHS (8), MEMBERS (3), RECORDS ("DS1 SVDB"), PY (.venv/bin/python),
# OUT (runs/ecg_cv2), ECG_ARGS (extra `edgecnn train ecg` flags), EVAL_KINDS ("model model_int8": which
# models to evaluate; with one of them the summary has that one's rows), EVAL_ARGS
# (extra `edgecnn eval` flags, e.g. --no-quality). The recipe is scripts/real_ecg.sh's
# (same flags) but --records and --members; wall times per step go to $OUT/times.tsv.
# Reduced run of docs/ecg_svdb.md: FOLDS=3 EPOCHS=4 MEMBERS=1 scripts/ecg_cv2.sh ../shared/data
set -euo pipefail
DATA=${1:?usage: scripts/ecg_cv2.sh DATA (a folder with mitdb/ and svdb/)}
FOLDS=${FOLDS:-4}
EPOCHS=${EPOCHS:-8}
MEMBERS=${MEMBERS:-3}
RECORDS=${RECORDS:-DS1 SVDB}
PY=${PY:-.venv/bin/python}
E="$PY -m edgecnn.cli"
OUT=${OUT:-runs/ecg_cv2}
EVAL_KINDS=${EVAL_KINDS:-model model_int8}
# shellcheck disable=SC2206
RECIPE=(--records $RECORDS --epochs "$EPOCHS" --batch-size 256 --lr 3e-3 --lr-schedule cosine --weight-power 0.5
        --max-weight F=1 Q=0 S=2 --n-keep 0.3 --ectopic-copies 1 --augment-amp 0.1 --augment-shift 0.1
        --augment-noise 0.05 --augment-stretch 0.08 --premature 0.05 --run 0.05 --members "$MEMBERS" --seed 0
        --no-resume ${ECG_ARGS:-})
mkdir -p "$OUT"
printf 'step\tseconds\n' > "$OUT/times.tsv"

timed() {  # timed NAME CMD...: run, append the wall seconds to times.tsv
  local name=$1 t0=$SECONDS
  shift
  "$@"
  printf '%s\t%s\n' "$name" "$((SECONDS - t0))" >> "$OUT/times.tsv"
}

held_out() {  # validation records (DB/NAME) written by `edgecnn train` into the sidecar metadata
  $PY -c "import json,sys; print(' '.join(json.load(open(sys.argv[1]))['provenance']['validation_records']))" "$1"
}

t_all=$SECONDS
for ((i = 0; i < FOLDS; i++)); do
  d="$OUT/fold$i"
  echo "== ecg cv2 fold $i/$FOLDS: train on $RECORDS" >&2
  timed "fold$i train" $E train ecg --data "$DATA" "${RECIPE[@]}" --folds "$FOLDS" --fold "$i" --out "$d"
  recs=$(held_out "$d/model.keras.json")
  echo "== ecg cv2 fold $i: convert, evaluate on held-out records $recs" >&2
  timed "fold$i convert" $E convert "$d/model.keras" --task ecg --calib "$DATA" --out "$d/model_int8.tflite" \
      --json > "$d/convert.json"
  for db in $(printf '%s\n' $recs | sed -n 's#/.*##p' | sort -u); do
    names=$(printf '%s\n' $recs | sed -n "s#^$db/##p" | tr '\n' ' ')
    for kind in $EVAL_KINDS; do
      case $kind in model) m=model.keras ;; model_int8) m=model_int8.tflite ;;
        *) echo "EVAL_KINDS: expected model and/or model_int8, got $kind" >&2; exit 2 ;; esac
      # shellcheck disable=SC2086
      timed "fold$i eval ${m%%.*} $db" $E eval "$d/$m" --data "$DATA/$db" --records $names --json ${EVAL_ARGS:-} \
          > "$d/eval_${m%%.*}_$db.json"
    done
  done
done
printf 'total\t%s\n' "$((SECONDS - t_all))" >> "$OUT/times.tsv"
$PY scripts/ecg_pool_folds.py "$OUT" "$FOLDS" > "$OUT/cv_summary.md"
cat "$OUT/cv_summary.md"
