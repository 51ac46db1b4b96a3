#!/usr/bin/env bash
# Learned face finder (issue #15): a YOLO-style face detector trained with `edgecnn train detect` on
# the WIDER FACE subset, converted to int8, and measured against OpenCV's Haar cascade.
#   scripts/face_finder.sh DATA            (DATA = ../shared/data)
# Steps (docs/face_finder.md):
#   1. train: MobileNet alpha 0.25 (ImageNet weights from DATA/weights), 320x320, three heads (strides 8,
#      16, 32; the stride-8 one for small faces), k-means anchors fitted to the faces >= 6 px at the input,
#      zoom augmentation 0.6-3.5 (larger faces than WIDER's), 15 % greyscale images, up to 120 target faces
#      per image, EPOCHS epochs then QAT_EPOCHS of
#      quantization-aware fine-tuning; own seeded 80/20 split by image (OUT/model/split.json). The held-out
#      images are scored once, at the end (no checkpoint is picked on them: the model is the last epoch's).
#   2. calibration set = the training images only (OUT/calib: a filtered WIDER file + a link to images/).
#   3. convert to int8 (and a float32 .tflite for the float column).
#   4. bench/bench_face_finder.py (only --split's held-out images): AP@0.5 by face size on the held-out images (learned int8, float, Haar),
#      ms per 640x480 frame (1 thread), found-rate on AT&T -> OUT/bench.md, OUT/bench.json.
# Environment: OUT (default runs/face_finder), EPOCHS (default 30), QAT_EPOCHS (default 5),
# TRAIN_ARGS (more `train detect` flags; later flags win), PY (default .venv/bin/python), SKIP_TRAIN=1 (convert + bench the model already in OUT/model),
# SKIP_BENCH=1.
set -euo pipefail
DATA=${1:?usage: scripts/face_finder.sh DATA}
WIDER="$DATA/facedet/wider"
OUT=${OUT:-runs/face_finder}
EPOCHS=${EPOCHS:-30}
QAT_EPOCHS=${QAT_EPOCHS:-5}
PY=${PY:-.venv/bin/python}
WEIGHTS="$DATA/weights/mobilenet_2_5_224_tf_no_top.weights.h5"
d="$OUT/model"
mkdir -p "$OUT"

if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  echo "== train ($EPOCHS epochs + $QAT_EPOCHS QAT)" >&2
  $PY -m edgecnn.cli train detect --data "$WIDER" --format wider --out "$d" --cache "$OUT/cache" \
      --img-size 320 --backbone mobilenet --alpha 0.25 --weights "$WEIGHTS" --scales 3 --width 64 \
      --anchor-min-size 6 --aug-scale 0.6 3.5 --aug-gray 0.15 --max-boxes 120 \
      --epochs "$EPOCHS" --batch-size 16 --lr 2e-3 --val-split 0.2 --seed 0 --val-every 100000 \
      --qat-epochs "$QAT_EPOCHS" --quiet ${TRAIN_ARGS:-}
fi

echo "== calibration set: the training images of $d/split.json" >&2
$PY - "$WIDER" "$d/split.json" "$OUT/calib" <<'PY'
import json, os, sys
from pathlib import Path
from edgecnn.edge.detect.annotations import WIDER_GT_FILE, read_wider_gt
wider, split, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
train = set(json.loads(split.read_text())["train"])
out.mkdir(parents=True, exist_ok=True)
lines = []
for e in read_wider_gt(wider / WIDER_GT_FILE):
    if Path(e.name).name in train:
        lines += [e.name, str(len(e.xywh))]
        lines += [" ".join(f"{v:g}" for v in (*box, *attr)) for box, attr in zip(e.xywh, e.attrs)] or ["0 " * 9 + "0"]
(out / WIDER_GT_FILE).write_text("\n".join(lines) + "\n")
link = out / "images"
if link.is_symlink() or link.exists():
    link.unlink()
os.symlink((wider / "images").resolve(), link)
print(f"{out}: {len(train)} training images", file=sys.stderr)
PY

echo "== convert" >&2
$PY -m edgecnn.cli convert "$d/model.keras" --task detect --calib "$OUT/calib" --out "$d/model_int8.tflite" \
    --float-out "$d/model_float.tflite" --json > "$d/convert.json"

if [ "${SKIP_BENCH:-0}" != 1 ]; then
  echo "== bench (held-out images of $d/split.json)" >&2
  $PY bench/bench_face_finder.py --data "$WIDER" --model "$d/model_int8.tflite" --float "$d/model_float.tflite" \
      --split "$d/split.json" --att "$DATA/faces/att_orl" --json "$OUT/bench.json" | tee "$OUT/bench.md"
fi
