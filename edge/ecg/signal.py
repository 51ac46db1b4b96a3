"""ECG signal processing in NumPy: zero-phase FIR filters, beat windows, RR-interval features.

Conventions (as in wfdb / NeuroKit): the sampling rate ``fs`` (Hz) is always passed in,
durations are in seconds, beat positions are integer sample indices into the input signal.

Every filter here is a symmetric FIR kernel applied with ``np.convolve`` (zero phase: the output
is aligned with the input). A kernel of length ``2h + 1`` needs ``h`` samples of look-ahead, so
the same code runs on a stream over a rolling buffer and yields the values of the batch call;
record edges are padded by repeating the first / last sample, in batch and stream alike.
R-peak detection lives in :mod:`edgecnn.edge.ecg.rpeaks`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from edgecnn.edge.core.errors import InputDataError

FS_MIN, FS_MAX = 50.0, 20000.0


def check_fs(fs, name: str = "fs") -> float:
    """Validate a sampling rate in Hz; ValueError naming the parameter otherwise."""
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sampling rate in Hz, got {fs!r}") from None
    if not math.isfinite(value) or not FS_MIN <= value <= FS_MAX:
        raise ValueError(f"{name} must be between {FS_MIN:g} and {FS_MAX:g} Hz, got {fs!r}")
    return value


def check_samples(x, fs, name: str = "signal", min_seconds: float = 0.0,
                  max_abs: float | None = None) -> tuple[np.ndarray, float]:
    """Validate a record's samples and its sampling rate; returns a float64 copy of ``x`` and ``fs``.

    ``x`` must be a 1-D numeric array of finite numbers and ``fs`` a valid rate (:func:`check_fs`).
    ``max_abs``: when given, every ``|sample|`` must be at most this (:func:`check_amplitude`).
    ``min_seconds``: the shortest record accepted (0: any length, empty included).
    Otherwise :class:`~edgecnn.edge.core.errors.InputDataError` naming ``name``, what is wrong and
    where (the count and first index of bad samples, with its time in seconds).
    """
    try:
        fs = check_fs(fs)
    except ValueError as exc:
        raise InputDataError(f"{name}: {exc}") from None
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu" or arr.ndim != 1:
        raise InputDataError(f"{name}: expected a 1-D numeric array of samples, got {arr.dtype} {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise InputDataError(f"{name}: {int(bad.sum())} NaN/infinite sample(s), the first at index {first} "
                             f"({first / fs:.3f} s); expected finite numbers")
    if max_abs is not None:
        check_amplitude(arr, name, max_abs)
    if len(arr) < min_seconds * fs:
        raise InputDataError(f"{name}: too short: {len(arr)} samples ({len(arr) / fs:.3f} s at {fs:g} Hz); "
                             f"need at least {min_seconds:g} s")
    return arr.astype(np.float64), fs


def check_amplitude(arr: np.ndarray, name: str, max_abs: float, offset: int = 0) -> None:
    """InputDataError unless every ``|sample|`` of ``arr`` is at most ``max_abs``; the message names
    the first offender by its index plus ``offset`` (the position of ``arr[0]`` in a stream)."""
    big = np.abs(arr) > max_abs
    if big.any():
        first = int(np.flatnonzero(big)[0])
        raise InputDataError(f"{name}: sample {first + offset} is {float(arr[first]):.3g}, expected |value| <= "
                             f"{max_abs:g} (an ECG in mV, uV or ADC counts): wrong units or a damaged file")


def odd_length(seconds: float, fs: float) -> int:
    """Number of samples (odd, >= 1) closest to ``seconds`` at ``fs``."""
    n = max(1, int(round(seconds * fs)))
    return n if n % 2 else n + 1


def box_kernel(seconds: float, fs: float) -> np.ndarray:
    """Centred moving average of about ``seconds`` (odd length, unit DC gain)."""
    n = odd_length(seconds, fs)
    return np.full(n, 1.0 / n)


def lowpass_kernel(cutoff_hz: float, seconds: float, fs: float) -> np.ndarray:
    """Hamming-windowed sinc low-pass of about ``seconds`` length, unit DC gain."""
    n = odd_length(seconds, fs)
    if cutoff_hz >= fs / 2:
        return np.ones(1)
    t = np.arange(n) - (n - 1) / 2
    k = np.sinc(2.0 * cutoff_hz / fs * t) * np.hamming(n) if n > 1 else np.ones(1)
    return k / k.sum()


def highpass_from_lowpass(lp: np.ndarray) -> np.ndarray:
    """``delta - lp``: removes what the (odd, symmetric) low-pass keeps."""
    hp = -lp.copy()
    hp[(len(hp) - 1) // 2] += 1.0
    return hp


@dataclass(frozen=True)
class FilterSpec:
    """The classifier's input filter (stored in model metadata under ``params.filter``).

    ``baseline_lowpass``: subtract the baseline (two cascaded moving averages of
    ``baseline_s``), then low-pass at ``lowpass_hz`` with a windowed sinc of ``lowpass_s``.
    """

    name: str = "baseline_lowpass"
    baseline_s: float = 0.6
    lowpass_hz: float = 40.0
    lowpass_s: float = 0.1

    def __post_init__(self):
        if self.name not in FILTERS:
            raise ValueError(f"filter name must be one of {sorted(FILTERS)}, got {self.name!r}")
        limits = {"baseline_s": (0.01, 10.0), "lowpass_hz": (0.5, 10000.0), "lowpass_s": (0.001, 10.0)}
        for key, (lo, hi) in limits.items():
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
                raise ValueError(f"filter {key} must be a number in [{lo:g}, {hi:g}], got {v!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> FilterSpec:
        if not d:
            return cls()
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"filter spec: unknown field(s) {unknown}; valid: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


def _baseline_lowpass(spec: FilterSpec, fs: float) -> np.ndarray:
    box = box_kernel(spec.baseline_s, fs)
    hp = highpass_from_lowpass(np.convolve(box, box))
    return np.convolve(hp, lowpass_kernel(spec.lowpass_hz, spec.lowpass_s, fs))


def _baseline_only(spec: FilterSpec, fs: float) -> np.ndarray:
    box = box_kernel(spec.baseline_s, fs)
    return highpass_from_lowpass(np.convolve(box, box))


def _identity(spec: FilterSpec, fs: float) -> np.ndarray:
    return np.ones(1)


FILTERS = {"baseline_lowpass": _baseline_lowpass, "baseline": _baseline_only, "none": _identity}


def filter_kernel(spec: FilterSpec, fs: float) -> np.ndarray:
    """The FIR kernel of a filter spec at ``fs`` (odd length, symmetric)."""
    try:
        make = FILTERS[spec.name]
    except KeyError:
        raise ValueError(f"filter name must be one of {sorted(FILTERS)}, got {spec.name!r}") from None
    return make(spec, check_fs(fs))


def pad_edges(x: np.ndarray, before: int, after: int) -> np.ndarray:
    """Pad by repeating the first / last sample (the record-edge rule of every filter here)."""
    return np.pad(np.asarray(x, np.float64), (before, after), mode="edge")


def fir_valid(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'valid' convolution: output i needs x[i .. i + len(kernel) - 1]."""
    if len(x) < len(kernel):
        return np.empty(0)
    return np.convolve(x, kernel, mode="valid")


def fir_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Zero-phase filtering of a whole record (edge padding), output aligned with ``x``."""
    h = (len(kernel) - 1) // 2
    return fir_valid(pad_edges(x, h, h), kernel)


def filter_ecg(x: np.ndarray, fs: float, spec: FilterSpec | None = None) -> np.ndarray:
    """The classifier's filtered signal (same length and units as ``x``)."""
    return fir_same(np.asarray(x, np.float64), filter_kernel(spec or FilterSpec(), fs))


def resample(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Resample to ``fs_out``: anti-alias low-pass (when downsampling) + linear interpolation."""
    fs_in, fs_out = check_fs(fs_in, "fs_in"), check_fs(fs_out, "fs_out")
    x = np.asarray(x, np.float64)
    if fs_in == fs_out or len(x) == 0:
        return x.copy()
    if fs_out < fs_in:
        x = fir_same(x, lowpass_kernel(0.45 * fs_out, 8.0 / fs_out, fs_in))
    n_out = int(math.floor((len(x) - 1) * fs_out / fs_in)) + 1
    return np.interp(np.arange(n_out) * (fs_in / fs_out), np.arange(len(x)), x)


# --------------------------------------------------------------------------- beat windows
@dataclass(frozen=True)
class BeatWindow:
    """A beat window sampled at the model's ``fs``: ``before`` samples before R, ``after`` from R on.

    ``norm`` (see BEAT_NORMS): ``template`` gives two channels, the beat and the median of the
    previous ``template_beats`` beats (the patient's dominant beat), both centred on their median
    and divided by the template's standard deviation, so the model compares each beat with the
    patient's own; ``median_std`` gives one channel, the beat standardised on its own.
    """

    fs: float = 180.0
    before: int = 54
    after: int = 74
    norm: str = "template"
    template_beats: int = 31

    @property
    def length(self) -> int:
        return self.before + self.after

    @property
    def channels(self) -> int:
        return 2 if self.norm == "template" else 1

    def span_s(self, fs_in: float) -> tuple[float, float]:
        """Seconds needed before / after R (plus one input sample for interpolation)."""
        return self.before / self.fs + 1.0 / fs_in, self.after / self.fs + 1.0 / fs_in

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(before_s=self.before / self.fs, after_s=self.after / self.fs, channels=self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict | None) -> BeatWindow:
        if not d:
            return cls()
        return cls(fs=float(d["fs"]), before=int(d["before"]), after=int(d["after"]),
                   norm=str(d.get("norm", "median_std")), template_beats=int(d.get("template_beats", 31)))


def window_samples(sig: np.ndarray, rpeaks: np.ndarray, fs: float, window: BeatWindow,
                   offset: int = 0) -> np.ndarray:
    """Windows around R peaks resampled to ``window.fs`` (linear interpolation), median-centred.

    ``sig`` is the filtered signal at ``fs`` whose first sample has absolute index ``offset``;
    ``rpeaks`` are absolute indices. Samples outside ``sig`` repeat its edge values.
    Returns float64 ``(len(rpeaks), window.length)``.
    """
    r = np.asarray(rpeaks, np.int64)
    if len(r) == 0 or len(sig) == 0:
        return np.zeros((0, window.length))
    step = fs / window.fs
    pos = (r - offset)[:, None] + (np.arange(window.length) - window.before)[None, :] * step
    pos = np.clip(pos, 0, len(sig) - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(sig) - 1)
    frac = pos - lo
    w = sig[lo] * (1.0 - frac) + sig[hi] * frac
    return w - np.median(w, axis=1, keepdims=True)


def running_template(centred: np.ndarray, k: int, history: np.ndarray | None = None) -> np.ndarray:
    """Per beat, the sample-wise median of the previous ``k`` beats (itself for the very first).

    ``history``: centred windows of earlier beats (oldest first), so a stream yields batch values.
    """
    hist = np.zeros((0, centred.shape[1])) if history is None or len(history) == 0 else np.asarray(history)
    allw = np.concatenate([hist, centred])
    h, n = len(hist), len(centred)
    out = np.empty_like(centred)
    for i in range(n):  # the first beats have fewer predecessors
        j = h + i
        if j >= k:
            break
        out[i] = np.median(allw[max(0, j - k) : j], axis=0) if j else allw[0]
    start = max(0, k - h)
    if start < n:
        view = np.lib.stride_tricks.sliding_window_view(allw, k, axis=0)  # (m, W, k): rows j..j+k-1
        mid = [k // 2] if k % 2 else [k // 2 - 1, k // 2]
        for b in range(start, n, 256):
            e = min(n, b + 256)
            block = np.partition(np.ascontiguousarray(view[h + b - k : h + e - k]), mid, axis=2)
            out[b:e] = block[..., mid[0]] if k % 2 else (block[..., mid[0]] + block[..., mid[1]]) * 0.5
    return out


def _norm_template(centred, window, history):
    tmpl = running_template(centred, window.template_beats, history)
    scale = tmpl.std(axis=1, keepdims=True)
    own = centred.std(axis=1, keepdims=True)
    scale = np.where(scale > 1e-9, scale, np.where(own > 1e-9, own, 1.0))
    return np.stack([centred / scale, tmpl / scale], axis=2)


def _norm_median_std(centred, window, history):
    scale = centred.std(axis=1, keepdims=True)
    return (centred / np.where(scale > 1e-9, scale, 1.0))[:, :, None]


def _norm_median(centred, window, history):
    return centred[:, :, None]


BEAT_NORMS = {"template": _norm_template, "median_std": _norm_median_std, "median": _norm_median}


def beat_tensor(centred: np.ndarray, window: BeatWindow, history: np.ndarray | None = None) -> np.ndarray:
    """Model input ``(n, W, channels)`` float32 from median-centred windows (see BeatWindow.norm)."""
    if window.norm not in BEAT_NORMS:
        raise ValueError(f"window.norm must be one of {sorted(BEAT_NORMS)}, got {window.norm!r}")
    if len(centred) == 0:
        return np.zeros((0, window.length, window.channels), np.float32)
    return BEAT_NORMS[window.norm](centred, window, history).astype(np.float32)


def beat_windows(sig: np.ndarray, rpeaks: np.ndarray, fs: float, window: BeatWindow, offset: int = 0) -> np.ndarray:
    """Whole-record convenience: :func:`window_samples` then :func:`beat_tensor`."""
    return beat_tensor(window_samples(sig, rpeaks, fs, window, offset), window)


# --------------------------------------------------------------------------- RR features
def _ratio(a: str, b: str):
    return lambda c: c[a] / c[b]


# name -> column from the per-beat context {pre, post, local, long, irregularity} (see rr_features)
RR_COLUMNS = {
    "pre_rr": lambda c: c["pre"], "post_rr": lambda c: c["post"], "local_rr": lambda c: c["local"],
    "long_rr": lambda c: c["long"], "pre_local": _ratio("pre", "local"), "post_local": _ratio("post", "local"),
    "pre_long": _ratio("pre", "long"), "local_long": _ratio("local", "long"), "post_pre": _ratio("post", "pre"),
    "irregularity": lambda c: c["irregularity"],
}
RR_FEATURES = ("pre_rr", "post_rr", "local_rr", "long_rr", "pre_local", "post_local", "pre_long", "local_long")
# Rhythm context (optional, only for models whose params.rr.names list them): ``prevK_local`` = the RR
# interval K beats before the beat's own pre-RR (RR_{i-K}, K = 1..PREV_MAX) / the local mean. Causal:
# the earlier intervals are known when the beat is, so they add no delay (a stream keeps them in its
# RR history). Before the first interval of a record the first one is repeated.
PREV_MAX = 16
PREV_COLUMNS = tuple(f"prev{k}_local" for k in range(1, PREV_MAX + 1))
for _k, _name in enumerate(PREV_COLUMNS):
    RR_COLUMNS[_name] = (lambda k: lambda c: c["prev"][:, k] / c["local"])(_k)


def prev_lags(names) -> list[int]:
    """The lags K of the ``prevK_local`` columns among ``names`` (empty: none asked for)."""
    return [PREV_COLUMNS.index(n) + 1 for n in names if n in PREV_COLUMNS]


@dataclass(frozen=True)
class RRConfig:
    """RR-interval features. Intervals in seconds, clipped to [rr_min, rr_max];
    ``local_beats`` / ``long_beats``: how many previous intervals the local / long averages use;
    ``names``: the feature columns, in order (keys of RR_COLUMNS; models without the field in
    their metadata use RR_FEATURES). ``irregularity`` = mean |RR_i - RR_i-1| over the
    ``local_beats`` intervals before the beat's own, divided by the local mean (high in atrial
    fibrillation, where an early beat is no sign of an S beat). ``prevK_local`` (K = 1..PREV_MAX):
    the interval K beats before the beat's pre-RR over the local mean (the rhythm the beat comes in)."""

    rr_min: float = 0.15
    rr_max: float = 3.0
    local_beats: int = 10
    long_beats: int = 300
    names: tuple = RR_FEATURES

    def __post_init__(self):
        unknown = [n for n in self.names if n not in RR_COLUMNS]
        if unknown or not self.names:
            raise ValueError(f"rr names must be a non-empty list of {sorted(RR_COLUMNS)}, got {list(self.names)}")
        if self.local_beats < 1 or self.long_beats < 1:
            raise ValueError(f"rr local_beats / long_beats must be >= 1, got {self.local_beats} / {self.long_beats}")

    @property
    def history_beats(self) -> int:
        """Previous pre-RR values a stream keeps so that it yields the batch features."""
        return max(1, self.long_beats - 1, self.local_beats + 1, *prev_lags(self.names))

    def to_dict(self) -> dict:
        return {**asdict(self), "names": list(self.names)}

    @classmethod
    def from_dict(cls, d: dict | None) -> RRConfig:
        if not d:
            return cls()
        kw = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        if "names" in kw:
            kw["names"] = tuple(str(n) for n in kw["names"])
        return cls(**kw)


def trailing_mean(v: np.ndarray, n: int) -> np.ndarray:
    """``out[i] = mean(v[max(0, i-n+1) : i+1])``."""
    c = np.concatenate([[0.0], np.cumsum(v, dtype=np.float64)])
    i = np.arange(len(v))
    lo = np.maximum(0, i - n + 1)
    return (c[i + 1] - c[lo]) / (i + 1 - lo)


def pre_post_rr(rpeaks: np.ndarray, fs: float, cfg: RRConfig, n_samples: int | None = None,
                prev_peak: int | None = None, last_post: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pre- and post-RR intervals (s) of each beat, clipped to [rr_min, rr_max].

    The last beat's post-RR is ``last_post`` when given; else ``rr_max`` if the record
    (``n_samples`` long) runs on for ``rr_max`` after it, else its pre-RR; NaN if both are None.
    The first beat's pre-RR is measured from ``prev_peak``, or equals its post-RR without one.
    """
    r = np.asarray(rpeaks, np.int64)
    if len(r) == 0:
        return np.zeros(0), np.zeros(0)
    d = np.clip(np.diff(r) / fs, cfg.rr_min, cfg.rr_max)
    first = np.clip((r[0] - prev_peak) / fs, cfg.rr_min, cfg.rr_max) if prev_peak is not None else np.nan
    pre = np.concatenate([[first], d])
    post = np.concatenate([d, [np.nan]])
    if last_post is not None:
        post[-1] = last_post
    elif n_samples is not None:
        post[-1] = cfg.rr_max if (n_samples - r[-1]) / fs >= cfg.rr_max else pre[-1]
    if prev_peak is None:
        pre[0] = post[0]
        if not np.isfinite(pre[0]):  # a lone beat in a short record
            pre[0] = post[0] = 1.0
    return pre, post


def rr_features(pre: np.ndarray, post: np.ndarray, cfg: RRConfig, history: np.ndarray | None = None) -> np.ndarray:
    """Feature matrix ``(n, len(cfg.names))`` from pre/post RR (s).

    ``history``: pre-RR values of earlier beats (oldest first, at least ``cfg.history_beats`` of
    them when there are) so a stream yields batch values.
    """
    if not len(pre):
        return np.zeros((0, len(cfg.names)), np.float32)
    hist = np.zeros(0) if history is None else np.asarray(history, np.float64)
    allpre = np.concatenate([hist, pre])
    k = len(hist)
    local = trailing_mean(allpre, cfg.local_beats)
    ctx = {"pre": np.asarray(pre, np.float64), "post": np.asarray(post, np.float64), "local": local[k:],
           "long": trailing_mean(allpre, cfg.long_beats)[k:]}
    if "irregularity" in cfg.names:
        step = np.abs(np.diff(allpre, prepend=allpre[0]))  # |RR_i - RR_i-1|, 0 for the first
        before = np.concatenate([[0.0], trailing_mean(step, cfg.local_beats)[:-1]])  # intervals before beat i
        ref = np.concatenate([[allpre[0]], local[:-1]])
        ctx["irregularity"] = (before / ref)[k:]
    lags = prev_lags(cfg.names)
    if lags:
        at = np.arange(k, len(allpre))[:, None] - np.arange(1, max(lags) + 1)[None, :]
        ctx["prev"] = allpre[np.maximum(at, 0)]
    return np.stack([RR_COLUMNS[n](ctx) for n in cfg.names], axis=1).astype(np.float32)


def normalize_rr(features: np.ndarray, mean, std) -> np.ndarray:
    """``(f - mean) / std`` with the statistics stored in the model metadata."""
    mean = np.asarray(mean, np.float32)
    std = np.asarray(std, np.float32)
    if mean.shape != (features.shape[1],) or std.shape != mean.shape:
        raise ValueError(f"rr normalisation: expected {features.shape[1]} means/stds, got {mean.shape}/{std.shape}")
    return ((features - mean) / np.where(std > 0, std, 1.0)).astype(np.float32)
