#!/usr/bin/env bash
# Face verification on the real data (make real DATA=../shared/data): writes runs/face/.
#   1. train: MobileNetV2-0.35 (ImageNet weights) + GAP head -> 128-d unit embedding, triplet loss
#      (semi-hard mining, P x K = 32 x 4), on a people-disjoint split of LFW + AT&T;
#      tau = best accuracy on the validation people; test people are never seen.
#   2. convert to int8 (+ float32 for reference), calibration on LFW crops.
#   3. evaluate the Keras model and the int8 model with the same edge/ code on the held-out test
#      people: LFW balanced pairs (10-fold), LFW pairsDevTrain pairs among test people, AT&T.
#   4. benchmark the int8 embedder (one thread) and write runs/face/summary.json.
# INIT_WEIGHTS=file.weights.h5 skips training and builds the model from weights trained elsewhere
# with this same recipe (e.g. research/gpu_face_sweep.py under another Keras backend);
# TRAIN_ARGS adds recipe flags (e.g. "--head gap"), CACHE names the face-crop cache folder,
# REUSE_MODEL=1 converts and evaluates an existing OUT/model.keras without training.
# Training ends with QAT_EPOCHS (default 5) epochs of quantization-aware fine-tuning (train/core/qat.py);
# QAT_ONLY=1 skips training and runs only that on the trained OUT/model.keras (kept as
# OUT/model_before_qat.keras), then converts and evaluates.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: scripts/real_face.sh DATA (e.g. ../shared/data)}
PY=${PY:-.venv/bin/python}
EDGECNN="$PY -m edgecnn.cli"
OUT=${OUT:-runs/face}
LFW="$DATA/faces/lfw"
ATT="$DATA/faces/att_orl"
WEIGHTS="$DATA/weights/mobilenet_v2_0.35_224_no_top_imagenet_tm.weights.h5"
mkdir -p "$OUT"
CACHE=${CACHE:-$OUT/cache}
# shellcheck disable=SC2206
COMMON=(--data "$LFW" --extra-data "$ATT" --out "$OUT" --cache "$CACHE" --weights "$WEIGHTS"
        --seed 0 --workers 2 ${TRAIN_ARGS:-})
QAT=(--qat-epochs "${QAT_EPOCHS:-5}")
if [ -n "${QAT_ONLY:-}" ]; then
  echo "== face: QAT on the trained $OUT/model.keras" >&2
  [ -f "$OUT/model_before_qat.keras" ] || { cp "$OUT/model.keras" "$OUT/model_before_qat.keras"
                                            cp "$OUT/model.keras.json" "$OUT/model_before_qat.keras.json"; }
  nice -n 10 $EDGECNN train face "${COMMON[@]}" --qat-from "$OUT/model_before_qat.keras" "${QAT[@]}"
elif [ -n "${REUSE_MODEL:-}" ] && [ -f "$OUT/model.keras" ]; then
  echo "== face: using the trained $OUT/model.keras (REUSE_MODEL set)" >&2
elif [ -n "${INIT_WEIGHTS:-}" ]; then
  echo "== face: model from $INIT_WEIGHTS (no training), tau on validation people" >&2
  $EDGECNN train face "${COMMON[@]}" --init-weights "$INIT_WEIGHTS" --finalize-only
else
  echo "== face: train on LFW + AT&T (people-disjoint split; ${EPOCHS:-30} epochs, ~20 min on 2 idle cores)" >&2
  nice -n 10 $EDGECNN train face "${COMMON[@]}" --epochs "${EPOCHS:-30}" --lr "${LR:-2e-3}" "${QAT[@]}"
fi
echo "== face: convert to int8" >&2
$EDGECNN convert "$OUT/model.keras" --task face --calib "$LFW" --out "$OUT/model_int8.tflite" \
    --float-out "$OUT/model_float32.tflite"
for m in model.keras model_int8.tflite; do
  name=${m%%.*}; name=${name#model}; name=${name#_}; name=${name:-float}
  echo "== face: evaluate $m on held-out people" >&2
  $EDGECNN eval "$OUT/$m" --data "$LFW" --people "$OUT/test_people_lfw.txt" --finder haar_or_center \
      --num-pairs 3000 --report "$OUT/report_lfw_$name" --json > "$OUT/eval_lfw_$name.json"
  $EDGECNN eval "$OUT/$m" --data "$LFW" --people "$OUT/test_people_lfw.txt" --finder haar_or_center \
      --pairs "$DATA/faces/lfw_meta/pairsDevTrain.txt" --json > "$OUT/eval_lfwpairs_$name.json"
  $EDGECNN eval "$OUT/$m" --data "$ATT" --people "$OUT/test_people_att_orl.txt" --finder haar_or_center \
      --num-pairs 3000 --report "$OUT/report_att_$name" --json > "$OUT/eval_att_$name.json"
done
echo "== face: benchmark the int8 embedder (1 thread)" >&2
$PY bench/bench_face.py --model "$OUT/model_int8.tflite" --data "$DATA" --json \
    --parity-keras "$OUT/model.keras" --people "$OUT/test_people_lfw.txt" > "$OUT/bench.json"
$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = {}
for f in sorted(out.glob("eval_*.json")):
    r = json.loads(f.read_text())
    rows[f.stem[5:]] = {k: r.get(k) for k in ("pair_accuracy", "pair_accuracy_std", "auc", "tar_at_far",
                                               "threshold", "accuracy_at_model_threshold", "num_pairs")}
    rows[f.stem[5:]]["identification_top1"] = r.get("identification", {}).get("top1")
summary = {"eval": rows, "bench": json.loads((out / "bench.json").read_text())}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
for k, v in rows.items():
    far = v["tar_at_far"] or {}
    print(f"{k:20s} acc {v['pair_accuracy']:.4f} +- {v['pair_accuracy_std']:.4f}  AUC {v['auc']:.4f}  "
          f"TAR@1e-2 {far.get('0.01', float('nan')):.3f}  TAR@1e-3 {far.get('0.001', float('nan')):.3f}  "
          f"pairs {v['num_pairs']}")
b = summary["bench"]
print(f"int8 embedder: {b['size_bytes'] / 1e6:.2f} MB, {b['embed_ms_median']:.2f} ms median per invocation (1 thread)")
for k, v in b.get("parity", {}).items():
    if isinstance(v, dict):
        print(f"int8 vs float ({k}): cosine mean {v['cos_mean']:.4f} min {v['cos_min']:.4f}, "
              f"same nearest neighbour {v['same_nn_all']:.2f} (clear {v['same_nn_clear']:.2f})")
PY
