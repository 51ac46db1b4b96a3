"""The five-point landmark model on the device: face box -> crop -> int8 CNN -> 5 points in pixels.

The model (trained by ``edgecnn.train.face.landmarks`` on dlib's landmarks, see docs/face_align.md)
reads a square grey crop around a face box and outputs 10 numbers: the five points of
``edgecnn.edge.face.align.POINT_NAMES`` (dlib's order) as ``(x, y)`` pairs normalised to the crop,
``(u + 0.5) / size`` for crop pixel ``u`` (0 and 1 are the crop's outer edges). The crop is made
by ``crop_matrix`` + ``align.warp``, the same functions training uses, so the framing matches.

Use::

    det = LandmarkDetector.load("runs/face/landmarks/landmarks_int8.tflite")
    box = find_haar_or_center(image_bgr, cfg)[0]          # any finder's (x, y, w, h)
    pts = det.predict(image_bgr, box)                     # (5, 2) float64, image pixels
    chip = align.aligned_pixels(image_bgr, pts, size=112) # the aligned face for an embedder

Model metadata: task ``face``, ``params.role == "landmarks5"``, ``params`` also hold ``size``,
``margin``, ``channels``, ``mean``, ``std`` (``LandmarkConfig``). The input is ``image``
(1, size, size, channels), ``(pixel - mean) / std``; the output is ``landmarks`` (1, 10).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from edgecnn.edge.core.errors import InputDataError, ModelFileError
from edgecnn.edge.face import align

ROLE = "landmarks5"
# The learned face finder's boxes (WIDER style: forehead to chin, taller than wide) scaled by this
# about their centre frame a face as the Haar-style boxes the landmark model learned from do
# (median landmark error vs dlib, LFW test images: 0.85 best of 0.7-1.0; docs/face_align.md).
LEARNED_BOX_SCALE = 0.85
INPUT_NAME = "image"
OUTPUT_NAME = "landmarks"


@dataclass(frozen=True)
class LandmarkConfig:
    """size: crop side in pixels; margin: fraction of the box side added on each side (as
    ``FaceConfig.margin``); channels: 1 (grey) or 3 (RGB); mean/std: ``x = (pixel - mean) / std``."""

    size: int = 96
    margin: float = 0.2
    channels: int = 1
    mean: float = 127.5
    std: float = 127.5

    def __post_init__(self):
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 16 <= self.size <= 1024:
            raise ValueError(f"LandmarkConfig.size must be an integer in 16..1024, got {self.size!r}")
        if not 0.0 <= self.margin <= 1.0:
            raise ValueError(f"LandmarkConfig.margin must be in [0, 1], got {self.margin!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"LandmarkConfig.channels must be 1 or 3, got {self.channels!r}")
        if not (math.isfinite(self.std) and self.std > 0):
            raise ValueError(f"LandmarkConfig.std must be > 0, got {self.std!r}")

    def to_params(self) -> dict[str, Any]:
        return {"role": ROLE, **asdict(self)}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> LandmarkConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in params.items() if k in known})


def _box(box) -> tuple[float, float, float, float]:
    b = np.asarray(box, np.float64).ravel()
    if b.shape != (4,) or not np.all(np.isfinite(b)) or b[2] <= 0 or b[3] <= 0:
        raise InputDataError(f"face box must be (x, y, w, h) with w, h > 0, got {box!r}")
    return tuple(float(v) for v in b)


def crop_matrix(box, margin: float, size: int, *, angle: float = 0.0, scale: float = 1.0,
                shift=(0.0, 0.0), flip: bool = False) -> np.ndarray:
    """The 2 x 3 matrix taking image pixels to a ``size`` x ``size`` crop around ``box``.

    The crop is the square of side ``max(w, h) * (1 + 2 margin) * scale`` centred on the box
    centre moved by ``shift`` (fractions of that side), rotated by ``angle`` degrees
    (counter-clockwise on screen), mirrored when ``flip``. With the defaults it frames what
    ``runtime.crop_square`` frames. Training draws ``angle``/``scale``/``shift``/``flip`` at random.
    """
    x, y, w, h = _box(box)
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    side = max(w, h) * (1.0 + 2.0 * margin) * scale
    k = size / side
    cx, cy = x + w / 2.0 + shift[0] * side, y + h / 2.0 + shift[1] * side
    a = math.radians(angle)
    c, s = math.cos(a) * k, math.sin(a) * k
    # u = k R (p - centre) + (size/2 - 0.5); R rotates the image content by -angle so that a face
    # tilted by +angle comes out upright; y points down
    rot = np.array([[c, -s], [s, c]])
    off = np.array([size / 2.0 - 0.5, size / 2.0 - 0.5]) - rot @ np.array([cx, cy])
    m = np.hstack([rot, off[:, None]])
    if flip:
        m = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0.0, 0.0, 1.0]])
    return m


def crop_pixels(image_bgr, matrix, cfg: LandmarkConfig) -> np.ndarray:
    """The model crop (size, size, channels) uint8, grey or RGB, from a BGR or grey image."""
    img = np.asarray(image_bgr)
    if img.dtype != np.uint8:
        raise InputDataError(f"image: expected uint8 pixels, got dtype {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise InputDataError(f"image: expected an (H, W) or (H, W, 3) image, got shape {img.shape}")
    if cfg.channels == 1:
        grey = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        return align.warp(grey, matrix, cfg.size)[:, :, None]
    bgr = img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(align.warp(bgr, matrix, cfg.size), cv2.COLOR_BGR2RGB)


def to_unit(pts_crop, size: int) -> np.ndarray:
    """Crop pixel coordinates -> the model's normalised coordinates ``(u + 0.5) / size``."""
    return (np.asarray(pts_crop, np.float64) + 0.5) / float(size)


def from_unit(pts_unit, size: int) -> np.ndarray:
    """The model's normalised coordinates -> crop pixel coordinates."""
    return np.asarray(pts_unit, np.float64) * float(size) - 0.5


def flip_unit(pts_unit) -> np.ndarray:
    """Normalised (..., 5, 2) landmarks of the mirrored crop: x -> 1 - x, left/right swapped."""
    p = np.asarray(pts_unit, np.float64)[..., list(align.FLIP_ORDER), :].copy()
    p[..., 0] = 1.0 - p[..., 0]
    return p


class LandmarkDetector:
    """A landmark model (EdgeModel or KerasModel) plus its crop configuration."""

    def __init__(self, model, config: LandmarkConfig | None = None, *, flip_tta: bool = False):
        meta = getattr(model, "metadata", None) or {}
        params = meta.get("params") or {}
        src = getattr(model, "path", "model")
        if config is None:
            if params.get("role") != ROLE:
                raise ModelFileError(f"{src}: not a landmark model (metadata params.role is "
                                     f"{params.get('role')!r}, expected {ROLE!r})")
            try:
                config = LandmarkConfig.from_params(params)
            except (TypeError, ValueError) as exc:
                raise ModelFileError(f"{src}: metadata params: {exc}") from None
        self.model, self.config, self.flip_tta = model, config, bool(flip_tta)

    @classmethod
    def load(cls, path: str | os.PathLike, *, num_threads: int | None = None, flip_tta: bool = False):
        """Open an int8 ``.tflite`` landmark model (a ``.keras`` one too where Keras is installed)."""
        from edgecnn.edge.core.loader import open_model

        return cls(open_model(path, task="face", num_threads=num_threads), flip_tta=flip_tta)

    def crop(self, image_bgr, box) -> tuple[np.ndarray, np.ndarray]:
        """(crop pixels (S, S, C) uint8, 2 x 3 matrix image -> crop) for a face box."""
        m = crop_matrix(box, self.config.margin, self.config.size)
        return crop_pixels(image_bgr, m, self.config), m

    def predict_crops(self, pixels) -> np.ndarray:
        """uint8 crops (N, S, S, C) -> (N, 5, 2) normalised landmarks (see ``to_unit``)."""
        x = np.asarray(pixels)
        cfg = self.config
        if x.ndim == 3:
            x = x[None]
        if x.shape[1:] != (cfg.size, cfg.size, cfg.channels):
            raise InputDataError(f"landmark crops must have shape (N, {cfg.size}, {cfg.size}, {cfg.channels}), "
                                 f"got {x.shape}")
        xf = (x.astype(np.float32) - np.float32(cfg.mean)) / np.float32(cfg.std)
        pts = self._run(xf)
        if self.flip_tta:
            pts = 0.5 * (pts + flip_unit(self._run(np.ascontiguousarray(xf[:, :, ::-1]))))
        return pts

    def _run(self, x: np.ndarray) -> np.ndarray:
        out = self.model.run({INPUT_NAME: np.ascontiguousarray(x)})
        if OUTPUT_NAME not in out:
            raise ModelFileError(f"landmark model has no output {OUTPUT_NAME!r}; outputs: {sorted(out)}")
        return np.asarray(out[OUTPUT_NAME], np.float64).reshape(len(x), align.NUM_POINTS, 2)

    def predict(self, image_bgr, box) -> np.ndarray:
        """Five landmarks (5, 2) in image pixels, dlib order, for the face in ``box``."""
        return self.predict_many(image_bgr, [box])[0]

    def predict_many(self, image_bgr, boxes) -> np.ndarray:
        """(N, 5, 2) image-pixel landmarks for several boxes in one image."""
        crops, mats = zip(*(self.crop(image_bgr, b) for b in boxes), strict=True) if len(boxes) else ((), ())
        if not crops:
            return np.zeros((0, align.NUM_POINTS, 2))
        unit = self.predict_crops(np.stack(crops))
        return np.stack([align.transform_points(align.invert_affine(m), from_unit(u, self.config.size))
                         for u, m in zip(unit, mats, strict=True)])


__all__ = ["INPUT_NAME", "LEARNED_BOX_SCALE", "OUTPUT_NAME", "ROLE", "LandmarkConfig", "LandmarkDetector", "crop_matrix",
           "crop_pixels", "flip_unit", "from_unit", "to_unit"]
