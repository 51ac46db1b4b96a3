"""ECG beat classification on the device: signal -> R peaks -> beat windows + RR features -> model.

The preprocessing here (:func:`beat_inputs`) is the one the training code calls, so the Keras
model, the int8 model and the device see the same numbers. The model's metadata ``params``
(see :class:`ECGParams`) fix the window, the filter, the detector and the RR normalisation.
``model`` is anything with ``.metadata`` and ``.run({"beat", "rr"}) -> {"probs"}``: an
``EdgeModel`` (.tflite) or a ``KerasModel``.

Signal quality (:mod:`edgecnn.edge.ecg.quality`, on by default, ``quality=False`` turns it off):
beats inside unreadable stretches (flat, saturated, noisy, ...) are kept, with their R-peak
position, but labelled ``"Q"`` (unclassifiable) with confidence 0 and ``readable`` False.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from edgecnn.edge.core.errors import InputDataError, ModelFileError
from edgecnn.edge.ecg.io import AAMI_CLASSES
from edgecnn.edge.ecg.quality import (
    QualityConfig,
    QualityWindows,
    StreamingQuality,
    StretchMerger,
    assess,
)
from edgecnn.edge.ecg.quality import summary as quality_summary
from edgecnn.edge.ecg.rpeaks import StreamingDetector, detect_rpeaks
from edgecnn.edge.ecg.signal import (
    BeatWindow,
    FilterSpec,
    RRConfig,
    beat_tensor,
    beat_windows,
    check_amplitude,
    check_fs,
    check_samples,
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
UNREADABLE = "Q"  # the AAMI class of a beat in an unreadable stretch (unclassifiable)


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
    """Validate samples and ``fs``: 1-D, finite, |sample| <= MAX_ABS_SAMPLE, at least MIN_SECONDS
    long (:func:`~edgecnn.edge.ecg.signal.check_samples`). Returns a float64 copy, fs."""
    return check_samples(x, fs, name, min_seconds=MIN_SECONDS, max_abs=MAX_ABS_SAMPLE)


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
    """Classified beats as parallel arrays (sample index, time s, class id, label, confidence).

    Signal quality, when assessed: ``readable`` is False for a beat inside an unreadable stretch
    (its label is ``"Q"``, its class id the index of ``"Q"`` in ``labels`` (-1 without one), its
    confidence 0; ``probs`` keep the model's output) and ``reason`` names why (``"ok"`` for
    readable beats). ``stretches``: the unreadable stretches (:class:`~edgecnn.edge.ecg.quality.Stretch`;
    a batch result: all of them; a stream's ``push``/``flush``: those that ended in that call);
    ``windows``: the per-window quality (:class:`~edgecnn.edge.ecg.quality.QualityWindows`; a
    stream: the windows assessed in that call), None when quality was not assessed.
    """

    sample: np.ndarray
    time_s: np.ndarray
    class_id: np.ndarray
    label: np.ndarray
    confidence: np.ndarray
    probs: np.ndarray
    labels: tuple = AAMI_CLASSES
    readable: np.ndarray | None = None
    reason: np.ndarray | None = None
    stretches: tuple = ()
    windows: QualityWindows | None = None

    def __post_init__(self):
        n = len(self.sample)
        if self.readable is None:
            object.__setattr__(self, "readable", np.ones(n, bool))
        if self.reason is None:
            object.__setattr__(self, "reason", np.where(np.asarray(self.readable, bool), "ok", "unreadable"))
        for name in ("time_s", "class_id", "label", "confidence", "probs", "readable", "reason"):
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

    def with_quality(self, windows: QualityWindows | None, stretches=None) -> BeatResult:
        """These beats judged by ``windows`` (beats in unusable windows become unreadable "Q");
        ``stretches`` default to the windows' own."""
        if windows is None:
            return self
        ok, why = windows.lookup(self.sample)
        out = self.mark(ok, why)
        return replace(out, stretches=tuple(windows.stretches() if stretches is None else stretches), windows=windows)

    def mark(self, readable, reason) -> BeatResult:
        """Beats where ``readable`` is False become ``"Q"``, confidence 0, with their ``reason``."""
        ok = np.asarray(readable, bool)
        cid, lab, conf = self.class_id.copy(), self.label.copy(), self.confidence.copy()
        bad = ~ok
        if bad.any():
            cid[bad] = self.labels.index(UNREADABLE) if UNREADABLE in self.labels else -1
            lab = lab.astype(np.result_type(lab.dtype, np.dtype("<U1")))
            lab[bad] = UNREADABLE
            conf[bad] = 0.0
        why = np.where(ok, "ok", np.asarray(reason).astype(str)) if len(ok) else np.zeros(0, "<U2")
        return replace(self, class_id=cid, label=lab, confidence=conf, readable=ok.copy(), reason=why)

    def rows(self) -> list[dict]:
        """One dict per beat (``sample``, ``time_s``, ``class``, ``confidence``); an unreadable beat
        adds ``"unreadable": true`` and its ``"reason"``."""
        out = []
        for s, t, lab, c, ok, why in zip(self.sample, self.time_s, self.label, self.confidence, self.readable,
                                         self.reason, strict=True):
            row = {"sample": int(s), "time_s": round(float(t), 4), "class": str(lab), "confidence": round(float(c), 4)}
            if not ok:
                row.update(unreadable=True, reason=str(why))
            out.append(row)
        return out

    def concat(self, other: BeatResult) -> BeatResult:
        windows = other.windows if self.windows is None else (
            self.windows if other.windows is None else self.windows.concat(other.windows))
        return BeatResult(*(np.concatenate([getattr(self, f), getattr(other, f)])
                            for f in ("sample", "time_s", "class_id", "label", "confidence", "probs")), self.labels,
                          np.concatenate([self.readable, other.readable]), np.concatenate([self.reason, other.reason]),
                          self.stretches + other.stretches, windows)


def summarize(result: BeatResult, duration_s: float) -> dict:
    """Heart rate (bpm, from the median RR between readable beats), counts per class, ectopic
    (S+V+F) beats per minute; with signal quality, its ``quality`` block."""
    counts = {lab: int(np.sum(result.label == lab)) for lab in result.labels}
    ok = np.asarray(result.readable, bool)
    rr = np.diff(result.time_s)[ok[1:] & ok[:-1]]
    quality = None
    if result.windows is not None:
        window_s = result.windows.window / result.windows.fs
        quality = quality_summary(result.stretches, duration_s, int((~ok).sum()), window_s)
    return summary_from(counts, len(result), float(np.median(rr)) if len(rr) else None, duration_s, quality)


def summary_from(counts: dict, beats: int, median_rr_s: float | None, duration_s: float,
                 quality: dict | None = None) -> dict:
    """The summary from its parts (batch: :func:`summarize`; streams keep the parts in constant memory)."""
    hr = float(60.0 / median_rr_s) if median_rr_s else 0.0
    minutes = max(duration_s, 1e-9) / 60.0
    ectopic = sum(counts.get(k, 0) for k in ECTOPIC)
    out = {"beats": int(beats), "duration_s": round(float(duration_s), 3), "heart_rate_bpm": round(hr, 1),
           "counts": {k: int(v) for k, v in counts.items()}, "ectopic_per_min": round(ectopic / minutes, 3),
           "warnings": []}
    if median_rr_s and not 20.0 <= hr <= 300.0:
        out["warnings"].append(f"heart rate {hr:.0f} bpm is implausible: is the sampling rate (--fs) right?")
    if quality is not None:
        out["quality"] = quality
        out["warnings"] += quality_warnings(quality)
    return out


def quality_warnings(quality: dict) -> list[str]:
    """A warning when less than half of the signal is readable, naming the main reason."""
    if quality.get("usable_fraction", 1.0) >= 0.5 or not quality.get("unreadable_by_reason"):
        return []
    reason = max(quality["unreadable_by_reason"].items(), key=lambda kv: kv[1])[0]
    msg = f"only {100 * quality['usable_fraction']:.0f} % of the signal is readable (mostly {reason})"
    if reason in ("flat", "amplitude"):
        msg += ": is the signal in mV? (--units, or quality=QualityConfig(units_per_mv=...))"
    return [msg]


def quality_config(quality) -> QualityConfig | None:
    """``quality`` argument -> config: True (defaults), False/None (off), a QualityConfig or its dict."""
    if quality is True:
        return QualityConfig()
    if quality is False or quality is None:
        return None
    if isinstance(quality, QualityConfig):
        return quality
    if isinstance(quality, dict):
        try:
            return QualityConfig.from_dict(quality)
        except (TypeError, ValueError) as exc:
            raise InputDataError(f"quality: {exc}") from None
    raise InputDataError(f"quality: expected True, False, a QualityConfig or a dict, got {quality!r}")


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


def classify(model, x, fs, params: ECGParams | None = None, rpeaks=None, quality=True) -> BeatResult:
    """Detect and classify every beat of a record. ``rpeaks``: use these beat positions instead.

    ``quality``: assess the signal quality (True: :class:`QualityConfig` defaults; a
    QualityConfig, e.g. with ``units_per_mv`` for a signal not in mV; False: off). Beats in
    unreadable stretches are returned as unreadable ``"Q"`` (see :class:`BeatResult`).
    """
    params = params or model_params(model)
    qcfg = quality_config(quality)
    x, fs = check_signal(x, fs)
    windows = assess(x, fs, qcfg) if qcfg is not None else None
    if is_flat(x):
        return BeatResult.empty(params.labels).with_quality(windows)
    r = detect_rpeaks(x, fs, params.detector, params.detector_config) if rpeaks is None else np.asarray(rpeaks, np.int64)
    probs = _run_model(model, beat_inputs(x, fs, r, params))
    return BeatResult.from_probs(r, fs, probs, params.labels).with_quality(windows)


class StreamingClassifier:
    """Push samples in chunks; get each beat once it is classified (same results as :func:`classify`).

    A beat is classified when its window is complete and its post-RR is known (the next beat,
    or ``rr.rr_max`` without one): latency <= max(window after R, next beat) + detector delay;
    with signal quality also once the quality window holding it is complete (<= ``window_s``,
    2 s, after the window's start). Each ``push``/``flush`` result also carries the quality
    windows assessed and the unreadable stretches that ended during that call (see
    :class:`BeatResult`); concatenated, the results equal the batch result.
    Memory is bounded: a few seconds of samples and the last ``rr.long_beats`` RR intervals.
    """

    def __init__(self, model, fs, params: ECGParams | None = None, quality=True):
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
        self._sig = np.zeros(0)  # filtered _raw, filled as needed: _sig[j] is the kernel over _raw[j : j + 2h + 1]
        self._n = 0
        self._peaks: list[int] = []  # detected, not yet classified
        self._prev: int | None = None  # last classified peak
        self._history = np.zeros(0)  # pre-RR of the last rr.history_beats classified beats
        self._history_len = self.params.rr.history_beats
        self._recent = np.zeros((0, self.params.window.length))  # centred windows of the last beats
        self._recent_len = max(1, self.params.window.template_beats)
        self._done = False
        qcfg = quality_config(quality)
        self.quality = StreamingQuality(self.fs, qcfg) if qcfg is not None else None
        self._merger = StretchMerger(self.fs)
        self._qwin = QualityWindows.empty(self.fs, self.quality.window) if self.quality else None  # still needed

    def push(self, samples) -> BeatResult:
        if self._done:
            raise InputDataError("stream already ended")
        x = np.asarray(samples, np.float64).ravel()
        if len(x) == 0:
            return self._with_quality(BeatResult.empty(self.params.labels), None, [])
        if not np.all(np.isfinite(x)):
            first = int(np.flatnonzero(~np.isfinite(x))[0]) + self._n
            raise InputDataError(f"stream: NaN/infinite sample at index {first}; expected finite numbers")
        check_amplitude(x, "stream", MAX_ABS_SAMPLE, self._n)
        windows = self.quality.push(x) if self.quality else None
        closed = self._note(windows)
        pad = np.full(self.h if self._n == 0 else 0, x[0])
        self._raw = np.concatenate([self._raw, pad, x])
        self._n += len(x)
        self._peaks.extend(self.detector.push(x).tolist())
        return self._with_quality(self._classify_ready(final=False), windows, closed)

    def flush(self) -> BeatResult:
        if self._done:
            return self._with_quality(BeatResult.empty(self.params.labels), None, [])
        self._done = True
        if self._n == 0:
            return self._with_quality(BeatResult.empty(self.params.labels), None, [])
        windows = self.quality.flush() if self.quality else None
        closed = self._note(windows) + self._merger.close()
        self._peaks.extend(self.detector.flush().tolist())
        self._raw = np.concatenate([self._raw, np.full(self.h, self._raw[-1])])
        return self._with_quality(self._classify_ready(final=True), windows, closed)

    def _note(self, windows: QualityWindows | None) -> list:
        """Keep newly assessed windows for the beats still to come; the stretches they close."""
        if windows is None or self.quality is None:
            return []
        self._qwin = self._qwin.concat(windows)
        return self._merger.add(windows)

    def _with_quality(self, result: BeatResult, windows, closed) -> BeatResult:
        if self.quality is None:
            return result
        if windows is None:
            windows = QualityWindows.empty(self.fs, self.quality.window)
        return replace(result, stretches=tuple(closed), windows=windows)

    def _ready_count(self, final: bool) -> int:
        if final:
            return len(self._peaks)
        known = self._raw_start + len(self._raw) - self.h  # filtered signal known before this index
        judged = self.quality.assessed_until if self.quality else known  # quality known before this index
        rr_max = int(np.ceil(self.params.rr.rr_max * self.fs))
        ready = 0
        for i, r in enumerate(self._peaks):
            has_next = i + 1 < len(self._peaks) or self.detector.final_before > r + rr_max
            if not (has_next and r + self.after < known and r < judged):
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
        # the filtered signal (from absolute index self._raw_start + self.h): only the samples
        # not filtered yet go through the kernel
        self._sig = np.concatenate([self._sig, fir_valid(self._raw[len(self._sig) :], self.kernel)])
        centred = window_samples(self._sig, r, self.fs, self.params.window, offset=self._raw_start + self.h)
        beats = beat_tensor(centred, self.params.window, history=self._recent if len(self._recent) else None)
        feats = rr_features(pre, post, self.params.rr, history=self._history)
        probs = _run_model(self.model, _pack(beats, feats, self.params))
        self._history = np.concatenate([self._history, pre])[-self._history_len :]
        self._recent = np.concatenate([self._recent, centred])[-self._recent_len :]
        self._prev = int(r[-1])
        self._peaks = self._peaks[k:]
        self._trim()
        result = BeatResult.from_probs(r, self.fs, probs, self.params.labels)
        if self._qwin is not None:
            result = result.mark(*self._qwin.lookup(r))
            self._qwin = self._qwin.since(self._raw_start)
        return result

    def _trim(self) -> None:
        oldest = self._peaks[0] if self._peaks else max(self._n - 1, 0) - self.after
        keep_from = min(oldest, self.detector.final_before) - self.before - 2 * self.h - 2
        drop = max(0, keep_from - self._raw_start)
        if drop:
            self._raw, self._raw_start = self._raw[drop:], self._raw_start + drop
            self._sig = self._sig[drop:]  # still aligned with _raw (empty when all of it went)
