"""Signal quality of one ECG lead, window by window (NumPy only, no model).

A bedside or wearable recording has stretches nobody can read: a lead off (flat line), the
amplifier at its rail (clipped), mains hum, muscle noise, electrode motion. Beats detected there
must not get a confident class. :func:`assess` cuts the signal into windows of
``QualityConfig.window_s`` (2 s) and measures each, on the signal in millivolts
(``units_per_mv`` converts other units):

* ``qrs_pp``: peak-to-peak of the 5-40 Hz band (the QRS band). **flat** below ``flat_mv``
  (0.1 mV: a lead off or a flat line; the lowest QRS of the clean DS1/SVDB windows is 0.4 mV),
  **amplitude** above ``amplitude_mv`` (10 mV: no human QRS is that large; wrong units or an
  artefact);
* ``plateau_s``: the longest run of samples held at the window's maximum or minimum (within
  ``saturation_tol`` = 0.2 % of its range). **saturated** from ``saturation_s`` (0.1 s, longer
  than a QRS: the amplifier sat at its rail; an R peak is a point, and a clipped R tip alone,
  ~50 ms in SVDB 808, leaves the beat readable);
* ``mains``: amplitude of the 50 Hz or 60 Hz line (+-1 Hz, Hann-windowed spectrum) over
  ``qrs_pp``. **mains** from ``mains_ratio`` (0.5: hum as large as half the QRS);
* ``motion_mv``, ``excursion_mv``: the baseline is a running median of 5 medians of 0.25 s
  blocks (one wide beat moves one block, a step moves all that follow); ``motion_mv`` is its
  largest |second difference| (a jump), ``excursion_mv`` its range in the window. **motion**
  when a jump reaches both ``motion_mv`` (1 mV) and ``motion_ratio`` x ``qrs_pp`` (0.7), or the
  baseline moves by ``excursion_mv`` (4 mV) in one window (breathing moves it < 1.5 mV);
* ``noise``: the r.m.s. of the quiet 0.1 s blocks of the 15-40 Hz band (their
  ``noise_quantile`` = 20th percentile) over the r.m.s. of the loudest 0.1 s block of the QRS band.
  **noisy** from ``noise_ratio`` (0.2). Muscle noise is broadband and fills the gaps between the
  QRS complexes; P and T waves and ventricular flutter live below 15 Hz.

Each measure m with threshold t gives a badness b = m / t (t / m for ``flat``), b >= 1 failing.
The window's ``score`` is ``clip(1 - max(b) / 2, 0, 1)`` (1 clean, 0.5 at a threshold, 0 at twice
it), ``usable`` is ``max(b) < 1`` (score > 0.5), ``reason`` the first failing check in the order
of :data:`REASONS`, else ``"ok"``. Consecutive unusable windows merge into :class:`Stretch` es
whose reason is the one covering most of their time. The last, shorter piece of a signal is a
window of its own when it is at least half a window long (or the only one), else it takes the
verdict of the window before it. The thresholds, and where they come from, are in docs/ecg.md.

A window is assessed from its own samples plus the last 6 baseline blocks (1.5 s) of the window
before it, so :class:`StreamingQuality`, fed chunks of any size, yields exactly the windows of
:func:`assess`.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.ecg.signal import check_fs, check_samples

REASONS = ("ok", "flat", "saturated", "amplitude", "mains", "motion", "noisy")  # priority after "ok"
QRS_BAND_HZ = (5.0, 40.0)
NOISE_BAND_HZ = (15.0, 40.0)
MAINS_HZ = (50.0, 60.0)
MAINS_HALF_WIDTH_HZ = 1.0
BASELINE_BLOCK_S = 0.25
BASELINE_MEDIAN_BLOCKS = 5  # the baseline: a running median of this many block medians
EDGE_BLOCKS = 3  # a jump is judged on 3 baseline blocks either side: a window looks 0.75 s back and ahead
UNITS_PER_MV = {"mv": 1.0, "uv": 1000.0, "\u00b5v": 1000.0, "\u03bcv": 1000.0, "v": 0.001, "nv": 1e6}


def units_per_mv(units: str | None) -> float | None:
    """Signal units per millivolt for a unit name (``mV``, ``uV``, ``V``), None when unknown."""
    return UNITS_PER_MV.get(str(units or "").strip().lower())


@dataclass(frozen=True)
class QualityConfig:
    """Window length and thresholds (see the module docstring; amplitudes in mV)."""

    window_s: float = 2.0
    block_s: float = 0.1
    units_per_mv: float = 1.0
    flat_mv: float = 0.1
    amplitude_mv: float = 10.0
    saturation_s: float = 0.1
    saturation_tol: float = 0.002
    mains_ratio: float = 0.5
    motion_mv: float = 1.0
    motion_ratio: float = 0.7
    excursion_mv: float = 4.0
    noise_ratio: float = 0.2
    noise_quantile: float = 0.2

    def __post_init__(self):
        limits = {"window_s": (0.5, 60.0), "block_s": (0.02, 1.0), "units_per_mv": (1e-9, 1e9),
                  "flat_mv": (0.0, 1e3), "amplitude_mv": (1e-3, 1e6), "saturation_s": (0.0, 60.0),
                  "saturation_tol": (0.0, 0.5), "mains_ratio": (1e-6, 1e6), "motion_mv": (0.0, 1e6),
                  "motion_ratio": (0.0, 1e6), "excursion_mv": (1e-6, 1e6), "noise_ratio": (1e-6, 1e6),
                  "noise_quantile": (0.0, 1.0)}
        for key, (lo, hi) in limits.items():
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
                raise ValueError(f"quality {key} must be a number in [{lo:g}, {hi:g}], got {v!r}")
        if self.block_s * 2 > self.window_s:
            raise ValueError(f"quality block_s must be at most half of window_s ({self.window_s:g}), "
                             f"got {self.block_s!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> QualityConfig:
        if not d:
            return cls()
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"quality config: unknown field(s) {unknown}; valid: {sorted(cls.__dataclass_fields__)}")
        return cls(**d)


@dataclass(frozen=True)
class Stretch:
    """Unusable signal from sample ``start`` to ``end`` (exclusive), mostly for ``reason``."""

    start: int
    end: int
    reason: str
    fs: float

    @property
    def start_s(self) -> float:
        return self.start / self.fs

    @property
    def end_s(self) -> float:
        return self.end / self.fs

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / self.fs

    def to_dict(self) -> dict:
        return {"start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "reason": self.reason}


@dataclass(frozen=True)
class QualityWindows:
    """Per-window verdicts (parallel arrays): sample bounds, score, reason, usable, the measures."""

    fs: float
    window: int  # samples per window (the last one may be shorter)
    start: np.ndarray
    end: np.ndarray
    score: np.ndarray
    reason: np.ndarray
    usable: np.ndarray
    features: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.start)

    @property
    def n_samples(self) -> int:
        return int(self.end[-1]) if len(self) else 0

    @property
    def usable_s(self) -> float:
        return float(np.sum((self.end - self.start)[self.usable])) / self.fs

    def stretches(self) -> list[Stretch]:
        merger = StretchMerger(self.fs)
        return merger.add(self) + merger.close()

    def lookup(self, samples) -> tuple[np.ndarray, np.ndarray]:
        """``(usable, reason)`` of the windows holding these (absolute) sample indices."""
        s = np.asarray(samples, np.int64)
        if len(self) == 0:
            return np.ones(len(s), bool), np.full(len(s), "ok", dtype="<U9")
        i = np.clip(np.searchsorted(self.end, s, side="right"), 0, len(self) - 1)
        return self.usable[i], self.reason[i]

    def since(self, sample: int) -> QualityWindows:
        """The windows that end after ``sample`` (a stream forgets the older ones)."""
        i = int(np.searchsorted(self.end, sample, side="right"))
        if i == 0:
            return self
        return QualityWindows(self.fs, self.window, self.start[i:], self.end[i:], self.score[i:], self.reason[i:],
                              self.usable[i:], {k: v[i:] for k, v in self.features.items()})

    def rows(self) -> list[dict]:
        return [{"start_s": round(a / self.fs, 3), "end_s": round(b / self.fs, 3), "score": round(float(c), 3),
                 "reason": str(r), "usable": bool(u)}
                for a, b, c, r, u in zip(self.start, self.end, self.score, self.reason, self.usable, strict=True)]

    @classmethod
    def empty(cls, fs: float, window: int) -> QualityWindows:
        return cls(fs, window, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), np.zeros(0, "<U9"),
                   np.zeros(0, bool), {})

    def concat(self, other: QualityWindows) -> QualityWindows:
        if len(other) == 0:
            return self
        if len(self) == 0:
            return other
        keys = set(self.features) & set(other.features)
        feats = {k: np.concatenate([self.features[k], other.features[k]]) for k in keys}
        return QualityWindows(self.fs, self.window, *(np.concatenate([getattr(self, f), getattr(other, f)])
                                                      for f in ("start", "end", "score", "reason", "usable")), feats)


class StretchMerger:
    """Merges consecutive unusable windows into stretches, incrementally (batch and stream alike)."""

    def __init__(self, fs: float):
        self.fs = fs
        self._start: int | None = None
        self._end = 0
        self._time: Counter = Counter()

    def add(self, w: QualityWindows) -> list[Stretch]:
        """Stretches closed by these windows (an unusable run followed by a usable window)."""
        out = []
        for a, b, r, u in zip(w.start.tolist(), w.end.tolist(), w.reason.tolist(), w.usable.tolist(), strict=True):
            if u:
                if self._start is not None:
                    out.append(self._close())
                continue
            if self._start is None:
                self._start = a
            self._end = b
            self._time[r] += b - a
        return out

    def close(self) -> list[Stretch]:
        """The open stretch, if any (end of the record or stream)."""
        return [self._close()] if self._start is not None else []

    @property
    def open_start(self) -> int | None:
        return self._start

    def _close(self) -> Stretch:
        best = max(self._time.items(), key=lambda kv: (kv[1], -REASONS.index(kv[0])))[0]
        s = Stretch(int(self._start), int(self._end), best, self.fs)
        self._start, self._time = None, Counter()
        return s


# --------------------------------------------------------------------------- measures
def _band_mask(freqs: np.ndarray, lo: float, hi: float, ramp: float) -> np.ndarray:
    """1 inside [lo, hi], raised-cosine ramps of ``ramp`` Hz outside (less ringing than a brick wall)."""
    m = np.zeros(len(freqs))
    m[(freqs >= lo) & (freqs <= hi)] = 1.0
    for d in (lo - freqs, freqs - hi):
        r = (d > 0) & (d < ramp)
        m[r] = 0.5 * (1 + np.cos(np.pi * d[r] / ramp))
    if lo - ramp <= 0:
        m[freqs <= 0] = 0.0
    return m


@functools.lru_cache(maxsize=16)
def _spectral(n: int, fs: float) -> tuple:
    """Per window length and rate (a stream asks for the same ones every window): the detrending
    ramp, the QRS- and noise-band masks and the mains bins (read-only)."""
    freqs = np.fft.rfftfreq(n, 1.0 / fs)
    top = min(QRS_BAND_HZ[1], 0.45 * fs)
    mains = []
    for f0 in MAINS_HZ:
        sel = np.flatnonzero(np.abs(freqs - f0) <= MAINS_HALF_WIDTH_HZ)
        if f0 + MAINS_HALF_WIDTH_HZ < fs / 2 and len(sel) and sel[0] >= 1 and sel[-1] + 1 < len(freqs):
            mains.append(sel)
    out = (np.arange(n) / max(n - 1, 1), _band_mask(freqs, QRS_BAND_HZ[0], top, 2.0),
           _band_mask(freqs, NOISE_BAND_HZ[0], top, 2.0), tuple(mains))
    for a in out[:3] + out[3]:
        a.flags.writeable = False
    return out


def _row_medians(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=1)`` of a 2-D array, the same numbers (numpy's own steps) with less overhead."""
    n = a.shape[1]
    if n == 0 or not np.isfinite(a).all():
        return np.median(a, axis=1)
    h = n // 2
    part = np.partition(a, [h, -1] if n % 2 else [h - 1, h, -1], axis=1)
    mid = part[:, h : h + 1] if n % 2 else part[:, h - 1 : h + 1]
    return np.add.reduce(mid, axis=1) / mid.shape[1]


def _row_quantile(a: np.ndarray, q: float) -> np.ndarray:
    """``np.quantile(a, q, axis=1)`` (linear method) of a 2-D array, the same numbers (numpy's own
    steps) with less overhead."""
    n = a.shape[1]
    if n == 0 or not np.isfinite(a).all():
        return np.quantile(a, q, axis=1)
    vi = (n - 1) * float(q)
    if vi >= n - 1:
        lo_i = hi_i = -1  # both neighbours are the maximum
    else:
        lo_i = int(math.floor(vi))
        hi_i = lo_i + 1
    g = vi - lo_i
    part = np.partition(a, np.unique(np.array([0, -1, lo_i, hi_i])), axis=1)
    prev, nxt = part[:, lo_i], part[:, hi_i]
    diff = nxt - prev
    return nxt - diff * (1.0 - g) if g >= 0.5 else prev + diff * g


def _longest_run(a: np.ndarray) -> np.ndarray:
    """Longest run of True along the last axis, per row (cost: the number of True entries)."""
    k, n = a.shape
    out = np.zeros(k, np.int64)
    idx = np.flatnonzero(a)
    if len(idx) == 0:
        return out
    row = idx // max(n, 1)
    new_run = np.ones(len(idx), bool)
    new_run[1:] = (np.diff(idx) != 1) | (np.diff(row) != 0)
    starts = np.flatnonzero(new_run)
    lengths = np.diff(np.append(starts, len(idx)))
    np.maximum.at(out, row[starts], lengths)
    return out


def measure(xw: np.ndarray, fs: float, cfg: QualityConfig, context: np.ndarray | None = None,
            ahead: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The measures of consecutive windows ``xw`` (K, L) in signal units: a dict of (K,) arrays
    (mV, s, ratios) and the context for the windows that follow.

    ``context`` / ``ahead``: the baseline block medians (mV) of the last / next ``EDGE_BLOCKS``
    blocks before / after these windows, so a jump near a window edge is judged like any other.
    """
    x = np.asarray(xw, np.float64) / cfg.units_per_mv
    k, n = x.shape
    hi, lo = x.max(axis=1), x.min(axis=1)
    rng = hi - lo
    tol = cfg.saturation_tol * rng[:, None]
    runs = _longest_run(np.concatenate([x >= hi[:, None] - tol, x <= lo[:, None] + tol]))
    plateau = np.maximum(runs[:k], runs[k:]) / fs

    # the QRS band (5-40 Hz) by FFT of the window minus the line through its end points
    ramp, qrs_mask, emg_mask, mains_bins = _spectral(n, float(fs))
    det = x - (x[:, :1] + (x[:, -1:] - x[:, :1]) * ramp[None, :])
    spec = np.fft.rfft(det, axis=1)
    qrs = np.fft.irfft(spec * qrs_mask, n=n, axis=1)
    emg = np.fft.irfft(spec * emg_mask, n=n, axis=1)
    qrs_pp = qrs.max(axis=1) - qrs.min(axis=1)
    b = max(1, int(round(cfg.block_s * fs)))
    nb = max(1, n // b)
    loud = _block_rms(qrs, nb, b).max(axis=1)
    quiet = _row_quantile(_block_rms(emg, nb, b), cfg.noise_quantile)
    noise = np.divide(quiet, loud, out=np.zeros(k), where=loud > 0)

    # mains: amplitude of the strongest 50/60 Hz line (+-1 Hz) in the Hann-windowed spectrum, from
    # the same FFT (a periodic Hann window is the 3-tap kernel [-1/4, 1/2, -1/4] across frequency)
    mains_mv = np.zeros(k)
    for sel in mains_bins:
        hann = 0.5 * spec[:, sel] - 0.25 * (spec[:, sel - 1] + spec[:, sel + 1])
        power = np.sum(hann.real ** 2 + hann.imag ** 2, axis=1)
        mains_mv = np.maximum(mains_mv, np.sqrt(32.0 * power / (3.0 * n * n)))
    mains = np.divide(mains_mv, qrs_pp, out=np.where(mains_mv > 0, np.inf, 0.0), where=qrs_pp > 0)

    # motion: the baseline is a running median of 5 block medians (0.25 s blocks of the raw signal:
    # a wide beat moves one block, a step moves all that follow); each value belongs to the window
    # of its centre block, with the blocks around the windows (context before, ahead after)
    nbb, bb = _baseline_blocks(n, fs)
    med = _block_medians(x[:, : nbb * bb].reshape(-1), bb, k * nbb).reshape(k, nbb)
    ctx = np.zeros(0) if context is None else np.asarray(context, np.float64)[-EDGE_BLOCKS:]
    seq = np.concatenate([ctx, med.ravel(), np.zeros(0) if ahead is None else np.asarray(ahead, np.float64)])
    motion, excursion = np.zeros(k), np.zeros(k)
    m, half = BASELINE_MEDIAN_BLOCKS, BASELINE_MEDIAN_BLOCKS // 2
    if len(seq) >= m:
        base = _row_medians(seq[np.arange(len(seq) - m + 1)[:, None] + np.arange(m)])  # centred at seq[i + half]
        row = (np.arange(len(base)) + half - len(ctx)) // nbb
        use = (row >= 0) & (row < k)
        lo_b, hi_b = np.full(k, np.inf), np.full(k, -np.inf)
        np.minimum.at(lo_b, row[use], base[use])
        np.maximum.at(hi_b, row[use], base[use])
        excursion = np.where(hi_b >= lo_b, hi_b - lo_b, 0.0)
        if len(base) >= 3:
            d2 = np.abs(base[2:] - 2 * base[1:-1] + base[:-2])  # centred at seq[j + half + 1]
            row = (np.arange(len(d2)) + half + 1 - len(ctx)) // nbb
            use = (row >= 0) & (row < k)
            np.maximum.at(motion, row[use], d2[use])
    feats = {"qrs_pp": qrs_pp, "plateau_s": plateau, "mains": mains, "mains_mv": mains_mv, "motion_mv": motion,
             "excursion_mv": excursion, "noise": noise}
    return feats, np.concatenate([ctx, med.ravel()])[-EDGE_BLOCKS:]


def _baseline_blocks(n: int, fs: float) -> tuple[int, int]:
    """(blocks per window of n samples, samples per block) of the baseline."""
    bb = max(1, int(round(BASELINE_BLOCK_S * fs)))
    return max(1, n // bb) if n >= bb else 1, min(bb, max(n, 1))


def _block_medians(v: np.ndarray, bb: int, count: int) -> np.ndarray:
    """Medians of the first ``count`` complete blocks of ``bb`` samples of ``v``."""
    count = min(count, len(v) // bb)
    return _row_medians(v[: count * bb].reshape(count, bb)) if count > 0 else np.zeros(0)


def _block_rms(v: np.ndarray, nb: int, b: int) -> np.ndarray:
    blocks = v[:, : nb * b].reshape(v.shape[0], nb, -1) if v.shape[1] >= b else v[:, None, :]
    return np.sqrt(np.add.reduce(blocks * blocks, axis=2) / blocks.shape[2])  # np.mean's own steps


def badness(f: dict[str, np.ndarray], cfg: QualityConfig) -> dict[str, np.ndarray]:
    """Per reason, measure / threshold (>= 1 fails)."""
    qrs = f["qrs_pp"]
    k = len(qrs)
    with np.errstate(divide="ignore", invalid="ignore"):
        flat = cfg.flat_mv / qrs if cfg.flat_mv > 0 else np.zeros(k)
        flat = np.where(qrs > 0, flat, np.inf if cfg.flat_mv > 0 else 0.0)
        motion_thr = np.maximum(cfg.motion_mv, cfg.motion_ratio * qrs)
        motion = np.where(motion_thr > 0, f["motion_mv"] / np.where(motion_thr > 0, motion_thr, 1.0), 0.0)
    motion = np.maximum(motion, f["excursion_mv"] / cfg.excursion_mv)
    sat = f["plateau_s"] / cfg.saturation_s if cfg.saturation_s > 0 else np.zeros(k)
    return {"flat": flat, "saturated": sat, "amplitude": qrs / cfg.amplitude_mv, "mains": f["mains"] / cfg.mains_ratio,
            "motion": motion, "noisy": f["noise"] / cfg.noise_ratio}


def _verdict(xw: np.ndarray, start, fs: float, cfg: QualityConfig, window: int, context=None,
             ahead=None) -> tuple[QualityWindows, np.ndarray]:
    f, context = measure(xw, fs, cfg, context, ahead)
    bad = badness(f, cfg)
    worst = np.max(np.stack([bad[r] for r in REASONS[1:]]), axis=0)
    reason = np.full(len(worst), "ok", dtype="<U9")
    for r in reversed(REASONS[1:]):  # the first failing check in REASONS order wins
        reason[bad[r] >= 1.0] = r
    score = np.clip(1.0 - 0.5 * worst, 0.0, 1.0)
    start = np.asarray(start, np.int64)
    return QualityWindows(fs, window, start, start + xw.shape[1], score, reason, worst < 1.0, f), context


def _tail_like(prev: QualityWindows, start: int, end: int) -> QualityWindows:
    """A piece that takes the verdict of the (last) window of ``prev``."""
    feats = {k: v[-1:] for k, v in prev.features.items()}
    return QualityWindows(prev.fs, prev.window, np.array([start], np.int64), np.array([end], np.int64),
                          prev.score[-1:], prev.reason[-1:], prev.usable[-1:], feats)


def _finish(rest: np.ndarray, start: int, fs: float, cfg: QualityConfig, w: int, prev: QualityWindows,
            context) -> QualityWindows:
    """The end of a signal: ``rest`` (from absolute index ``start``) holds whole windows, then a
    shorter last piece: a window of its own when at least half a window (or the only one), else
    it takes the verdict of the window before it."""
    k = len(rest) // w
    tail = rest[k * w :]
    out = QualityWindows.empty(fs, w)
    if k:
        ahead = _block_medians(tail / cfg.units_per_mv, _baseline_blocks(w, fs)[1], EDGE_BLOCKS)
        out, context = _verdict(rest[: k * w].reshape(k, w), start + np.arange(k) * w, fs, cfg, w, context, ahead)
        prev = out
    if len(tail) == 0:
        return out
    if 2 * len(tail) < w and len(prev):
        return out.concat(_tail_like(prev, start + k * w, start + len(rest)))
    return out.concat(_verdict(tail[None, :], [start + k * w], fs, cfg, w, context)[0])


def window_length(fs: float, cfg: QualityConfig) -> int:
    return max(1, int(round(cfg.window_s * fs)))


def assess(x, fs, cfg: QualityConfig | None = None, name: str = "signal") -> QualityWindows:
    """Quality of every window of ``x`` (1-D, finite, non-empty) sampled at ``fs`` Hz."""
    cfg = cfg or QualityConfig()
    x, fs = check_samples(x, fs, name)
    if len(x) == 0:
        raise InputDataError(f"{name}: no samples; expected a non-empty 1-D signal")
    w = window_length(fs, cfg)
    return _finish(x, 0, fs, cfg, w, QualityWindows.empty(fs, w), None)


class StreamingQuality:
    """Push samples in chunks of any size; get each window's verdict once it is complete.

    A window is judged once the 0.75 s after it have arrived (a baseline jump at its end is
    judged on both sides). ``push`` and ``flush`` return :class:`QualityWindows` (possibly
    empty); concatenated they equal :func:`assess` of the whole signal. Memory: less than two
    windows of samples.
    """

    def __init__(self, fs, cfg: QualityConfig | None = None, name: str = "stream"):
        self.cfg = cfg or QualityConfig()
        try:
            self.fs = check_fs(fs)
        except ValueError as exc:
            raise InputDataError(f"{name}: {exc}") from None
        self.name = name
        self.window = window_length(self.fs, self.cfg)
        nbb, self._bb = _baseline_blocks(self.window, self.fs)
        self._look = min(EDGE_BLOCKS, nbb) * self._bb  # samples after a window before it is judged
        self._buf = np.zeros(0)
        self._start = 0  # absolute index of _buf[0]
        self._last = QualityWindows.empty(self.fs, self.window)  # the latest window judged
        self._context: np.ndarray | None = None
        self._done = False

    @property
    def assessed_until(self) -> int:
        """Samples before this index have a verdict."""
        return self._start

    @property
    def n_samples(self) -> int:
        return self._start + len(self._buf)

    def push(self, samples) -> QualityWindows:
        if self._done:
            raise InputDataError(f"{self.name}: stream already ended")
        x = np.asarray(samples, np.float64).ravel()
        bad = ~np.isfinite(x)
        if bad.any():
            raise InputDataError(f"{self.name}: NaN/infinite sample at index {int(np.flatnonzero(bad)[0]) + self.n_samples}"
                                 "; expected finite numbers")
        buf = np.concatenate([self._buf, x])
        w = self.window
        k = max(0, (len(buf) - self._look) // w)
        if k == 0:
            self._buf = buf
            return QualityWindows.empty(self.fs, w)
        ahead = _block_medians(buf[k * w :] / self.cfg.units_per_mv, self._bb, EDGE_BLOCKS)
        out, self._context = _verdict(buf[: k * w].reshape(k, w), self._start + np.arange(k) * w, self.fs, self.cfg,
                                      w, self._context, ahead)
        self._buf, self._start = buf[k * w :].copy(), self._start + k * w
        self._last = _tail_like(out, int(out.start[-1]), int(out.end[-1]))
        return out

    def flush(self) -> QualityWindows:
        if self._done:
            return QualityWindows.empty(self.fs, self.window)
        self._done = True
        if self.n_samples == 0:
            raise InputDataError(f"{self.name}: no samples; expected a non-empty signal")
        out = _finish(self._buf, self._start, self.fs, self.cfg, self.window, self._last, self._context)
        self._start += len(self._buf)
        self._buf = np.zeros(0)
        return out


def summary(stretches, duration_s: float, unreadable_beats: int = 0, window_s: float | None = None) -> dict:
    """The ``quality`` block of a summary: usable time (seconds, fraction), the unreadable time by
    reason and the unreadable stretches (``start_s``, ``end_s``, ``reason``)."""
    stretches = list(stretches)
    by_reason: dict[str, float] = {}
    for st in stretches:
        by_reason[st.reason] = by_reason.get(st.reason, 0.0) + st.seconds
    bad = sum(by_reason.values())
    duration_s = max(float(duration_s), 0.0)
    usable = max(0.0, duration_s - bad)
    out = {"usable_s": round(usable, 3), "usable_fraction": round(usable / duration_s, 5) if duration_s > 0 else 0.0,
           "unreadable_s": round(bad, 3), "unreadable_beats": int(unreadable_beats),
           "unreadable_by_reason": {k: round(v, 3) for k, v in sorted(by_reason.items())},
           "stretches": [st.to_dict() for st in stretches]}
    if window_s is not None:
        out["window_s"] = float(window_s)
    return out
