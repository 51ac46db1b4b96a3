#!/usr/bin/env bash
# Detection demo on built-in synthetic scenes (offline, ~2-3 min on 2 cores): train a tiny
# YOLO-style detector (circle / square / triangle on textured backgrounds), convert to int8,
# detect on an unseen scene, evaluate float and int8 on unseen scenes with the same edge/ code.
# A PIPELINE CHECK: see docs/detect.md and scripts/real_detect.sh for the real-data recipe.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EDGECNN="$PY -m edgecnn.edge.cli"
OUT=${OUT:-runs/demo/detect}
mkdir -p "$OUT"
echo "== detect: unseen synthetic scenes (YOLO txt) -> $OUT/scenes" >&2
rm -rf "$OUT/scenes"
$PY -m edgecnn.train.data.synthetic_scenes --out "$OUT/scenes" --n 40 --seed 99
echo "== detect: train (builtin:synthetic, tiny backbone, 128x128)" >&2
$EDGECNN train detect --data builtin:synthetic --synthetic-images "${IMAGES:-300}" --out "$OUT" \
    --epochs "${EPOCHS:-20}" --steps 30 --backbone tiny --img-size 128 --width 48 --lr 2e-3 --val-every 5 \
    --obj-gain 16 --cls-gain 2 --precise-bn \
    --seed 0 --no-resume --quiet
echo "== detect: convert to int8 (float vs int8 on the unseen scenes)" >&2
$EDGECNN convert "$OUT/model.keras" --task detect --out "$OUT/model_int8.tflite" --eval-data "$OUT/scenes" \
    | head -n 12
echo "== detect: run the int8 model on one unseen scene -> $OUT/scene_0000_detected.png" >&2
$EDGECNN detect "$OUT/model_int8.tflite" "$OUT/scenes/images/scene_0000.png" --out "$OUT/scene_0000_detected.png" --json
echo "== detect: evaluate int8 -> $OUT/report" >&2
$EDGECNN eval "$OUT/model_int8.tflite" --data "$OUT/scenes" --report "$OUT/report" | head -n 20
