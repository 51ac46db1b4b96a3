#!/usr/bin/env python3
"""The dlib teacher on augmented views of the training faces: exact targets for what the student sees.

Workstation only (teacher venv with the package installed ``--no-deps``, see ``face_teacher_wider.py``)::

    .venv-teacher/bin/python scripts/face_teacher_views.py --teacher runs/face/teacher --data ../shared/data \
        --sets lfw att wider --views 4 --workers 2

With ~5,000 training crops the student copies the teacher on too few inputs: augmenting a crop and
keeping the teacher's vector of the *clean* crop teaches the student an invariance the teacher does
not have. Here the teacher describes each augmented view itself ("consistent teaching",
Beyer et al. 2022, *Knowledge distillation: a good teacher is patient and consistent*).

For every row of the teacher caches (``{set}.npz``, the test people of ``test_people.txt`` skipped)
``--views`` seeded views are drawn. Each view is one similarity transform of the 5-point alignment
(rotation +-10 deg, scale +-8 %, shift +-4 %, mirror half the time), warped from the photo twice with
the package's ``edge.face.align`` code: at dlib's 150 px chip (padding 0.25) for the teacher's
``compute_face_descriptor(chip)`` and at ``--size`` px for the student. The same photometric change
goes onto both: gain / bias, per-channel gain, grey (15 %), a low-resolution round trip (25 %), and a
blend with another face (15 %, weight 0.6-0.9 on the first). Output ``OUT/views_{set}.npz``: ``row``
(index into ``{set}.npz``), ``pixels`` (N, size, size, 3) uint8 RGB, ``descriptors`` (N, 128).
A first check describes 50 clean chips and compares them with the cached descriptors (dlib's own
chip extraction): the cosine should be ~1.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import face_teacher as T  # noqa: E402  (the dlib workers)

from edgecnn.edge.core.fileio import atomic_write_npz, atomic_write_text  # noqa: E402
from edgecnn.edge.face import align as A  # noqa: E402

ROOTS = {"lfw": "faces/lfw", "att": "faces/att_orl", "wider": "facedet/wider/images"}
CHIP = 150  # dlib's recogniser input
_STATE: dict = {}


def jitter_matrix(size: int, angle: float, scale: float, shift: np.ndarray, mirror: bool) -> np.ndarray:
    """3 x 3: rotate / scale about the crop centre, shift (fraction of the size), then mirror."""
    c = size / 2 - 0.5
    m = np.eye(3)
    m[:2] = cv2.getRotationMatrix2D((c, c), angle, scale)
    m[:2, 2] += shift * size
    if mirror:
        m = np.array([[-1.0, 0, size - 1], [0, 1, 0], [0, 0, 1]]) @ m
    return m


def draw(rng: np.random.Generator) -> dict:
    return {"angle": rng.uniform(-10, 10), "scale": 1 + rng.uniform(-0.08, 0.08), "shift": rng.uniform(-0.04, 0.04, 2),
            "mirror": rng.random() < 0.5, "gain": rng.uniform(0.7, 1.3), "bias": rng.uniform(-25, 25),
            "chan": rng.uniform(0.9, 1.1, 3), "grey": rng.random() < 0.15,
            "lowres": rng.uniform(0.3, 0.7) if rng.random() < 0.25 else 0.0,
            "blend": rng.uniform(0.6, 0.9) if rng.random() < 0.15 else 0.0}


def render(img_bgr: np.ndarray, landmarks: np.ndarray, size: int, v: dict) -> np.ndarray:
    """The view at ``size`` px (RGB float32, photometric change applied, no blend yet)."""
    m = jitter_matrix(size, v["angle"], v["scale"], v["shift"], v["mirror"]) @ np.vstack(
        [A.align_matrix(landmarks, size, A.DEFAULT_PADDING), [0, 0, 1]])
    x = cv2.cvtColor(A.warp(img_bgr, m[:2], size), cv2.COLOR_BGR2RGB)
    if v["lowres"]:
        s = max(8, int(round(size * v["lowres"])))
        x = cv2.resize(cv2.resize(x, (s, s), interpolation=cv2.INTER_AREA), (size, size), interpolation=cv2.INTER_LINEAR)
    x = x.astype(np.float32)
    if v["grey"]:
        x[:] = x @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    return x * (v["gain"] * v["chan"]).astype(np.float32) + np.float32(v["bias"])


def _init(root: str, paths, landmarks, size: int, teacher: bool = True) -> None:
    if teacher:
        T._init_worker()
    _STATE.update(root=Path(root), paths=paths, landmarks=landmarks, size=size, teacher=teacher)


def _work(job):
    """job = (row, view seed, blend row) -> (row, pixels (size, size, 3) uint8, descriptor (128,))."""
    row, seed, other = job
    v = draw(np.random.default_rng(seed))
    st = _STATE

    def both(r):
        img = cv2.imread(str(st["root"] / str(st["paths"][r])), cv2.IMREAD_COLOR)
        if img is None:
            raise OSError(f"{st['root'] / str(st['paths'][r])}: cannot read image")
        return render(img, st["landmarks"][r], CHIP, v), render(img, st["landmarks"][r], st["size"], v)

    chip, small = both(row)
    if v["blend"]:
        c2, s2 = both(other)
        chip = v["blend"] * chip + (1 - v["blend"]) * c2
        small = v["blend"] * small + (1 - v["blend"]) * s2
    small = np.clip(np.rint(small), 0, 255).astype(np.uint8)
    if not st["teacher"]:
        return row, small, None
    chip = np.clip(np.rint(chip), 0, 255).astype(np.uint8)
    desc = np.asarray(T._MODELS["embed"].compute_face_descriptor(chip), np.float32)
    return row, small, desc


def _clean(row):
    st = _STATE
    img = cv2.imread(str(st["root"] / str(st["paths"][row])), cv2.IMREAD_COLOR)
    chip = A.aligned_pixels(img, st["landmarks"][row], size=CHIP, padding=A.DEFAULT_PADDING)
    return np.asarray(T._MODELS["embed"].compute_face_descriptor(chip), np.float32)


def save_views(out: Path, name: str, rows, pixels, descriptors, args) -> None:
    """``OUT/views_{name}.npz``, written atomically."""
    atomic_write_npz(out / f"views_{name}.npz", dict(
        row=np.asarray(rows, np.int32), pixels=np.stack(pixels), descriptors=np.stack(descriptors),
        size=np.int32(args.size), seed=np.int64(args.seed)))


def run_set(name: str, args) -> dict:
    with np.load(Path(args.teacher) / f"{name}.npz", allow_pickle=False) as z:
        paths, people, landmarks, desc = z["paths"], z["people"], z["landmarks"], z["descriptors"]
    test = {ln.strip() for ln in (Path(args.teacher) / "test_people.txt").read_text().splitlines() if ln.strip()}
    rows = np.flatnonzero(~np.isin(people, sorted(test)))
    if args.limit:
        rows = rows[: args.limit]
    rng = np.random.default_rng([args.seed, sum(map(ord, name))])
    jobs = [(int(r), int(rng.integers(2**63)), int(rng.choice(rows))) for r in rows for _ in range(args.views)]
    root = Path(args.data) / ROOTS[name]
    out = Path(args.out)
    reuse = None
    if args.rerender:
        # the same seeded views at another student size: the teacher's vectors are kept
        with np.load(Path(args.rerender) / f"views_{name}.npz", allow_pickle=False) as z:
            reuse = {"row": z["row"], "descriptors": z["descriptors"], "seed": int(z["seed"])}
        if reuse["seed"] != args.seed or len(reuse["row"]) != len(jobs) or (reuse["row"] != [j[0] for j in jobs]).any():
            raise SystemExit(f"--rerender {args.rerender}: views_{name}.npz was drawn with other views "
                             "(seed, --views, --limit or test people differ)")
        print(f"[{name}] re-rendering {len(jobs)} views at {args.size} px (teacher vectors kept)",
              file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        with mp.get_context("fork").Pool(args.workers, initializer=_init,
                                         initargs=(str(root), paths, landmarks, args.size, False)) as pool:
            pix = [r[1] for r in pool.imap(_work, jobs, chunksize=64)]
        save_views(out, name, reuse["row"], pix, reuse["descriptors"], args)
        return {"faces": int(len(rows)), "views": len(jobs), "wall_s": round(time.perf_counter() - t0, 1),
                "rerendered_from": str(args.rerender)}
    print(f"[{name}] {len(rows)} faces x {args.views} views = {len(jobs)} teacher passes", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    ctx = mp.get_context("fork")
    with ctx.Pool(args.workers, initializer=_init, initargs=(str(root), paths, landmarks, args.size)) as pool:
        check = rows[:: max(1, len(rows) // 50)][:50]
        clean = np.array(pool.map(_clean, [int(r) for r in check]))
        ref = desc[check] / np.linalg.norm(desc[check], axis=1, keepdims=True)
        cos = np.sum(clean / np.linalg.norm(clean, axis=1, keepdims=True) * ref, axis=1)
        print(f"[{name}] our 150 px chip vs dlib's own: cosine median {np.median(cos):.4f}, min {cos.min():.4f}",
              file=sys.stderr, flush=True)
        out_rows, pix, vec = [], [], []
        for i, (r, small, d) in enumerate(pool.imap(_work, jobs, chunksize=16)):
            out_rows.append(r)
            pix.append(small)
            vec.append(d)
            if (i + 1) % 2000 == 0:
                el = time.perf_counter() - t0
                print(f"[{name}] {i + 1}/{len(jobs)} {el:.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    save_views(out, name, out_rows, pix, vec, args)
    return {"faces": int(len(rows)), "views": len(jobs), "wall_s": round(wall, 1),
            "clean_chip_cosine_median": round(float(np.median(cos)), 5), "clean_chip_cosine_min": round(float(cos.min()), 5)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--teacher", default="runs/face/teacher", help="folder with {set}.npz and test_people.txt")
    p.add_argument("--data", default="../shared/data")
    p.add_argument("--out", default=None, help="default: --teacher")
    p.add_argument("--sets", nargs="+", default=["lfw", "att", "wider"], choices=sorted(ROOTS))
    p.add_argument("--views", type=int, default=4, help="views per face")
    p.add_argument("--size", type=int, default=96, help="the student's crop size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--limit", type=int, default=None, help="first N faces per set (a quick try)")
    p.add_argument("--rerender", default=None, metavar="DIR",
                   help="no teacher: render DIR's views (same --seed / --views) at --size, keeping their vectors")
    args = p.parse_args(argv)
    args.out = args.out or args.teacher
    Path(args.out).mkdir(parents=True, exist_ok=True)
    summary = {"views_per_face": args.views, "size": args.size, "seed": args.seed, "versions": T.versions(),
               "sets": {name: run_set(name, args) for name in args.sets}}
    atomic_write_text(Path(args.out) / ("views.json" if not args.rerender else f"views_{args.size}.json"),
                      json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
