"""Synthetic detection scenes so `make demo` and the tests run offline.

Filled shapes (``SHAPES``: circle, square, triangle) of several scales and colours on textured
backgrounds (gradient, noise, stripes) with clutter (line segments and outline ellipses that are
not objects); later shapes may partly occlude earlier ones. Boxes are ``xyxy`` pixels of the
visible shape's extent. Everything is drawn with OpenCV from one seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

SHAPES = ("circle", "square", "triangle")


@dataclass(frozen=True)
class SceneConfig:
    size: tuple[int, int] = (192, 256)       # (H, W): non-square on purpose
    objects: tuple[int, int] = (1, 4)        # objects per image (inclusive range)
    scale: tuple[float, float] = (0.2, 0.45)  # object size as a fraction of the short side
    clutter: int = 3                         # distractor strokes per image
    max_overlap: float = 0.5                 # IoU limit between objects (occlusion, not hiding)
    # each class in its own hue band (red circles, green squares, blue triangles, +-20 deg) on a
    # less saturated background: a tiny detector trained from scratch masters these in ~1,000
    # steps (the demo); False: any colour, any contrast (mAP@0.5 ~0.2 after the same steps)
    class_colors: bool = True

    def __post_init__(self):
        if self.objects[0] < 0 or self.objects[1] < self.objects[0]:
            raise ValueError(f"objects: expected 0 <= low <= high, got {self.objects}")
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"scale: expected 0 < low <= high <= 1, got {self.scale}")


def _background(h: int, w: int, rng: np.random.Generator, grey: bool = False) -> np.ndarray:
    base = rng.uniform(40, 215, 3)
    if grey:  # little saturation: coloured objects stand out
        base = base.mean() + (base - base.mean()) * 0.25
    gx = np.linspace(-1, 1, w)[None, :, None] * rng.uniform(-40, 40, 3)
    gy = np.linspace(-1, 1, h)[:, None, None] * rng.uniform(-40, 40, 3)
    img = base + gx + gy
    noise = cv2.resize(rng.normal(0, 25, (h // 8 + 1, w // 8 + 1, 3)).astype(np.float32), (w, h))
    img = img + noise + rng.normal(0, 6, (h, w, 3))
    if rng.random() < 0.5:
        period = rng.uniform(6, 24)
        ang = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:h, 0:w]
        stripes = np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * 2 * np.pi / period)
        img = img + stripes[..., None] * rng.uniform(5, 20)
    return np.clip(img, 0, 255).astype(np.uint8)


def _clutter(img: np.ndarray, n: int, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    for _ in range(n):
        color = tuple(int(v) for v in rng.uniform(0, 255, 3))
        p = rng.uniform([0, 0], [w, h], (2, 2)).astype(int)
        if rng.random() < 0.5:
            cv2.line(img, tuple(p[0]), tuple(p[1]), color, int(rng.integers(1, 3)), cv2.LINE_AA)
        else:
            axes = (int(rng.uniform(4, w / 6)), int(rng.uniform(4, h / 6)))
            cv2.ellipse(img, tuple(p[0]), axes, float(rng.uniform(0, 180)), 0, 360, color, 1, cv2.LINE_AA)


def _shape_points(kind: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    n = {"square": 4, "triangle": 3}[kind]
    t = angle + np.arange(n) * 2 * np.pi / n
    return np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)


_CLASS_HUE = {"circle": 0.0, "square": 120.0, "triangle": 240.0}  # degrees: red, green, blue


def _class_color(kind: str, rng: np.random.Generator) -> np.ndarray:
    """An RGB colour in the class's hue band (+-20 degrees), saturated, fairly bright."""
    hue = (_CLASS_HUE[kind] + rng.uniform(-20, 20)) % 360
    hsv = np.array([[[hue / 2, rng.uniform(170, 255), rng.uniform(150, 255)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float64)


def _draw_shape(img, kind: str, cx, cy, r, rng, class_colors: bool = False) -> np.ndarray:
    """Draw one filled shape; returns its mask (bool, H x W)."""
    mask = np.zeros(img.shape[:2], np.uint8)
    if kind == "circle":
        cv2.circle(mask, (int(round(cx)), int(round(cy))), int(round(r)), 255, -1, cv2.LINE_AA)
    else:
        pts = _shape_points(kind, cx, cy, r, rng.uniform(0, 2 * np.pi))
        cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 255, cv2.LINE_AA)
    color = _class_color(kind, rng) if class_colors else rng.uniform(0, 255, 3)
    shade = rng.uniform(0.85, 1.0) if class_colors else rng.uniform(0.6, 1.0)
    m = mask.astype(np.float32)[..., None] / 255.0
    img[:] = (img * (1 - m) + (color * shade) * m).astype(np.uint8)
    return mask > 127


def make_scene(rng: np.random.Generator, cfg: SceneConfig = SceneConfig()):
    """One scene: ``(image uint8 RGB (H, W, 3), xyxy (N, 4) float32, class_ids (N,) int64)``."""
    h, w = cfg.size
    img = _background(h, w, rng, grey=cfg.class_colors)
    _clutter(img, cfg.clutter, rng)
    n = int(rng.integers(cfg.objects[0], cfg.objects[1] + 1))
    masks, ids, placed = [], [], []
    for _ in range(n * 4):
        if len(ids) == n:
            break
        r = rng.uniform(*cfg.scale) * min(h, w) / 2
        cx, cy = rng.uniform(r * 0.6, w - r * 0.6), rng.uniform(r * 0.6, h - r * 0.6)
        box = np.array([cx - r, cy - r, cx + r, cy + r])
        if placed and _max_iou(box, np.array(placed)) > cfg.max_overlap:
            continue
        kind = int(rng.integers(len(SHAPES)))
        m = _draw_shape(img, SHAPES[kind], cx, cy, r, rng, cfg.class_colors)
        masks = [mm & ~m for mm in masks]  # the new shape occludes the earlier ones
        masks.append(m)
        ids.append(kind)
        placed.append(box)
    boxes, keep = [], []
    for m, cid in zip(masks, ids, strict=False):
        ys, xs = np.nonzero(m)
        if len(xs) < 12:
            continue
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        keep.append(cid)
    return img, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(keep, np.int64)


def _max_iou(box: np.ndarray, others: np.ndarray) -> float:
    iw = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = iw * ih
    a = (box[2] - box[0]) * (box[3] - box[1])
    b = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return float((inter / (a + b - inter)).max())


def make_scenes(n: int, seed: int = 0, cfg: SceneConfig = SceneConfig()):
    """``n`` scenes from one seed: lists of images, boxes and class ids."""
    rng = np.random.default_rng(seed)
    images, boxes, ids = [], [], []
    for _ in range(n):
        img, b, c = make_scene(rng, cfg)
        images.append(img)
        boxes.append(b)
        ids.append(c)
    return images, boxes, ids


def write_yolo(out, n: int, seed: int, cfg: SceneConfig = SceneConfig()) -> int:
    """Write ``n`` scenes as a YOLO txt folder (images/, labels/, classes.txt); returns n."""
    from pathlib import Path

    from edgecnn.edge.core.fileio import atomic_write_bytes, atomic_write_text
    from edgecnn.edge.detect import boxes as B

    out = Path(out)
    images, boxes, ids = make_scenes(n, seed, cfg)
    atomic_write_text(out / "classes.txt", "\n".join(SHAPES) + "\n")
    h, w = cfg.size
    for i, (img, b, c) in enumerate(zip(images, boxes, ids, strict=False)):
        ok, enc = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        atomic_write_bytes(out / "images" / f"scene_{i:04d}.png", enc.tobytes())
        rows = [f"{k} " + " ".join(f"{v:.6f}" for v in box) for k, box in zip(c, B.xyxy_to_cxcywh_norm(b, w, h), strict=False)]
        atomic_write_text(out / "labels" / f"scene_{i:04d}.txt", "\n".join(rows) + ("\n" if rows else ""))
    return n


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="write synthetic detection scenes as a YOLO txt folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=99)
    a = ap.parse_args()
    print(f"wrote {write_yolo(a.out, a.n, a.seed)} scenes to {a.out}")
