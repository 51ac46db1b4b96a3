"""Class-aware NMS: ``boxes.nms`` (NumPy) vs ``cv2.dnn.NMSBoxesBatched``, side by side in one run.

    .venv/bin/python bench/bench_nms.py [--sizes 50 300 1000 3000 10000] [--iou 0.5] [--seed 0] [--json]

Inputs, the same for both: ``detector`` layout = what a detector emits before NMS: a few dozen
objects (``--objects``) of several classes, each seen as a cloud of jittered boxes whose score
decays with the distance from the object's best box, plus some lower-scored copies under another
class; ``uniform`` = boxes spread over the image with random classes (for reference: few overlaps).
Runs alternate (ours, OpenCV, OpenCV via ``nms``, ours, ...) so all see the same machine load;
medians are reported. "ours" is ``boxes.nms(..., backend="numpy")``; "OpenCV" is the bare
``NMSBoxesBatched`` call on xywh float64 boxes and int32 class ids made beforehand, with
``score_threshold=-inf`` (its filter is a strict ``>``: 0 would drop zero scores) and no
``top_k`` (OpenCV's cuts the candidates before NMS, not the kept boxes); "OpenCV via ``nms``" is
``boxes.nms(..., backend="opencv")``, i.e. with the input checks and the arrangement that makes it
exact (shift to >= 0, class renumbering, zero-area boxes aside). Every row checks that all three
keep the same indices (``same``) and in the same order (``same_order``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from edgecnn.edge.detect import boxes as B  # noqa: E402

IMG = 640.0


def detector_boxes(n: int, rng: np.random.Generator, objects: int = 30, classes: int = 5):
    """``n`` pre-NMS candidates around ``objects`` objects: (xyxy float32, scores float32, class ids)."""
    c = rng.uniform(40, IMG - 40, (objects, 2))
    wh = rng.uniform(16, 220, (objects, 2))
    cls = rng.integers(0, classes, objects)
    best = rng.uniform(0.4, 0.98, objects)
    k = rng.integers(0, objects, n)
    jitter = rng.normal(0, 0.12, (n, 2))            # centre offset in object sizes
    log_scale = rng.normal(0, 0.18, (n, 2))         # size jitter
    cxcywh = np.concatenate([c[k] + jitter * wh[k], wh[k] * np.exp(log_scale)], 1)
    dist = np.sqrt((jitter ** 2).sum(1) + (log_scale ** 2).sum(1))
    scores = best[k] * np.exp(-dist / 0.15) * rng.uniform(0.85, 1.0, n)
    ids = cls[k].copy()
    other = rng.random(n) < 0.2                      # a second class hypothesis, lower score
    ids[other] = (ids[other] + rng.integers(1, classes, int(other.sum()))) % classes
    scores[other] *= 0.3
    xyxy = B.clip_xyxy(B.cxcywh_to_xyxy(cxcywh), IMG, IMG)
    return xyxy, scores.astype(np.float32), ids.astype(np.int64)


def uniform_boxes(n: int, rng: np.random.Generator, classes: int = 5):
    xy = rng.uniform(0, IMG, (n, 2))
    xyxy = B.xywh_to_xyxy(np.concatenate([xy, rng.uniform(10, 100, (n, 2))], 1))
    return xyxy, rng.uniform(0.01, 1, n).astype(np.float32), rng.integers(0, classes, n)


def same_kept(a: np.ndarray, b: np.ndarray, scores: np.ndarray) -> bool:
    """Same indices; the order may differ only among exactly tied scores."""
    if sorted(a.tolist()) != sorted(b.tolist()):
        return False
    return bool(np.array_equal(scores[a], scores[b]))


def timed(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Call the callables in turn, ``repeats`` rounds; per-call milliseconds and the last results."""
    ms, out = {k: [] for k in fns}, {}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            out[k] = fn()
            ms[k].append(1000 * (time.perf_counter() - t))
    return ms, out


def contenders(xyxy, s, c, iou: float) -> dict:
    xywh, c32 = B.xyxy_to_xywh(xyxy).astype(np.float64), c.astype(np.int32)
    return {"ours": lambda: B.nms(xyxy, s, iou, class_ids=c, backend="numpy"),
            "opencv": lambda: np.asarray(cv2.dnn.NMSBoxesBatched(xywh, s, c32, -np.inf, iou), np.int64).reshape(-1),
            "wrapped": lambda: B.nms(xyxy, s, iou, class_ids=c, backend="opencv")}


def bench(sizes, iou: float, seed: int, budget_s: float) -> list[dict]:
    rows = []
    for layout, make in (("detector", detector_boxes), ("uniform", uniform_boxes)):
        for n in sizes:
            rng = np.random.default_rng([seed, n])
            xyxy, s, c = make(n, rng)
            fns = contenders(xyxy, s, c, iou)
            t = time.perf_counter()
            timed(fns, 1)                               # warm-up, and an estimate of the cost
            repeats = int(np.clip(budget_s / max(time.perf_counter() - t, 1e-6), 5, 400))
            ms, out = timed(fns, repeats)
            med = {k: float(np.median(v)) for k, v in ms.items()}
            rows.append({"layout": layout, "boxes": n, "kept": int(len(out["ours"])), "repeats": repeats,
                         "ours_ms": round(med["ours"], 4), "opencv_ms": round(med["opencv"], 4),
                         "opencv_via_nms_ms": round(med["wrapped"], 4),
                         "opencv_over_ours": round(med["opencv"] / med["ours"], 2),
                         "same": same_kept(out["ours"], out["opencv"], s) and same_kept(out["ours"], out["wrapped"], s),
                         "same_order": out["ours"].tolist() == out["opencv"].tolist() == out["wrapped"].tolist()})
    return rows


def table(rows: list[dict]) -> str:
    out = ["| layout | boxes | kept | ours | OpenCV | OpenCV / ours | OpenCV via `nms` | same kept set |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['layout']} | {r['boxes']:,} | {r['kept']:,} | {r['ours_ms']:.3f} ms | {r['opencv_ms']:.3f} ms "
                   f"| {r['opencv_over_ours']:.2f}x | {r['opencv_via_nms_ms']:.3f} ms "
                   f"| {('yes, same order' if r['same_order'] else 'yes') if r['same'] else 'NO'} |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 300, 1000, 3000, 10000])
    ap.add_argument("--iou", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=2.0, help="seconds of timing per row (default 2)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rows = bench(args.sizes, args.iou, args.seed, args.budget)
    print(json.dumps({"opencv": cv2.__version__, "numpy": np.__version__, "iou": args.iou, "rows": rows})
          if args.json else f"OpenCV {cv2.__version__}, NumPy {np.__version__}, IoU {args.iou}\n{table(rows)}")
    return 0 if all(r["same"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
