"""The public Python API: one entry per job, the same shape for all three.

    from edgecnn.edge import Detector, FaceVerifier, BeatClassifier

    det = Detector.open("model.tflite")             # or builtin:NAME; checks the model's task
    dets = det(cv2.imread("photo.jpg"))              # BGR by default (what cv2.imread returns)
    for d in dets[:3]: print(d.label, d.score, d.xyxy)

    fv = FaceVerifier.open("face.tflite")
    v = fv.verify(cv2.imread("a.jpg"), cv2.imread("b.jpg"))   # Verification(same, distance, tau)

    ecg = BeatClassifier.open("builtin:ecg")
    beats = ecg(samples, fs=360)                      # BeatResult: sample, time_s, label, readable, ...
    stream = ecg.stream(fs=360); stream.push(chunk); stream.flush()

Images are uint8 ``(H, W, 3)`` arrays in the colour order named by ``colour`` ("bgr", the
default, or "rgb"), or ``(H, W)`` grey; anything else raises :class:`InputDataError` naming the
parameter, the expected and the received value. A model of another task raises
:class:`ModelFileError` naming the file and both tasks.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.core.loader import open_model
from edgecnn.edge.detect.runtime import Detections, PostConfig
from edgecnn.edge.detect.runtime import Detector as _Detector

COLOURS = ("bgr", "rgb")


def as_rgb(image, colour: str = "bgr", name: str = "image") -> np.ndarray:
    """A checked uint8 ``(H, W, 3)`` RGB copy of ``image`` given in ``colour`` order (or grey)."""
    import cv2

    if not isinstance(colour, str) or colour.lower() not in COLOURS:
        raise ValueError(f"colour: expected one of {COLOURS}, got {colour!r}")
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise InputDataError(f"{name}: expected uint8 pixels (0..255), got dtype {arr.dtype}; scale and convert "
                             "with np.clip(x, 0, 255).astype(np.uint8)")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise InputDataError(f"{name}: expected an (H, W, 3) colour or (H, W) grey image, got shape {arr.shape}")
    if min(arr.shape[:2]) < 1:
        raise InputDataError(f"{name}: empty image, shape {arr.shape}")
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB) if colour.lower() == "bgr" else np.ascontiguousarray(arr)


def _model_colour(model) -> str:
    inputs = (getattr(model, "metadata", None) or {}).get("inputs", {})
    colour = str(next(iter(inputs.values()), {}).get("color", "RGB")).lower()
    if colour not in COLOURS:
        from edgecnn.edge.core.errors import ModelFileError

        raise ModelFileError(f"{getattr(model, 'path', 'model')}: input colour {colour!r} is not one of {COLOURS}")
    return colour


class Detector(_Detector):
    """Object detection: ``Detector.open(model)(image) -> Detections``."""

    @classmethod
    def open(cls, model: str | os.PathLike, *, conf: float | None = None, iou: float | None = None,
             max_det: int | None = None, threads: int | None = None, device: str | None = None) -> Detector:
        """Open a detection model (``.tflite`` or ``builtin:NAME``); ``conf``/``iou``/``max_det``
        override the model's defaults; ``threads`` interpreter threads; ``device`` an Edge TPU."""
        det = cls(open_model(model, num_threads=threads, device=device, task="detect"))
        return det.with_config(conf=conf, iou=iou, max_det=max_det)

    def __call__(self, image, colour: str = "bgr") -> Detections:  # noqa: D102 (the class docstring)
        rgb = as_rgb(image, colour)
        if _model_colour(self.model) == "bgr":
            rgb = np.ascontiguousarray(rgb[:, :, ::-1])
        return super().__call__(rgb)


class FaceVerifier:
    """Face verification: embed, verify two faces, enroll and identify against a gallery file."""

    def __init__(self, embedder):
        self.embedder = embedder

    @classmethod
    def open(cls, model: str | os.PathLike = "builtin:face", *, finder: str | None = None,
             threads: int | None = None, flip_tta: bool | None = None,
             landmarks: str | os.PathLike | None = None, pick: str | None = None) -> FaceVerifier:
        """Open a face model (``.tflite`` or ``builtin:face``, the default); ``finder`` overrides
        the model's face finder (``learned``, ``haar``, ``center``, ``haar_or_center``, ``none``);
        ``landmarks`` the landmark model of a 5-point aligned model (default: the one its metadata
        names, ``builtin:face-landmarks`` for ``builtin:face``); ``pick`` the face used when an
        image holds several: ``largest`` (default) or ``center``."""
        from edgecnn.edge.face.runtime import Embedder

        m = open_model(model, num_threads=threads, task="face")
        return cls(Embedder.from_model(m, finder=finder, flip_tta=flip_tta, landmarks=landmarks,
                                       pick=pick))

    @property
    def threshold(self) -> float:
        return self.embedder.threshold

    def embed(self, image, colour: str = "bgr"):
        """``(unit embedding (D,), Face)`` of the largest face found in ``image``; ``Face`` holds
        the model-size crop, the finder's ``box`` (x, y, w, h) and, for aligned models, the five
        ``landmarks`` (image pixels). Raises ``FaceNotFound`` (an InputDataError) when there is none."""
        bgr = np.ascontiguousarray(as_rgb(image, colour)[:, :, ::-1])
        return self.embedder.embed_image(bgr)

    def verify(self, a, b, colour: str = "bgr", tau: float | None = None):
        """Same person or not: ``Verification(same, distance, tau)`` at the model's threshold
        (or ``tau``)."""
        ea, _ = self.embed(a, colour)
        eb, _ = self.embed(b, colour)
        return self.embedder.verify(ea, eb, tau)

    def enroll(self, gallery: str | os.PathLike, name: str, images, colour: str = "bgr"):
        """Add ``name`` with its images to the gallery file (created when missing; locked while it
        changes); returns the saved :class:`~edgecnn.edge.face.gallery.Gallery`."""
        from edgecnn.edge.face.gallery import Gallery, update_gallery

        if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype == np.uint8:
            images = [images]
        vectors = np.stack([self.embed(img, colour)[0] for img in images]) if len(images) else None
        if vectors is None:
            raise InputDataError(f"enroll {name!r}: no images given")
        e = self.embedder
        return update_gallery(gallery, lambda g: g.enroll(name, vectors), fingerprint=e.fingerprint,
                              new=lambda: Gallery.empty(e.fingerprint, e.embedding_size, e.distance))

    def identify(self, gallery: str | os.PathLike, image, colour: str = "bgr", tau: float | None = None):
        """The enrolled person nearest to the face in ``image``, or ``unknown``: a
        :class:`~edgecnn.edge.face.gallery.Match`. ``tau``: the gallery's calibrated threshold, else
        the model's."""
        from edgecnn.edge.face.gallery import load_gallery

        g = load_gallery(gallery, fingerprint=self.embedder.fingerprint)
        emb, _ = self.embed(image, colour)
        t = tau if tau is not None else (g.threshold if g.threshold is not None else self.threshold)
        return g.identify(emb, t)


class BeatClassifier:
    """ECG beat classification: ``BeatClassifier.open(model)(samples, fs) -> BeatResult``."""

    def __init__(self, model):
        from edgecnn.edge.ecg.runtime import model_params

        self.model = model
        self.params = model_params(model)

    @classmethod
    def open(cls, model: str | os.PathLike = "builtin:ecg", *, threads: int | None = None) -> BeatClassifier:
        """Open an ECG model (``.tflite`` or ``builtin:ecg``, the shipped MIT-BIH model)."""
        return cls(open_model(model, num_threads=threads, task="ecg"))

    def __call__(self, samples, fs: float, *, quality=True, units: str = "mV"):
        """Classify every beat of a 1-D signal sampled at ``fs`` Hz (any unit; it is filtered and
        normalised per beat). Returns a :class:`~edgecnn.edge.ecg.runtime.BeatResult`.

        ``quality`` (default on): beats in unreadable stretches (flat, saturated, noisy, mains,
        motion; :mod:`edgecnn.edge.ecg.quality`) come out as class ``"Q"`` with ``readable``
        False; ``units`` (``mV``, ``uV``, ``V``) scales its amplitude thresholds; ``quality=False``
        turns it off, a :class:`~edgecnn.edge.ecg.quality.QualityConfig` sets it."""
        from edgecnn.edge.ecg.runtime import classify

        return classify(self.model, samples, fs, self.params, quality=_quality(quality, units))

    def read(self, path: str | os.PathLike, fs: float | None = None, lead: str | int | None = None, *,
             quality=True):
        """Classify a recorded file (WFDB record, ``.csv``/``.txt``/``.npy`` with ``fs``, or
        ``builtin:ecg-sample``): ``(Record, BeatResult)``. Quality thresholds use the record's units
        (WFDB header; mV otherwise)."""
        from edgecnn.edge.ecg.io import read_signal
        from edgecnn.edge.ecg.quality import units_per_mv

        rec = read_signal(path, fs=fs, lead=lead)
        units = rec.units if units_per_mv(rec.units) is not None else "mV"
        return rec, self(rec.signal, rec.fs, quality=quality, units=units)

    def stream(self, fs: float, *, quality=True, units: str = "mV") -> Any:
        """A live stream: ``push(samples) -> BeatResult`` of the beats complete so far,
        ``flush() -> BeatResult`` at the end; same beats and classes as the batch call (each
        result also carries the unreadable stretches that ended in that call)."""
        from edgecnn.edge.ecg.runtime import StreamingClassifier

        return StreamingClassifier(self.model, fs, self.params, quality=_quality(quality, units))


def _quality(quality, units: str):
    """``quality``/``units`` of the BeatClassifier calls -> the runtime's ``quality`` argument."""
    from edgecnn.edge.ecg.quality import QualityConfig, units_per_mv

    if quality is not True:
        return quality
    scale = units_per_mv(units)
    if scale is None:
        raise InputDataError(f"units: expected 'mV', 'uV' or 'V', got {units!r}")
    return QualityConfig(units_per_mv=scale)


__all__ = ["BeatClassifier", "Detections", "Detector", "FaceVerifier", "PostConfig", "as_rgb"]
