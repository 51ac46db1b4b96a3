"""Detection benchmarks, side by side in one run (same machine load for each pair):

* int8 invoke latency at the model's input size, 1 and 2 threads;
* preprocess (letterbox) + int8 invoke + postprocess (decode, NMS, inverse letterbox) per image,
  1 thread, on real photos (target <= 15 ms at 320x320);
* NMS: ours (the NumPy path) vs ``cv2.dnn.NMSBoxes`` at 1k and 10k candidates, detector-like
  (clustered around objects) and uniform boxes, identical kept sets checked (class-aware, 50 to
  10k boxes, and the size at which ``boxes.nms`` switches: bench/bench_nms.py);
* end-to-end FPS of the capture loop on a video made from ../shared/data/images (every frame,
  and paced at 30 FPS with frame dropping), with per-stage milliseconds.

    .venv/bin/python bench/bench_detect.py [--model runs/detect/raccoon/model_int8.tflite] [--data ../shared/data] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgecnn.edge.core.camera import FrameReader, ReaderConfig, run_loop  # noqa: E402
from edgecnn.edge.core.fileio import atomic_write_json  # noqa: E402
from edgecnn.edge.core.image import IMAGE_SUFFIXES, load_image  # noqa: E402
from edgecnn.edge.core.interpreter import load_model  # noqa: E402
from edgecnn.edge.detect import boxes as B  # noqa: E402
from edgecnn.edge.detect.runtime import Detector, FramePipeline  # noqa: E402


def best_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times)) if repeats > 9 else 1000 * min(times)


def invoke_latency(model_path: Path, threads: int, repeats: int) -> float:
    m = load_model(model_path, num_threads=threads)
    info = m.inputs[0]
    m.set_inputs({info.name: np.zeros(info.shape, np.float32)})
    for _ in range(5):
        m.invoke()
    return best_ms(m.invoke, repeats)


def pipeline_ms(model_path: Path, images: list[np.ndarray], repeats: int) -> dict:
    det = Detector(load_model(model_path, num_threads=1))
    stages = {"preprocess": [], "invoke": [], "postprocess": [], "total": []}
    for _ in range(repeats):
        for img in images:
            t0 = time.perf_counter()
            inputs, info = det.preprocess(img)
            t1 = time.perf_counter()
            raw = det.infer(inputs)
            t2 = time.perf_counter()
            det.postprocess(raw, info)
            t3 = time.perf_counter()
            for k, v in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), strict=False):
                stages[k].append(1000 * v)
    return {k: round(float(np.median(v)), 3) for k, v in stages.items()}


def candidates(kind: str, n: int, rng: np.random.Generator):
    if kind == "clustered":  # what a detector emits before NMS: many boxes around few objects
        n_obj = 20
        c = rng.uniform(0, 640, (n_obj, 2))
        wh = rng.uniform(30, 250, (n_obj, 2))
        k = rng.integers(0, n_obj, n)
        cxcywh = np.concatenate([c[k] + rng.normal(0, 0.1, (n, 2)) * wh[k],
                                 wh[k] * np.exp(rng.normal(0, 0.2, (n, 2)))], 1)
        xyxy = B.cxcywh_to_xyxy(cxcywh)
    else:
        xy = rng.uniform(0, 640, (n, 2))
        xyxy = B.xywh_to_xyxy(np.concatenate([xy, rng.uniform(10, 100, (n, 2))], 1))
    return xyxy, rng.uniform(0.01, 1, n).astype(np.float32)


def nms_bench(repeats: int) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for kind in ("clustered", "uniform"):
        for n in (1000, 10000):
            xyxy, s = candidates(kind, n, rng)
            xywh, sl = B.xyxy_to_xywh(xyxy).tolist(), s.tolist()
            ours = ref = None
            t_cv, t_ours = [], []
            for _ in range(repeats):  # alternate so both see the same load
                t = time.perf_counter()
                ref = cv2.dnn.NMSBoxes(xywh, sl, 0.0, 0.5)
                t_cv.append(time.perf_counter() - t)
                t = time.perf_counter()
                ours = B.nms(xyxy, s, 0.5, backend="numpy")  # our code, whatever "auto" would pick
                t_ours.append(time.perf_counter() - t)
            same = sorted(np.asarray(ref).ravel().tolist()) == sorted(ours.tolist())
            rows.append({"boxes": n, "layout": kind, "kept": int(len(ours)), "same_result": same,
                         "ours_ms": round(1000 * min(t_ours), 3), "opencv_ms": round(1000 * min(t_cv), 3),
                         "speedup_vs_opencv": round(min(t_cv) / min(t_ours), 2)})
    return rows


def make_video(images: list[np.ndarray], path: Path, fps: float = 30.0, seconds_each: float = 1.0) -> int:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (640, 480))
    n = 0
    for img in images:
        canvas = cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), (640, 480), interpolation=cv2.INTER_AREA)
        for _ in range(int(fps * seconds_each)):
            w.write(canvas)
            n += 1
    w.release()
    return n


def video_fps(model_path: Path, video: Path, threads: int) -> dict:
    det = Detector(load_model(model_path, num_threads=threads))
    out = {}
    for name, cfg in (("every_frame", ReaderConfig(live=False, drop=False)),
                      ("paced_30fps_dropping", ReaderConfig(live=False, drop=True, pace_fps=30.0))):
        reader = FrameReader(lambda: cv2.VideoCapture(str(video)), cfg).start()
        stats = run_loop(reader, FramePipeline(det), lambda *a: True)
        reader.stop()
        out[name] = stats.as_dict()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "runs/detect/raccoon/model_int8.tflite"))
    ap.add_argument("--data", default=str(ROOT.parent / "shared/data"))
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--out", default=str(ROOT / "runs/detect/bench.json"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    model = Path(args.model)
    if not model.is_file():
        model = ROOT / "tests/fixtures/det_tiny_int8.tflite"
        print(f"bench_detect: {args.model} not found (run `make real`); using the tiny fixture {model}", file=sys.stderr)
    img_dir = Path(args.data) / "images"
    images = [load_image(p) for p in sorted(img_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES] \
        if img_dir.is_dir() else [np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)]
    meta = load_model(model).metadata
    res = {"model": str(model), "model_bytes": model.stat().st_size, "input": meta["params"]["img_size"],
           "invoke_ms": {f"{t}_thread{'s' if t > 1 else ''}": round(invoke_latency(model, t, args.repeats), 3)
                         for t in (1, 2)},
           "pipeline_ms_1_thread": pipeline_ms(model, images, max(1, args.repeats // 10)),
           "nms": nms_bench(max(3, args.repeats // 6))}
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "images.avi"
        n = make_video(images, video)
        res["video"] = {"frames": n, "source_fps": 30.0, **{f"{t}_thread": video_fps(model, video, t) for t in (1, 2)}}
    atomic_write_json(args.out, res)
    if args.json:
        print(json.dumps(res))
    else:
        print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
