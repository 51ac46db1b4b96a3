#!/usr/bin/env bash
# Real-data detection recipe: one model per set (raccoon, kangaroo, pennfudan) in runs/detect/<set>/.
#   scripts/real_detect.sh DATA [SETS...]      (DATA = ../shared/data; SETS default: all three)
# Each set: train (MobileNet alpha 0.25 ImageNet backbone, 320x320, own seeded 80/20 split), convert to
# int8 (calibration on the set), evaluate float and int8 on the validation split with the same edge/ code.
# Training ends with QAT_EPOCHS (default 30) epochs of quantization-aware fine-tuning (train/core/qat.py), so
# the int8 model keeps the float model's mAP.
# Environment: OUT (default runs/detect), TRAIN_ARGS (more `train detect` flags, e.g. --folds 3 --fold 0), EPOCHS (default 80), QAT_EPOCHS (default 30), PY (default .venv/bin/python), SKIP_TRAIN=1
# (convert + evaluate the models already in runs/detect/<set>/), QAT_ONLY=1 (no training: QAT on the
# trained runs/detect/<set>/model.keras, kept as model_before_qat.keras, then convert + evaluate).
# runs/detect/summary.json covers every set evaluated so far.
set -euo pipefail
DATA=${1:?usage: scripts/real_detect.sh DATA [SETS...]}
shift || true
SETS=${*:-raccoon kangaroo pennfudan}
EPOCHS=${EPOCHS:-80}
QAT_EPOCHS=${QAT_EPOCHS:-30}
PY=${PY:-.venv/bin/python}
WEIGHTS="$DATA/weights/mobilenet_2_5_224_tf_no_top.weights.h5"
OUT=${OUT:-runs/detect}
mkdir -p "$OUT"
# report FILE CMD...: CMD's stdout becomes FILE only when CMD succeeds (a failed step leaves no
# empty or half-written report behind for the summary below, or a later run, to trip over)
report() { local f=$1; shift; if "$@" > "$f.tmp"; then mv -f "$f.tmp" "$f"; else local rc=$?; rm -f "$f.tmp"; return $rc; fi; }
for s in $SETS; do
  d="$OUT/$s"
  if [ -n "${QAT_ONLY:-}" ]; then
    echo "== $s: QAT on the trained model" >&2
    [ -f "$d/model_before_qat.keras" ] || { cp "$d/model.keras" "$d/model_before_qat.keras"
                                            cp "$d/model.keras.json" "$d/model_before_qat.keras.json"; }
    $PY -m edgecnn.cli train detect --data "$DATA/det/$s" --out "$d" --qat-from "$d/model_before_qat.keras" \
        --qat-epochs "$QAT_EPOCHS" --cache "$d/cache" ${TRAIN_ARGS:-}
  elif [ "${SKIP_TRAIN:-0}" != 1 ]; then
    echo "== $s: train" >&2
    $PY -m edgecnn.cli train detect --data "$DATA/det/$s" --out "$d" --epochs "$EPOCHS" --img-size 320 \
        --backbone mobilenet --alpha 0.25 --weights "$WEIGHTS" --val-every 10 --quiet --qat-epochs "$QAT_EPOCHS" ${TRAIN_ARGS:-}
  fi
  echo "== $s: convert" >&2
  report "$d/convert.json" \
      $PY -m edgecnn.cli convert "$d/model.keras" --task detect --calib "$DATA/det/$s" --out "$d/model_int8.tflite" --json
  for m in model.keras model_int8.tflite; do
    echo "== $s: eval $m (validation split; then all images, for the float-vs-int8 gap on more boxes)" >&2
    report "$d/eval_${m%%.*}.json" \
        $PY -m edgecnn.cli eval "$d/$m" --data "$DATA/det/$s" --split "$d/split.json" --json --report "$d/report_${m%%.*}"
    report "$d/evalall_${m%%.*}.json" $PY -m edgecnn.cli eval "$d/$m" --data "$DATA/det/$s" --json
  done
  echo "== $s: int8 - float on the validation split, paired bootstrap" >&2
  report "$d/gap.json" \
      $PY scripts/detect_gap.py "$d/model.keras" "$d/model_int8.tflite" --data "$DATA/det/$s" --split "$d/split.json" --json
done
$PY - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
sets = [s for s in ("raccoon", "kangaroo", "pennfudan") if os.path.exists(f"{out}/{s}/evalall_model_int8.json")]
rows = []
for s in sets:
    f = json.load(open(f"{out}/{s}/eval_model.json")); q = json.load(open(f"{out}/{s}/eval_model_int8.json"))
    fa = json.load(open(f"{out}/{s}/evalall_model.json")); qa = json.load(open(f"{out}/{s}/evalall_model_int8.json"))
    size = os.path.getsize(f"{out}/{s}/model_int8.tflite")
    gap = json.load(open(f"{out}/{s}/gap.json")) if os.path.exists(f"{out}/{s}/gap.json") else {}
    rows.append({"set": s, "val_images": f["images"], "float_map50": f["map50"], "int8_map50": q["map50"],
                 "int8_minus_float_ci95": gap.get("ci95"), "int8_reproduces_float": gap.get("agreement_at_0.25"),
                 "float_map50_95": f["map50_95"], "int8_map50_95": q["map50_95"], "int8_bytes": size,
                 "all_images": fa["images"], "all_float_map50": fa["map50"], "all_int8_map50": qa["map50"],
                 "all_float_map50_95": fa["map50_95"], "all_int8_map50_95": qa["map50_95"]})
with open(f"{out}/summary.json.tmp", "w") as fh:
    json.dump(rows, fh, indent=1)
os.replace(f"{out}/summary.json.tmp", f"{out}/summary.json")
for r in rows:
    print(f"{r['set']:10s} val={r['val_images']:3d}  mAP50 float {r['float_map50']:.3f} int8 {r['int8_map50']:.3f}  "
          f"mAP50-95 float {r['float_map50_95']:.3f} int8 {r['int8_map50_95']:.3f}  int8 {r['int8_bytes']/1024:.0f} KiB  "
          f"| all {r['all_images']} images (train+val): mAP50 float {r['all_float_map50']:.3f} int8 {r['all_int8_map50']:.3f}"
          + (f" | int8-float 95% CI {100 * r['int8_minus_float_ci95'][0]:+.1f}..{100 * r['int8_minus_float_ci95'][1]:+.1f}"
             if r["int8_minus_float_ci95"] else ""))
PY
