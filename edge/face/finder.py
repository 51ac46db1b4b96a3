"""A learned face finder: a small int8 YOLO-style face detector run through ``edge/detect``.

It has the signature of the finders in :mod:`edgecnn.edge.face.runtime`
(``finder(image_bgr, cfg) -> [(x, y, w, h), ...]`` in source pixels, largest first), so it can
stand in for OpenCV's Haar cascade (which misses tilted and profile faces):

    from edgecnn.edge.face.finder import find_learned
    boxes = find_learned(image_bgr, FaceConfig())          # the shipped builtin:face-finder

    finder = LearnedFinder("runs/face_finder/model/model_int8.tflite", conf=0.3, num_threads=1)
    boxes = finder(image_bgr, cfg)                          # same signature
    dets = finder.detect(image_bgr)                         # Detections with scores (for evaluation)

The model is trained by ``scripts/face_finder.sh`` (WIDER FACE, ``edgecnn train detect``; see
docs/face_finder.md). ``cfg.min_face`` (pixels) drops smaller faces, as for the Haar finder.

Scale range: the model (320x320 input) learned faces of about 6 to 120 input pixels. Two things
keep larger faces in that range: images smaller than the input are padded, not enlarged
(``upscale=False``; a 92x112 portrait enlarged to 320 pixels would hold a 250-pixel face), and by
default a second pass sees the image at half size inside the input (``extra_scales=(0.5,)``;
both passes' boxes go through one NMS), which finds faces up to a whole 640x480 frame high at
twice the cost (about 9 instead of 4.5 ms per frame on one x86 core). ``extra_scales=()`` is the
single pass, slightly better on crowds of small faces. The boxes follow WIDER FACE's annotation
style: forehead to chin, taller than wide, about 1.3x the side of the Haar cascade's square box
(docs/face_finder.md).

This module imports neither TensorFlow nor :mod:`edgecnn.edge.face.runtime` (which registers
this finder as ``learned``), so the two can import each other's names lazily.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import cv2
import numpy as np

from edgecnn.edge.core.errors import InputDataError, ModelFileError
from edgecnn.edge.detect import boxes as B
from edgecnn.edge.detect.runtime import Detections, Detector

if TYPE_CHECKING:  # only for the annotations: runtime imports this module
    from edgecnn.edge.face.runtime import FaceConfig

DEFAULT_MODEL = "builtin:face-finder"
DEFAULT_CONF = 0.5   # score threshold of the boxes the finder returns (best F1 on training images, docs/face_finder.md)
DEFAULT_IOU = 0.4    # NMS IoU threshold
MAX_FACES = 100      # boxes per image before the min_face filter
DEFAULT_EXTRA_SCALES: tuple[float, ...] = (0.5,)  # a second pass at half size: faces up to a whole frame


class LearnedFinder:
    """``(image_bgr, cfg) -> [(x, y, w, h), ...]`` largest first, from a face detector.

    ``model``: a ``.tflite`` path, ``builtin:NAME`` or an already opened EdgeModel/KerasModel of
    task ``detect`` whose labels include ``face`` (or have one class). Opened on first use.
    ``conf``/``iou``: score and NMS thresholds; ``num_threads``: interpreter threads;
    ``upscale``: enlarge images smaller than the model input (default: pad them instead);
    ``extra_scales``: more passes with the image shrunk by these factors inside the model input
    (e.g. ``(0.5,)``: faces up to twice the largest the model learned), merged by NMS.
    """

    def __init__(self, model=DEFAULT_MODEL, *, conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU,
                 num_threads: int | None = None, upscale: bool = False, max_faces: int = MAX_FACES,
                 extra_scales: tuple[float, ...] = DEFAULT_EXTRA_SCALES):
        if not 0.0 <= conf <= 1.0 or not 0.0 <= iou <= 1.0:
            raise ValueError(f"conf/iou: expected values in [0, 1], got {conf}/{iou}")
        if not all(0.0 < float(v) < 1.0 for v in extra_scales):
            raise ValueError(f"extra_scales: expected factors in (0, 1), got {tuple(extra_scales)}")
        self.extra_scales = tuple(float(v) for v in extra_scales)
        self.spec = model
        self.conf, self.iou, self.max_faces = float(conf), float(iou), int(max_faces)
        self.num_threads = num_threads
        self.upscale = bool(upscale)
        self._detector: Detector | None = None
        self._face_id = 0
        self._lock = threading.Lock()

    # -- the model -------------------------------------------------------------------------------
    @property
    def detector(self) -> Detector:
        if self._detector is None:
            model = self.spec
            if isinstance(model, str) or hasattr(model, "__fspath__"):
                from edgecnn.edge.core.loader import open_model

                try:
                    model = open_model(model, num_threads=self.num_threads, task="detect")
                except ModelFileError as exc:
                    raise ModelFileError(f"learned face finder: cannot open {self.spec} ({exc}); train one with "
                                         "scripts/face_finder.sh (docs/face_finder.md) or use the haar finder"
                                         ) from None
            det = Detector(model)
            labels = [str(v).lower() for v in det.labels]
            if "face" in labels:
                self._face_id = labels.index("face")
            elif len(labels) > 1:
                raise ModelFileError(f"learned face finder: {self.spec} detects {list(det.labels)}, "
                                     "expected a 'face' class")
            self._detector = det.with_config(conf=self.conf, iou=self.iou, max_det=self.max_faces)
        return self._detector

    @property
    def input_size(self) -> tuple[int, int]:
        return self.detector.img_size

    # -- finding ---------------------------------------------------------------------------------
    def detect(self, image_bgr: np.ndarray, *, conf: float | None = None, max_det: int | None = None) -> Detections:
        """Face detections (``xyxy`` source pixels, scores) of a BGR (or grey) uint8 image.

        ``conf``/``max_det`` override the finder's score threshold and box limit (an evaluation
        passes a low threshold to draw the whole precision-recall curve).
        """
        rgb = _as_rgb(image_bgr)
        det = self.detector
        if conf is not None or max_det is not None:
            det = det.with_config(conf=conf, max_det=max_det)
        h, w = rgb.shape[:2]
        size_h, size_w = det.img_size
        if not self.upscale and h <= size_h and w <= size_w and (h < size_h or w < size_w):
            canvas = np.full((size_h, size_w, 3), det.fill, np.uint8)  # pad: the model sees the face 1:1
            canvas[:h, :w] = rgb
            rgb = canvas
        fit = min(size_h / rgb.shape[0], size_w / rgb.shape[1])  # the scale of the main pass
        with self._lock:  # one interpreter: one image at a time
            dets = det(rgb)
            for factor in self.extra_scales:
                dets = _merge(dets, self._shrunk_pass(det, rgb, fit * factor), det.cfg)
        dets = dets[dets.class_ids == self._face_id] if len(det.labels) > 1 else dets
        if len(dets):
            xyxy = dets.xyxy.copy()
            xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
            xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
            dets = Detections(xyxy, dets.scores, dets.class_ids, dets.labels)
        return dets

    @staticmethod
    def _shrunk_pass(det: Detector, rgb: np.ndarray, scale: float) -> Detections:
        """The image shrunk by ``scale`` at the top left of the model input; boxes in ``rgb`` pixels."""
        size_h, size_w = det.img_size
        h, w = max(1, round(rgb.shape[0] * scale)), max(1, round(rgb.shape[1] * scale))
        canvas = np.full((size_h, size_w, 3), det.fill, np.uint8)
        canvas[:h, :w] = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        dets = det(canvas)
        return Detections(dets.xyxy / np.float32(scale), dets.scores, dets.class_ids, dets.labels)

    def __call__(self, image_bgr: np.ndarray, cfg: FaceConfig | None = None) -> list[tuple[int, int, int, int]]:
        """Boxes ``(x, y, w, h)`` in the image's pixels, largest first; faces whose shorter side is
        below ``cfg.min_face`` pixels are left out."""
        boxes = [b for b, _ in self._boxes(self.detect(image_bgr), cfg)]
        return sorted(boxes, key=lambda b: -b[2] * b[3])

    def best(self, image_bgr: np.ndarray, cfg: FaceConfig | None = None, *, conf: float) -> list[tuple[int, int, int, int]]:
        """The one box with the highest score at or above ``conf`` (below the finder's own
        threshold, for a still photo known to hold a face), or ``[]``."""
        found = self._boxes(self.detect(image_bgr, conf=conf), cfg)
        return [max(found, key=lambda item: item[1])[0]] if found else []

    @staticmethod
    def _boxes(dets: Detections, cfg) -> list[tuple[tuple[int, int, int, int], float]]:
        min_face = float(getattr(cfg, "min_face", 0) or 0)
        out = []
        for (x1, y1, x2, y2), score in zip(dets.xyxy, dets.scores, strict=True):
            x, y = int(round(x1)), int(round(y1))
            bw, bh = int(round(x2)) - x, int(round(y2)) - y
            if bw >= 1 and bh >= 1 and min(bw, bh) >= min_face:
                out.append(((x, y, bw, bh), float(score)))
        return out


def _merge(a: Detections, b: Detections, cfg) -> Detections:
    """Detections of two passes, NMS over both (class-aware), at most ``cfg.max_det``."""
    if len(b) == 0:
        return a
    both = Detections(np.concatenate([a.xyxy, b.xyxy]), np.concatenate([a.scores, b.scores]),
                      np.concatenate([a.class_ids, b.class_ids]), a.labels or b.labels)
    keep = B.nms(both.xyxy, both.scores, cfg.iou, class_ids=both.class_ids, max_det=cfg.max_det)
    return both[keep]


def _as_rgb(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise InputDataError(f"face finder: expected uint8 pixels, got dtype {arr.dtype}")
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        return cv2.cvtColor(arr.reshape(arr.shape[:2]), cv2.COLOR_GRAY2RGB)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    raise InputDataError(f"face finder: expected an (H, W) or (H, W, 3) image, got shape {arr.shape}")


_DEFAULTS: dict[int | None, LearnedFinder] = {}
_DEFAULT_LOCK = threading.Lock()


def default_finder(num_threads: int | None = None) -> LearnedFinder:
    """The shared finder of :func:`find_learned` (``builtin:face-finder``, opened on first use),
    one per interpreter thread count (None: the runtime's default)."""
    with _DEFAULT_LOCK:
        if num_threads not in _DEFAULTS:
            _DEFAULTS[num_threads] = LearnedFinder(DEFAULT_MODEL, num_threads=num_threads)
        return _DEFAULTS[num_threads]


def find_learned(image: np.ndarray, cfg: FaceConfig) -> list[tuple[int, int, int, int]]:
    """The learned face finder (``builtin:face-finder``): boxes ``(x, y, w, h)`` in the source
    image's pixels, largest first, faces smaller than ``cfg.min_face`` left out."""
    return default_finder()(image, cfg)


__all__ = ["DEFAULT_CONF", "DEFAULT_IOU", "DEFAULT_MODEL", "LearnedFinder", "default_finder", "find_learned"]
