#!/usr/bin/env bash
# Face demo on built-in synthetic identities (offline, ~2 min on 2 cores): train a small
# embedder with triplet loss, convert to int8, enroll people, identify, verify, calibrate, eval.
# The identities are drawn cartoons: A PIPELINE CHECK, NOT A FACE MODEL (see docs/face.md for
# the real-data recipe, scripts/real_face.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EDGECNN="$PY -m edgecnn.edge.cli"
OUT=${OUT:-runs/demo/face}
mkdir -p "$OUT"
echo "== face: synthetic identities never seen in training -> $OUT/people" >&2
rm -rf "$OUT/people" "$OUT/gallery.npz"
$PY -m edgecnn.train.data.synthetic_faces --out "$OUT/people" --people 6 --images 5 --size 64 --seed 7
echo "== face: train (builtin:synthetic; P x K triplet batches, batch-hard mining)" >&2
$EDGECNN train face --data builtin:synthetic --synthetic-people 80 --synthetic-images 8 --out "$OUT" \
    --epochs "${EPOCHS:-12}" --batch-size 32 --backbone mobilefacenet --alpha 0.25 --input-size 64 --embedding-size 64 \
    --weights none --lr 3e-3 --seed 0 --no-resume --workers 1
echo "== face: convert to int8 (float vs int8 on the unseen people)" >&2
$EDGECNN convert "$OUT/model.keras" --task face --out "$OUT/model_int8.tflite" --eval-data "$OUT/people"
M="$OUT/model_int8.tflite"
G="$OUT/gallery.npz"
echo "== face: enroll 5 people (3 images each); synthetic_005 stays a stranger" >&2
for i in 0 1 2 3 4; do
  p="$OUT/people/synthetic_00$i"
  $EDGECNN face enroll "$M" --gallery "$G" --name "person$i" "$p/0.png" "$p/1.png" "$p/2.png"
done
$EDGECNN face list --gallery "$G"
echo "== face: identify an enrolled person's new image, then a stranger" >&2
$EDGECNN face identify "$M" --gallery "$G" "$OUT/people/synthetic_002/4.png"
$EDGECNN face identify "$M" --gallery "$G" "$OUT/people/synthetic_005/0.png"
echo "== face: verify (same person, then different people)" >&2
$EDGECNN face verify "$M" "$OUT/people/synthetic_001/3.png" "$OUT/people/synthetic_001/4.png"
$EDGECNN face verify "$M" "$OUT/people/synthetic_001/3.png" "$OUT/people/synthetic_003/3.png"
echo "== face: calibrate tau on the enrolled faces (few people: --allow-few, FAR 0.05)" >&2
$EDGECNN face calibrate "$M" --gallery "$G" --far 0.05 --allow-few
$EDGECNN face identify "$M" --gallery "$G" "$OUT/people/synthetic_005/1.png" --json
echo "== face: evaluate int8 -> $OUT/report" >&2
$EDGECNN eval "$M" --data "$OUT/people" --report "$OUT/report" --num-pairs 200 | head -n 14
