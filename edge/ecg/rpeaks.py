"""R-peak detection in NumPy: a Pan-Tompkins-style detector, batch and streaming.

Feature signal (all zero-phase FIR, see :mod:`edgecnn.edge.ecg.signal`): band-pass (two moving
averages of ``lowpass_s`` minus a moving average of ``highpass_s``), 5-point derivative, square,
moving-window integration over ``mwi_s``. Candidates are local maxima of the integrated signal
that have the best *score* among the local maxima within +-``refractory_s`` that are at least
``rival_frac`` x as high; the score is the height over the local
background (the quieter of the two sides, the mean of the integrated signal ``background_gap_s``
to ``background_s`` away) plus ``level_frac`` x the local QRS level (the highest local maximum
from ``level_s`` before to ``background_s`` after). On a clean record the background is near
zero and the highest peak wins, as before; inside a burst of motion artefact a QRS complex that
stands out from the burst beats a larger artefact peak nearby (docs/ecg_noise.md).

A sequential state machine then decides QRS vs noise with adaptive thresholds (signal / noise
peak levels), a T-wave slope test and search-back for missed beats at ``searchback`` x the mean
RR. A candidate that passes is held for ``compete_s``: a later candidate that also passes and
scores higher replaces it (a P wave or an artefact just before a QRS); the losers after the
winner are then judged as usual. The R peak is the largest absolute band-passed sample within
+-``locate_s`` of the candidate.

The state machine only looks at candidates whose neighbourhood is complete, and hold times and
search-back are triggered by deadlines in sample time, so :class:`StreamingDetector` (bounded
memory) returns exactly the peaks of :func:`detect_rpeaks` on the same samples.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass

import numpy as np

from edgecnn.edge.ecg.signal import box_kernel, check_fs, fir_valid, highpass_from_lowpass, pad_edges


@dataclass(frozen=True)
class DetectorConfig:
    """Pan-Tompkins-style detector parameters (durations in seconds)."""

    lowpass_s: float = 0.025
    highpass_s: float = 0.16
    mwi_s: float = 0.10
    refractory_s: float = 0.2
    twave_s: float = 0.36
    twave_slope: float = 0.5
    searchback: float = 1.5
    learn_s: float = 2.0
    rr_cap_s: float = 3.0
    locate_s: float = 0.08
    slope_s: float = 0.075
    signal_weight: float = 0.125
    noise_weight: float = 0.125
    threshold_frac: float = 0.2
    background_s: float = 0.35
    background_gap_s: float = 0.1
    level_s: float = 0.8
    level_frac: float = 0.15
    rival_frac: float = 0.5
    compete_s: float = 0.25

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> DetectorConfig:
        if not d:
            return cls()
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"detector config: unknown field(s) {unknown}; valid: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


class _Kernels:
    """The detector's kernels at one ``fs`` and the sample counts derived from the config."""

    def __init__(self, fs: float, cfg: DetectorConfig):
        lp = box_kernel(cfg.lowpass_s, fs)
        lp2 = np.convolve(lp, lp)
        self.bandpass = np.convolve(lp2, highpass_from_lowpass(box_kernel(cfg.highpass_s, fs)))
        self.deriv = np.array([1.0, 2.0, 0.0, -2.0, -1.0]) * (fs / 8.0)
        self.mwi = box_kernel(cfg.mwi_s, fs)
        self.h_bp = (len(self.bandpass) - 1) // 2
        self.h_m = 2 + (len(self.mwi) - 1) // 2
        self.half = self.h_bp + self.h_m  # raw look-ahead of the integrated signal
        self.refractory = max(1, int(round(cfg.refractory_s * fs)))
        self.locate = max(1, int(round(cfg.locate_s * fs)))
        self.slope = max(1, int(round(cfg.slope_s * fs)))
        self.bg = max(2, int(round(cfg.background_s * fs)))
        self.gap = min(self.bg - 1, max(0, int(round(cfg.background_gap_s * fs))))
        self.level = max(0, int(round(cfg.level_s * fs)))
        self.compete = max(0, int(round(cfg.compete_s * fs)))
        # candidate look-ahead and look-back: a candidate's neighbours within the refractory
        # period need their background windows and local level complete
        self.reach = max(self.refractory + self.bg, self.locate, self.slope) + 2
        self.back = self.refractory + max(self.bg, self.level) + 2
        self.twave = int(round(cfg.twave_s * fs))
        self.learn = int(round(cfg.learn_s * fs))
        self.rr_cap = int(round(cfg.rr_cap_s * fs))
        self.level_frac = float(cfg.level_frac)
        self.rival_frac = float(cfg.rival_frac)


def _features(xpad: np.ndarray, k: _Kernels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(band-passed, derivative, integrated) aligned arrays from an edge-padded raw segment.

    Output index j corresponds to raw index ``j + k.half`` of ``xpad``.
    """
    bp = fir_valid(xpad, k.bandpass)
    d = fir_valid(bp, k.deriv)
    m = fir_valid(d * d, k.mwi)
    h_mwi = (len(k.mwi) - 1) // 2
    return bp[k.h_m : k.h_m + len(m)], d[h_mwi : h_mwi + len(m)], m


# Absolute floor of the integrated feature: a flat line filters to rounding noise (~1e-30 here,
# platform dependent: aarch64's FMA leaves different dust than x86), real QRS complexes give
# values many orders of magnitude above it.
MIN_FEATURE = 1e-12


def _candidates(bp, d, m, a0: int, lo: int, hi: int, k: _Kernels):
    """Candidates with absolute index in [lo, hi): arrays start at absolute index ``a0``.

    Arrays must cover [lo - back, hi + reach) or end at the record's edge. Returns
    (index, height, slope, r_peak, score) arrays.
    """
    n = len(m)
    s0, s1 = max(0, lo - k.back - a0), min(n, hi + k.reach - a0)
    empty = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    if s1 - s0 < 1:
        return empty
    seg = m[s0:s1]
    left = np.concatenate([[-np.inf], seg[:-1]])
    right = np.concatenate([seg[1:], [-np.inf]])
    if s0 > 0:
        left[0] = m[s0 - 1]
    if s1 < n:
        right[-1] = m[s1]
    maxima = np.flatnonzero((seg > left) & (seg >= right)) + s0
    maxima = maxima[m[maxima] > MIN_FEATURE]  # floating-point dust on a flat line is no QRS
    # the candidates in [lo, hi) and their neighbours within the refractory period
    near = (maxima + a0 >= lo - k.refractory) & (maxima + a0 < hi + k.refractory)
    peaks = maxima[near]
    score = _scores(m, peaks, maxima, k)
    keep = _rivals_keep(m, peaks, score, k)
    c, sc = peaks[keep], score[keep]
    inside = (c + a0 >= lo) & (c + a0 < hi)
    c, sc = c[inside], sc[inside]
    if len(c) == 0:
        return empty
    slope = _window_reduce(d, c, k.slope, np.max, absolute=True)[0]
    r = _window_reduce(bp, c, k.locate, np.argmax, absolute=True)[1]
    return c + a0, m[c], slope, r + a0, sc


# Up to this many peaks the rival test below compares all pairs at once (a stream's push has a
# handful); a whole record is compared offset by offset.
PAIRWISE_MAX = 48


def _rivals_keep(m, peaks, score, k: _Kernels) -> np.ndarray:
    """Per peak: False when a rival within the refractory period beats it (a better score and at
    least ``rival_frac`` x its height; on equal scores the earlier peak wins)."""
    n = len(peaks)
    if 1 < n <= PAIRWISE_MAX:  # same decisions as the loop below, in a few array operations
        h = m[peaks]
        rh = k.rival_frac * h
        gap = peaks[None, :] - peaks[:, None]  # [i, j]: peak j after peak i
        close = (gap > 0) & (gap <= k.refractory)
        if not close.any():
            return np.ones(n, bool)
        lose_first = close & (score[:, None] < score[None, :]) & (h[None, :] > rh[:, None])
        lose_second = close & (score[:, None] >= score[None, :]) & (h[:, None] > rh[None, :])
        return ~(lose_first.any(axis=1) | lose_second.any(axis=0))
    keep = np.ones(n, bool)
    for j in range(1, n):
        close = (peaks[j:] - peaks[:-j]) <= k.refractory
        if not close.any():
            break
        a, b = score[:-j], score[j:]
        ha, hb = m[peaks[:-j]], m[peaks[j:]]
        keep[:-j] &= ~(close & (a < b) & (hb > k.rival_frac * ha))
        keep[j:] &= ~(close & (a >= b) & (ha > k.rival_frac * hb))
    return keep


def _side_mean(m, start, length: int) -> np.ndarray:
    """Mean of ``m[start : start + length]`` per start index (NaN where it leaves the array)."""
    ok = (start >= 0) & (start + length <= len(m))
    out = np.full(len(start), np.nan)
    if ok.any():
        out[ok] = _window_sums(m, start[ok], length) / length
    return out


def _bounds(start, stop) -> np.ndarray:
    """``[start0, stop0, start1, stop1, ...]``: the indices for ``ufunc.reduceat(...)[::2]``."""
    bounds = np.empty(2 * len(start), np.int64)
    bounds[0::2], bounds[1::2] = start, stop
    return bounds


def _window_sums(m, start, length: int) -> np.ndarray:
    """Sum of ``m[s : s + length]`` per start ``s`` (each window inside ``m``), window by window."""
    return np.add.reduceat(np.append(m, 0.0), _bounds(start, start + length))[::2]


def _nan_to_zero(x: np.ndarray) -> np.ndarray:
    """``np.nan_to_num(x, nan=0.0)`` for float64 without its ``np.finfo`` call: on a CPU whose
    runtime flushes subnormals to zero (tflite-runtime under NumPy 1.26 on aarch64) the first
    ``finfo(float64)`` prints a UserWarning on stderr."""
    big = sys.float_info.max
    return np.clip(np.where(np.isnan(x), 0.0, x), -big, big)


def _scores(m, peaks, maxima, k: _Kernels) -> np.ndarray:
    """Height over (local background + ``level_frac`` x local QRS level), per index in ``peaks``.

    Background: the smaller of the mean of ``m`` over [p - bg, p - gap) and over (p + gap, p + bg]
    (one side if the other leaves the record, 0 if both do). Level: the highest of the local
    maxima ``maxima`` (sorted) in [p - level, p + bg]. Each value is reduced over its own window,
    so a stream and a batch call give the same number."""
    if len(peaks) == 0:
        return np.zeros(0)
    h = m[peaks]
    width = k.bg - k.gap
    before, after = peaks - k.bg, peaks + k.gap + 1
    if before[0] >= 0 and after[-1] + width <= len(m):  # every window inside (a stream's push)
        sums = _window_sums(m, np.concatenate([before, after]), width) / width
        bg = np.fmin(sums[: len(peaks)], sums[len(peaks) :])
        if not np.isfinite(bg).all():  # only with an overflowing input
            bg = _nan_to_zero(bg)
    else:
        bg = np.fmin(_side_mean(m, before, width), _side_mean(m, after, width))
        bg = _nan_to_zero(bg)
    a = np.searchsorted(maxima, peaks - k.level, side="left")
    b = np.searchsorted(maxima, peaks + k.bg, side="right")  # > a: p itself is one of the maxima
    level = np.maximum.reduceat(np.append(m[maxima], -np.inf), _bounds(a, b))[::2]
    return h / (bg + k.level_frac * level)


def _window_reduce(v, c, half, how, absolute: bool = False):
    """Per index in ``c``: reduce ``v[c-half : c+half+1]`` (clipped to the array; ``absolute``: of
    ``|v|``) with max / argmax."""
    offs = np.arange(-half, half + 1)
    idx = c[:, None] + offs[None, :]
    if c[0] - half >= 0 and c[-1] + half < len(v):  # every window inside (``c`` is sorted)
        vals = np.abs(v[idx]) if absolute else v[idx]
    else:
        v = np.abs(v) if absolute else v
        valid = (idx >= 0) & (idx < len(v))
        vals = np.where(valid, v[np.clip(idx, 0, len(v) - 1)], -np.inf)
    if how is np.max:
        return vals.max(axis=1), None
    return None, idx[np.arange(len(c)), vals.argmax(axis=1)]


class _PanTompkins:
    """Sequential QRS/noise decisions over candidates (index, height, slope, r, score)."""

    def __init__(self, fs: float, cfg: DetectorConfig, k: _Kernels):
        self.cfg, self.k, self.fs = cfg, k, fs
        self.spk = self.npk = 0.0
        self.last = None  # (index, slope) of the last QRS
        self.anchor = None  # search-back looks at candidates after this index
        self.rr: list[float] = []
        self.pending: list[tuple] = []  # below-threshold candidates since the last QRS (search-back pool)
        self.held = None  # a QRS candidate held for ``compete`` samples
        self.rivals: list[tuple] = []  # candidates that arrived while one was held and did not replace it
        self.peaks: list[int] = []

    def start(self, heights: np.ndarray) -> None:
        top = float(np.max(heights)) if len(heights) else 0.0
        self.spk, self.npk = 0.5 * top, 0.125 * top

    def _thr(self) -> float:
        return self.npk + self.cfg.threshold_frac * (self.spk - self.npk)

    def _rr_mean(self) -> float:
        return float(np.mean(self.rr)) if self.rr else self.fs

    def _deadline(self) -> float:
        if self.last is None:
            return np.inf
        return self.anchor + self.cfg.searchback * self._rr_mean()

    def _accept(self, cand, weight) -> None:
        c, h, s, r = cand[:4]
        if self.last is not None:
            self.rr = (self.rr + [min(c - self.last[0], self.k.rr_cap)])[-8:]
        self.spk = weight * h + (1 - weight) * self.spk
        self.last, self.anchor = (c, s), c
        self.pending = []
        self.peaks.append(int(r))

    def _is_twave(self, c, s) -> bool:
        return self.last is not None and c - self.last[0] < self.k.twave and s < self.cfg.twave_slope * self.last[1]

    def _settle(self) -> None:
        """Accept the held candidate; judge the rivals that came after it as usual."""
        won, self.held = self.held, None
        rivals, self.rivals = [q for q in self.rivals if q[0] > won[0]], []
        self._accept(won, self.cfg.signal_weight)
        for q in rivals:
            self.advance(q[0])
            self._judge(q)

    def advance(self, t: float) -> None:
        """Settle a held QRS and run every search-back whose deadline is before sample ``t``."""
        while True:
            if self.held is not None:
                if t - self.held[0] <= self.k.compete:
                    return
                self._settle()
                continue
            dl = self._deadline()
            if dl >= t:
                return
            thr2 = 0.5 * self._thr()
            pool = [p for p in self.pending if p[0] <= dl and p[1] > thr2 and not self._is_twave(p[0], p[2])]
            if pool:
                best = max(pool, key=lambda p: p[1])
                rest = [p for p in self.pending if p[0] > best[0]]
                self._accept(best, weight=0.25)
                self.pending = rest
            else:
                self.anchor = dl
                self.spk = 0.5 * (self.spk + self.npk)
                self.pending = [p for p in self.pending if p[0] > dl]

    def finish(self, t: float) -> None:
        """End of the record at sample ``t``: settle what is held, run the search-backs before ``t``."""
        self.advance(t)
        while self.held is not None:
            self._settle()
            self.advance(t)

    def feed(self, c, h, s, r, score) -> None:
        self.advance(c)
        self._judge((c, h, s, r, score))

    def _judge(self, cand) -> None:
        c, h, s = cand[:3]
        passes = h > self._thr() and not self._is_twave(c, s)
        if self.held is not None:
            if passes and cand[4] > self.held[4]:
                self.held = cand
            else:
                self.rivals.append(cand)
            return
        if self.last is not None and c - self.last[0] < self.k.refractory:
            return
        if passes:
            self.held = cand
            return
        self.npk = self.cfg.noise_weight * h + (1 - self.cfg.noise_weight) * self.npk
        self.pending.append(cand)


DETECTORS = {"pantompkins": (_PanTompkins, DetectorConfig)}


def _detector_parts(method: str, config):
    try:
        state_cls, cfg_cls = DETECTORS[method]
    except KeyError:
        raise ValueError(f"detector must be one of {sorted(DETECTORS)}, got {method!r}") from None
    if config is None or isinstance(config, dict):
        config = cfg_cls.from_dict(config)
    return state_cls, config


def detect_rpeaks(x, fs: float, method: str = "pantompkins", config=None) -> np.ndarray:
    """R-peak sample indices (int64, increasing) of a single-lead ECG ``x`` sampled at ``fs`` Hz.

    ``x`` must be finite (check with :func:`edgecnn.edge.ecg.runtime.check_signal`); a flat or
    too-short signal gives an empty array.
    """
    fs = check_fs(fs)
    state_cls, cfg = _detector_parts(method, config)
    x = np.asarray(x, np.float64).ravel()
    if len(x) < 2:
        return np.zeros(0, np.int64)
    k = _Kernels(fs, cfg)
    bp, d, m = _features(pad_edges(x, k.half, k.half), k)
    cand = _candidates(bp, d, m, 0, 0, len(x), k)
    state = state_cls(fs, cfg, k)
    state.start(cand[1][cand[0] < k.learn])
    for c, h, s, r, sc in zip(*cand, strict=True):
        state.feed(int(c), float(h), float(s), int(r), float(sc))
    state.finish(len(x))
    return _clean(np.asarray(state.peaks, np.int64))


def _clean(peaks: np.ndarray) -> np.ndarray:
    return np.unique(peaks) if len(peaks) else np.zeros(0, np.int64)


class StreamingDetector:
    """Feed samples in chunks; get each R peak once it is final (same peaks as the batch call).

    Memory is bounded (under two seconds of samples plus the candidates since the last QRS);
    latency is the feature look-ahead plus ``refractory_s + background_s`` (the candidate score)
    plus ``compete_s`` (the hold) for a QRS found directly, about 1.05 s in all, and up to
    ``searchback`` x mean RR for one found by search-back.
    """

    def __init__(self, fs: float, method: str = "pantompkins", config=None):
        self.fs = check_fs(fs)
        state_cls, self.config = _detector_parts(method, config)
        self.k = _Kernels(self.fs, self.config)
        self.state = state_cls(self.fs, self.config, self.k)
        # the feature signal is computed incrementally: each stage keeps the last (kernel - 1) inputs
        # it has seen, so a push filters only its new samples (the values equal the batch call's)
        self._tails = [np.zeros(0), np.zeros(0), np.zeros(0)]  # raw (padded), band-passed, squared derivative
        self._last_raw = 0.0
        self._bp = np.zeros(0)  # band-passed, first value at absolute index self._bp0
        self._d = np.zeros(0)  # derivative, first value at absolute index self._d0
        self._m = np.zeros(0)  # integrated, first value at absolute index self._m0
        self._bp0 = -self.k.half + self.k.h_bp
        self._d0 = self._bp0 + 2
        self._m0 = 0
        self._n = 0  # real samples received
        self._scanned = 0  # candidates before this index have been extracted
        self._early: list[tuple] = []  # candidates collected during the learning period
        self._started = False
        self._emitted = 0
        self._done = False

    @property
    def n_samples(self) -> int:
        return self._n

    @property
    def kept_samples(self) -> int:
        """How many samples of the integrated feature signal the stream keeps (the band-passed and
        derivative ones are as long): bounded, under two seconds' worth (the memory promise)."""
        return len(self._m)

    @property
    def final_before(self) -> int:
        """Every R peak before this sample index has been returned (none will be added there)."""
        if not self._started:
            return 0
        st = self.state
        held = [st.held] if st.held is not None else []
        lo = min([self._scanned] + [p[0] for p in st.pending + st.rivals + held])
        return lo - self.k.locate

    def push(self, samples) -> np.ndarray:
        """Add samples (1-D, finite); returns the R peaks (absolute indices) now final."""
        if self._done:
            raise ValueError("StreamingDetector.push: the stream was already flushed")
        x = np.asarray(samples, np.float64).ravel()
        if len(x) == 0:
            return np.zeros(0, np.int64)
        if self._n == 0:
            x = np.concatenate([np.full(self.k.half, x[0]), x])
        self._n += len(x) - (self.k.half if self._n == 0 else 0)
        self._extend(x)
        return self._process(final=False)

    def flush(self) -> np.ndarray:
        """End of stream: pad the right edge and return the remaining peaks."""
        if self._done:
            return np.zeros(0, np.int64)
        self._done = True
        if self._n < 2:
            return np.zeros(0, np.int64)
        self._extend(np.full(self.k.half, self._last_raw))
        return self._process(final=True)

    def _extend(self, raw: np.ndarray) -> None:
        """Filter new (padded) raw samples through the feature stages; append the new values."""
        k = self.k
        self._last_raw = raw[-1]
        new = raw
        outs = []
        for i, kern in enumerate((k.bandpass, k.deriv, k.mwi)):
            if i == 2:
                new = new * new
            xin = np.concatenate([self._tails[i], new]) if len(self._tails[i]) else new
            keep = len(kern) - 1
            new = fir_valid(xin, kern)
            self._tails[i] = xin[-keep:] if len(xin) > keep else xin
            outs.append(new)
        self._bp = np.concatenate([self._bp, outs[0]])
        self._d = np.concatenate([self._d, outs[1]])
        self._m = np.concatenate([self._m, outs[2]])

    def _process(self, final: bool) -> np.ndarray:
        k = self.k
        a0 = self._m0  # absolute index of m[0]
        end = a0 + len(self._m)  # m known for [a0, end)
        hi = self._n if final else min(self._n, end - k.reach)
        if hi > self._scanned:
            m = self._m
            bp = self._bp[a0 - self._bp0 : end - self._bp0]
            d = self._d[a0 - self._d0 : end - self._d0]
            cand = _candidates(bp, d, m, a0, self._scanned, hi, k)
            self._scanned = hi
            self._feed(list(zip(*(a.tolist() for a in cand), strict=True)), hi, final)
        keep_from = self._scanned - k.back - 1  # absolute index of the first feature value kept
        for name in ("_bp", "_d", "_m"):
            start = getattr(self, name + "0")
            if keep_from > start:
                setattr(self, name, getattr(self, name)[keep_from - start :])
                setattr(self, name + "0", keep_from)
        return self._take()

    def _feed(self, cands: list, horizon: int, final: bool) -> None:
        if not self._started:
            self._early.extend(cands)
            if horizon < self.k.learn and not final:
                return
            self.state.start(np.array([c[1] for c in self._early if c[0] < self.k.learn]))
            cands, self._early, self._started = self._early, [], True
        for c, h, s, r, sc in cands:
            self.state.feed(int(c), float(h), float(s), int(r), float(sc))
        if final:
            self.state.finish(self._n)
        else:
            self.state.advance(horizon)

    def _take(self) -> np.ndarray:
        new = self.state.peaks[self._emitted :]
        self._emitted = len(self.state.peaks)
        if len(self.state.peaks) > 64:
            self.state.peaks = self.state.peaks[-1:]
            self._emitted = 1
        return np.asarray(new, np.int64)
