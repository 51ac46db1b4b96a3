#!/usr/bin/env bash
# Detection demo on built-in synthetic scenes (offline, ~2 min on 2 cores): train a tiny
# YOLO-style detector from scratch (1,200 steps; red circles, green squares, blue triangles on
# textured backgrounds with clutter), convert to int8, detect on an unseen scene, evaluate float
# and int8 on 40 unseen scenes with the same edge/ code (int8 mAP@0.5 ~0.87).
# See docs/detect.md and scripts/real_detect.sh for the real-data recipe.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EDGECNN="$PY -m edgecnn.cli"
OUT=${OUT:-runs/demo/detect}
mkdir -p "$OUT"
echo "== detect: unseen synthetic scenes (YOLO txt) -> $OUT/scenes" >&2
rm -rf "$OUT/scenes"
$PY -m edgecnn.train.detect.synthetic --out "$OUT/scenes" --n 40 --seed 99
echo "== detect: train (builtin:synthetic, tiny backbone, 128x128)" >&2
$EDGECNN train detect --data builtin:synthetic --synthetic-images "${IMAGES:-300}" --out "$OUT" \
    --epochs "${EPOCHS:-40}" --steps 30 --backbone tiny --img-size 128 --width 48 --lr "${LR:-1e-2}" --val-every 10 \
    --obj-gain 16 --cls-gain "${CLS_GAIN:-10}" --precise-bn \
    --seed 0 --no-resume --quiet
echo "== detect: convert to int8 (float vs int8 on the unseen scenes)" >&2
$EDGECNN convert "$OUT/model.keras" --task detect --out "$OUT/model_int8.tflite" --eval-data "$OUT/scenes" \
    | head -n 12
echo "== detect: run the int8 model on one unseen scene (score >= 0.5) -> $OUT/scene_0000_detected.png" >&2
$EDGECNN detect "$OUT/model_int8.tflite" "$OUT/scenes/images/scene_0000.png" --conf 0.5 \
    --out "$OUT/scene_0000_detected.png" --json
echo "== detect: evaluate int8 -> $OUT/report" >&2
$EDGECNN eval "$OUT/model_int8.tflite" --data "$OUT/scenes" --report "$OUT/report" --json > "$OUT/eval_int8.json"
# the summary row for scripts/demo.sh: the value is the eval command's own --json output
"$PY" - "$OUT" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
res = json.loads((out / "eval_int8.json").read_text().strip().splitlines()[-1])
for name, c in res["per_class"].items():
    print(f"  {name:9s} AP@0.5 {c['ap50']:.3f}  ({c['n_gt']} boxes)", file=sys.stderr)
print(f"int8 mAP@0.5 {res['map50']:.4f}, mAP@[.5:.95] {res['map50_95']:.4f} on {res.get('images', '?')} unseen scenes",
      file=sys.stderr)
row = {"job": "detection synthetic (train->int8)", "metric": "mAP@0.5", "value": round(float(res["map50"]), 4),
       "file": str(out / "model_int8.tflite"), "picture": str(out / "scene_0000_detected.png")}
(out / "demo_summary.json").write_text(json.dumps([row], indent=1) + "\n")
PY
