#!/usr/bin/env python3
"""The face teacher: dlib's detector, 5-point landmarks and 128-d ResNet descriptor, cached.

Workstation only, never imported by the package (edge/ must not need dlib). Two steps:

``extract`` runs under the teacher venv (dlib is not a project dependency)::

    python3 -m venv .venv-teacher
    .venv-teacher/bin/pip install dlib-bin face-recognition-models numpy opencv-python-headless
    .venv-teacher/bin/python scripts/face_teacher.py extract --data ../shared/data --workers 2

For every LFW and AT&T image it finds the face with dlib's HOG frontal detector (upsampled once,
then at the original scale; the detection nearest the image centre wins), else falls back to a
centred box shaped like the median detection of that set (``found`` is False then); predicts the
5 landmarks with ``shape_predictor_5_face_landmarks``; and computes the 128-d descriptor with
``dlib_face_recognition_resnet_model_v1`` the standard way (``compute_face_descriptor(img, shape)``:
a 150 x 150 chip aligned on the 5 points, padding 0.25, no jitter). Results go to
``runs/face/teacher/{lfw,att}.npz``:

    root (str), paths (N,) relative to root, people (N,), image_hw (N, 2),
    boxes (N, 4) float32 x, y, w, h in image pixels, found (N,) bool, det_score (N,) float32,
    landmarks (N, 5, 2) float32 x, y in image pixels (dlib order, see below),
    descriptors (N, 128) float32, ms_detect / ms_landmarks / ms_descriptor (N,) float32

dlib's 5 points (``shape_predictor_5_face_landmarks``): 0 outer and 1 inner corner of the eye on
the image's right (the person's left eye), 2 outer and 3 inner corner of the eye on the image's
left, 4 the base of the nose (subnasale). No mouth corners.

``extract --landmarks-from runs/face/landmarks --tag student`` instead computes the teacher's
descriptor aligned on the landmark network's points (``pred_{set}.npz`` from the ``landmarks``
step, test people only) into ``{set}_student.npz``; ``evaluate --tag student`` scores them.

``evaluate`` runs under the project venv (it uses ``edgecnn.edge.face`` metrics)::

    .venv/bin/python scripts/face_teacher.py evaluate --data ../shared/data

It measures the teacher on balanced pairs (3,000, seed 0, 10-fold pair accuracy as LFW does, AUC,
TAR@FAR) of all LFW / AT&T people and of the held-out test people (``test_people.txt``, the
name-hash split of ``edgecnn.train.face.landmarks.split_people``), plus LFW's pairsDevTrain, and
writes ``teacher_eval.json`` and a markdown table. The test-people pairs are built exactly as
``edgecnn eval --people runs/face/teacher/test_people.txt --num-pairs 3000 --seed 0`` builds
them, so a student's numbers compare pair for pair.

``landmarks`` runs under the project venv too: it trains the 5-point landmark network on the
cache (``edgecnn.train.face.landmarks``, unless ``--reuse``), converts it to int8 with the repo's
converter (``edgecnn.convert.tflite.convert_keras``, metadata embedded; conversion lives here
because training rooms may not import ``edgecnn.convert``) and measures float and int8 against the
teacher on the held-out people's device crops (error / outer-eye-corner distance) and the
one-thread time per face::

    nohup .venv/bin/python scripts/face_teacher.py landmarks --data ../shared/data > runs/face/landmarks.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import numpy as np

from edgecnn.edge.core.fileio import atomic_write_npz, atomic_write_text

SETS = {"lfw": "faces/lfw", "att": "faces/att_orl"}
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".pgm", ".ppm", ".bmp")
UPSAMPLES = (1, 0)  # dlib HOG: 80 px minimum window; upsampled once it finds faces from ~40 px

_MODELS: dict = {}


# -- extract (teacher venv) --------------------------------------------------------------------------
def list_images(root: Path) -> list[tuple[str, str]]:
    """[(relative path, person)] for ROOT/<person>/<image>, sorted like edgecnn's list_identities."""
    out = []
    for person in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for img in sorted(p for p in person.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")):
            out.append((f"{person.name}/{img.name}", person.name))
    return out


def _init_worker() -> None:
    import dlib
    import face_recognition_models as frm

    _MODELS["detector"] = dlib.get_frontal_face_detector()
    _MODELS["shape"] = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    _MODELS["embed"] = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    _MODELS["dlib"] = dlib


def _read_rgb(path: str) -> np.ndarray:
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)  # grey files come back as 3 equal channels
    if img is None:
        raise OSError(f"{path}: cannot read image")
    return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))


def _detect(img: np.ndarray):
    """(box x,y,w,h, score) of the detection nearest the image centre, or None."""
    h, w = img.shape[:2]
    for up in UPSAMPLES:
        rects, scores, _ = _MODELS["detector"].run(img, up, 0.0)
        if len(rects):
            def off(r):
                return np.hypot((r.left() + r.right()) / 2 - w / 2, (r.top() + r.bottom()) / 2 - h / 2)
            k = min(range(len(rects)), key=lambda i: off(rects[i]))
            r = rects[k]
            return (r.left(), r.top(), r.width(), r.height()), float(scores[k])
    return None


def _describe(img: np.ndarray, box) -> tuple[np.ndarray, np.ndarray, float, float]:
    dlib = _MODELS["dlib"]
    x, y, bw, bh = (int(round(v)) for v in box)
    rect = dlib.rectangle(x, y, x + bw - 1, y + bh - 1)
    t0 = time.perf_counter()
    shape = _MODELS["shape"](img, rect)
    t1 = time.perf_counter()
    desc = np.asarray(_MODELS["embed"].compute_face_descriptor(img, shape), np.float32)
    t2 = time.perf_counter()
    pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], np.float32)
    return pts, desc, (t1 - t0) * 1e3, (t2 - t1) * 1e3


def _work_detect(path: str):
    """Detection, then landmarks + descriptor where a face was found."""
    img = _read_rgb(path)
    t0 = time.perf_counter()
    hit = _detect(img)
    ms_det = (time.perf_counter() - t0) * 1e3
    if hit is None:
        return img.shape[:2], None, 0.0, ms_det, None, None, 0.0, 0.0
    box, score = hit
    pts, desc, ms_lm, ms_desc = _describe(img, box)
    return img.shape[:2], box, score, ms_det, pts, desc, ms_lm, ms_desc


def _work_fallback(args):
    path, box = args
    img = _read_rgb(path)
    pts, desc, ms_lm, ms_desc = _describe(img, box)
    return pts, desc, ms_lm, ms_desc


def _work_given(args):
    """The descriptor from landmarks given by someone else (the student's), dlib's chip as usual."""
    path, box, pts = args
    dlib = _MODELS["dlib"]
    img = _read_rgb(path)
    x, y, bw, bh = (int(round(v)) for v in box)
    parts = dlib.points([dlib.point(int(round(px)), int(round(py))) for px, py in pts])
    shape = dlib.full_object_detection(dlib.rectangle(x, y, x + bw - 1, y + bh - 1), parts)
    t0 = time.perf_counter()
    desc = np.asarray(_MODELS["embed"].compute_face_descriptor(img, shape), np.float32)
    return desc, (time.perf_counter() - t0) * 1e3


def extract_given(name: str, root: Path, out: Path, pred_file: Path, tag: str, workers: int) -> dict:
    """Teacher descriptors of the images in ``pred_file`` (paths, boxes, landmarks from the
    ``landmarks`` step) aligned on those landmarks: how the teacher fares with our landmarks."""
    with np.load(pred_file, allow_pickle=False) as z:
        pred = {k: z[k] for k in z.files}
    jobs = [(str(root / p), b, lm) for p, b, lm in zip(pred["paths"], pred["boxes"], pred["landmarks"], strict=True)]
    t_start = time.perf_counter()
    with mp.get_context("fork").Pool(workers, initializer=_init_worker) as pool:
        res = list(pool.imap(_work_given, jobs, chunksize=8))
    wall = time.perf_counter() - t_start
    n = len(jobs)
    atomic_write_npz(out / f"{name}_{tag}.npz", dict(
        root=str(root), paths=pred["paths"], people=pred["people"], image_hw=np.zeros((n, 2), np.int32),
        boxes=pred["boxes"].astype(np.float32), found=np.ones(n, bool), det_score=np.zeros(n, np.float32),
        landmarks=pred["landmarks"].astype(np.float32),
        descriptors=np.stack([r[0] for r in res]) if res else np.zeros((0, 128), np.float32),
        ms_detect=np.zeros(n, np.float32), ms_landmarks=np.zeros(n, np.float32),
        ms_descriptor=np.array([r[1] for r in res], np.float32), wall_s=np.float64(wall),
        workers=np.int32(workers)), compressed=True)
    summary = {"images": n, "wall_s": round(wall, 1), "landmarks_from": str(pred_file)}
    print(f"[{name}/{tag}] done: {json.dumps(summary)}", file=sys.stderr, flush=True)
    return summary


def fallback_box(image_hw, found_boxes, found_hw) -> tuple[float, float, float, float]:
    """A centred box with the median size (relative to the shorter side) and median vertical
    offset of the set's detections; half the shorter side when the set has none."""
    h, w = image_hw
    if len(found_boxes):
        b, hw = np.asarray(found_boxes, np.float64), np.asarray(found_hw, np.float64)
        short = hw.min(axis=1)
        side = float(np.median(b[:, 2] / short)) * min(h, w)
        dy = float(np.median((b[:, 1] + b[:, 3] / 2 - hw[:, 0] / 2) / short)) * min(h, w)
    else:
        side, dy = 0.5 * min(h, w), 0.0
    return (w / 2 - side / 2, h / 2 + dy - side / 2, side, side)


def extract_set(name: str, root: Path, out: Path, workers: int, limit: int | None) -> dict:
    items = list_images(root)
    if limit:
        items = items[:limit]
    paths = [str(root / rel) for rel, _ in items]
    n = len(items)
    print(f"[{name}] {n} images under {root}, {workers} worker(s)", file=sys.stderr, flush=True)
    t_start = time.perf_counter()
    ctx = mp.get_context("fork")
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        results = []
        for i, r in enumerate(pool.imap(_work_detect, paths, chunksize=8)):
            results.append(r)
            if (i + 1) % 500 == 0:
                el = time.perf_counter() - t_start
                print(f"[{name}] {i + 1}/{n}  {el:.0f} s  ({el / (i + 1) * 1e3:.0f} ms/image wall)",
                      file=sys.stderr, flush=True)
        hw = np.array([r[0] for r in results], np.int32)
        found = np.array([r[1] is not None for r in results], bool)
        boxes = np.zeros((n, 4), np.float32)
        landmarks = np.zeros((n, 5, 2), np.float32)
        descriptors = np.zeros((n, 128), np.float32)
        score = np.zeros(n, np.float32)
        ms = np.zeros((n, 3), np.float32)
        for i, (_, box, sc, ms_det, pts, desc, ms_lm, ms_desc) in enumerate(results):
            ms[i] = (ms_det, ms_lm, ms_desc)
            if box is not None:
                boxes[i], landmarks[i], descriptors[i], score[i] = box, pts, desc, sc
        missing = np.flatnonzero(~found)
        fb = [fallback_box(hw[i], boxes[found], hw[found]) for i in missing]
        for i, box, r in zip(missing, fb, pool.imap(_work_fallback, [(paths[i], b) for i, b in zip(missing, fb, strict=True)]),
                             strict=True):
            boxes[i], landmarks[i], descriptors[i] = box, r[0], r[1]
            ms[i, 1:] = r[2], r[3]
    wall = time.perf_counter() - t_start
    atomic_write_npz(out / f"{name}.npz", dict(
        root=str(root), paths=np.array([rel for rel, _ in items]), people=np.array([p for _, p in items]),
        image_hw=hw, boxes=boxes, found=found, det_score=score, landmarks=landmarks, descriptors=descriptors,
        ms_detect=ms[:, 0], ms_landmarks=ms[:, 1], ms_descriptor=ms[:, 2], wall_s=np.float64(wall),
        workers=np.int32(workers)), compressed=True)
    summary = {"images": n, "people": len({p for _, p in items}), "found": int(found.sum()),
               "fallback": int((~found).sum()), "wall_s": round(wall, 1), "workers": workers,
               "wall_ms_per_image": round(wall / max(n, 1) * 1e3, 1),
               "ms_per_face_median": {k: round(float(np.median(ms[:, j])), 2)
                                      for j, k in enumerate(("detect", "landmarks", "descriptor"))},
               "ms_per_face_mean_total": round(float(ms.sum(axis=1).mean()), 1)}
    print(f"[{name}] done: {json.dumps(summary)}", file=sys.stderr, flush=True)
    return summary


def versions() -> dict:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for pkg in ("dlib-bin", "face-recognition-models", "numpy", "opencv-python-headless"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def cmd_extract(args) -> int:
    data, out = Path(args.data), Path(args.out)
    report = {"versions": versions(), "upsamples": list(UPSAMPLES), "sets": {}}
    for name in args.sets:
        if args.landmarks_from:
            report["sets"][name] = extract_given(name, data / SETS[name], out, Path(args.landmarks_from) / f"pred_{name}.npz",
                                                 args.tag, args.workers)
        else:
            report["sets"][name] = extract_set(name, data / SETS[name], out, args.workers, args.limit)
    suffix = f"_{args.tag}" if args.landmarks_from else ""
    atomic_write_text(out / f"extract{suffix}.json", json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


# -- evaluate (project venv) ---------------------------------------------------------------------------
def load_cache(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _pairs_metrics(desc_by_path: dict, a, b, same, folds) -> dict:
    from edgecnn.edge.face.evaluate import pair_metrics
    from edgecnn.edge.face.runtime import pair_distances

    va = np.stack([desc_by_path[x] for x in a])
    vb = np.stack([desc_by_path[y] for y in b])
    out = pair_metrics(pair_distances(va, vb), same, folds)  # squared L2 of unit vectors, ours
    euclid = np.linalg.norm(va - vb, axis=1)  # dlib's own distance: raw Euclidean, tau 0.6
    out["dlib_euclidean"] = {"pair_accuracy": pair_metrics(euclid, same, folds)["pair_accuracy"],
                             "accuracy_at_0.6": float(np.mean((euclid <= 0.6) == same))}
    return out


def evaluate_set(cache: dict, root: str, people_file: Path | None, num_pairs: int, seed: int,
                 pairs_file: str | None = None) -> dict:
    from edgecnn.edge.face.data import balanced_pairs, list_identities, parse_pairs
    from edgecnn.edge.face.evaluate import identification_top1, read_people

    desc = {str(Path(root) / p): d for p, d in zip(cache["paths"], cache["descriptors"], strict=True)}
    found = {str(Path(root) / p): bool(f) for p, f in zip(cache["paths"], cache["found"], strict=True)}
    ids = list_identities(root)
    if people_file is not None:
        ids = ids.subset(read_people(people_file, ids))
    if pairs_file:
        pl = parse_pairs(pairs_file, root)
        keep = set(ids.paths)
        sel = [x in keep and y in keep for x, y in zip(pl.a, pl.b, strict=True)]
        a = [x for x, k in zip(pl.a, sel, strict=True) if k]
        b = [y for y, k in zip(pl.b, sel, strict=True) if k]
        same, folds = pl.same[np.array(sel, bool)], pl.folds[np.array(sel, bool)]
    else:
        ia, ib, same, folds = balanced_pairs(ids.labels, num_pairs, seed)
        a, b = [ids.paths[i] for i in ia], [ids.paths[i] for i in ib]
    out = _pairs_metrics(desc, a, b, same, folds)
    out["people"] = len(ids.names)
    out["images"] = len(ids.paths)
    out["images_fallback_box"] = int(sum(not found[p] for p in ids.paths))
    out["pairs_with_fallback_box"] = int(sum((not found[x]) or (not found[y]) for x, y in zip(a, b, strict=True)))
    emb = np.stack([desc[p] for p in ids.paths])
    out["identification"] = identification_top1(emb, ids.labels, seed=seed)
    return out


def cmd_evaluate(args) -> int:
    from edgecnn.train.face.landmarks import split_people, write_people

    data, out = Path(args.data), Path(args.out)
    caches = {name: load_cache(out / f"{name}.npz") for name in args.sets}
    everyone = sorted({str(p) for c in caches.values() for p in c["people"]})
    test = split_people(everyone, args.test_fraction)[1]
    people_file = write_people(out / "test_people.txt", test)
    suffix = f"_{args.tag}" if args.tag else ""
    if args.tag:  # descriptors made from other landmarks, for the test people only
        caches = {name: load_cache(out / f"{name}{suffix}.npz") for name in args.sets}
    result: dict = {"test_fraction": args.test_fraction, "num_pairs": args.num_pairs, "seed": args.seed,
                    "distance": "squared_l2_unit (L2-normalised descriptors)", "tag": args.tag, "sets": {}}
    for name, cache in caches.items():
        root = str(data / SETS[name])
        rows = {} if args.tag else {"all": evaluate_set(cache, root, None, args.num_pairs, args.seed)}
        rows["test"] = evaluate_set(cache, root, people_file, args.num_pairs, args.seed)
        pairs = data / "faces/lfw_meta/pairsDevTrain.txt"
        if name == "lfw" and pairs.is_file() and not args.tag:  # (its different pairs rarely join two test people)
            rows["pairsDevTrain_all"] = evaluate_set(cache, root, None, 0, args.seed, str(pairs))
        result["sets"][name] = rows
    atomic_write_text(out / f"teacher_eval{suffix}.json", json.dumps(result, indent=2) + "\n")
    lines = ["| set | people | pairs | pair accuracy (10-fold) | AUC | TAR@FAR 1e-2 | TAR@FAR 1e-3 | "
             "identification top-1 | pairs with a fallback box |", "|---|---|---|---|---|---|---|---|---|"]
    for name, rows in result["sets"].items():
        for split, r in rows.items():
            lines.append(f"| {name} {split} | {r['people']} | {r['num_pairs']} | {100 * r['pair_accuracy']:.2f} ± "
                         f"{100 * r['pair_accuracy_std']:.2f} % | {r['auc']:.4f} | {100 * r['tar_at_far']['0.01']:.1f} % | "
                         f"{100 * r['tar_at_far']['0.001']:.1f} % | {100 * r['identification']['top1']:.1f} % | "
                         f"{r['pairs_with_fallback_box']} |")
    table = "\n".join(lines)
    atomic_write_text(out / f"teacher_eval{suffix}.md", table + "\n")
    print(table)
    return 0


# -- landmarks (project venv) ---------------------------------------------------------------------------
def _errors(pred_img, ref_img, sets) -> dict:
    from edgecnn.edge.face.align import landmark_error

    e = landmark_error(pred_img, ref_img)
    row = {"faces": int(e.size), "mean": float(e.mean()), "median": float(np.median(e)),
           "p90": float(np.percentile(e, 90)), "over_0.1": float(np.mean(e > 0.1))}
    for name in sorted(set(sets)):
        sel = sets == name
        row[name] = {"faces": int(sel.sum()), "mean": float(e[sel].mean()), "p90": float(np.percentile(e[sel], 90))}
    return row


def cmd_landmarks(args) -> int:
    """Train (unless --reuse) the landmark network, convert it to int8 with the repo's converter,
    and measure float and int8 against the teacher on the held-out people's device crops."""
    from edgecnn.convert.tflite import convert_keras
    from edgecnn.edge.core.interpreter import load_model
    from edgecnn.edge.face import align
    from edgecnn.edge.face import landmarks as EL
    from edgecnn.train.core.keras_model import load_keras
    from edgecnn.train.face import landmarks as TL

    out = Path(args.landmarks_out)
    keras_path = out / "landmarks.keras"
    if not (args.reuse and keras_path.is_file()):
        TL.main(["--teacher", args.out, "--data", args.data, "--out", str(out), "--epochs", str(args.epochs),
                 *args.train_args])
    model, meta = load_keras(keras_path)
    crop = EL.LandmarkConfig.from_params(meta["params"])
    cfg = TL.TrainConfig(crop=crop)
    split = json.loads((out / "split.json").read_text())
    ls = TL.load_landmark_set(args.out, args.data, cache_dir=out, log=lambda m: print(m, file=sys.stderr),
                              learned=True)
    train = ls.subset(ls.found).of_people(split["train"])
    t0 = time.perf_counter()
    flat = convert_keras(model, mode="int8", representative=TL.calibration_samples(train, cfg, 300), metadata=meta,
                         num_calibration=300)
    int8_path = out / "landmarks_int8.tflite"
    int8_path.write_bytes(flat)
    convert_s = time.perf_counter() - t0
    det = EL.LandmarkDetector(load_model(int8_path, num_threads=1))
    det_tta = EL.LandmarkDetector(det.model, flip_tta=True)
    test_all = ls.of_people(split["test"])
    result: dict = {"model": {"keras": str(keras_path), "keras_bytes": keras_path.stat().st_size,
                              "int8": str(int8_path), "int8_bytes": int8_path.stat().st_size,
                              "parameters": int(model.count_params()), "convert_seconds": round(convert_s, 1),
                              "crop": crop.to_params()},
                    "test_people": len(split["test"]), "normaliser": "distance between the outer eye corners "
                    "(points 0 and 2) of the teacher's landmarks", "errors": {}}
    for label, subset in (("found", test_all.subset(test_all.found)), ("fallback", test_all.subset(~test_all.found))):
        if not len(subset):
            continue
        for box in ("finder", "teacher", "learned"):
            px, _, mats = TL.make_arrays(subset, crop, box)
            inv = [align.invert_affine(m) for m in mats]

            def to_image(unit, inv=inv):
                return np.stack([align.transform_points(v, EL.from_unit(u, crop.size)) for u, v in zip(unit, inv, strict=True)])

            preds = {"float": TL.predict_unit(model, px, crop), "int8": det.predict_crops(px),
                     "int8_flip_tta": det_tta.predict_crops(px)}
            result["errors"][f"{label}/{box}_box"] = {k: _errors(to_image(v), subset.landmarks, subset.sets)
                                                      for k, v in preds.items()}
    # the int8 student's landmarks for every test image, from the device finder's box: the teacher's
    # descriptor aligned on them (extract --landmarks-from) tells what our landmarks cost the embedder
    for name in sorted(set(test_all.sets)):
        part = test_all.subset(test_all.sets == name)
        pts = np.stack([det.predict(im, b) for im, b in zip(part.images, part.finder_boxes, strict=True)])
        atomic_write_npz(out / f"pred_{name}.npz", dict(paths=part.paths, people=part.people, boxes=part.finder_boxes,
                                                        landmarks=pts.astype(np.float32)))
    # timing: crop + int8 invoke for one face at a time, one thread
    sample = test_all.subset(np.arange(min(200, len(test_all))))
    imgs = [np.ascontiguousarray(im) for im in sample.images]
    det.predict(imgs[0], sample.finder_boxes[0])
    times = []
    for im, b in zip(imgs, sample.finder_boxes, strict=True):
        t = time.perf_counter()
        det.predict(im, b)
        times.append((time.perf_counter() - t) * 1e3)
    x = np.zeros((1, crop.size, crop.size, crop.channels), np.float32)
    inv_t = []
    for _ in range(200):
        t = time.perf_counter()
        det.model.run({EL.INPUT_NAME: x})
        inv_t.append((time.perf_counter() - t) * 1e3)
    result["timing_ms"] = {"per_face_crop_and_int8_median": float(np.median(times)),
                           "per_face_crop_and_int8_p90": float(np.percentile(times, 90)),
                           "int8_invoke_median": float(np.median(inv_t)), "threads": 1,
                           "note": "shared 2-core workstation under load"}
    hist = out / "train_history.json"
    if hist.is_file():
        h = json.loads(hist.read_text())
        result["train_minutes"] = round(h["train_seconds"] / 60, 1)
        result["train_epochs"] = len(h.get("loss", []))
    atomic_write_text(out / "landmarks_eval.json", json.dumps(result, indent=2) + "\n")
    lines = ["| faces | box | model | faces | mean NME | median | P90 | > 0.1 |", "|---|---|---|---|---|---|---|---|"]
    for key, rows in result["errors"].items():
        label, box = key.split("/")
        for name, r in rows.items():
            lines.append(f"| {label} | {box} | {name} | {r['faces']} | {100 * r['mean']:.2f} % | {100 * r['median']:.2f} % | "
                         f"{100 * r['p90']:.2f} % | {100 * r['over_0.1']:.1f} % |")
    table = "\n".join(lines)
    atomic_write_text(out / "landmarks_eval.md", table + "\n")
    print(table)
    print(json.dumps({k: result[k] for k in ("model", "timing_ms")}, indent=2))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("extract", "evaluate", "landmarks"):
        p = sub.add_parser(name)
        p.add_argument("--data", default="../shared/data", help="the shared data folder (faces/lfw, faces/att_orl)")
        p.add_argument("--out", default="runs/face/teacher", help="cache folder")
        p.add_argument("--sets", nargs="+", choices=sorted(SETS), default=["lfw", "att"])
    ext = sub.choices["extract"]
    ext.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ext.add_argument("--limit", type=int, default=None, help="first N images per set (a quick try)")
    ext.add_argument("--landmarks-from", default=None,
                     help="a folder with pred_{set}.npz (the landmarks step): descriptors aligned on those landmarks")
    ext.add_argument("--tag", default="student", help="with --landmarks-from: caches are {set}_TAG.npz")
    ev = sub.choices["evaluate"]
    ev.add_argument("--num-pairs", type=int, default=3000)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--test-fraction", type=float, default=0.2)
    ev.add_argument("--tag", default=None, help="evaluate {set}_TAG.npz (extract --landmarks-from) on the test people")
    lm = sub.choices["landmarks"]
    lm.add_argument("--landmarks-out", default="runs/face/landmarks")
    lm.add_argument("--epochs", type=int, default=70)
    lm.add_argument("--reuse", action="store_true", help="convert and measure an existing landmarks.keras")
    lm.add_argument("--train-args", nargs=argparse.REMAINDER, default=[],
                    help="more flags for edgecnn.train.face.landmarks (last on the line)")
    args = parser.parse_args(argv)
    return {"extract": cmd_extract, "evaluate": cmd_evaluate, "landmarks": cmd_landmarks}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
