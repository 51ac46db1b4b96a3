#!/usr/bin/env bash
# Face demo on built-in synthetic identities (offline, ~2 min on 2 idle cores): train a small
# embedder with triplet loss, convert to int8, enroll 5 people, then identify and verify with the
# model's own tau (chosen on validation people at training time, never on the pairs shown here),
# evaluate on people never seen in training, calibrate a gallery tau.
# The identities are drawn cartoons: A PIPELINE CHECK, NOT A FACE MODEL (see docs/face.md for
# the real-data recipe, scripts/real_face.sh). Seeded: the same run gives the same verdicts.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
EDGECNN="$PY -m edgecnn.cli"
OUT=${OUT:-runs/demo/face}
SIZE=48  # the model input; the demo images are drawn at this size, as the training images are
mkdir -p "$OUT"
P="$OUT/people"
M="$OUT/model_int8.tflite"
G="$OUT/gallery.npz"
S="$OUT/shown"  # the --json answer of every identify/verify the demo shows
echo "== face: 12 synthetic people never seen in training (another seed), 8 images each -> $P" >&2
rm -rf "$P" "$G" "$S" "$OUT/report"
mkdir -p "$S"
$PY -m edgecnn.train.face.synthetic --out "$P" --people 12 --images 8 --size $SIZE --seed 7

echo "== face: train on 800 other synthetic people (P x K = 16 x 4 triplet batches, semi-hard mining; tau on validation people)" >&2
$EDGECNN train face --data builtin:synthetic --synthetic-people 800 --synthetic-images 5 --out "$OUT" \
    --epochs "${EPOCHS:-12}" --batch-size 64 --backbone mobilefacenet --alpha 0.25 --input-size $SIZE \
    --embedding-size 64 --weights none --lr 8e-3 --seed 0 --no-resume --workers 1 --quiet

echo "== face: convert to int8 (float vs int8 on the unseen people, balanced pairs)" >&2
$EDGECNN convert "$OUT/model.keras" --task face --out "$M" --eval-data "$P" --eval-args "--num-pairs 400"

echo "== face: enroll person0..person4 (images 0-2 of synthetic_000..004); synthetic_005..011 are strangers" >&2
for i in 0 1 2 3 4; do
  p="$P/synthetic_00$i"
  $EDGECNN face enroll "$M" --gallery "$G" --name "person$i" "$p/0.png" "$p/1.png" "$p/2.png"
done
$EDGECNN face list --gallery "$G"

# run one verb with --json into $S/<tag>.json, print its verdict next to the expected one
N=0
show() {  # show TAG EXPECTED verify|identify ARGS...   (writes $S/<NN>_<TAG>.json, in the order shown)
  local tag=$1 expected=$2 verb=$3
  shift 3
  N=$((N + 1))
  local f="$S/$(printf %02d $N)_$tag.json"
  $EDGECNN face "$verb" "$M" "$@" --json > "$f"
  $PY - "$f" "$expected" <<'PY'
import json, sys
r, want = json.load(open(sys.argv[1])), sys.argv[2]
short = lambda path: "/".join(path.split("/")[-2:])
if "same" in r:
    got = "same" if r["same"] else "different"
    what = f"verify {short(r['a'])} vs {short(r['b'])}"
else:
    got, what = r["name"], f"identify {short(r['image'])}"
sign = "<=" if got not in ("different", "unknown") else ">"
print(f"{what}: {got} (distance {r['distance']:.3f} {sign} tau {r['tau']:.3f})  expected {want}: "
      f"{'right' if got == want else 'WRONG'}")
PY
}
echo "== face: identify new images of enrolled people, then strangers (model tau)" >&2
show id_person0 person0 identify --gallery "$G" "$P/synthetic_000/5.png"
show id_person2 person2 identify --gallery "$G" "$P/synthetic_002/4.png"
show id_person4 person4 identify --gallery "$G" "$P/synthetic_004/7.png"
show id_stranger5 unknown identify --gallery "$G" "$P/synthetic_005/0.png"
show id_stranger8 unknown identify --gallery "$G" "$P/synthetic_008/3.png"
show id_stranger11 unknown identify --gallery "$G" "$P/synthetic_011/6.png"
echo "== face: verify 3 pairs of the same person, 3 pairs of different people (model tau)" >&2
show v_same1 same verify "$P/synthetic_001/3.png" "$P/synthetic_001/4.png"
show v_same6 same verify "$P/synthetic_006/0.png" "$P/synthetic_006/7.png"
show v_same9 same verify "$P/synthetic_009/2.png" "$P/synthetic_009/5.png"
show v_diff1_3 different verify "$P/synthetic_001/3.png" "$P/synthetic_003/3.png"
show v_diff6_10 different verify "$P/synthetic_006/1.png" "$P/synthetic_010/1.png"
show v_diff7_9 different verify "$P/synthetic_007/4.png" "$P/synthetic_009/4.png"

echo "== face: evaluate int8 on all 12 unseen people (400 balanced pairs) -> $OUT/report" >&2
$EDGECNN eval "$M" --data "$P" --num-pairs 400 --report "$OUT/report" --json > "$OUT/eval_int8.json"

echo "== face: calibrate a gallery tau on the enrolled faces (few people: --allow-few, FAR 0.05)" >&2
$EDGECNN face calibrate "$M" --gallery "$G" --far 0.05 --allow-few

echo "== face: summary -> $OUT/demo_summary.json, pairs shown -> $OUT/verified_pairs.png" >&2
$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path

import cv2

from edgecnn.edge.core import plots

out = Path(sys.argv[1])
ev = json.loads((out / "eval_int8.json").read_text())
conv = json.loads((out / "model_int8.report.json").read_text())["evaluation"]
shown = sorted((out / "shown").glob("*.json"))
rows, right = [], 0
for f in shown:
    r = json.loads(f.read_text())
    tag = f.stem.split("_", 1)[1]
    if "same" in r:
        want = tag.startswith("v_same")
        ok = r["same"] == want
        a, b = r["a"], r["b"]
        verdict = "same person" if r["same"] else "different people"
    else:
        want = "unknown" if "stranger" in tag else "person" + tag[len("id_person"):]
        ok = r["name"] == want
        a, b = r["image"], None
        verdict = r["name"] if r["name"] != "unknown" else f"unknown (nearest {r['ranking'][0]['name']})"
        if r["name"] != "unknown":  # show the enrolled image it matched best: the first of that person
            b = str(out / "people" / f"synthetic_00{r['name'][-1]}" / "0.png")
    right += ok
    short = lambda path: f"{Path(path).parent.name}/{Path(path).name}"
    if "same" in r:
        label = f"verify {short(a)} vs {short(b)}"
    else:
        label = f"identify {short(a)}" + (f" (enrolled: {short(b)})" if b else "")
    text = (f"{label}\n{verdict}\n"
            f"d {r['distance']:.3f} vs tau {r['tau']:.3f}: {'right' if ok else 'WRONG'}")
    img_a = cv2.imread(a)
    rows.append((img_a, cv2.imread(b) if b else img_a * 0 + 255, text, ok))
picture = plots.pairs_png(out / "verified_pairs.png", rows,
                          title=f"int8 model, model tau {ev['model_threshold']:.3f}: {right}/{len(rows)} right")
job = "face verification synthetic (train->int8)"
summary = [
    {"job": job, "metric": "pair accuracy (int8, unseen people)", "value": ev["pair_accuracy"],
     "file": str(out / "model_int8.tflite"), "picture": str(picture)},
    {"job": job, "metric": "pair accuracy (float, unseen people)", "value": conv["float"]["pair_accuracy"],
     "file": str(out / "model.keras"), "picture": str(out / "report" / "roc.png")},
    {"job": job, "metric": "accuracy at model tau (int8)", "value": ev["accuracy_at_model_threshold"],
     "file": str(out / "model_int8.tflite"), "picture": str(out / "report" / "roc.png")},
    {"job": job, "metric": "shown verify/identify right", "value": f"{right}/{len(rows)}",
     "file": str(out / "model_int8.tflite"), "picture": str(picture)},
]
(out / "demo_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(f"face: int8 pair accuracy {ev['pair_accuracy']:.4f} (float {conv['float']['pair_accuracy']:.4f}) on "
      f"{ev['num_pairs']} balanced pairs of 12 unseen people, AUC {ev['auc']:.4f}; at the model tau "
      f"{ev['model_threshold']:.3f}: {ev['accuracy_at_model_threshold']:.4f}; shown verdicts right: {right}/{len(rows)}")
if right != len(rows):
    sys.exit(f"face demo: {len(rows) - right} shown verdict(s) wrong")
PY
