"""Ship the face pipeline as builtin:face (+ builtin:face-landmarks): metadata, licences, device tau.

    .venv/bin/python scripts/face_ship.py --student runs/face/student_e40j \
        --landmarks runs/face/landmarks/landmarks_int8.tflite --teacher runs/face/teacher \
        --data ../shared/data/faces [--out edge/models]

1. ``OUT/face-landmarks_int8.tflite``: the landmark network with its provenance and licences.
2. ``OUT/face_int8.tflite``: the distilled student (``STUDENT/model_int8.tflite``) whose metadata
   now names the whole device path: ``finder = "learned"`` (builtin:face-finder),
   ``landmarks_model = "builtin:face-landmarks"``, ``learned_box_scale``, ``align = "5point"``.
3. tau is re-fitted through that device path (learned finder -> landmarks -> alignment -> int8
   student) on the student's *validation* people (the seeded 10 % of the non-test people that
   ``scripts/face_distill.py`` held out): the best accuracy on their strictly balanced pairs, and
   the tau at FAR 1e-3. Flip test-time augmentation (the mirrored face embedded too) is switched
   on when it raises the validation AUC. The test people (``TEACHER/test_people.txt``) are never
   touched here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import face_distill as D  # noqa: E402  (the split and the pair scoring of the student's recipe)

from edgecnn.convert.tflite import embed_metadata  # noqa: E402
from edgecnn.edge.core.fileio import atomic_write_bytes  # noqa: E402
from edgecnn.edge.core.interpreter import load_model  # noqa: E402
from edgecnn.edge.core.metadata import read_metadata  # noqa: E402
from edgecnn.edge.face import evaluate as eval_face  # noqa: E402
from edgecnn.edge.face.data import balanced_pairs  # noqa: E402
from edgecnn.edge.face.landmarks import LEARNED_BOX_SCALE, LandmarkDetector  # noqa: E402
from edgecnn.edge.face.runtime import Embedder, FaceNotFound, pair_distances  # noqa: E402

LICENCES = {
    "model": "Apache-2.0 (edgecnn)",
    "teacher": ("dlib_face_recognition_resnet_model_v1 and shape_predictor_5_face_landmarks by Davis King, "
                "released into the public domain (CC0 1.0; dlib-models README, face-recognition-models 0.3.0)"),
    "backbone": "MobileNetV2 alpha 0.35 ImageNet weights (Keras Applications, Apache-2.0)",
    "data": ("LFW (University of Massachusetts, Amherst; research use) and the AT&T / ORL database of faces "
             "(AT&T Laboratories Cambridge): images used to distil the teacher; no image is stored in the model"),
}
WIDER_DATA = ("; WIDER FACE (Yang et al., CVPR 2016; research use): faces >= 40 px of its training subset, "
              "distilled too (scripts/face_teacher_wider.py)")


def student_licences(meta: dict) -> dict:
    """LICENCES, naming WIDER FACE too when the student's recipe distilled its faces."""
    sets = (meta.get("provenance") or {}).get("sets") or []
    return {**LICENCES, "data": LICENCES["data"] + WIDER_DATA} if "wider" in sets else dict(LICENCES)


def validation_people(teacher: Path, val_fraction: float, seed: int) -> dict[str, list[str]]:
    """{set: [person folder]} of the student's validation people (face_distill.split, same seed)."""
    people = []
    for name in D.LABELLED:
        with np.load(teacher / f"{name}.npz", allow_pickle=False) as z:
            people.append(np.array([f"{name}:{p}" for p in z["people"]]))
    ds = {"people": np.concatenate(people)}
    idx = D.split(ds, D.read_test_people(teacher / "test_people.txt"), val_fraction, seed)
    out: dict[str, list[str]] = {}
    for key in sorted(set(ds["people"][idx["val"]])):
        s, person = key.split(":", 1)
        out.setdefault(s, []).append(person)
    return out


def device_tau(embedder: Embedder, root: Path, people: list[str], seed: int) -> dict:
    """tau (best accuracy, and at FAR 1e-3) on the balanced pairs of ``people`` under ``root``,
    every image going through the embedder's whole device path."""
    from edgecnn.edge.face.data import list_identities

    ids = list_identities(root).subset(people)
    vecs, missing = [], []
    for p in ids.paths:
        try:
            vecs.append(embedder.embed_file(p)[0])
        except FaceNotFound:
            vecs.append(None)
            missing.append(p)
    ia, ib, same, folds = balanced_pairs(ids.labels, 4000, seed + 1, strict=True)
    ok = np.array([vecs[a] is not None and vecs[b] is not None for a, b in zip(ia, ib, strict=True)])
    va = np.stack([vecs[a] for a in ia[ok]])
    vb = np.stack([vecs[b] for b in ib[ok]])
    d = pair_distances(va, vb, embedder.distance)
    m = eval_face.pair_metrics(d, same[ok], folds[ok])
    return {**D.fitted_taus(m, d, same[ok]),
            "validation": {**m, "people": len(people), "images": len(ids.paths), "images_without_face": len(missing),
                           "pairs_without_face": int((~ok).sum())}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--student", required=True, help="face_distill.py output folder (model_int8.tflite)")
    ap.add_argument("--landmarks", required=True, help="landmark network landmarks_int8.tflite")
    ap.add_argument("--teacher", default="runs/face/teacher")
    ap.add_argument("--data", default="../shared/data/faces")
    ap.add_argument("--out", default="edge/models")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    student, out = Path(args.student), Path(args.out)
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    command = " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])

    lm_flat = Path(args.landmarks).read_bytes()
    lm_meta = read_metadata(lm_flat)
    lm_meta.setdefault("provenance", {}).update({"shipped": now, "ship_command": command, "licence": LICENCES,
                                                 "card": "face-landmarks_int8.md"})
    lm_path = out / "face-landmarks_int8.tflite"
    atomic_write_bytes(lm_path, embed_metadata(lm_flat, lm_meta))

    flat = (student / "model_int8.tflite").read_bytes()
    meta = read_metadata(flat)
    params = meta["params"]
    params.update({"finder": "learned", "min_face": 24, "landmarks_model": "builtin:face-landmarks",
                   "learned_box_scale": LEARNED_BOX_SCALE, "align": "5point",
                   "align_padding": float(params.get("align_padding", 0.25)), "training_finder": "dlib (teacher) landmarks"})
    meta.setdefault("provenance", {}).update({"shipped": now, "ship_command": command,
                                              "licence": student_licences(meta), "card": "face_int8.md"})
    val = validation_people(Path(args.teacher), args.val_fraction, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / "face_int8.tflite"
        trial.write_bytes(embed_metadata(flat, meta))
        lm = LandmarkDetector.load(lm_path, num_threads=1)
        tried = {}
        for tta in (False, True):
            emb = Embedder.from_model(load_model(trial, num_threads=1), landmarks=lm, flip_tta=tta)
            tried[tta] = device_tau(emb, Path(args.data) / D.SETS["lfw"], val["lfw"], args.seed)
            print(f"face_ship: flip_tta={tta}: validation pair accuracy {tried[tta]['validation']['pair_accuracy']:.4f}, "
                  f"AUC {tried[tta]['validation']['auc']:.4f}", file=sys.stderr)
    flip = tried[True]["validation"]["auc"] > tried[False]["validation"]["auc"]
    tau = tried[flip]
    params.update({"flip_tta": bool(flip),
                   "flip_tta_validation_auc": {"off": tried[False]["validation"]["auc"],
                                               "on": tried[True]["validation"]["auc"]},
                   "threshold": tau["threshold"], "threshold_far_1e-3": tau["threshold_far_1e-3"],
                   "threshold_source": ("best accuracy on the validation people's balanced LFW pairs, through the "
                                        "device path (learned finder, landmark network, alignment, int8)"),
                   "validation": tau["validation"]})
    path = out / "face_int8.tflite"
    atomic_write_bytes(path, embed_metadata(flat, meta))
    print(json.dumps({"face": str(path), "bytes": path.stat().st_size, "landmarks": str(lm_path),
                      "landmark_bytes": lm_path.stat().st_size, **tau}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
