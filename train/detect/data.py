"""Detection training data: reading (real formats or built-in synthetic), an image cache,
train/validation split, YOLO target assignment, and the batch generator for Keras.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgecnn.edge.core.fileio import atomic_write_bytes, atomic_write_npz
from edgecnn.edge.core.image import load_image
from edgecnn.edge.detect import boxes as B
from edgecnn.edge.detect.annotations import AnnotationSet, read_annotations
from edgecnn.train.detect.augment import AugmentConfig, augment, letterbox_sample

SYNTHETIC = "builtin:synthetic"
MEAN, STD = 127.5, 127.5


@dataclass
class Samples:
    """Images (uint8 RGB, cached size), boxes (xyxy pixels of the cached image), class ids, names."""

    images: list
    boxes: list
    class_ids: list
    names: list
    labels: tuple

    def subset(self, idx) -> Samples:
        idx = list(idx)
        return Samples([self.images[i] for i in idx], [self.boxes[i] for i in idx],
                       [self.class_ids[i] for i in idx], [self.names[i] for i in idx], self.labels)

    def __len__(self) -> int:
        return len(self.images)


def synthetic_samples(n: int, seed: int, size=(192, 256)) -> Samples:
    from edgecnn.train.detect.synthetic import SHAPES, SceneConfig, make_scenes

    images, boxes, ids = make_scenes(n, seed, SceneConfig(size=tuple(size)))
    return Samples(images, boxes, ids, [f"synthetic_{seed}_{i:05d}" for i in range(n)], SHAPES)


def _fingerprint(ann: AnnotationSet, max_side: int) -> str:
    h = hashlib.sha1(f"{max_side}|{ann.labels}".encode())
    for r in ann.records:
        p = Path(r.path)
        h.update(f"{p.resolve()}|{p.stat().st_size}|{p.stat().st_mtime_ns}|{r.xyxy.tobytes().hex()}|"
                 f"{r.class_ids.tolist()}".encode())
    return h.hexdigest()[:16]


def load_samples(ann: AnnotationSet, max_side: int, cache_dir: Path | None) -> Samples:
    """Decode and shrink (longest side <= ``max_side``) every image once; cache as .npz."""
    key = _fingerprint(ann, max_side)
    cache = Path(cache_dir) / f"det_{key}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        with np.load(cache) as z:
            images = [z[f"img{i}"] for i in range(len(ann.records))]
            scales = z["scales"]
    else:
        images, scales = [], []
        for r in ann.records:
            img = load_image(r.path)
            s = min(1.0, max_side / max(img.shape[:2]))
            if s < 1.0:
                img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
            images.append(img)
            scales.append(s)
        scales = np.asarray(scales, np.float32)
        if cache is not None:
            atomic_write_npz(cache, {"scales": scales, **{f"img{i}": im for i, im in enumerate(images)}})
    boxes = [r.xyxy * s for r, s in zip(ann.records, scales, strict=False)]
    return Samples(images, boxes, [r.class_ids for r in ann.records], [Path(r.path).name for r in ann.records],
                   ann.labels)


def read_dataset(data: str, fmt: str | None, max_side: int, cache_dir, seed: int, n_synthetic: int = 400):
    """(Samples, AnnotationSet or None) for a data folder or ``builtin:synthetic``."""
    if str(data).startswith("builtin:"):
        if data != SYNTHETIC:
            raise ValueError(f"data: expected a folder or {SYNTHETIC!r}, got {data!r}")
        return synthetic_samples(n_synthetic, seed), None
    ann = read_annotations(data, fmt)
    return load_samples(ann, max_side, cache_dir), ann


def split(n: int, val_fraction: float, seed: int, folds: int = 0, fold: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded shuffle split into (train, val) index arrays; val gets at least one item when n > 1.

    ``folds`` >= 2: K-fold cross-validation instead of ``val_fraction``: the same seeded shuffle cut
    into ``folds`` near-equal parts, part ``fold`` is the validation set (the K validation sets
    of one seed are disjoint and cover every item once).
    """
    order = np.random.default_rng(seed).permutation(n)
    if folds:
        if folds < 2 or not 0 <= fold < folds:
            raise ValueError(f"folds/fold: expected folds >= 2 and 0 <= fold < folds, got folds={folds}, fold={fold}")
        if n < folds:
            raise ValueError(f"folds: {folds} folds need at least {folds} images, got {n}")
        val = np.array_split(order, folds)[fold]
        return np.sort(np.setdiff1d(order, val)), np.sort(val)
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_split: expected a fraction in [0, 1), got {val_fraction}")
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n > 1:
        n_val = max(n_val, 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def write_split(path, samples: Samples, train_idx, val_idx) -> None:
    obj = {"train": [samples.names[i] for i in train_idx], "val": [samples.names[i] for i in val_idx]}
    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


# --------------------------------------------------------------------------- targets


def build_targets(xyxy, class_ids, heads: list[dict], num_classes: int, max_boxes: int,
                  anchor_t: float = 4.0) -> list[np.ndarray]:
    """YOLO targets, one array per head: ``(Sy*Sx*A + max_boxes, 5 + C)``.

    Rows ``[:Sy*Sx*A]`` (cell-major, then anchor): target box ``xyxy`` in input pixels, positive
    flag, one-hot class. Rows after: the ground-truth boxes (flag 1 when present) that the loss
    uses for the ignore threshold. A box is assigned to every anchor whose width and height are
    within ``anchor_t`` times its own (to the best anchor when none is), in its centre cell and
    the two neighbouring cells nearest the centre (the decoder reaches -0.5..1.5 cells). An image
    with more than ``max_boxes`` boxes keeps its ``max_boxes`` largest (in their original order).
    """
    xyxy = B.as_boxes(xyxy)
    ids = np.asarray(class_ids, np.int64).reshape(-1)
    if len(xyxy) > max_boxes:
        keep = np.sort(np.argsort(-B.area(xyxy), kind="stable")[:max_boxes])
        xyxy, ids = xyxy[keep], ids[keep]
    out = []
    for h in heads:
        sy, sx = h["grid"]
        a = len(h["anchors"])
        t = np.zeros((sy, sx, a, 5 + num_classes), np.float32)
        out.append(t)
    if len(xyxy):
        all_anchors = np.concatenate([np.asarray(h["anchors"], np.float32) for h in heads])
        wh = np.maximum(xyxy[:, 2:] - xyxy[:, :2], 1e-3)
        best = np.argmax(B.iou_wh(wh, all_anchors), axis=1)
        offset = 0
        for h, t in zip(heads, out, strict=False):
            anchors = np.asarray(h["anchors"], np.float32)
            ratio = wh[:, None, :] / anchors[None]
            worst = np.maximum(ratio, 1 / ratio).max(axis=2)              # (G, A)
            match = worst < anchor_t
            local = best - offset
            own = np.flatnonzero((local >= 0) & (local < len(anchors)))
            match[own, local[own]] = True
            for g, a in zip(*np.nonzero(match), strict=False):
                _assign(t, xyxy[g], ids[g], a, float(h["stride"]))
            offset += len(anchors)
    results = []
    for t in out:
        gt = np.zeros((max_boxes, t.shape[-1]), np.float32)
        gt[: len(xyxy), :4] = xyxy
        gt[: len(xyxy), 4] = 1.0
        results.append(np.concatenate([t.reshape(-1, t.shape[-1]), gt]))
    return results


def _assign(t: np.ndarray, box: np.ndarray, cls: int, a: int, stride: float) -> None:
    sy, sx = t.shape[:2]
    gx, gy = (box[0] + box[2]) / 2 / stride, (box[1] + box[3]) / 2 / stride
    cx, cy = int(np.clip(gx, 0, sx - 1)), int(np.clip(gy, 0, sy - 1))
    cells = [(cx, cy)]
    fx, fy = gx - cx, gy - cy
    cells.append((cx - 1, cy) if fx < 0.5 else (cx + 1, cy))
    cells.append((cx, cy - 1) if fy < 0.5 else (cx, cy + 1))
    for x, y in cells:
        if 0 <= x < sx and 0 <= y < sy:
            t[y, x, a, :4] = box
            t[y, x, a, 4] = 1.0
            t[y, x, a, 5:] = 0.0
            t[y, x, a, 5 + cls] = 1.0


def normalize(images_uint8: np.ndarray) -> np.ndarray:
    return (images_uint8.astype(np.float32) - MEAN) / STD


def make_sequence(samples: Samples, heads, num_classes: int, img_hw, batch_size: int, aug: AugmentConfig | None,
                  seed: int, max_boxes: int = 50, steps: int | None = None):
    """A ``keras.utils.PyDataset`` of ``({"image": x}, {head: targets})`` batches, augmented anew each epoch."""
    import keras

    class DetectBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.n_steps = steps or max(1, int(np.ceil(len(samples) / batch_size)))

        def __len__(self):
            return self.n_steps

        def __getitem__(self, i):
            rng = np.random.default_rng([seed, self.epoch, i])
            perm = np.random.default_rng([seed, self.epoch]).permutation(len(samples))
            idx = perm[(np.arange(batch_size) + i * batch_size) % len(samples)]
            xs, ys = [], {h["name"]: [] for h in heads}
            for k in idx:
                if aug is None:
                    img, bx, ci = letterbox_sample(samples.images[k], samples.boxes[k], samples.class_ids[k], img_hw)
                else:
                    img, bx, ci = augment(samples.images[k], samples.boxes[k], samples.class_ids[k], img_hw, aug, rng)
                xs.append(img)
                for h, t in zip(heads, build_targets(bx, ci, heads, num_classes, max_boxes), strict=False):
                    ys[h["name"]].append(t)
            return {"image": normalize(np.stack(xs))}, {k: np.stack(v) for k, v in ys.items()}

        def on_epoch_end(self):
            self.epoch += 1

    return DetectBatches()
