#!/usr/bin/env bash
# K-fold cross-validation of the detection recipe on one set: float vs int8 mAP@0.5 pooled over
# every image the folds held out (a single 20 % split has 26-32 images, where one box crossing
# IoU 0.5 moves mAP by 2-3 points).
#   scripts/detect_cv.sh DATA SET [FOLDS]      (e.g. ../shared/data kangaroo 3)
# Each fold k runs scripts/real_detect.sh (the recipe: train, QAT, convert, evaluate) with
# `--folds FOLDS --fold k` into $OUT/f<k>/SET; then scripts/detect_gap.py pools the folds
# (paired bootstrap over the pooled images) into $OUT/SET_cv.json.
# Environment: OUT (default runs/detect_cv), FOLD_LIST (default all folds), and real_detect.sh's.
set -euo pipefail
DATA=${1:?usage: scripts/detect_cv.sh DATA SET [FOLDS]}
SET=${2:?usage: scripts/detect_cv.sh DATA SET [FOLDS]}
FOLDS=${3:-3}
OUT=${OUT:-runs/detect_cv}
PY=${PY:-.venv/bin/python}
for k in ${FOLD_LIST:-$(seq 0 $((FOLDS - 1)))}; do
  echo "== $SET fold $k of $FOLDS" >&2
  OUT="$OUT/f$k" TRAIN_ARGS="--folds $FOLDS --fold $k" bash scripts/real_detect.sh "$DATA" "$SET"
done
runs=$(for k in $(seq 0 $((FOLDS - 1))); do echo "$OUT/f$k/$SET"; done)
# shellcheck disable=SC2086
$PY scripts/detect_gap.py --runs $runs --data "$DATA/det/$SET" --json > "$OUT/${SET}_cv.json.tmp"
mv -f "$OUT/${SET}_cv.json.tmp" "$OUT/${SET}_cv.json"   # only a complete pooled report replaces the last one
$PY - "$OUT/${SET}_cv.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for f in r["per_run"]:
    print(f"{f['model']}: {f['images']} images, mAP@0.5 float {f['float_map50']:.3f} int8 {f['int8_map50']:.3f}")
lo, hi = r["ci95"]
print(f"pooled {r['runs']} folds, {r['images']} images, {r['boxes']} boxes: float {r['float_map50']:.3f} "
      f"int8 {r['int8_map50']:.3f}, int8 - float {100 * r['int8_minus_float']:+.1f} points "
      f"(95 % paired bootstrap {100 * lo:+.1f} .. {100 * hi:+.1f})")
PY
