"""Face preprocessing shared by training and the device, the embedder and the one distance.

The same code path turns a photo into the model input everywhere: find the face (a finder from
``FINDERS``; the largest face when there are several), then either crop it square with a margin
(``align="none"``) or, for models trained on aligned faces (``align="5point"``), predict five
landmarks in the box (``edge.face.landmarks``) and warp the face onto the five-point template
(``edge.face.align``); resize to the model input, convert to the model's colour order and
normalise as the metadata says. Training caches the crops made here, so the device sees exactly
the framing the model was trained on.

Distances live in ``DISTANCES``; the project uses one from training to runtime:
``squared_l2_unit``, the squared Euclidean distance between L2-normalised embeddings
(``||a - b||^2 = 2 - 2 a.b``, range 0..4). Two faces are the same person when ``d <= tau``.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from edgecnn.edge.core import image as _image
from edgecnn.edge.core.errors import InputDataError, ModelFileError

INPUT_NAME = "image"
OUTPUT_NAME = "embedding"
DEFAULT_DISTANCE = "squared_l2_unit"
MIN_IMAGE_SIDE = 16  # pixels; smaller images are refused as "too small"
HAAR_FILE = "haarcascade_frontalface_default.xml"
HAAR_MAX_SIDE = 320  # camera frames are searched at this size (a 640x480 frame: ~4x faster)
ALIGNMENTS = ("none", "5point")
PICKS = ("largest", "center")


class FaceNotFound(InputDataError):
    """The finder found no face in an image: a normal result the caller reports, not a crash."""


@dataclass(frozen=True)
class FaceConfig:
    """How a photo becomes a model input.

    size: model input side in pixels; margin: fraction of the face box side added on each side;
    finder: a name in ``FINDERS``; center_scale: for the ``center`` finder, the face box side as a
    fraction of the image's shorter side; min_face: smallest face side (pixels) the Haar finder
    reports; channels: 3 (RGB) or 1 (grey); mean/std: ``x = (pixel - mean) / std``.
    align: ``"none"`` (square crop around the box) or ``"5point"`` (landmarks, then the similarity
    transform onto ``align.template(size, align_padding)``); learned_box_scale: the learned
    finder's box is scaled by this about its centre before the landmark model sees it (its boxes
    run forehead to chin, about 1.2x the Haar-style boxes the landmark model was trained on); fallback_conf:
    the learned finder only: a still photo in which no face reaches the finder's score threshold
    takes its best box scoring at least this (0: never; camera frames never do); pick: which face
    of several: ``"largest"`` or ``"center"`` (the one nearest the image centre).
    """

    size: int = 112
    margin: float = 0.2
    finder: str = "haar"
    center_scale: float = 0.5
    min_face: int = 24
    channels: int = 3
    mean: float = 127.5
    std: float = 127.5
    align: str = "none"
    align_padding: float = 0.25
    learned_box_scale: float = 1.0
    fallback_conf: float = 0.2
    pick: str = "largest"

    def __post_init__(self):
        if not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"FaceConfig.size must be an integer >= 8 pixels, got {self.size!r}")
        if not 0.0 <= self.margin <= 1.0:
            raise ValueError(f"FaceConfig.margin must be in [0, 1], got {self.margin!r}")
        if self.finder not in FINDERS:
            raise ValueError(f"FaceConfig.finder must be one of {sorted(FINDERS)}, got {self.finder!r}")
        if not 0.0 < self.center_scale <= 1.0:
            raise ValueError(f"FaceConfig.center_scale must be in (0, 1], got {self.center_scale!r}")
        if self.channels not in (1, 3):
            raise ValueError(f"FaceConfig.channels must be 1 or 3, got {self.channels!r}")
        if not self.std > 0:
            raise ValueError(f"FaceConfig.std must be > 0, got {self.std!r}")
        if self.align not in ALIGNMENTS:
            raise ValueError(f"FaceConfig.align must be one of {list(ALIGNMENTS)}, got {self.align!r}")
        if not 0.0 <= self.align_padding <= 2.0:
            raise ValueError(f"FaceConfig.align_padding must be in [0, 2], got {self.align_padding!r}")
        if self.pick not in PICKS:
            raise ValueError(f"FaceConfig.pick must be one of {list(PICKS)}, got {self.pick!r}")
        if not 0.0 <= self.fallback_conf <= 1.0:
            raise ValueError(f"FaceConfig.fallback_conf must be in [0, 1], got {self.fallback_conf!r}")
        if not 0.25 <= self.learned_box_scale <= 4.0:
            raise ValueError(f"FaceConfig.learned_box_scale must be in [0.25, 4], got {self.learned_box_scale!r}")

    def to_params(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict[str, Any], **overrides) -> FaceConfig:
        """Build from metadata ``params`` (unknown keys ignored); ``overrides`` win when not None."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in params.items() if k in known}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


# -- images ------------------------------------------------------------------------------------
def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as BGR uint8 (H, W, 3); grey files are expanded to 3 channels."""
    return _image.load_image(path, color="BGR")


def as_bgr(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check an in-memory image (H, W) / (H, W, 1|3) uint8 and return it as BGR (H, W, 3)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise InputDataError(f"{name}: expected uint8 pixels, got dtype {arr.dtype}")
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = cv2.cvtColor(arr[:, :, 0], cv2.COLOR_GRAY2BGR)
    elif not (arr.ndim == 3 and arr.shape[2] == 3):
        raise InputDataError(f"{name}: expected an (H, W) or (H, W, 3) image, got shape {arr.shape}")
    h, w = arr.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise InputDataError(f"{name}: image too small ({w}x{h} pixels), need at least {MIN_IMAGE_SIDE} per side")
    return arr


# -- face finders: image BGR (H, W, 3) -> list of boxes (x, y, w, h) in pixels -------------------
@functools.lru_cache(maxsize=1)
def _haar_cascade() -> cv2.CascadeClassifier:
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = os.path.join(folder, HAAR_FILE) if folder else ""
    cascade = cv2.CascadeClassifier(path) if path and os.path.isfile(path) else None
    if cascade is None or cascade.empty():
        raise ModelFileError(
            f"OpenCV's Haar cascade {HAAR_FILE} is missing (opencv-python-headless 4.x ships it, 5.0 "
            "does not): `pip install 'opencv-python-headless>=4.8,<5'`, or use --finder center"
        )
    return cascade


def find_haar(image: np.ndarray, cfg: FaceConfig) -> list[tuple[int, int, int, int]]:
    """OpenCV's frontal-face Haar cascade on a copy at most HAAR_MAX_SIDE pixels wide; boxes in
    the source image's pixels, largest first."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = min(1.0, HAAR_MAX_SIDE / max(grey.shape))
    if scale < 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    min_side = max(12, int(round(cfg.min_face * scale)))
    found = _haar_cascade().detectMultiScale(
        cv2.equalizeHist(grey), scaleFactor=1.1, minNeighbors=5, minSize=(min_side, min_side)
    )
    boxes = [tuple(int(round(v / scale)) for v in box) for box in np.reshape(found, (-1, 4))]
    return sorted(boxes, key=lambda b: -b[2] * b[3])


def find_center(image: np.ndarray, cfg: FaceConfig) -> list[tuple[int, int, int, int]]:
    """A centred square of side ``center_scale * min(H, W)``: for pre-cropped, centred faces."""
    h, w = image.shape[:2]
    side = max(1, int(round(min(h, w) * cfg.center_scale)))
    return [((w - side) // 2, (h - side) // 2, side, side)]


def centre_offset(box, shape) -> float:
    """Distance in pixels from a box's (x, y, w, h) centre to the centre of an image of ``shape``."""
    h, w = shape[:2]
    x, y, bw, bh = box
    return float(np.hypot(x + bw / 2 - w / 2, y + bh / 2 - h / 2))


def find_haar_or_center(image: np.ndarray, cfg: FaceConfig) -> list[tuple[int, int, int, int]]:
    """For centred data sets (LFW, AT&T): the Haar box nearest the centre, else the centre box."""
    side = min(image.shape[:2])
    near = [b for b in find_haar(image, cfg) if centre_offset(b, image.shape) <= 0.2 * side and b[2] >= 0.25 * side]
    return [pick_face(near, image.shape, "center")] if near else find_center(image, cfg)


def find_none(image: np.ndarray, cfg: FaceConfig) -> list[tuple[int, int, int, int]]:
    """The whole image is the face (already cropped and aligned)."""
    h, w = image.shape[:2]
    return [(0, 0, w, h)]


def find_learned(image: np.ndarray, cfg: FaceConfig) -> list[tuple[int, int, int, int]]:
    """The learned int8 face finder (builtin:face-finder, trained on WIDER FACE; docs/face_finder.md)."""
    from edgecnn.edge.face.finder import find_learned as learned  # opens the model on first use

    return learned(image, cfg)


FINDERS = {
    "haar": find_haar,
    "haar_or_center": find_haar_or_center,
    "center": find_center,
    "none": find_none,
    "learned": find_learned,
}


def get_finder(name: str):
    if name not in FINDERS:
        raise ValueError(f"face finder must be one of {sorted(FINDERS)}, got {name!r}")
    return FINDERS[name]


class Face(NamedTuple):
    pixels: np.ndarray  # uint8 (size, size, channels), RGB or grey
    box: tuple[int, int, int, int]  # the finder's box (x, y, w, h) in the source image
    landmarks: np.ndarray | None = None  # (5, 2) image pixels, ``align.POINT_NAMES`` order, when aligned


def crop_square(image: np.ndarray, box, margin: float, size: int) -> np.ndarray:
    """Square crop around ``box`` grown by ``margin`` per side, borders replicated, resized."""
    x, y, w, h = box
    side = max(w, h) * (1.0 + 2.0 * margin)
    cx, cy = x + w / 2.0, y + h / 2.0
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(1, int(round(side)))
    ih, iw = image.shape[:2]
    pad = max(0, -x0, -y0, x0 + s - iw, y0 + s - ih)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    crop = image[y0 : y0 + s, x0 : x0 + s]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def scale_box(box, factor: float) -> tuple[float, float, float, float]:
    """``box`` (x, y, w, h) scaled by ``factor`` about its centre."""
    x, y, w, h = (float(v) for v in box)
    return (x + w * (1 - factor) / 2, y + h * (1 - factor) / 2, w * factor, h * factor)


def pick_face(boxes, shape, pick: str = "largest") -> tuple[int, int, int, int]:
    """The face to use of several boxes (x, y, w, h): the largest (the first of equals), or the
    one whose centre is nearest the image centre (``pick="center"``)."""
    if pick == "center":
        return min(boxes, key=lambda b: centre_offset(b, shape))
    return max(boxes, key=lambda b: b[2] * b[3])


def find_faces(bgr: np.ndarray, cfg: FaceConfig, *, still: bool = True,
               threads: int | None = None) -> list[tuple[int, int, int, int]]:
    """The boxes of ``cfg.finder`` in a BGR image; for the learned finder with ``threads``
    interpreter threads, and on a ``still`` photo its best box >= ``cfg.fallback_conf`` when no
    face reaches its threshold (see ``extract_face``)."""
    if cfg.finder != "learned":
        return get_finder(cfg.finder)(bgr, cfg)
    from edgecnn.edge.face.finder import default_finder

    finder = default_finder(threads)
    boxes = finder(bgr, cfg)
    if not boxes and still and cfg.fallback_conf > 0:
        boxes = finder.best(bgr, cfg, conf=cfg.fallback_conf)
    return boxes


def extract_face(image: np.ndarray, cfg: FaceConfig, name: str = "image", landmarks=None, *,
                 still: bool = True, threads: int | None = None) -> Face:
    """Find the largest face in a BGR image and return its model-size crop (RGB or grey).

    ``cfg.align == "5point"`` needs ``landmarks``, a ``edge.face.landmarks.LandmarkDetector``: the
    crop is then the face warped onto the five-point template. ``still``: a photo given to be
    verified, enrolled or embedded, so it holds a face (the learned finder may then fall back to a
    lower score, ``cfg.fallback_conf``); False for camera and video frames. ``threads``: interpreter
    threads of the learned finder (None: the runtime's default). Raises FaceNotFound when the finder
    reports no face, InputDataError for unusable images.
    """
    bgr = as_bgr(image, name)
    boxes = find_faces(bgr, cfg, still=still, threads=threads)
    if not boxes:
        raise FaceNotFound(f"{name}: no face found (finder {cfg.finder!r}); use a frontal, well-lit photo")
    box = pick_face(boxes, bgr.shape, cfg.pick)
    if cfg.align == "5point":
        from edgecnn.edge.face import align

        if landmarks is None:
            raise ModelFileError("this face model wants 5-point aligned faces (params.align = '5point') "
                                 "but no landmark model was given")
        pts = landmarks.predict(bgr, scale_box(box, cfg.learned_box_scale if cfg.finder == "learned" else 1.0))
        pixels = align.aligned_pixels(bgr, pts, size=cfg.size, channels=cfg.channels, padding=cfg.align_padding)
        return Face(pixels, box, pts)
    crop = crop_square(bgr, box, cfg.margin, cfg.size)
    if cfg.channels == 1:
        pixels = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)[:, :, None]
    else:
        pixels = cv2.cvtColor(crop, cv2.COLOR_BGR2RGB)
    return Face(pixels, box)


def auto_center_scale(images, cfg: FaceConfig) -> float:
    """Median Haar face side / shorter image side over ``images`` (BGR arrays): the ``center``
    box that frames a centred data set like the Haar finder does; ``cfg.center_scale`` if none."""
    ratios = []
    for img in images:
        boxes = find_haar(as_bgr(img), cfg)
        if boxes:
            ratios.append(boxes[0][2] / min(img.shape[:2]))
    return float(np.clip(np.median(ratios), 0.1, 1.0)) if ratios else cfg.center_scale


def face_from_file(path: str | os.PathLike, cfg: FaceConfig, landmarks=None) -> Face:
    return extract_face(load_image(path), cfg, name=str(path), landmarks=landmarks)


def normalize_pixels(pixels: np.ndarray, cfg: FaceConfig) -> np.ndarray:
    """uint8 crops (N, S, S, C) -> float32 model input ``(pixel - mean) / std``."""
    return (np.asarray(pixels, dtype=np.float32) - np.float32(cfg.mean)) / np.float32(cfg.std)


# -- distances ---------------------------------------------------------------------------------
def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norm = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return x / np.maximum(norm, eps)


def squared_l2_unit(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise squared L2 between unit vectors a (N, D) and b (M, D) -> (N, M), in [0, 4]."""
    a, b = l2_normalize(a), l2_normalize(b)
    return np.clip(2.0 - 2.0 * (a @ b.T), 0.0, 4.0).astype(np.float32)


DISTANCES = {"squared_l2_unit": squared_l2_unit}


def distance_matrix(a, b, name: str = DEFAULT_DISTANCE) -> np.ndarray:
    """Distance table lookup; a (N, D), b (M, D) -> (N, M)."""
    if name not in DISTANCES:
        raise ValueError(f"distance must be one of {sorted(DISTANCES)}, got {name!r}")
    a, b = np.atleast_2d(np.asarray(a, np.float32)), np.atleast_2d(np.asarray(b, np.float32))
    if a.shape[-1] != b.shape[-1]:
        raise InputDataError(f"embedding sizes differ: {a.shape[-1]} vs {b.shape[-1]}")
    return DISTANCES[name](a, b)


def pair_distances(a, b, name: str = DEFAULT_DISTANCE) -> np.ndarray:
    """Row-wise distance between a[i] and b[i]; (N, D), (N, D) -> (N,)."""
    a, b = np.atleast_2d(np.asarray(a, np.float32)), np.atleast_2d(np.asarray(b, np.float32))
    if a.shape != b.shape:
        raise InputDataError(f"pair_distances: shapes differ {a.shape} vs {b.shape}")
    out = np.empty(a.shape[0], np.float32)
    for start in range(0, a.shape[0], 1024):
        sl = slice(start, start + 1024)
        out[sl] = np.diagonal(distance_matrix(a[sl], b[sl], name))
    return out


class Verification(NamedTuple):
    same: bool
    distance: float
    tau: float


def verify(emb_a, emb_b, tau: float, distance: str = DEFAULT_DISTANCE) -> Verification:
    """Same person when ``d(a, b) <= tau``."""
    if not np.isfinite(tau):
        raise ValueError(f"tau must be a finite number, got {tau!r}")
    d = float(distance_matrix(emb_a, emb_b, distance)[0, 0])
    return Verification(d <= tau, d, float(tau))


# -- the embedder ------------------------------------------------------------------------------
def model_fingerprint(path: str | os.PathLike) -> str:
    """sha256 (first 16 hex digits) of a model file: galleries refuse other models by it."""
    import hashlib  # here, not at the top: OpenSSL's libcrypto is ~3.6 MB resident, which verify never needs

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def combine_fingerprints(first: str, second: str) -> str:
    """One fingerprint for two files (an embedder and its landmark model)."""
    import hashlib

    return hashlib.sha256(f"{first}+{second}".encode()).hexdigest()[:16]


@dataclass
class Embedder:
    """A face model (EdgeModel or KerasModel) plus its preprocessing, threshold and distance.

    ``embed_faces`` takes uint8 crops made by ``extract_face`` and returns unit vectors;
    ``extract``/``embed_image``/``embed_file`` run the whole path (finder, landmarks and alignment
    when the model asks for them, embedder). ``landmarks`` is the landmark detector of a model with
    ``params.align == "5point"``.
    """

    model: Any
    config: FaceConfig
    threshold: float
    distance: str = DEFAULT_DISTANCE
    given_fingerprint: str | None = None  # None: hash ``fingerprint_files`` when ``fingerprint`` is first read
    embedding_size: int = 128
    batch: int = 64
    flip_tta: bool = False  # also embed the mirrored crop and add the two (2x the compute)
    landmarks: Any = None  # edge.face.landmarks.LandmarkDetector for 5-point aligned models
    fingerprint_files: tuple[str, ...] = ()  # the embedder file, then the landmark model's

    @property
    def fingerprint(self) -> str:
        """The model's identity for galleries: sha256 of the embedder file, combined with the
        landmark model's when the model aligns ("" for a model with no file). Computed on first use."""
        if self.given_fingerprint is None:
            fp = ""
            for i, f in enumerate(self.fingerprint_files):
                fp = model_fingerprint(f) if i == 0 else combine_fingerprints(fp, model_fingerprint(f))
            self.given_fingerprint = fp
        return self.given_fingerprint

    @classmethod
    def from_model(cls, model, *, finder: str | None = None, fingerprint: str | None = None,
                   flip_tta: bool | None = None, landmarks=None, pick: str | None = None) -> Embedder:
        """``model``: an opened face model (EdgeModel or KerasModel). ``finder`` overrides the
        metadata's finder, ``pick`` the face used of several (``largest``, ``center``). ``landmarks`` (aligned models only): a LandmarkDetector or a model spec
        (path, ``builtin:NAME``); by default the metadata's ``params.landmarks_model`` (a spec, a
        relative path being relative to the model file's folder)."""
        meta = getattr(model, "metadata", None) or {}
        params = meta.get("params") or {}
        if meta.get("task") not in (None, "face"):
            raise ModelFileError(f"model task is {meta.get('task')!r}, expected 'face'")
        for key in ("embedding_size", "distance", "threshold", "size"):
            if key not in params:
                raise ModelFileError(f"face model metadata lacks params.{key}")
        if params["distance"] not in DISTANCES:
            raise ModelFileError(f"model distance {params['distance']!r} unknown; valid: {sorted(DISTANCES)}")
        src = getattr(model, "path", None) or "model"
        tau, dim, size = params["threshold"], params["embedding_size"], params["size"]
        if isinstance(tau, bool) or not isinstance(tau, int | float) or not math.isfinite(tau) or not 0 < tau <= 4:
            raise ModelFileError(f"{src}: metadata params.threshold: expected a squared-L2 distance in (0, 4], "
                                 f"got {tau!r}")
        for key, v, lo, hi in (("embedding_size", dim, 1, 65536), ("size", size, 8, 4096)):
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ModelFileError(f"{src}: metadata params.{key}: expected an integer in {lo}..{hi}, got {v!r}")
        cfg = FaceConfig.from_params(params, finder=finder, pick=pick)
        path = getattr(model, "path", None)
        files = (str(path),) if fingerprint is None and path and Path(path).is_file() else ()
        tta = bool(params.get("flip_tta", False)) if flip_tta is None else bool(flip_tta)
        detector = None
        if cfg.align == "5point":
            detector = _landmark_detector(landmarks if landmarks is not None else params.get("landmarks_model"),
                                          model, src)
            lm_path = getattr(getattr(detector, "model", None), "path", None)
            if files and lm_path and Path(lm_path).is_file():
                files += (str(lm_path),)  # the landmark model shapes the vectors too: a gallery belongs to the pair
        return cls(model, cfg, float(params["threshold"]), params["distance"],
                   fingerprint if fingerprint is not None else (None if files else ""),
                   int(params["embedding_size"]), flip_tta=tta, landmarks=detector, fingerprint_files=files)

    def extract(self, image: np.ndarray, name: str = "image", *, still: bool = True) -> Face:
        """The model-ready face of a BGR image (the largest face): see ``extract_face``."""
        return extract_face(image, self.config, name, landmarks=self.landmarks, still=still,
                            threads=getattr(self.model, "num_threads", None))

    def embed_faces(self, pixels: np.ndarray) -> np.ndarray:
        pixels = np.asarray(pixels)
        want = (self.config.size, self.config.size, self.config.channels)
        if pixels.ndim == 3:
            pixels = pixels[None]
        if pixels.shape[1:] != want:
            raise InputDataError(f"face crops must have shape (N, {want[0]}, {want[1]}, {want[2]}), got {pixels.shape}")
        outs = []
        for start in range(0, len(pixels), self.batch):
            x = normalize_pixels(pixels[start : start + self.batch], self.config)
            e = self._run(x)
            if self.flip_tta:
                e = l2_normalize(e) + l2_normalize(self._run(x[:, :, ::-1]))
            outs.append(e)
        emb = np.concatenate(outs) if outs else np.zeros((0, self.embedding_size), np.float32)
        return l2_normalize(emb)

    def _run(self, x: np.ndarray) -> np.ndarray:
        out = self.model.run({INPUT_NAME: np.ascontiguousarray(x)})
        if OUTPUT_NAME not in out:
            raise ModelFileError(f"face model has no output {OUTPUT_NAME!r}; outputs: {sorted(out)}")
        return np.asarray(out[OUTPUT_NAME], np.float32).reshape(len(x), -1)

    def embed_image(self, image: np.ndarray, name: str = "image") -> tuple[np.ndarray, Face]:
        face = self.extract(image, name)
        return self.embed_faces(face.pixels[None])[0], face

    def embed_file(self, path: str | os.PathLike) -> tuple[np.ndarray, Face]:
        return self.embed_image(load_image(path), name=str(path))

    def verify(self, emb_a, emb_b, tau: float | None = None) -> Verification:
        return verify(emb_a, emb_b, self.threshold if tau is None else tau, self.distance)


def _landmark_detector(spec, model, src):
    """A LandmarkDetector from a detector, a model spec or a path relative to ``model``'s folder."""
    from edgecnn.edge.core.loader import BUILTIN_PREFIX
    from edgecnn.edge.face.landmarks import LandmarkDetector

    if isinstance(spec, LandmarkDetector) or callable(getattr(spec, "predict", None)):
        return spec  # a detector (anything with LandmarkDetector's ``predict(image_bgr, box)``)
    if not spec or not isinstance(spec, str | os.PathLike):
        raise ModelFileError(f"{src}: the model wants 5-point aligned faces (params.align = '5point') but names "
                             "no landmark model (params.landmarks_model); pass one (--landmarks MODEL)")
    spec = str(spec)
    if not spec.startswith(BUILTIN_PREFIX) and not os.path.isabs(spec):
        here = getattr(model, "path", None)
        near = Path(here).parent / spec if here else None
        if near is not None and near.exists():
            spec = str(near)
    return LandmarkDetector.load(spec, num_threads=getattr(model, "num_threads", None))
