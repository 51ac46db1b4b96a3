"""ECG beat classification on the device: signal -> R peaks -> beat windows + RR features -> model.

The preprocessing here (:func:`beat_inputs`) is the one the training code calls, so the Keras
model, the int8 model and the device see the same numbers. The model's metadata ``params``
(see :class:`ECGParams`) fix the window, the filter, the detector and the RR normalisation.
``model`` is anything with ``.metadata`` and ``.run({"beat", "rr"}) -> {"probs"}``: an
``EdgeModel`` (.tflite) or a ``KerasModel``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edgecnn.edge.core.errors import InputDataError, ModelFileError
from edgecnn.edge.ecg.io import AAMI_CLASSES
from edgecnn.edge.ecg.rpeaks import StreamingDetector, detect_rpeaks
from edgecnn.edge.ecg.signal import (
    BeatWindow,
    FilterSpec,
    RRConfig,
    beat_tensor,
    beat_windows,
    check_fs,
    filter_kernel,
    fir_same,
    fir_valid,
    normalize_rr,
    pre_post_rr,
    rr_features,
    window_samples,
)

MIN_SECONDS = 1.0
ECTOPIC = ("S", "V", "F")
MAX_ABS_SAMPLE = 1e7  # far above any ECG in mV, uV or raw ADC counts; beyond it filters overflow


@dataclass(frozen=True)
class ECGParams:
    """Everything the device needs to turn samples into model inputs (metadata ``params``)."""

    window: BeatWindow = field(default_factory=BeatWindow)
    filter: FilterSpec = field(default_factory=FilterSpec)
    detector: str = "pantompkins"
    detector_config: dict = field(default_factory=dict)
    rr: RRConfig = field(default_factory=RRConfig)
    rr_mean: tuple = ()
    rr_std: tuple = ()
    labels: tuple = AAMI_CLASSES

    def to_dict(self) -> dict:
        return {
            "fs": self.window.fs,
            "window": self.window.to_dict(),
            "filter": self.filter.to_dict(),
            "detector": {"name": self.detector, "config": dict(self.detector_config)},
            "rr": {**self.rr.to_dict(), "mean": list(self.rr_mean), "std": list(self.rr_std)},
        }

    @classmethod
    def from_metadata(cls, meta: dict, source: str = "model") -> ECGParams:
        p = (meta or {}).get("params") or {}
        try:
            det = p.get("detector") or {}
            rr = p.get("rr") or {}
            params = cls(BeatWindow.from_dict(p["window"]), FilterSpec.from_dict(p.get("filter")),
                         str(det.get("name", "pantompkins")), dict(det.get("config") or {}),
                         RRConfig.from_dict(rr), tuple(rr.get("mean") or ()), tuple(rr.get("std") or ()),
                         tuple(meta.get("labels") or AAMI_CLASSES))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{source}: ECG metadata params are incomplete or invalid ({exc!r})") from None
        return params


def check_signal(x, fs, name: str = "signal") -> tuple[np.ndarray, float]:
    """Validate samples and ``fs``: 1-D, finite, at least MIN_SECONDS long. Returns float64 copy, fs."""
    try:
        fs = check_fs(fs)
    except ValueError as exc:
        raise InputDataError(str(exc)) from None
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu" or arr.ndim != 1:
        raise InputDataError(f"{name}: expected a 1-D numeric array of samples, got {arr.dtype} {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputDataError(f"{name}: {int(bad.sum())} NaN/infinite sample(s), the first at index {first} "
                             f"({first / fs:.3f} s); expected finite numbers")
    _check_amplitude(arr, name)
    if len(arr) < MIN_SECONDS * fs:
        raise InputDataError(f"{name}: too short: {len(arr)} samples ({len(arr) / fs:.3f} s at {fs:g} Hz); "
                             f"need at least {MIN_SECONDS:g} s")
    return arr.astype(np.float64), fs


def _check_amplitude(arr: np.ndarray, name: str, offset: int = 0) -> None:
    big = np.abs(arr) > MAX_ABS_SAMPLE
    if big.any():
        first = int(np.flatnonzero(big)[0])
        raise InputDataError(f"{name}: sample {first + offset} is {float(arr[first]):.3g}, expected |value| <= "
                             f"{MAX_ABS_SAMPLE:g} (an ECG in mV, uV or ADC counts): wrong units or a damaged file")


def is_flat(x: np.ndarray) -> bool:
    """No usable signal (constant, or variations at rounding level)."""
    return len(x) == 0 or float(np.ptp(x)) <= 1e-9 * max(1.0, float(np.max(np.abs(x))))


def beat_inputs(x, fs: float, rpeaks, params: ECGParams, n_samples: int | None = None) -> dict[str, np.ndarray]:
    """Model inputs for beats at ``rpeaks`` of a whole record ``x``: {"beat": (n, W, 1), "rr": (n, K)}."""
    sig = fir_same(np.asarray(x, np.float64), filter_kernel(params.filter, fs))
    r = np.asarray(rpeaks, np.int64)
    pre, post = pre_post_rr(r, fs, params.rr, n_samples=len(x) if n_samples is None else n_samples)
    return _pack(beat_windows(sig, r, fs, params.window), rr_features(pre, post, params.rr), params)


def _pack(beats: np.ndarray, feats: np.ndarray, params: ECGParams) -> dict[str, np.ndarray]:
    if params.rr_mean:
        feats = normalize_rr(feats, params.rr_mean, params.rr_std)
    return {"beat": beats.astype(np.float32), "rr": feats.astype(np.float32)}


@dataclass(frozen=True)
class BeatResult:
    """Classified beats as parallel arrays (sample index, time s, class id, label, confidence)."""

    sample: np.ndarray
    time_s: np.ndarray
    class_id: np.ndarray
    label: np.ndarray
    confidence: np.ndarray
    probs: np.ndarray
    labels: tuple = AAMI_CLASSES

    def __post_init__(self):
        n = len(self.sample)
        for name in ("time_s", "class_id", "label", "confidence", "probs"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"BeatResult.{name}: expected {n} rows, got {len(getattr(self, name))}")

    def __len__(self) -> int:
        return len(self.sample)

    @classmethod
    def empty(cls, labels=AAMI_CLASSES) -> BeatResult:
        return cls(np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, "<U1"),
                   np.zeros(0, np.float32), np.zeros((0, len(labels)), np.float32), tuple(labels))

    @classmethod
    def from_probs(cls, rpeaks, fs: float, probs: np.ndarray, labels) -> BeatResult:
        r = np.asarray(rpeaks, np.int64)
        if len(r) == 0:
            return cls.empty(labels)
        cid = probs.argmax(axis=1).astype(np.int64)
        names = np.asarray(labels)[cid]
        return cls(r, r / fs, cid, names, probs.max(axis=1).astype(np.float32), probs.astype(np.float32), tuple(labels))

    def rows(self) -> list[dict]:
        return [{"sample": int(s), "time_s": round(float(t), 4), "class": str(lab), "confidence": round(float(c), 4)}
                for s, t, lab, c in zip(self.sample, self.time_s, self.label, self.confidence, strict=True)]

    def concat(self, other: BeatResult) -> BeatResult:
        return BeatResult(*(np.concatenate([getattr(self, f), getattr(other, f)])
                            for f in ("sample", "time_s", "class_id", "label", "confidence", "probs")), self.labels)


def summarize(result: BeatResult, duration_s: float) -> dict:
    """Heart rate (bpm, from the median RR), counts per class, ectopic (S+V+F) beats per minute."""
    counts = {lab: int(np.sum(result.label == lab)) for lab in result.labels}
    rr = np.diff(result.time_s)
    return summary_from(counts, len(result), float(np.median(rr)) if len(rr) else None, duration_s)


def summary_from(counts: dict, beats: int, median_rr_s: float | None, duration_s: float) -> dict:
    """The summary from its parts (batch: :func:`summarize`; streams keep the parts in constant memory)."""
    hr = float(60.0 / median_rr_s) if median_rr_s else 0.0
    minutes = max(duration_s, 1e-9) / 60.0
    ectopic = sum(counts.get(k, 0) for k in ECTOPIC)
    out = {"beats": int(beats), "duration_s": round(float(duration_s), 3), "heart_rate_bpm": round(hr, 1),
           "counts": {k: int(v) for k, v in counts.items()}, "ectopic_per_min": round(ectopic / minutes, 3),
           "warnings": []}
    if median_rr_s and not 20.0 <= hr <= 300.0:
        out["warnings"].append(f"heart rate {hr:.0f} bpm is implausible: is the sampling rate (--fs) right?")
    return out


def _run_model(model, inputs: dict[str, np.ndarray]) -> np.ndarray:
    if len(inputs["beat"]) == 0:
        return np.zeros((0, len(AAMI_CLASSES)), np.float32)
    return np.asarray(model.run(inputs)["probs"], np.float32)


def model_params(model) -> ECGParams:
    """The model's ECG parameters, checked against the model itself: one label per output column."""
    source = str(getattr(model, "path", "model"))
    params = ECGParams.from_metadata(getattr(model, "metadata", {}) or {}, source)
    outputs = {getattr(t, "name", None): t for t in getattr(model, "outputs", [])}
    probs = outputs.get("probs")
    if probs is not None and len(getattr(probs, "shape", ())) and int(probs.shape[-1]) != len(params.labels):
        raise ModelFileError(f"{source}: metadata names {len(params.labels)} labels {list(params.labels)}, the "
                             f"model outputs {int(probs.shape[-1])} class probabilities; expected one label each")
    if len(set(params.labels)) != len(params.labels) or not all(isinstance(v, str) and v for v in params.labels):
        raise ModelFileError(f"{source}: metadata labels must be distinct non-empty names, got {list(params.labels)}")
    return params


def classify(model, x, fs, params: ECGParams | None = None, rpeaks=None) -> BeatResult:
    """Detect and classify every beat of a record. ``rpeaks``: use these beat positions instead."""
    params = params or model_params(model)
    x, fs = check_signal(x, fs)
    if is_flat(x):
        return BeatResult.empty(params.labels)
    r = detect_rpeaks(x, fs, params.detector, params.detector_config) if rpeaks is None else np.asarray(rpeaks, np.int64)
    probs = _run_model(model, beat_inputs(x, fs, r, params))
    return BeatResult.from_probs(r, fs, probs, params.labels)


class StreamingClassifier:
    """Push samples in chunks; get each beat once it is classified (same results as :func:`classify`).

    A beat is classified when its window is complete and its post-RR is known (the next beat,
    or ``rr.rr_max`` without one): latency <= max(window after R, next beat) + detector delay.
    Memory is bounded: a few seconds of samples and the last ``rr.long_beats`` RR intervals.
    """

    def __init__(self, model, fs, params: ECGParams | None = None):
        self.model = model
        self.params = params or model_params(model)
        try:
            self.fs = check_fs(fs)
        except ValueError as exc:
            raise InputDataError(str(exc)) from None
        self.detector = StreamingDetector(self.fs, self.params.detector, self.params.detector_config)
        self.kernel = filter_kernel(self.params.filter, self.fs)
        self.h = (len(self.kernel) - 1) // 2
        before_s, after_s = self.params.window.span_s(self.fs)
        self.before, self.after = int(np.ceil(before_s * self.fs)) + 1, int(np.ceil(after_s * self.fs)) + 1
        self._raw = np.zeros(0)
        self._raw_start = -self.h  # absolute index of _raw[0]
        self._n = 0
        self._peaks: list[int] = []  # detected, not yet classified
        self._prev: int | None = None  # last classified peak
        self._history: deque = deque(maxlen=self.params.rr.history_beats)
        self._recent: deque = deque(maxlen=max(1, self.params.window.template_beats))  # centred windows
        self._done = False

    def push(self, samples) -> BeatResult:
        if self._done:
            raise InputDataError("stream already ended")
        x = np.asarray(samples, np.float64).ravel()
        if len(x) == 0:
            return BeatResult.empty(self.params.labels)
        if not np.all(np.isfinite(x)):
            first = int(np.flatnonzero(~np.isfinite(x))[0]) + self._n
            raise InputDataError(f"stream: NaN/infinite sample at index {first}; expected finite numbers")
        _check_amplitude(x, "stream", self._n)
        pad = np.full(self.h if self._n == 0 else 0, x[0])
        self._raw = np.concatenate([self._raw, pad, x])
        self._n += len(x)
        self._peaks.extend(self.detector.push(x).tolist())
        return self._classify_ready(final=False)

    def flush(self) -> BeatResult:
        if self._done:
            return BeatResult.empty(self.params.labels)
        self._done = True
        if self._n == 0:
            return BeatResult.empty(self.params.labels)
        self._peaks.extend(self.detector.flush().tolist())
        self._raw = np.concatenate([self._raw, np.full(self.h, self._raw[-1])])
        return self._classify_ready(final=True)

    def _ready_count(self, final: bool) -> int:
        if final:
            return len(self._peaks)
        known = self._raw_start + len(self._raw) - self.h  # filtered signal known before this index
        rr_max = int(np.ceil(self.params.rr.rr_max * self.fs))
        ready = 0
        for i, r in enumerate(self._peaks):
            has_next = i + 1 < len(self._peaks) or self.detector.final_before > r + rr_max
            if not (has_next and r + self.after < known):
                break
            ready = i + 1
        return ready

    def _classify_ready(self, final: bool) -> BeatResult:
        k = self._ready_count(final)
        if k == 0:
            return BeatResult.empty(self.params.labels)
        r = np.asarray(self._peaks[: k + 1] if not final else self._peaks, np.int64)
        capped = self.params.rr.rr_max if not final and len(r) == k else None  # no next peak within rr_max
        pre, post = pre_post_rr(r, self.fs, self.params.rr, n_samples=self._n if final else None,
                                prev_peak=self._prev, last_post=capped)
        r, pre, post = r[:k], pre[:k], post[:k]
        sig = fir_valid(self._raw, self.kernel)  # starts at absolute index self._raw_start + self.h
        centred = window_samples(sig, r, self.fs, self.params.window, offset=self._raw_start + self.h)
        beats = beat_tensor(centred, self.params.window, history=np.asarray(self._recent) if self._recent else None)
        feats = rr_features(pre, post, self.params.rr, history=np.asarray(self._history))
        probs = _run_model(self.model, _pack(beats, feats, self.params))
        self._history.extend(pre.tolist())
        self._recent.extend(centred)
        self._prev = int(r[-1])
        self._peaks = self._peaks[k:]
        self._trim()
        return BeatResult.from_probs(r, self.fs, probs, self.params.labels)

    def _trim(self) -> None:
        oldest = self._peaks[0] if self._peaks else max(self._n - 1, 0) - self.after
        keep_from = min(oldest, self.detector.final_before) - self.before - 2 * self.h - 2
        drop = max(0, keep_from - self._raw_start)
        if drop:
            self._raw, self._raw_start = self._raw[drop:], self._raw_start + drop
