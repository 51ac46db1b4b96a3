"""Box-aware augmentation in NumPy/OpenCV (the seed's list): mirroring, random crop and scale,
small rotation and shear, colour shifting incl. AlexNet-style PCA colour, letterbox resize, and
(off by default) greyscale images.

Geometry is one affine matrix per image (letterbox x scale/crop x rotation/shear x flip) applied
with a single ``cv2.warpAffine``; boxes are mapped through the same matrix (the four corners,
then their enclosing box), clipped to the canvas, and dropped when too little of them remains.
Images are uint8 RGB ``(H, W, 3)``; boxes ``xyxy`` pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from edgecnn.edge.detect import boxes as B


@dataclass(frozen=True)
class AugmentConfig:
    flip: float = 0.5              # probability of a horizontal mirror
    scale: tuple[float, float] = (0.6, 1.4)   # zoom range relative to the letterbox fit (>1 crops)
    translate: float = 0.15        # max shift, fraction of the canvas
    rotate_deg: float = 5.0        # max rotation
    shear_deg: float = 3.0         # max shear
    hsv: tuple[float, float, float] = (0.015, 0.5, 0.35)  # hue (fraction of turn), saturation, value gains
    rgb_shift: float = 12.0        # per-channel additive shift (pixel levels), the seed's R+20, G-20
    pca_std: float = 0.1           # AlexNet PCA colour: alpha ~ N(0, pca_std)
    min_visible: float = 0.35      # drop boxes keeping less than this fraction of their area
    min_size: float = 2.0          # drop boxes narrower/shorter than this (pixels)
    fill: int = 114
    gray: float = 0.0              # probability of a greyscale image (0: off; greyscale cameras, IR, old photos)

    def __post_init__(self):
        if not 0.0 <= self.flip <= 1.0:
            raise ValueError(f"flip: expected a probability in [0, 1], got {self.flip}")
        if not 0 < self.scale[0] <= self.scale[1]:
            raise ValueError(f"scale: expected 0 < low <= high, got {self.scale}")
        if not 0.0 <= self.gray <= 1.0:
            raise ValueError(f"gray: expected a probability in [0, 1], got {self.gray}")


NO_AUGMENT = AugmentConfig(flip=0.0, scale=(1.0, 1.0), translate=0.0, rotate_deg=0.0, shear_deg=0.0,
                           hsv=(0.0, 0.0, 0.0), rgb_shift=0.0, pca_std=0.0)

# ImageNet RGB eigen-decomposition (Krizhevsky et al. 2012), pixel levels 0..255
PCA_EIGVAL = np.array([0.2175, 0.0188, 0.0045], np.float32) * 255.0
PCA_EIGVEC = np.array([[-0.5675, 0.7192, 0.4009],
                       [-0.5808, -0.0045, -0.8140],
                       [-0.5836, -0.6948, 0.4203]], np.float32)


def letterbox_matrix(src_hw, dst_hw) -> np.ndarray:
    """2x3 affine that letterboxes ``src_hw`` into ``dst_hw`` (centred, aspect kept)."""
    sh, sw = src_hw
    dh, dw = dst_hw
    s = min(dh / sh, dw / sw)
    return np.array([[s, 0, (dw - sw * s) / 2], [0, s, (dh - sh * s) / 2]], np.float64)


def random_matrix(src_hw, dst_hw, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Letterbox, then random scale/crop, rotation, shear and mirror about the canvas centre."""
    dh, dw = dst_hw
    m = np.vstack([letterbox_matrix(src_hw, dst_hw), [0, 0, 1]])
    c = np.array([[1, 0, -dw / 2], [0, 1, -dh / 2], [0, 0, 1]])
    s = rng.uniform(*cfg.scale)
    a = np.deg2rad(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg))
    sh = np.tan(np.deg2rad(rng.uniform(-cfg.shear_deg, cfg.shear_deg)))
    rot = np.array([[np.cos(a) * s, -np.sin(a) * s, 0], [np.sin(a) * s, np.cos(a) * s, 0], [0, 0, 1]])
    shear = np.array([[1, sh, 0], [0, 1, 0], [0, 0, 1]])
    flip = np.diag([-1.0 if rng.random() < cfg.flip else 1.0, 1, 1])
    t = rng.uniform(-cfg.translate, cfg.translate, 2) * [dw, dh]
    back = np.array([[1, 0, dw / 2 + t[0]], [0, 1, dh / 2 + t[1]], [0, 0, 1]])
    return (back @ flip @ shear @ rot @ c @ m)[:2]


def transform_boxes(xyxy, matrix: np.ndarray, dst_hw, *, min_visible: float = 0.35,
                    min_size: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """Map boxes through a 2x3 affine; returns (clipped boxes, keep mask over the inputs)."""
    b = B.as_boxes(xyxy)
    if len(b) == 0:
        return b, np.zeros(0, bool)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], axis=1)  # (N, 4, 2)
    pts = corners @ matrix[:, :2].T + matrix[:, 2]
    out = np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1).astype(np.float32)
    full = B.area(out)
    clipped = B.clip_xyxy(out, dst_hw[1], dst_hw[0])
    wh = clipped[:, 2:] - clipped[:, :2]
    keep = (B.area(clipped) >= min_visible * np.maximum(full, 1e-6)) & (wh.min(axis=1) >= min_size)
    return clipped[keep], keep


def warp(image: np.ndarray, matrix: np.ndarray, dst_hw, fill: int = 114) -> np.ndarray:
    """Apply a 2x3 affine. When it shrinks, the image is first reduced with ``INTER_AREA`` (as the
    device's letterbox does) and only the remaining rotation/shear/shift is interpolated
    bilinearly: a bilinear warp that shrinks aliases fine texture, and a model trained on aliased
    images scores far lower on the area-averaged ones the device feeds it (a detector that had
    memorised 32 synthetic scenes: mAP@0.5 0.98 on its aliased training letterbox, 0.60 on the
    device's)."""
    matrix = np.asarray(matrix, np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 1.0:
        h, w = image.shape[:2]
        new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
        pre = np.diag([w / new_w, h / new_h, 1.0])  # reduced-image pixels -> source pixels
        matrix = (np.vstack([matrix, [0, 0, 1]]) @ pre)[:2]
    return cv2.warpAffine(image, matrix, (int(dst_hw[1]), int(dst_hw[0])), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(fill, fill, fill))


def hsv_jitter(image: np.ndarray, gains, rng: np.random.Generator) -> np.ndarray:
    """Random hue shift and saturation/value gains (uint8 RGB in, uint8 RGB out)."""
    if not any(gains):
        return image
    r = rng.uniform(-1, 1, 3) * np.asarray(gains) + [0, 1, 1]
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    x = np.arange(256, dtype=np.float32)
    lut_h = ((x + r[0] * 180) % 180).astype(np.uint8)
    lut_s = np.clip(x * r[1], 0, 255).astype(np.uint8)
    lut_v = np.clip(x * r[2], 0, 255).astype(np.uint8)
    hsv = cv2.merge([cv2.LUT(hsv[..., 0], lut_h), cv2.LUT(hsv[..., 1], lut_s), cv2.LUT(hsv[..., 2], lut_v)])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def color_shift(image: np.ndarray, shift: float, pca_std: float, rng: np.random.Generator) -> np.ndarray:
    """Per-channel shift (the seed's R+20, G-20, B+20) plus AlexNet PCA colour noise."""
    if shift <= 0 and pca_std <= 0:
        return image
    delta = rng.uniform(-shift, shift, 3) if shift > 0 else np.zeros(3)
    if pca_std > 0:
        alpha = rng.normal(0, pca_std, 3).astype(np.float32)
        delta = delta + PCA_EIGVEC @ (alpha * PCA_EIGVAL)
    return np.clip(image.astype(np.float32) + delta.astype(np.float32), 0, 255).astype(np.uint8)


def augment(image: np.ndarray, xyxy, class_ids, dst_hw, cfg: AugmentConfig,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One training sample: random geometry + colour, letterboxed to ``dst_hw``."""
    matrix = random_matrix(image.shape[:2], dst_hw, cfg, rng)
    out = warp(image, matrix, dst_hw, cfg.fill)
    boxes, keep = transform_boxes(xyxy, matrix, dst_hw, min_visible=cfg.min_visible, min_size=cfg.min_size)
    out = hsv_jitter(out, cfg.hsv, rng)
    out = color_shift(out, cfg.rgb_shift, cfg.pca_std, rng)
    if cfg.gray > 0 and rng.random() < cfg.gray:  # no draw when off: the default stream is unchanged
        out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return out, boxes, np.asarray(class_ids, np.int64).reshape(-1)[keep]


def letterbox_sample(image: np.ndarray, xyxy, class_ids, dst_hw, fill: int = 114):
    """No randomness: exactly the letterbox the device applies (``edge.image.letterbox``: its
    resampling, its integer padding), with the boxes mapped the same way."""
    from edgecnn.edge.core.image import letterbox

    canvas, info = letterbox(image, tuple(int(v) for v in dst_hw), fill=fill)
    matrix = np.array([[info.scale, 0, info.pad_x], [0, info.scale, info.pad_y]], np.float64)
    boxes, keep = transform_boxes(xyxy, matrix, dst_hw, min_visible=0.0, min_size=0.0)
    return canvas, boxes, np.asarray(class_ids, np.int64).reshape(-1)[keep]
