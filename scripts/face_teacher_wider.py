#!/usr/bin/env python3
"""The dlib teacher on WIDER FACE's faces >= 40 px: more distillation crops (no identities needed).

Workstation only, like ``face_teacher.py`` (whose dlib workers it reuses). It runs under the teacher
venv with the package installed without dependencies, so WIDER's ground truth is read by the
package's own reader (``edgecnn.edge.detect.wider.read_wider_gt``)::

    .venv-teacher/bin/pip install --no-deps -e .
    .venv-teacher/bin/python scripts/face_teacher_wider.py --data ../shared/data --workers 2

For every valid WIDER box whose shorter side is >= ``--min-size`` px, dlib's HOG detector runs on a
crop three box-sizes wide around it (upsampled once, then at scale); the detection that overlaps the
ground-truth box best (IoU >= ``--min-iou``) gets dlib's 5 landmarks and 128-d descriptor, computed
on the full image exactly as ``face_teacher.py extract`` does. Faces dlib does not find (profiles,
heavy occlusion) are left out: without the teacher's landmarks there is no aligned crop to distil.

The cache ``OUT/wider.npz`` has the fields of ``{lfw,att}.npz`` (paths relative to WIDER's
``images/``, several rows per photo); each face is its own "person" (``<image>#<box index>``), so
the distillation recipe uses them for training only, never for pairs.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import face_teacher as T  # noqa: E402  (the dlib workers)

from edgecnn.edge.core.fileio import atomic_write_npz, atomic_write_text  # noqa: E402
from edgecnn.edge.detect import boxes as B  # noqa: E402
from edgecnn.edge.detect.wider import read_wider_gt  # noqa: E402

CONTEXT = 1.0  # crop margin around the ground-truth box, in box sizes on each side


def _work_image(args):
    """[(box index, dlib box, score, iou, landmarks, descriptor)] for the given faces of one photo."""
    path, faces, min_iou = args
    img = T._read_rgb(path)
    h, w = img.shape[:2]
    out = []
    for k, gt in faces:
        gt_xyxy = B.xywh_to_xyxy(np.array([gt], np.float32))
        m = CONTEXT * max(gt[2], gt[3])
        x0, y0 = int(max(0, gt[0] - m)), int(max(0, gt[1] - m))
        x1, y1 = int(min(w, gt[0] + gt[2] + m)), int(min(h, gt[1] + gt[3] + m))
        crop = np.ascontiguousarray(img[y0:y1, x0:x1])
        best = None
        for up in T.UPSAMPLES:
            rects, scores, _ = T._MODELS["detector"].run(crop, up, 0.0)
            for r, s in zip(rects, scores, strict=True):
                box = (r.left() + x0, r.top() + y0, r.width(), r.height())
                o = float(B.iou_matrix(B.xywh_to_xyxy(np.array([box], np.float32)), gt_xyxy)[0, 0])
                if o >= min_iou and (best is None or o > best[2]):
                    best = (box, float(s), o)
            if best is not None:
                break
        if best is None:
            continue
        pts, desc, _, _ = T._describe(img, best[0])
        out.append((k, best[0], best[1], best[2], pts, desc))
    return (h, w), out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data", help="the shared data folder (facedet/wider)")
    p.add_argument("--out", default="runs/face/teacher", help="cache folder (wider.npz)")
    p.add_argument("--min-size", type=float, default=40.0, help="shorter box side, px")
    p.add_argument("--min-iou", type=float, default=0.3, help="dlib box vs ground-truth box")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--limit", type=int, default=None, help="first N photos (a quick try)")
    args = p.parse_args(argv)

    root = Path(args.data) / "facedet" / "wider"
    entries = read_wider_gt(root / "wider_face_bbx_gt.txt")
    jobs = []
    for e in entries:
        faces = [(k, tuple(float(v) for v in box)) for k, (box, bad) in enumerate(zip(e.xywh, e.invalid, strict=True))
                 if not bad and min(box[2], box[3]) >= args.min_size]
        if faces:
            jobs.append((str(root / "images" / e.name), faces, args.min_iou))
    if args.limit:
        jobs = jobs[: args.limit]
    asked = sum(len(j[1]) for j in jobs)
    print(f"[wider] {asked} faces >= {args.min_size:g} px in {len(jobs)} photos, {args.workers} worker(s)",
          file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    rows = []
    with mp.get_context("fork").Pool(args.workers, initializer=T._init_worker) as pool:
        for (path, _, _), (hw, found) in zip(jobs, pool.imap(_work_image, jobs, chunksize=2), strict=True):
            rel = str(Path(path).relative_to(root / "images"))
            rows += [(rel, hw, *f) for f in found]
    wall = time.perf_counter() - t0
    if not rows:
        raise SystemExit("face_teacher_wider: dlib found none of the faces")
    n = len(rows)
    args_out = Path(args.out)
    atomic_write_npz(args_out / "wider.npz", dict(
        root=str(root / "images"), paths=np.array([r[0] for r in rows]),
        people=np.array([f"{r[0]}#{r[2]}" for r in rows]), image_hw=np.array([r[1] for r in rows], np.int32),
        boxes=np.array([r[3] for r in rows], np.float32), found=np.ones(n, bool),
        det_score=np.array([r[4] for r in rows], np.float32), iou=np.array([r[5] for r in rows], np.float32),
        landmarks=np.array([r[6] for r in rows], np.float32), descriptors=np.array([r[7] for r in rows], np.float32),
        wall_s=np.float64(wall), workers=np.int32(args.workers)), compressed=True)
    summary = {"photos": len(jobs), "faces_asked": asked, "faces_found": n, "min_size": args.min_size,
               "min_iou": args.min_iou, "wall_s": round(wall, 1), "workers": args.workers,
               "versions": T.versions()}
    atomic_write_text(args_out / "extract_wider.json", json.dumps(summary, indent=2) + "\n")
    print(f"[wider] done: {json.dumps(summary)}", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
