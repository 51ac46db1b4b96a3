"""YOLO-style detection on the device: result type, NumPy decode of raw head tensors, Detector.

A detection model emits one raw tensor per output scale, ``[1, S_y, S_x, A * (5 + C)]``, with the
channels of anchor ``a`` at ``a * (5 + C) + [tx, ty, tw, th, obj, cls_0 .. cls_{C-1}]`` (no 5-D
reshape inside the model). Its metadata ``params`` describe the heads::

    {"img_size": [H, W], "num_classes": C, "decoder": "yolov5",
     "heads": [{"name": "p4", "stride": 16, "anchors": [[w, h], ...]}, ...],   # anchors in input pixels
     "conf": 0.25, "iou": 0.45, "max_det": 100, "letterbox_fill": 114, "box_gain": 2.5}

``box_gain`` (default 1 when absent): the model emits ``tx, ty, tw, th`` multiplied by it, so that
inside the head's clamped int8 output range the box values get a finer step; the decoder divides.

Decoders (``DECODERS``), cell ``(cx, cy)``, stride ``s``, anchor ``(aw, ah)``, ``σ`` the sigmoid:

* ``yolov5``: ``x = (2σ(tx) - 0.5 + cx) s``, ``w = aw (2σ(tw))²``  (bounded, int8-friendly)
* ``yolov3``: ``x = (σ(tx) + cx) s``,        ``w = aw exp(tw)``

Objectness and class scores are sigmoids; a box's score is ``obj * max_c cls_c``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import cv2
import numpy as np

from edgecnn.edge.core.errors import ModelFileError
from edgecnn.edge.core.image import LetterboxInfo, letterbox, unletterbox_boxes
from edgecnn.edge.detect import boxes as B


class Detection(NamedTuple):
    """One detection: ``xyxy`` in the input image's pixels, ``score`` in [0, 1], class id and label."""

    xyxy: tuple[float, float, float, float]
    score: float
    class_id: int
    label: str


@dataclass(frozen=True)
class Detections:
    """Parallel arrays: ``xyxy (N, 4)`` float32 pixels, ``scores (N,)`` float32, ``class_ids (N,)`` int64."""

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    labels: tuple[str, ...] = field(default=())

    def __post_init__(self):
        xyxy = B.as_boxes(self.xyxy, "xyxy")
        scores = np.asarray(self.scores, np.float32).reshape(-1)
        ids = np.asarray(self.class_ids, np.int64).reshape(-1)
        if len(scores) != len(xyxy) or len(ids) != len(xyxy):
            raise ValueError(f"Detections: expected xyxy (N, 4), scores (N,), class_ids (N,) with one N; "
                             f"got {xyxy.shape}, {scores.shape}, {ids.shape}")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_ids", ids)
        object.__setattr__(self, "labels", tuple(self.labels))

    @classmethod
    def empty(cls, labels=()) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), tuple(labels))

    def __len__(self) -> int:
        return len(self.scores)

    def __getitem__(self, index) -> Detections:
        """Filter by a slice, a boolean mask or an index array (a single int keeps one detection)."""
        if isinstance(index, slice):
            return Detections(self.xyxy[index], self.scores[index], self.class_ids[index], self.labels)
        idx = np.atleast_1d(np.asarray(index))
        if idx.dtype == bool:
            if len(idx) != len(self):
                raise ValueError(f"Detections mask: expected {len(self)} booleans, got {len(idx)}")
        elif idx.dtype.kind not in "iu" or idx.ndim != 1:
            raise TypeError(f"Detections index: expected an int, a slice, a boolean mask or integer indices, "
                            f"got {type(index).__name__} {getattr(idx, 'dtype', '')}")
        elif len(idx) and (idx.max() >= len(self) or idx.min() < -len(self)):
            raise IndexError(f"Detections index out of range for {len(self)} detections: {index!r}")
        return Detections(self.xyxy[idx], self.scores[idx], self.class_ids[idx], self.labels)

    def __iter__(self):
        """One :class:`Detection` (xyxy, score, class_id, label) per box, best first as stored."""
        names = self.label_names()
        for k in range(len(self)):
            yield Detection(tuple(float(v) for v in self.xyxy[k]), float(self.scores[k]), int(self.class_ids[k]),
                            names[k])

    def label_names(self) -> list[str]:
        return [self.labels[i] if 0 <= i < len(self.labels) else str(int(i)) for i in self.class_ids]

    def to_list(self, digits: int = 2) -> list[dict]:
        """JSON-ready list of ``{"box": [x1, y1, x2, y2], "score", "class_id", "label"}``."""
        return [{"box": [round(float(v), digits) for v in box], "score": round(float(s), 4),
                 "class_id": int(c), "label": name}
                for box, s, c, name in zip(self.xyxy, self.scores, self.class_ids, self.label_names(), strict=False)]


# --------------------------------------------------------------------------- decoding


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def _xywh_yolov5(t: np.ndarray, grid: np.ndarray, anchors: np.ndarray, stride: float) -> np.ndarray:
    s = sigmoid(t)
    xy = (s[..., 0:2] * 2.0 - 0.5 + grid) * stride
    wh = (s[..., 2:4] * 2.0) ** 2 * anchors
    return np.concatenate([xy, wh], axis=-1)


def _xywh_yolov3(t: np.ndarray, grid: np.ndarray, anchors: np.ndarray, stride: float) -> np.ndarray:
    xy = (sigmoid(t[..., 0:2]) + grid) * stride
    wh = np.exp(np.clip(t[..., 2:4], -10.0, 10.0)) * anchors
    return np.concatenate([xy, wh], axis=-1)


DECODERS: dict[str, Callable] = {"yolov5": _xywh_yolov5, "yolov3": _xywh_yolov3}


def decoder(name: str) -> Callable:
    if name not in DECODERS:
        raise ValueError(f"decoder: expected one of {sorted(DECODERS)}, got {name!r}")
    return DECODERS[name]


def split_head(raw: np.ndarray, num_anchors: int, num_classes: int) -> np.ndarray:
    """``[1, Sy, Sx, A*(5+C)]`` (or without the batch axis) -> ``(Sy, Sx, A, 5+C)``."""
    arr = np.asarray(raw, np.float32)
    if arr.ndim == 4:
        if arr.shape[0] != 1:
            raise ValueError(f"head tensor: expected batch 1, got shape {arr.shape}")
        arr = arr[0]
    depth = num_anchors * (5 + num_classes)
    if arr.ndim != 3 or arr.shape[-1] != depth:
        raise ValueError(f"head tensor: expected (Sy, Sx, {depth}) = A*(5+C) with A={num_anchors}, "
                         f"C={num_classes}, got shape {arr.shape}")
    return arr.reshape(arr.shape[0], arr.shape[1], num_anchors, 5 + num_classes)


def decode_head(raw, anchors, stride: float, num_classes: int, *, method: str = "yolov5",
                conf: float = 0.0, box_gain: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode one head; returns ``xyxy (K, 4)`` input pixels, ``obj (K,)``, ``cls (K, C)`` for the
    candidates with objectness >= ``conf`` (their score ``obj * cls`` can only be lower).
    ``box_gain``: the box channels hold ``box_gain * (tx, ty, tw, th)``.

    Candidates are ordered row-major by cell, then anchor.
    """
    anchors = np.asarray(anchors, np.float32).reshape(-1, 2)
    t = split_head(raw, len(anchors), num_classes)
    sy, sx = t.shape[:2]
    obj = sigmoid(t[..., 4]).reshape(-1)
    keep = np.flatnonzero(obj >= conf) if conf > 0 else np.arange(obj.size)
    flat = t.reshape(-1, 5 + num_classes)[keep]
    cell = keep // len(anchors)
    grid = np.stack([cell % sx, cell // sx], axis=1).astype(np.float32)
    xywh = decoder(method)(flat[:, :4] / np.float32(box_gain), grid, anchors[keep % len(anchors)], float(stride))
    cls = sigmoid(flat[:, 5:]) if num_classes > 1 else np.ones((len(keep), 1), np.float32)
    return B.cxcywh_to_xyxy(xywh), obj[keep].astype(np.float32), cls.astype(np.float32)


@dataclass(frozen=True)
class PostConfig:
    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 100
    pre_nms_topk: int = 3000
    class_agnostic: bool = False

    def __post_init__(self):
        if not 0.0 <= self.conf <= 1.0:
            raise ValueError(f"conf: expected a value in [0, 1], got {self.conf}")
        if not 0.0 <= self.iou <= 1.0:
            raise ValueError(f"iou: expected a value in [0, 1], got {self.iou}")
        if self.max_det < 1 or self.pre_nms_topk < 1:
            raise ValueError(f"max_det/pre_nms_topk: expected >= 1, got {self.max_det}/{self.pre_nms_topk}")


def postprocess(outputs: dict, params: dict, cfg: PostConfig, labels=()) -> Detections:
    """Raw head tensors (keyed by name) -> Detections in input (letterboxed) pixels."""
    num_classes = int(params["num_classes"])
    method = params.get("decoder", "yolov5")
    box_gain = params.get("box_gain", 1.0)
    if not isinstance(box_gain, (int, float)) or isinstance(box_gain, bool) or not np.isfinite(box_gain) \
            or box_gain <= 0:
        raise ModelFileError(f"model metadata params.box_gain: expected a number > 0, got {box_gain!r}")
    parts = []
    for head in params["heads"]:
        if head["name"] not in outputs:
            raise ModelFileError(f"model output {head['name']!r} missing; outputs: {sorted(outputs)}")
        parts.append(decode_head(outputs[head["name"]], head["anchors"], head["stride"], num_classes,
                                 method=method, conf=cfg.conf, box_gain=float(box_gain)))
    xyxy = np.concatenate([p[0] for p in parts])
    obj = np.concatenate([p[1] for p in parts])
    cls = np.concatenate([p[2] for p in parts])
    if len(obj) == 0:
        return Detections.empty(labels)
    class_ids = np.argmax(cls, axis=1)
    scores = obj * cls[np.arange(len(cls)), class_ids]
    keep = np.flatnonzero(scores >= cfg.conf)
    keep = keep[B.top_k(scores[keep], cfg.pre_nms_topk)]
    xyxy, scores, class_ids = xyxy[keep], scores[keep], class_ids[keep]
    kept = B.nms(xyxy, scores, cfg.iou, class_ids=None if cfg.class_agnostic else class_ids,
                 max_det=cfg.max_det)
    return Detections(xyxy[kept], scores[kept], class_ids[kept], tuple(labels))


# --------------------------------------------------------------------------- Detector


def _normalization(meta: dict, input_name: str) -> tuple[np.ndarray, np.ndarray]:
    norm = meta.get("inputs", {}).get(input_name, {}).get("normalization") or {}
    mean = np.asarray(norm.get("mean", [0.0]), np.float32)
    std = np.asarray(norm.get("std", [1.0]), np.float32)
    return mean, std


class Detector:
    """Letterbox -> model -> decode -> NMS -> boxes in the original image's pixels.

    ``model`` is an EdgeModel or KerasModel of task ``detect``. The three stages are public
    (``preprocess``, ``infer``, ``postprocess``) so a caller can time each one.
    """

    def __init__(self, model, cfg: PostConfig | None = None):
        meta = model.metadata or {}
        if meta.get("task") != "detect":
            raise ModelFileError(f"{getattr(model, 'path', 'model')}: task is {meta.get('task')!r}, "
                                 "expected 'detect' (a model written by `edgecnn train detect`)")
        params = meta.get("params", {})
        for key in ("img_size", "num_classes", "heads"):
            if key not in params:
                raise ModelFileError(f"{getattr(model, 'path', 'model')}: metadata params lack {key!r}")
        self.model = model
        self.params = params
        self.labels = tuple(meta.get("labels", ()))
        self.input_name = next(iter(meta.get("inputs", {})), model.inputs[0].name)
        self.img_size = tuple(int(v) for v in params["img_size"])
        self.mean, self.std = _normalization(meta, self.input_name)
        self.fill = int(params.get("letterbox_fill", 114))
        self._lut = _input_lut(model, self.input_name, self.mean, self.std)
        defaults = PostConfig(conf=float(params.get("conf", 0.25)), iou=float(params.get("iou", 0.45)),
                              max_det=int(params.get("max_det", 100)))
        self.cfg = cfg or defaults

    def with_config(self, **changes) -> Detector:
        """A detector sharing the model with some PostConfig fields changed (None = keep)."""
        clone = object.__new__(type(self))  # subclasses (the public edgecnn.edge.Detector) stay themselves
        clone.__dict__.update(self.__dict__)
        clone.cfg = replace(self.cfg, **{k: v for k, v in changes.items() if v is not None})
        return clone

    def preprocess(self, image_rgb: np.ndarray) -> tuple[dict, LetterboxInfo]:
        """Letterbox and normalise; for an int8/uint8 input straight to its integer codes (one
        table lookup per channel instead of float normalisation followed by quantisation)."""
        canvas, info = letterbox(image_rgb, self.img_size, fill=self.fill)
        if self._lut is not None and canvas.dtype == np.uint8 and canvas.ndim == 3:
            if self._lut.shape[1] == 1:
                x = self._lut[:, 0][canvas]
            else:
                x = np.stack([self._lut[:, c][canvas[..., c]] for c in range(canvas.shape[2])], axis=-1)
            return {self.input_name: x[None]}, info
        x = (canvas.astype(np.float32) - self.mean) / self.std
        return {self.input_name: x[None]}, info

    def infer(self, inputs: dict) -> dict:
        return self.model.run(inputs)

    def postprocess(self, outputs: dict, info: LetterboxInfo | None = None) -> Detections:
        dets = postprocess(outputs, self.params, self.cfg, self.labels)
        if info is None or len(dets) == 0:
            return dets
        return replace(dets, xyxy=unletterbox_boxes(dets.xyxy, info))

    def __call__(self, image_rgb: np.ndarray) -> Detections:
        inputs, info = self.preprocess(image_rgb)
        return self.postprocess(self.infer(inputs), info)


class FramePipeline:
    """A Detector as a pipeline of the camera loop (``edgecnn.edge.core.camera.run_loop``): frames
    arrive in OpenCV's BGR order and are turned to RGB in the preprocess stage."""

    def __init__(self, detector: Detector):
        self.detector = detector

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[dict, LetterboxInfo]:
        return self.detector.preprocess(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))

    def infer(self, inputs: dict) -> dict:
        return self.detector.infer(inputs)

    def postprocess(self, outputs: dict, info: LetterboxInfo | None) -> Detections:
        return self.detector.postprocess(outputs, info)


def _input_lut(model, name: str, mean: np.ndarray, std: np.ndarray) -> np.ndarray | None:
    """``(256, C)`` table pixel value -> quantized input code, when the model input is integer."""
    from edgecnn.edge.core.quant import quantize

    info = next((t for t in getattr(model, "inputs", []) if getattr(t, "name", None) == name), None)
    if info is None or not getattr(info, "quantized", False) or np.dtype(info.dtype).kind not in "iu":
        return None
    levels = np.arange(256, dtype=np.float32)[:, None]
    mean, std = np.atleast_1d(mean), np.atleast_1d(std)
    if len(np.unique(mean)) == 1 and len(np.unique(std)) == 1:
        mean, std = mean[:1], std[:1]
    return quantize((levels - mean) / std, info.scale, info.zero_point, info.dtype)


def draw_detections(image_bgr: np.ndarray, dets: Detections, *, thickness: int = 2) -> np.ndarray:
    """Draw boxes with ``label score`` on a copy of a BGR image."""
    out = image_bgr.copy()
    for box, score, cid, name in zip(dets.xyxy, dets.scores, dets.class_ids, dets.label_names(), strict=False):
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        color = _color(int(cid))
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness)
        text = f"{name} {score:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        ty = max(y1, th + base + 2)
        cv2.rectangle(out, (x1, ty - th - base - 2), (x1 + tw + 2, ty), color, -1)
        cv2.putText(out, text, (x1 + 1, ty - base - 1), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return out


def _color(i: int) -> tuple[int, int, int]:
    palette = ((56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
               (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0))
    return palette[i % len(palette)]
