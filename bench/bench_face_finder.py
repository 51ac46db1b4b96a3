"""Face finders on held-out WIDER FACE images: AP@0.5 by face size, ms per 640x480 frame, AT&T found-rate.

    .venv/bin/python bench/bench_face_finder.py --data ../shared/data/facedet/wider \
        --model runs/face_finder/model/model_int8.tflite [--float runs/face_finder/model/model_float.tflite] \
        --split runs/face_finder/model/split.json [--att ../shared/data/faces/att_orl] [--json OUT.json]

Prints a markdown table. Finders: the learned one (``edgecnn.edge.face.finder.LearnedFinder``: int8
in one pass, int8 with its default second pass on the image shrunk to half size inside the model
input, and optionally the float model in one pass) and OpenCV's Haar cascade (``edgecnn.edge.face.runtime.find_haar`` with the
default ``FaceConfig``, exactly as face verification runs it).

Scoring (COCO-style matching with ignore regions, IoU 0.5, all-point interpolated AP):

* ``--split``: only the images named in its ``val`` list (the held-out images of a training run).
* For a size bucket ``>= S`` px, the ground truth that counts is every valid face (``invalid`` = 0)
  whose width and height are both >= S pixels (of the image as stored). Every other box (smaller
  faces, faces flagged ``invalid``) is an *ignore* region.
* Predictions, by descending score, each take the unmatched counted face with the highest IoU
  >= 0.5 (true positive). A prediction left unmatched that overlaps an ignore region with IoU
  >= 0.5, or whose own width or height is below S, is ignored (neither a true nor a false
  positive; COCO does the same with crowd regions and with detections outside an area range).
  Anything else is a false positive.
* The learned finder is scored with its detection scores (threshold 0.001, up to 300 boxes);
  the Haar cascade reports no score, so its boxes are ranked by size (larger = more confident),
  which gives it a precision-recall curve instead of a single point.

Timing: the whole finder call (colour conversion, letterbox or Haar's downscale, model, decode,
NMS) on 640x480 frames made from held-out images, one thread for the interpreter and for OpenCV,
median and 90th percentile over ``--frames`` calls after ``--warmup``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from edgecnn.edge.detect import boxes as B
from edgecnn.edge.detect.evaluate import average_precision, pr_curve
from edgecnn.edge.detect.wider import WIDER_GT_FILE, read_wider_gt
from edgecnn.edge.face.finder import LearnedFinder
from edgecnn.edge.face.runtime import FaceConfig, find_haar

SIZES = (10, 20, 40)
SWEEP = (0.2, 0.3, 0.4, 0.5, 0.6)
IOU = 0.5


# --------------------------------------------------------------------------- scoring


def match_with_ignore(pred_xyxy, scores, gt_xyxy, ignore_xyxy, min_size: float, iou_thr: float = IOU):
    """For one image: ``(tp, keep)`` over the predictions (any order): ``tp`` true positives,
    ``keep`` False for the ignored predictions (see the module docstring)."""
    pred = B.as_boxes(pred_xyxy)
    gt, ign = B.as_boxes(gt_xyxy), B.as_boxes(ignore_xyxy)
    tp = np.zeros(len(pred), bool)
    keep = np.ones(len(pred), bool)
    if len(pred) == 0:
        return tp, keep
    iou_gt = B.iou_matrix(pred, gt) if len(gt) else np.zeros((len(pred), 0))
    iou_ign = B.iou_matrix(pred, ign) if len(ign) else np.zeros((len(pred), 0))
    wh = pred[:, 2:] - pred[:, :2]
    taken = np.zeros(len(gt), bool)
    for i in B.score_order(scores):
        if len(gt):
            cand = np.where(taken, -1.0, iou_gt[i])
            j = int(np.argmax(cand))
            if cand[j] >= iou_thr:
                taken[j] = True
                tp[i] = True
                continue
        if (len(ign) and iou_ign[i].max() >= iou_thr) or wh[i].min() < min_size:
            keep[i] = False
    return tp, keep


def ap_by_size(preds, truths, sizes=SIZES) -> dict:
    """``preds``: (xyxy, scores) per image; ``truths``: (xywh, invalid) per image (all boxes).
    Returns ``{S: {"ap50", "n_gt", "tp", "fp"}}`` (tp/fp over every kept prediction)."""
    out = {}
    for s in sizes:
        tps, scs, n_gt = [], [], 0
        for (pxyxy, psc), (xywh, invalid) in zip(preds, truths, strict=True):
            xywh = np.asarray(xywh, np.float32).reshape(-1, 4)
            counted = (~invalid) & (xywh[:, 2] >= s) & (xywh[:, 3] >= s)
            xyxy = B.xywh_to_xyxy(xywh)
            real = (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
            tp, keep = match_with_ignore(pxyxy, psc, xyxy[counted], xyxy[~counted & real], s)
            n_gt += int(counted.sum())
            tps.append(tp[keep])
            scs.append(np.asarray(psc, np.float32)[keep])
        tp, sc = np.concatenate(tps), np.concatenate(scs)
        ap = average_precision(*pr_curve(tp, sc, n_gt)) if n_gt else float("nan")
        out[s] = {"ap50": ap, "n_gt": n_gt, "tp": int(tp.sum()), "fp": int((~tp).sum())}
    return out


def recall_at(preds, truths, conf: float, size: float) -> tuple[float, float]:
    """(recall, precision) of the predictions with score >= conf, faces >= size px counted."""
    sub = [(np.asarray(x)[np.asarray(s) >= conf], np.asarray(s)[np.asarray(s) >= conf]) for x, s in preds]
    r = ap_by_size(sub, truths, (size,))[size]
    return r["tp"] / max(r["n_gt"], 1), r["tp"] / max(r["tp"] + r["fp"], 1)


# --------------------------------------------------------------------------- finders


def haar_predictions(image_bgr, cfg: FaceConfig):
    boxes = find_haar(image_bgr, cfg)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    xywh = np.asarray(boxes, np.float32).reshape(-1, 4)
    return B.xywh_to_xyxy(xywh), (xywh[:, 2] * xywh[:, 3]).astype(np.float32)  # ranked by size


def learned_predictions(finder: LearnedFinder, image_bgr):
    dets = finder.detect(image_bgr, conf=0.001, max_det=300)
    return dets.xyxy, dets.scores


def time_calls(fn, frames, warmup: int, n: int) -> dict:
    for k in range(warmup):
        fn(frames[k % len(frames)])
    ms = []
    for k in range(n):
        t0 = time.perf_counter()
        fn(frames[k % len(frames)])
        ms.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(ms), "p90_ms": float(np.percentile(ms, 90)), "n": n}


def att_found_rate(att: Path, finders: dict, cfg: FaceConfig) -> dict:
    files = sorted(att.glob("s*/*.pgm"))
    if not files:
        raise SystemExit(f"--att {att}: no s*/*.pgm images")
    out, first = {}, {}
    for name, fn in finders.items():
        first[name] = [(fn(cv2.imread(str(f), cv2.IMREAD_COLOR), cfg) or [None])[0] for f in files]
        found = sum(1 for b in first[name] if b is not None)
        out[name] = {"found": found, "images": len(files), "rate": found / len(files)}
    for name in finders:  # framing next to Haar's box, where both found a face
        pairs = [(a, h) for a, h in zip(first[name], first.get("haar", []), strict=False)
                 if a is not None and h is not None]
        if name != "haar" and pairs:
            side = [max(a[2], a[3]) / h[2] for a, h in pairs]
            aspect = [a[3] / a[2] for a, _ in pairs]
            dy = [((a[1] + a[3] / 2) - (h[1] + h[3] / 2)) / h[2] for a, h in pairs]
            out[name]["vs_haar"] = {"images": len(pairs), "side_ratio": float(np.median(side)),
                                    "height_over_width": float(np.median(aspect)),
                                    "centre_dy": float(np.median(dy))}
    return out


def att_in_frames(att: Path, finders: dict, cfg: FaceConfig, heights=(120, 240, 360, 480), every: int = 3) -> dict:
    """Found-rate with every ``every``-th AT&T portrait enlarged to ``height`` pixels and centred in a
    grey 640x480 frame: how large a face each finder still finds (the face is ~3/4 of the height)."""
    files = sorted(att.glob("s*/*.pgm"))[::every]
    out = {name: {} for name in finders}
    for height in heights:
        frames = []
        for f in files:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            scale = height / img.shape[0]
            img = cv2.resize(img, (round(img.shape[1] * scale), height), interpolation=cv2.INTER_LINEAR)
            frame = np.full((480, 640, 3), 128, np.uint8)
            y, x = (480 - img.shape[0]) // 2, (640 - img.shape[1]) // 2
            frame[y:y + img.shape[0], x:x + img.shape[1]] = img
            frames.append(frame)
        for name, fn in finders.items():
            out[name][height] = sum(1 for fr in frames if fn(fr, cfg)) / len(frames)
    return out


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="WIDER folder: wider_face_bbx_gt.txt + images/")
    p.add_argument("--model", default="builtin:face-finder", help="the int8 face finder (.tflite or builtin:)")
    p.add_argument("--float", default=None, help="the float model too (.tflite, e.g. convert's --float-out)")
    p.add_argument("--split", default=None, help="split.json of the training run: score its 'val' images only")
    p.add_argument("--subset", choices=("val", "train"), default="val",
                   help="which list of --split to score (train: for choosing the finder's threshold without "
                        "looking at the held-out images)")
    p.add_argument("--att", default=None, help="AT&T faces folder (s*/N.pgm): the share of images with a face found")
    p.add_argument("--conf", type=float, default=None, help="the learned finder's operating threshold "
                                                              "(default: edgecnn.edge.face.finder.DEFAULT_CONF)")
    p.add_argument("--frames", type=int, default=50, help="timed calls per finder (default 50)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="interpreter and OpenCV threads for timing (default 1)")
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args(argv)

    from edgecnn.edge.face import finder as F

    conf = F.DEFAULT_CONF if args.conf is None else args.conf
    cv2.setNumThreads(args.threads)
    data = Path(args.data)
    entries = read_wider_gt(data / WIDER_GT_FILE if data.is_dir() else data)
    img_dir = (data if data.is_dir() else data.parent) / "images"
    if args.split:
        wanted = set(json.loads(Path(args.split).read_text())[args.subset])
        entries = [e for e in entries if Path(e.name).name in wanted]
    entries = entries[: args.max_images] if args.max_images else entries
    if not entries:
        raise SystemExit("no images to score (check --data and --split)")
    images = [cv2.imread(str(img_dir / e.name), cv2.IMREAD_COLOR) for e in entries]
    truths = [(e.xywh, e.invalid) for e in entries]

    cfg = FaceConfig()
    finders = {"learned int8, 1 pass": LearnedFinder(args.model, conf=conf, num_threads=args.threads,
                                                     extra_scales=()),
               "learned int8, + 0.5x pass (default)": LearnedFinder(args.model, conf=conf, num_threads=args.threads,
                                                                    extra_scales=(0.5,))}
    if args.float:
        finders["learned float, 1 pass"] = LearnedFinder(args.float, conf=conf, num_threads=args.threads,
                                                         extra_scales=())
    results, sweep = {}, {}
    for name, fd in finders.items():
        preds = [learned_predictions(fd, im) for im in images]
        results[name] = {"ap": ap_by_size(preds, truths), "op": {s: recall_at(preds, truths, conf, s) for s in SIZES}}
        if name == "learned int8, 1 pass":
            sweep = {c: {s: recall_at(preds, truths, c, s) for s in SIZES} for c in SWEEP}
    preds = [haar_predictions(im, cfg) for im in images]
    results["haar"] = {"ap": ap_by_size(preds, truths), "op": {s: recall_at(preds, truths, 0.0, s) for s in SIZES}}

    # 640x480 frames from held-out images (resized to fill the frame, aspect not kept)
    frames = [cv2.resize(im, (640, 480), interpolation=cv2.INTER_LINEAR) for im in images[:10]]
    timing = {name: time_calls(lambda f, fd=fd: fd(f, cfg), frames, args.warmup, args.frames)
              for name, fd in finders.items()}
    timing["haar"] = time_calls(lambda f: find_haar(f, cfg), frames, args.warmup, args.frames)
    load = os.getloadavg()[0]

    att = att_frames = None
    if args.att:
        att_finders = {"haar": find_haar, **finders,
                       "learned int8, 1 pass, small images upscaled": LearnedFinder(
                           args.model, conf=conf, upscale=True, extra_scales=(), num_threads=args.threads)}
        att = att_found_rate(Path(args.att), att_finders, cfg)
        sweep_finders = {k: v for k, v in att_finders.items() if k.startswith(("haar", "learned int8"))
                         and "upscaled" not in k}
        att_frames = att_in_frames(Path(args.att), sweep_finders, cfg)

    n_faces = {s: results["haar"]["ap"][s]["n_gt"] for s in SIZES}
    what = "Held-out" if args.subset == "val" else "Training"
    print(f"{what} WIDER images: {len(entries)}" + (f" (split {args.split}, {args.subset})" if args.split else "")
          + "; faces counted: " + ", ".join(f">= {s} px: {n_faces[s]}" for s in SIZES)
          + "; smaller and invalid faces are ignore regions.\n")
    print("| finder | " + " | ".join(f"AP@0.5 faces >= {s} px" for s in SIZES)
          + f" | recall / precision >= 20 px at the operating point | ms per 640x480 frame ({args.threads} thread) |")
    print("|---|" + "---|" * (len(SIZES) + 2))
    for name, r in results.items():
        rec, prec = r["op"][20]
        t = timing[name]
        op = f"conf {conf:g}" if name != "haar" else "all boxes"
        print(f"| {name} | " + " | ".join(f"{r['ap'][s]['ap50']:.3f}" for s in SIZES)
              + f" | {rec:.2f} / {prec:.2f} ({op}) | {t['median_ms']:.1f} (p90 {t['p90_ms']:.1f}) |")
    print("\nHaar: `find_haar` with the default FaceConfig (min_face 24, searched at <= 320 px), boxes ranked "
          "by size. Learned: scores >= 0.001, up to 300 boxes per image, for AP. Timing: median of "
          f"{args.frames} calls, load average {load:.1f} on {os.cpu_count()} CPUs.")
    if sweep:
        print("\nLearned int8 (1 pass), recall / precision by score threshold (faces >= S px counted, same ignore rules):\n")
        print("| conf | " + " | ".join(f">= {s} px" for s in SIZES) + " |\n|---|" + "---|" * len(SIZES))
        for c, row in sweep.items():
            print(f"| {c:g} | " + " | ".join(f"{r:.2f} / {p_:.2f}" for r, p_ in (row[s] for s in SIZES)) + " |")
    if att:
        print("\nAT&T (att_orl, one face per image): images with at least one face found (default FaceConfig, "
              f"min_face {cfg.min_face}):\n")
        print("| finder | found | rate |\n|---|---|---|")
        for name, r in att.items():
            print(f"| {name} | {r['found']} / {r['images']} | {100 * r['rate']:.1f} % |")
        for name, r in att.items():
            if "vs_haar" in r:
                v = r["vs_haar"]
                print(f"\n{name}: on the {v['images']} images where Haar also found a face, the box's longer "
                      f"side is {v['side_ratio']:.2f}x Haar's (median), height/width {v['height_over_width']:.2f}, "
                      f"centre {abs(v['centre_dy']):.2f} Haar sides {'lower' if v['centre_dy'] > 0 else 'higher'}.",
                      end="")
        print()
        heights = list(next(iter(att_frames.values())))
        print("\nThe same portraits (every third) enlarged to H pixels high in a grey 640x480 frame (the face is "
              "about 3/4 of H): found-rate\n")
        print("| finder | " + " | ".join(f"H = {h}" for h in heights) + " |\n|---|" + "---|" * len(heights))
        for name, row in att_frames.items():
            print(f"| {name} | " + " | ".join(f"{100 * row[h]:.0f} %" for h in heights) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps({"images": len(entries), "split": args.split, "conf": conf,
                                               "subset": args.subset, "results": results, "timing": timing,
                                               "load_average": load, "sweep": sweep, "att": att,
                                               "att_in_frames": att_frames,
                                               "model": args.model, "float": args.float}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
