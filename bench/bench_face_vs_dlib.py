#!/usr/bin/env python3
"""Face verification: our int8 device pipeline vs the dlib teacher, side by side in one run (issue #15).

    .venv/bin/python bench/bench_face_vs_dlib.py [--float-model runs/face/student_e12/model.keras]
        [--model builtin:face] [--data ../shared/data/faces] [--people runs/face/teacher/test_people.txt]
        [--teacher runs/face/teacher] [--teacher-python .venv-teacher/bin/python] [--pairs 3000]
        [--rounds 3] [--frames 20] [--skip-accuracy] [--skip-speed] [--skip-missing] [--out DIR]

1. **Accuracy**, held-out test people of LFW and AT&T (``--people`` names that are folders of the
   set), strictly balanced pairs (``balanced_pairs(labels, --pairs, seed 0, strict=True)`` over
   ``list_identities(root).subset(people)``, the order ``edgecnn eval --people`` uses):
   (a) ours int8: ``Embedder.embed_file`` on every distinct image of the pairs, i.e. the whole
   device path (learned finder -> int8 landmarks -> ``align.aligned_pixels`` -> int8 embedder);
   a pair with an image where no face was found is left out of the metrics and counted, and a
   second accuracy counts those pairs as wrong; (b) with ``--float-model``, the float Keras
   student on *the same crops* (an Embedder whose config and landmark detector are the int8
   one's: same code, same crops, only the embedder differs); (c) the dlib teacher's cached
   descriptors (``--teacher``/{lfw,att}.npz, made by ``scripts/face_teacher.py extract``: HOG
   detector upsampled once then at scale 1, else a fall-back box) for exactly the same pairs,
   scored with dlib's convention, the Euclidean distance of the raw descriptors (accuracy at
   dlib's tau 0.6), and also with the project's squared L2 between unit vectors.
2. **Speed and memory** (run first) of each pipeline in its own child process (peak RSS per
   pipeline: VmHWM, since Linux carries ru_maxrss over from the parent across fork + exec),
   children alternated ours/dlib for ``--rounds`` rounds, one thread, on one 640x480 frame:
   the first image of the first LFW test person, its central 60 % cropped, resized to 240x240
   and pasted in the middle of a grey-120 canvas (written to OUT/frame_640x480.png; both
   children read that file). Ours: the whole path (find + landmarks + align + embed, camera
   frame semantics: ``still=False``) and each step; dlib: HOG detection upsampled 0 and 1 times,
   the 5-point shape, the 128-d descriptor, and the whole teacher path (upsample 1 as the teacher
   did, scale 1 if that finds nothing; detection nearest the centre). Timings are pooled over the
   rounds (median, p90); ratios dlib / ours come from this run. The ours child runs under this
   interpreter, the dlib child under ``--teacher-python`` (it imports only numpy, cv2, dlib and
   face_recognition_models; the same file with ``--child dlib``).
3. **Files**: our three ``.tflite`` files (embedder, landmarks, finder) and dlib's two ``.dat``
   files (the HOG detector is compiled into dlib).

Writes OUT/face_vs_dlib.json (every number) and OUT/face_vs_dlib.md (tables), and prints the
markdown. Missing data or people file: one line, exit 2 (exit 0 with "skipped: ..." under
``--skip-missing``, for ``make bench``). A missing teacher venv / dlib or teacher cache skips the
dlib parts that need it, with one line each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from face_vs_dlib_report import ROOT, SET_TITLES, SETS, _rel, markdown  # noqa: E402

PROG = "bench_face_vs_dlib"
FRAME_W, FRAME_H, CANVAS_GREY = 640, 480, 120
FRAME_CENTRE, FRAME_FACE_SIDE = 0.6, 240  # central 60 % of the LFW image, resized to 240 x 240
TEACHER_UPSAMPLES = (1, 0)  # scripts/face_teacher.py: upsampled once, then at scale 1
DLIB_TAU = 0.6  # dlib's documented threshold on the raw Euclidean distance
OURS_FRAME_FACTOR = 5  # our frames are ~40x cheaper: time 5x as many for the same noise
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _plain(x):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.bool_ | bool):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating | float):
        return float(x) if np.isfinite(x) else None
    return x


# -- children (one JSON line on stdout) ------------------------------------------------------------
def _time_steps(steps: dict, n: int, warmup: int = 2) -> tuple[dict, float]:
    """Each step once per iteration, interleaved (a busy moment hits every step alike): ({step:
    wall ms per call}, CPU seconds / wall seconds over the timed iterations)."""
    for _ in range(warmup):
        for fn in steps.values():
            fn()
    ms = {k: [] for k in steps}
    c0, w0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        for k, fn in steps.items():
            t = time.perf_counter()
            fn()
            ms[k].append((time.perf_counter() - t) * 1e3)
    return ms, (time.process_time() - c0) / max(time.perf_counter() - w0, 1e-9)


def _process_age() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere): interpreter start-up,
    imports, model loading and the first frame, all counted."""
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _rss_mb() -> float:
    """Peak resident set of this process image in MB: VmHWM (Linux). Not ru_maxrss: Linux carries
    that across fork + exec, so a child of a big parent (TensorFlow loaded) reports the parent's
    peak; ru_maxrss is still recorded (``ru_maxrss_mb``), and used where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    return _ru_maxrss_mb()


def _ru_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def child_ours(args) -> dict:
    import cv2

    cv2.setNumThreads(1)
    t0 = time.perf_counter()  # load time: imports, three models, the first frame
    from edgecnn.edge.core.loader import resolve_model_path
    from edgecnn.edge.face import align
    from edgecnn.edge.face import finder as F
    from edgecnn.edge.face.runtime import get_finder

    emb = one_thread_embedder(args.model)
    cfg = emb.config
    frame = cv2.imread(args.frame, cv2.IMREAD_COLOR)
    if frame is None:
        raise SystemExit(f"{PROG}: cannot read {args.frame}")
    finder = F.default_finder(1) if cfg.finder == "learned" else get_finder(cfg.finder)  # as extract() runs it
    emb.embed_faces(emb.extract(frame, "frame", still=False).pixels[None])  # first use opens the finder
    load_s, ready_s = time.perf_counter() - t0, _process_age()
    rss_load = _rss_mb()
    boxes = finder(frame, cfg)
    if not boxes:
        raise SystemExit(f"{PROG}: our finder found no face in {args.frame}")
    # the steps are timed by replaying the calls extract() makes (recorded once), so they follow
    # whatever box scaling / face picking the runtime does
    lm_calls, align_calls = [], []
    if emb.landmarks is not None:
        real_lm, real_align = emb.landmarks, align.aligned_pixels

        class Recorder:
            def __getattr__(self, name):
                return getattr(real_lm, name)

            def predict(self, image, box):
                lm_calls.append(box)
                return real_lm.predict(image, box)

        def record_align(*a, **k):
            align_calls.append((a, k))
            return real_align(*a, **k)

        emb.landmarks, align.aligned_pixels = Recorder(), record_align
        try:
            face = emb.extract(frame, "frame", still=False)
        finally:
            emb.landmarks, align.aligned_pixels = real_lm, real_align
    else:
        face = emb.extract(frame, "frame", still=False)
    n = args.frames * OURS_FRAME_FACTOR
    res = {"pipeline": "ours", "python": sys.executable, "backend": getattr(emb.model, "backend", "?"),
           "threads": 1, "finder": cfg.finder, "align": cfg.align, "faces_in_frame": len(boxes),
           "box": [int(v) for v in face.box], "repeats": n, "load_s": load_s, "ready_s": ready_s, "rss_after_load_mb": rss_load}
    steps = {"frame": lambda: emb.embed_faces(emb.extract(frame, "frame", still=False).pixels[None]),
             "find": lambda: finder(frame, cfg)}
    if lm_calls:
        steps["landmarks"] = lambda: emb.landmarks.predict(frame, lm_calls[0])
    if align_calls:
        a, k = align_calls[0]
        steps["align"] = lambda: align.aligned_pixels(*a, **k)
    steps["embed"] = lambda: emb.embed_faces(face.pixels[None])
    ms, res["cpu_per_wall"] = _time_steps(steps, n, warmup=5)
    res["ms"] = ms
    res["peak_rss_mb"], res["ru_maxrss_mb"] = _rss_mb(), _ru_maxrss_mb()
    res["files"] = {"embedder": str(emb.model.path),
                    "landmarks": str(emb.landmarks.model.path) if emb.landmarks else None,
                    "finder": str(resolve_model_path(F.DEFAULT_MODEL)) if cfg.finder == "learned" else None}
    return res


def one_thread_embedder(spec):
    """builtin:face (or ``spec``) as the device runs it with ``--threads 1``: the embedder, the
    landmark model it opens and the learned finder (``default_finder(1)``) all on one thread."""
    from edgecnn.edge.core.loader import open_model
    from edgecnn.edge.face.runtime import Embedder

    return Embedder.from_model(open_model(spec, task="face", num_threads=1))


def child_dlib(args) -> dict:
    import cv2

    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    import dlib
    import face_recognition_models as frm

    detector = dlib.get_frontal_face_detector()
    shape_file, rec_file = frm.pose_predictor_five_point_model_location(), frm.face_recognition_model_location()
    predictor = dlib.shape_predictor(shape_file)
    rec = dlib.face_recognition_model_v1(rec_file)
    bgr = cv2.imread(args.frame, cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"{PROG}: cannot read {args.frame}")
    rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    h, w = rgb.shape[:2]

    def detect(up):
        return detector.run(rgb, up, 0.0)[0]

    def nearest(rects):
        return min(rects, key=lambda r: np.hypot((r.left() + r.right()) / 2 - w / 2, (r.top() + r.bottom()) / 2 - h / 2))

    def whole():  # the teacher's path (scripts/face_teacher.py extract)
        for up in TEACHER_UPSAMPLES:
            rects = detect(up)
            if len(rects):
                shape = predictor(rgb, nearest(rects))
                return rec.compute_face_descriptor(rgb, shape)
        return None

    found = {f"up{up}": len(detect(up)) for up in (0, 1)}
    if not found["up1"] and not found["up0"]:
        raise SystemExit(f"{PROG}: dlib's HOG detector found no face in {args.frame}")
    rect = nearest(detect(1) if found["up1"] else detect(0))
    shape = predictor(rgb, rect)
    rec.compute_face_descriptor(rgb, shape)
    load_s, ready_s = time.perf_counter() - t0, _process_age()
    rss_load = _rss_mb()
    n = args.frames
    ms, cpu = _time_steps({"frame": whole, "detect_up0": lambda: detect(0), "detect_up1": lambda: detect(1),
                           "shape": lambda: predictor(rgb, rect),
                           "descriptor": lambda: rec.compute_face_descriptor(rgb, shape)}, n, warmup=1)
    return {"pipeline": "dlib", "python": sys.executable, "dlib": dlib.__version__,
            "dlib_use_blas": bool(getattr(dlib, "DLIB_USE_BLAS", False)), "dlib_use_cuda": bool(dlib.DLIB_USE_CUDA),
            "threads": 1, "faces_in_frame": found, "box": [rect.left(), rect.top(), rect.width(), rect.height()],
            "repeats": n, "load_s": load_s, "ready_s": ready_s, "rss_after_load_mb": rss_load, "cpu_per_wall": cpu, "ms": ms,
            "peak_rss_mb": _rss_mb(), "ru_maxrss_mb": _ru_maxrss_mb(), "files": {"shape_predictor": shape_file, "descriptor": rec_file},
            "edgecnn_imported": any(m == "edgecnn" or m.startswith("edgecnn.") for m in sys.modules)}


# -- accuracy ------------------------------------------------------------------------------------
def score(d, same, folds, ok, tau=None) -> dict:
    """pair_metrics on the pairs with a face in both images, plus the 10-fold accuracy and the
    accuracy at ``tau`` counting the other pairs as wrong (thresholds fitted on usable pairs)."""
    from edgecnn.edge.face.evaluate import best_threshold, pair_metrics

    m = pair_metrics(d[ok], same[ok], folds[ok], model_tau=tau)
    accs = []
    for f in np.unique(folds):
        test = folds == f
        t = best_threshold(d[ok & ~test], same[ok & ~test])
        accs.append(float(np.sum((d[ok & test] <= t) == same[ok & test])) / max(int(test.sum()), 1))
    m.update(pairs_total=int(len(same)), pairs_without_face=int((~ok).sum()),
             pair_accuracy_all_pairs=float(np.mean(accs)), pair_accuracy_all_pairs_std=float(np.std(accs)))
    if tau is not None:
        m["accuracy_at_model_threshold_all_pairs"] = float(np.sum((d[ok] <= tau) == same[ok])) / len(same)
    return m


def _pair_d(vectors, ai, bi, ok, distance: str) -> np.ndarray:
    """Distances of the pairs ``(ai, bi)`` (rows of ``vectors``) where ``ok``, NaN elsewhere."""
    from edgecnn.edge.face.runtime import pair_distances

    d = np.full(len(ok), np.nan, np.float32)
    d[ok] = pair_distances(vectors[ai[ok]], vectors[bi[ok]], distance)
    return d


def load_teacher(teacher_dir: Path, name: str):
    path = teacher_dir / f"{name}.npz"
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return {"rows": {str(p): i for i, p in enumerate(z["paths"])}, "descriptors": z["descriptors"].astype(np.float32),
                "found": z["found"].astype(bool), "file": _rel(path)}


def accuracy(args, data: Path, people: Path, teacher_dir: Path | None) -> dict:
    from dataclasses import replace

    from edgecnn.edge.face.data import balanced_pairs, list_identities
    from edgecnn.edge.face.evaluate import read_people
    from edgecnn.edge.face.runtime import Embedder, FaceNotFound, pair_distances

    emb = one_thread_embedder(args.model)
    fe = None
    if args.float_model:
        from edgecnn.train.core.keras_model import KerasModel  # TensorFlow: fine in bench/, never in edge/

        fe = Embedder.from_model(KerasModel(args.float_model, task="face"), landmarks=emb.landmarks)
        fe = replace(fe, config=replace(emb.config))  # the int8 pipeline's config: same crops
    out = {"int8_threshold": emb.threshold, "float_threshold": fe.threshold if fe else None,
           "config": emb.config.to_params()}
    for name, sub in SETS.items():
        root = data / sub
        if not root.is_dir():
            print(f"{PROG}: {root} not found: {SET_TITLES[name]} skipped", file=sys.stderr)
            continue
        ids = list_identities(root)
        ids = ids.subset(read_people(people, ids))
        ia, ib, same, folds = balanced_pairs(ids.labels, int(args.pairs), 0, strict=True)
        a, b = [ids.paths[i] for i in ia], [ids.paths[i] for i in ib]
        distinct = list(dict.fromkeys(a + b))
        vec, pix, no_face = {}, {}, []
        t0 = time.perf_counter()
        for p in distinct:
            try:
                v, face = emb.embed_file(p)
            except FaceNotFound:
                no_face.append(p)
                continue
            vec[p], pix[p] = v, face.pixels
        wall = time.perf_counter() - t0
        ok = np.array([x in vec and y in vec for x, y in zip(a, b, strict=True)], bool)
        keys = [p for p in distinct if p in vec]
        row = {p: i for i, p in enumerate(keys)}
        ai = np.array([row.get(x, 0) for x in a])
        bi = np.array([row.get(y, 0) for y in b])
        res = {"people": len(ids.names), "images": len(ids), "images_in_pairs": len(distinct), "pairs": len(same),
               "same_pairs": int(same.sum()), "images_without_face": len(no_face),
               "no_face_images": [_rel(p) for p in no_face][:50], "ms_per_image_in_process": wall / max(len(distinct), 1) * 1e3}

        v8 = np.stack([vec[p] for p in keys])
        res["ours_int8"] = score(_pair_d(v8, ai, bi, ok, emb.distance), same, folds, ok, emb.threshold)
        if fe is not None:
            vf = fe.embed_faces(np.stack([pix[p] for p in keys]))
            res["ours_float"] = score(_pair_d(vf, ai, bi, ok, emb.distance), same, folds, ok, fe.threshold)
            cos = np.sum(v8 * vf, axis=1)
            res["float_vs_int8_cosine"] = {"mean": float(cos.mean()), "min": float(cos.min()),
                                           "p5": float(np.percentile(cos, 5))}
        cache = load_teacher(teacher_dir, name) if teacher_dir else None
        if cache is None:
            if teacher_dir:
                print(f"{PROG}: {teacher_dir / (name + '.npz')} not found: dlib accuracy on {SET_TITLES[name]} skipped",
                      file=sys.stderr)
        else:
            rel = {p: os.path.relpath(p, ids.root) for p in distinct}
            missing = [p for p in distinct if rel[p] not in cache["rows"]]
            tok = np.array([x not in missing and y not in missing for x, y in zip(a, b, strict=True)], bool)
            if missing:
                print(f"{PROG}: {len(missing)} {SET_TITLES[name]} images are not in {cache['file']}: "
                      "their pairs are left out of the dlib rows", file=sys.stderr)
            r = {p: cache["rows"].get(rel[p], 0) for p in distinct}
            da = cache["descriptors"][[r[x] for x in a]]
            db = cache["descriptors"][[r[y] for y in b]]
            raw = np.linalg.norm(da - db, axis=1).astype(np.float32)
            unit = pair_distances(da, db, emb.distance)
            fb = {p for p in distinct if p not in missing and not cache["found"][r[p]]}
            fb_pairs = int(sum((x in fb or y in fb) for x, y, k in zip(a, b, tok, strict=True) if k))
            for key, d, tau in (("dlib_euclidean", raw, DLIB_TAU), ("dlib_unit_sql2", unit, None)):
                m = score(np.where(tok, d, np.nan), same, folds, tok, tau)
                m.update(images_fallback_box=len(fb), pairs_with_fallback_box=fb_pairs, images_not_in_cache=len(missing))
                res[key] = m
            res["dlib_cache"] = cache["file"]
        out[name] = res
    return out


# -- speed -----------------------------------------------------------------------------------------
def make_frame(data: Path, people: Path, out: Path) -> tuple[Path, str]:
    """The timing frame: the first image of the first LFW test person, its central 60 % resized
    to 240 x 240 and pasted in the middle of a 640 x 480 grey-120 canvas; written as PNG."""
    import cv2

    from edgecnn.edge.core.fileio import atomic_write_bytes
    from edgecnn.edge.face.data import list_identities
    from edgecnn.edge.face.evaluate import read_people

    ids = list_identities(data / SETS["lfw"])
    first = read_people(people, ids)[0]
    src = next(p for p, lab in zip(ids.paths, ids.labels, strict=True) if ids.names[lab] == first)
    img = cv2.imread(src, cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    side = int(round(FRAME_CENTRE * min(h, w)))
    y0, x0 = (h - side) // 2, (w - side) // 2
    face = cv2.resize(img[y0 : y0 + side, x0 : x0 + side], (FRAME_FACE_SIDE, FRAME_FACE_SIDE), interpolation=cv2.INTER_LINEAR)
    canvas = np.full((FRAME_H, FRAME_W, 3), CANVAS_GREY, np.uint8)
    top, left = (FRAME_H - FRAME_FACE_SIDE) // 2, (FRAME_W - FRAME_FACE_SIDE) // 2
    canvas[top : top + FRAME_FACE_SIDE, left : left + FRAME_FACE_SIDE] = face
    ok, png = cv2.imencode(".png", canvas)
    if not ok:
        raise RuntimeError("cannot encode the timing frame")
    path = atomic_write_bytes(out / "frame_640x480.png", png.tobytes())
    return path, src


def run_child(python: str, kind: str, args, frame: Path) -> dict | None:
    cmd = [python, str(Path(__file__).resolve()), "--child", kind, "--frame", str(frame), "--frames", str(args.frames),
           "--model", args.model]
    env = {**os.environ, **ONE_THREAD}
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=args.child_timeout)
    except subprocess.TimeoutExpired:
        print(f"{PROG}: the {kind} child ran past {args.child_timeout} s: skipped this round", file=sys.stderr)
        return None
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"{PROG}: the {kind} child failed (exit {proc.returncode}): {tail}", file=sys.stderr)
        return None
    return json.loads(lines[-1])


def probe_teacher(python: str) -> tuple[bool, str]:
    if not Path(python).exists():
        return False, f"{python} not found"
    code = "import dlib, face_recognition_models, cv2, numpy; print(dlib.__version__)"
    try:
        proc = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{python}: {exc}"
    if proc.returncode != 0:
        return False, f"{python}: " + (proc.stderr.strip().splitlines() or ["import failed"])[-1]
    return True, proc.stdout.strip()


def _stats(samples: list[float]) -> dict:
    return {"median": float(np.median(samples)), "p90": float(np.percentile(samples, 90)),
            "min": float(np.min(samples)), "n": len(samples)}


def summarise(runs: list[dict]) -> dict | None:
    """Pooled timings over the rounds (median, p90), per-round medians, RSS and load medians."""
    if not runs:
        return None
    stages = {k for r in runs for k in r["ms"]}
    nums = ("load_s", "ready_s", "rss_after_load_mb", "peak_rss_mb", "ru_maxrss_mb", "cpu_per_wall")
    out = {k: v for k, v in runs[-1].items() if k != "ms" and k not in nums}
    out["rounds"] = len(runs)
    out["ms"] = {}
    for k in sorted(stages):
        pooled = [x for r in runs for x in r["ms"].get(k, [])]
        out["ms"][k] = {**_stats(pooled), "round_medians": [statistics.median(r["ms"][k]) for r in runs if k in r["ms"]]}
    for k in nums:
        if any(r.get(k) is None for r in runs):
            out[k] = None
            continue
        out[k] = statistics.median(r[k] for r in runs)
        out[k + "_rounds"] = [r[k] for r in runs]
    return out


def speed(args, data: Path, people: Path, out: Path, teacher_ok: bool) -> dict:
    frame, src = make_frame(data, people, out)
    res = {"frame": _rel(frame), "frame_source": _rel(src),
           "frame_recipe": f"central {FRAME_CENTRE:.0%} of the image, resized to {FRAME_FACE_SIDE}x{FRAME_FACE_SIDE}, "
                           f"pasted centred in a {FRAME_W}x{FRAME_H} grey-{CANVAS_GREY} canvas",
           "rounds": args.rounds, "frames_dlib": args.frames, "frames_ours": args.frames * OURS_FRAME_FACTOR}
    ours, dl = [], []
    for r in range(args.rounds):
        print(f"{PROG}: speed round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
        o = run_child(sys.executable, "ours", args, frame)
        if o:
            ours.append(o)
        if teacher_ok:
            d = run_child(args.teacher_python, "dlib", args, frame)
            if d:
                dl.append(d)
    res["ours"], res["dlib"] = summarise(ours), summarise(dl)
    if res["ours"] and res["dlib"]:
        om, dm = res["ours"]["ms"], res["dlib"]["ms"]
        pairs = {"frame": ("frame", "frame"), "descriptor_vs_embed": ("descriptor", "embed"),
                 "detect_up1_vs_find": ("detect_up1", "find"), "detect_up0_vs_find": ("detect_up0", "find")}
        res["ratio_dlib_over_ours"] = {k: dm[a]["median"] / om[b]["median"] for k, (a, b) in pairs.items()}
        n = min(len(ours), len(dl))
        res["ratio_frame_per_round"] = [statistics.median(dl[i]["ms"]["frame"]) / statistics.median(ours[i]["ms"]["frame"])
                                        for i in range(n)]
        res["ratio_peak_rss"] = res["dlib"]["peak_rss_mb"] / res["ours"]["peak_rss_mb"]
    return res


# -- files -----------------------------------------------------------------------------------------
def file_sizes(args, speed_res: dict | None, teacher_python: str, teacher_ok: bool) -> dict:
    from edgecnn.edge.core.loader import builtin_models, resolve_model_path

    out = {"ours": {}, "dlib": {}}
    models = builtin_models()
    if args.model == "builtin:face":
        names = {"embedder": "face", "landmarks": "face-landmarks", "finder": "face-finder"}
        files = {k: models.get(v) for k, v in names.items()}
    else:
        files = {"embedder": resolve_model_path(args.model), "landmarks": None, "finder": models.get("face-finder")}
        got = (speed_res or {}).get("ours") or {}
        if got.get("files", {}).get("landmarks"):
            files["landmarks"] = Path(got["files"]["landmarks"])
    for k, p in files.items():
        if p is not None and Path(p).is_file():
            out["ours"][k] = {"file": _rel(p), "bytes": Path(p).stat().st_size}
    if args.float_model and Path(args.float_model).is_file():
        out["float_keras"] = {"file": _rel(args.float_model), "bytes": Path(args.float_model).stat().st_size}
    dlib_files = ((speed_res or {}).get("dlib") or {}).get("files")
    if not dlib_files and teacher_ok:
        code = ("import json, face_recognition_models as m; print(json.dumps({'shape_predictor': "
                "m.pose_predictor_five_point_model_location(), 'descriptor': m.face_recognition_model_location()}))")
        proc = subprocess.run([teacher_python, "-c", code], capture_output=True, text=True, timeout=120)
        dlib_files = json.loads(proc.stdout) if proc.returncode == 0 else None
    for k, p in (dlib_files or {}).items():
        if Path(p).is_file():
            out["dlib"][k] = {"file": os.path.basename(p), "path": p, "bytes": Path(p).stat().st_size}
    for side in ("ours", "dlib"):
        if out[side]:
            out[side + "_total_bytes"] = sum(v["bytes"] for v in out[side].values())
    return out


# -- report ----------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bench/bench_face_vs_dlib.py", description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="builtin:face", help="our int8 face model (its metadata names landmarks + finder)")
    ap.add_argument("--float-model", default=None, help="the float .keras of the same student (needs TensorFlow)")
    ap.add_argument("--data", default=None, help="folder holding lfw/ and att_orl/ (default: REPO/../shared/data/faces)")
    ap.add_argument("--people", default=None,
                    help="held-out people, one per line (default: REPO/runs/face/teacher/test_people.txt)")
    ap.add_argument("--teacher", default=None, help="teacher cache folder, {lfw,att}.npz (default: REPO/runs/face/teacher)")
    ap.add_argument("--teacher-python", default=None,
                    help="interpreter with dlib for the dlib child (default: REPO/.venv-teacher/bin/python)")
    ap.add_argument("--pairs", type=int, default=3000, help="balanced pairs per set (strict: as many different as same)")
    ap.add_argument("--rounds", type=int, default=3, help="ours/dlib child rounds for speed and memory")
    ap.add_argument("--frames", type=int, default=20, help=f"timed frames per dlib child and round (ours: {OURS_FRAME_FACTOR}x)")
    ap.add_argument("--child-timeout", type=int, default=900, help=argparse.SUPPRESS)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-missing", action="store_true",
                    help="exit 0 with a 'skipped: ...' line when --data or --people is missing (make bench)")
    ap.add_argument("--out", default=None, help="output folder (default: REPO/runs/bench/face_vs_dlib)")
    ap.add_argument("--child", choices=("ours", "dlib"), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--frame", default=None, help=argparse.SUPPRESS)
    return ap


def _abs(p: str | None, default: str) -> Path:
    """A path given on the command line is relative to the current folder, a default to the
    repository root; made absolute (not resolved: a venv's python is a symlink)."""
    return Path(os.path.abspath(p)) if p else ROOT / default


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.child:
        res = child_ours(args) if args.child == "ours" else child_dlib(args)
        print(json.dumps(_plain(res)), flush=True)
        return 0
    if args.pairs < 2 or args.rounds < 1 or args.frames < 1:
        print(f"{PROG}: --pairs must be >= 2, --rounds and --frames >= 1", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    data, people = _abs(args.data, "../shared/data/faces"), _abs(args.people, "runs/face/teacher/test_people.txt")
    out = _abs(args.out, "runs/bench/face_vs_dlib")
    problem = (f"--data {_rel(data)}: face data folder not found (lfw/, att_orl/)" if not data.is_dir() else
               f"--people {_rel(people)}: people file not found (scripts/face_teacher.py evaluate writes it)"
               if not people.is_file() else None)
    if problem:
        if args.skip_missing:
            print(f"{PROG}: skipped: {problem}")
            return 0
        print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    args.teacher_python = str(_abs(args.teacher_python, ".venv-teacher/bin/python"))
    if not args.model.startswith("builtin:") and os.path.exists(args.model):
        args.model = os.path.abspath(args.model)  # the children run in the repository root
    if args.float_model:
        args.float_model = str(_abs(args.float_model, ""))
        if not Path(args.float_model).is_file():
            print(f"{PROG}: --float-model {args.float_model}: file not found", file=sys.stderr)
            return 2
    teacher_dir = _abs(args.teacher, "runs/face/teacher")
    skipped = []
    teacher_ok, teacher_msg = probe_teacher(args.teacher_python)
    if not teacher_ok:
        skipped.append(f"dlib speed/memory/files ({teacher_msg}; see docs/face_align.md for the teacher venv)")
        print(f"{PROG}: dlib child skipped: {teacher_msg} (python3 -m venv .venv-teacher && .venv-teacher/bin/pip "
              "install dlib-bin face-recognition-models numpy opencv-python-headless)", file=sys.stderr)
    if not teacher_dir.is_dir():
        skipped.append(f"dlib accuracy ({_rel(teacher_dir)} not found)")
        print(f"{PROG}: dlib accuracy skipped: {teacher_dir} not found (scripts/face_teacher.py extract)", file=sys.stderr)
        teacher_dir = None
    from edgecnn.edge.core.fileio import atomic_write_json, atomic_write_text

    res = {"date": time.strftime("%Y-%m-%d %H:%M"), "command": " ".join([_rel(sys.executable), *sys.argv]),
           "args": {k: v for k, v in vars(args).items() if k not in ("child", "frame")},
           "host": {"cpu": _cpu_name(), "cores": os.cpu_count(), "platform": platform.platform(),
                    "load_start": [round(x, 2) for x in os.getloadavg()]},
           "teacher_python": {"ok": teacher_ok, "message": teacher_msg}}
    if not args.skip_speed:  # first: the children start from a small parent, no TensorFlow threads around
        res["speed"] = speed(args, data, people, out, teacher_ok)
    if not args.skip_accuracy:
        print(f"{PROG}: accuracy (test people of {', '.join(SET_TITLES.values())})", file=sys.stderr, flush=True)
        res["accuracy"] = accuracy(args, data, people, teacher_dir)
    res["files"] = file_sizes(args, res.get("speed"), args.teacher_python, teacher_ok)
    res["host"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    res["wall_s"] = time.perf_counter() - t_start
    res["skipped"] = skipped
    res = _plain(res)
    md = markdown(res)
    atomic_write_json(out / "face_vs_dlib.json", res)
    atomic_write_text(out / "face_vs_dlib.md", md + "\n")
    print(md)
    print(f"{PROG}: wrote {_rel(out / 'face_vs_dlib.json')} and face_vs_dlib.md in {res['wall_s']:.0f} s", file=sys.stderr)
    return 0


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


if __name__ == "__main__":
    sys.exit(main())
