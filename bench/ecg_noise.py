"""Synthetic ECG noise in the style of the MIT-BIH Noise Stress Test Database (nstdb), NumPy only.

The real nstdb noise records (``bw``, ``ma``, ``em``) are not available offline, so this module
synthesises the three noise types with a documented, seeded recipe (docs/ecg_noise.md) and adds
them to a clean record the way WFDB's ``nst`` does:

* protocol: a 5-minute noise-free learning period, then 2 minutes noisy / 2 minutes clean
  alternately to the end of the record (:func:`noisy_segments`);
* gains: the noise gain ``a`` of a segment solves ``SNR = 10 log10(S / (N a^2))``; the offset is
  recomputed at every gain change so the output has no step (nst's ``b``): inside a noisy segment
  the added noise is ``a (n(t) - n(start)) + b``, and a clean segment carries the last value as a
  constant (:func:`add_noise`);
* S and N as ``nst``/``sigamp`` define them (WFDB Applications Guide, nst(1) and sigamp(1)):
  S = (QRS peak-to-peak amplitude)^2 / 8, the peak-to-peak amplitude being the 5 %/5 % trimmed
  mean over the first 300 "normal" beats (``map1`` = NORMAL: every beat but V, E, F, r) of the
  range within +-50 ms of each annotation (:func:`signal_power`); N = the square of the 5 %/5 %
  trimmed mean, over 1-second chunks, of the RMS difference between the noise and the chunk's mean
  (:func:`noise_power`). ``nst`` measures N on the first 300 s of the noise record; here the noise
  is generated per record, so N is measured on the chunks that are actually added (every whole
  second of the noisy segments), and the SNR of the output is the requested one by construction.

Everything is deterministic for a ``(seed, record name, noise type)``: :func:`noise_rng`.
"""

from __future__ import annotations

import zlib

import numpy as np

NOISE_TYPES = ("bw", "ma", "em")
MIX = "mix"  # bw + ma + em, each scaled to the same N first
ALL_NOISE = (*NOISE_TYPES, MIX)
LEARN_S = 300.0  # nst's noise-free learning period
SEGMENT_S = 120.0  # nst's alternating noisy / clean periods
NORMAL_SYMBOLS = frozenset("NLRaJASj/QBenf")  # WFDB map1(code) == NORMAL (lib/ecgmap.h)
MAX_BEATS = 300  # sigamp's NMAX
HALF_WINDOW_S = 0.05  # sigamp's default -d 0.05 0.05
CHUNK_S = 1.0  # sigamp's default -w 1


# ----------------------------------------------------------------------------- protocol
def noisy_segments(n: int, fs: float, learn_s: float = LEARN_S, segment_s: float = SEGMENT_S) -> list[tuple[int, int]]:
    """Noisy ``[start, stop)`` sample ranges of nst's standard protocol for a record of ``n`` samples."""
    out, t = [], learn_s
    while int(round(t * fs)) < n:
        start = int(round(t * fs))
        out.append((start, min(n, int(round((t + segment_s) * fs)))))
        t += 2 * segment_s
    return out


def noisy_mask(n: int, segments) -> np.ndarray:
    """Boolean mask of the samples inside ``segments``."""
    mask = np.zeros(n, bool)
    for a, b in segments:
        mask[a:b] = True
    return mask


# ----------------------------------------------------------------------------- S and N
def trimmed_mean(values) -> float:
    """sigamp's trimmed mean: sort, drop ``n // 20`` values at each end, average the rest."""
    v = np.sort(np.asarray(values, np.float64))
    lo = len(v) // 20
    v = v[lo : len(v) - lo]
    if len(v) == 0:
        raise ValueError("no measurements to average")
    return float(v.mean())


def qrs_amplitude(x, ann_samples, ann_symbols, fs: float, max_beats: int = MAX_BEATS,
                  half_window_s: float = HALF_WINDOW_S) -> float:
    """Peak-to-peak QRS amplitude as sigamp measures it (trimmed mean over the first normal beats)."""
    x = np.asarray(x, np.float64)
    h = int(round(half_window_s * fs))
    amps = []
    for s, y in zip(np.asarray(ann_samples).tolist(), np.asarray(ann_symbols).tolist(), strict=True):
        if y not in NORMAL_SYMBOLS:
            continue
        if s - h < 0 or s + h >= len(x):
            continue
        w = x[s - h : s + h + 1]
        amps.append(float(w.max() - w.min()))
        if len(amps) >= max_beats:
            break
    if not amps:
        raise ValueError("no normal beats to measure the QRS amplitude")
    return trimmed_mean(amps)


def signal_power(x, ann_samples, ann_symbols, fs: float) -> float:
    """nst's S: (peak-to-peak QRS amplitude)^2 / 8 (the power of a sinusoid of that amplitude)."""
    return qrs_amplitude(x, ann_samples, ann_symbols, fs) ** 2 / 8.0


def chunk_rms(noise, fs: float, segments=None, chunk_s: float = CHUNK_S) -> np.ndarray:
    """RMS about the chunk mean of every whole ``chunk_s`` chunk (inside ``segments``, from each start)."""
    noise = np.asarray(noise, np.float64)
    k = int(round(chunk_s * fs))
    parts = []
    for a, b in segments if segments is not None else [(0, len(noise))]:
        m = (b - a) // k
        if m:
            c = noise[a : a + m * k].reshape(m, k)
            parts.append(np.sqrt(np.mean((c - c.mean(axis=1, keepdims=True)) ** 2, axis=1)))
    return np.concatenate(parts) if parts else np.zeros(0)


def noise_power(noise, fs: float, segments=None, chunk_s: float = CHUNK_S) -> float:
    """nst's N: the square of the trimmed mean of the 1-second chunk RMS values."""
    return trimmed_mean(chunk_rms(noise, fs, segments, chunk_s)) ** 2


def snr_db(signal_pow: float, noise_pow: float) -> float:
    return float(10.0 * np.log10(signal_pow / noise_pow)) if noise_pow > 0 else float("inf")


def measured_snr(clean, noisy, ann_samples, ann_symbols, fs: float, segments) -> float:
    """The SNR of ``noisy`` during ``segments``: S of the clean record over N of what was added."""
    added = np.asarray(noisy, np.float64) - np.asarray(clean, np.float64)
    return snr_db(signal_power(clean, ann_samples, ann_symbols, fs), noise_power(added, fs, segments))


# ----------------------------------------------------------------------------- noise recipes
def noise_rng(seed: int, record: str, kind: str) -> np.random.Generator:
    """The generator for one (seed, record, noise type): the same noise at every SNR level."""
    return np.random.default_rng([int(seed), zlib.crc32(str(record).encode()), ALL_NOISE.index(kind)])


def bandlimited(rng: np.random.Generator, n: int, fs: float, lo: float, hi: float, exponent: float = 0.0) -> np.ndarray:
    """Gaussian noise with power only in ``[lo, min(hi, 0.45 fs)]`` Hz, power density ~ f^-exponent; unit std."""
    f = np.fft.rfftfreq(n, 1.0 / fs)
    band = (f >= lo) & (f <= min(hi, 0.45 * fs)) & (f > 0)
    if not band.any():  # too short for the band: use the lowest bin above zero
        band = f == f[1] if len(f) > 1 else f > 0
    gain = np.zeros(len(f))
    gain[band] = f[band] ** (-exponent / 2.0)
    y = np.fft.irfft(np.fft.rfft(rng.standard_normal(n)) * gain, n)
    return _unit(y)


def _unit(y: np.ndarray) -> np.ndarray:
    s = float(np.std(y))
    return y / s if s > 0 else y


def _events(rng, n: int, fs: float, per_minute: float) -> np.ndarray:
    """Poisson event times (sample indices, sorted)."""
    k = rng.poisson(per_minute * n / fs / 60.0)
    return np.sort(rng.integers(0, max(n, 1), k))


def _bursts(rng, n: int, fs: float, per_minute: float, dur_s: tuple[float, float], amp: tuple[float, float]) -> np.ndarray:
    """A gate: Hann-shaped bursts of random length and height at Poisson times, 0 elsewhere."""
    gate = np.zeros(n)
    for t0 in _events(rng, n, fs, per_minute):
        m = max(3, int(rng.uniform(*dur_s) * fs))
        w = np.hanning(m) * rng.uniform(*amp)
        stop = min(n, t0 + m)
        gate[t0:stop] += w[: stop - t0]
    return gate


def baseline_wander(rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    """``bw``: eight random-phase sinusoids of 0.05-0.8 Hz (respiration, body sway) with slow
    amplitude modulation, plus a 1/f^2 drift of 0.005-0.3 Hz, in equal parts; unit std."""
    t = np.arange(n) / fs
    waves = np.zeros(n)
    for _ in range(8):
        f, fm = rng.uniform(0.05, 0.8), rng.uniform(0.002, 0.02)
        am = 1.0 + 0.5 * np.sin(2 * np.pi * fm * t + rng.uniform(0, 2 * np.pi))
        waves += rng.uniform(0.3, 1.0) * am * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    return _unit(_unit(waves) + bandlimited(rng, n, fs, 0.005, 0.3, exponent=2.0))


def muscle_artifact(rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    """``ma``: white Gaussian noise band-limited to 5-100 Hz (capped at 0.45 fs), overlapping the
    QRS band and extending above it, times a bursty envelope: a slow log-normal tone
    (exp(0.5 g), g Gaussian below 0.3 Hz) times (1 + contractions: 8 per minute, 0.3-2.5 s Hann
    bursts of height 1-4); unit std."""
    base = bandlimited(rng, n, fs, 5.0, 100.0)
    tone = np.exp(0.3 * bandlimited(rng, n, fs, 0.01, 0.3))
    return _unit(base * tone * (1.0 + _bursts(rng, n, fs, 8.0, (0.3, 2.5), (0.5, 2.0))))


def electrode_motion(rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    """``em``: what makes nstdb's em record the hardest, overlapping the QRS band:

    * motion bursts: Gaussian noise band-limited to 1-20 Hz gated by Hann bursts (20 per minute,
      0.3-2 s, height 0.5-2.5);
    * abrupt steps (electrode shifts): 2 per minute, height N(0, 1.5), decaying with a 0.3-2 s time
      constant (the amplifier's recovery);
    * QRS-like transients: 6 per minute, biphasic (a Gaussian's derivative, sigma 10-30 ms),
      height 0.5-2, either sign;
    * background: baseline wander (0.5) and muscle noise (0.3), as the em record holds both.

    Heights are in units of the burst carrier's std; the background parts have unit std each before
    their weights; unit std overall."""
    bursts = bandlimited(rng, n, fs, 1.0, 20.0) * _bursts(rng, n, fs, 20.0, (0.3, 2.0), (0.5, 2.5))
    steps = np.zeros(n)
    for t0 in _events(rng, n, fs, 2.0):
        tau = rng.uniform(0.3, 2.0) * fs
        m = min(n - t0, int(6 * tau))
        steps[t0 : t0 + m] += rng.normal(0.0, 1.5) * np.exp(-np.arange(m) / tau)
    spikes = np.zeros(n)
    for t0 in _events(rng, n, fs, 6.0):
        sig = rng.uniform(0.010, 0.030) * fs
        k = np.arange(-int(4 * sig), int(4 * sig) + 1)
        lo, hi = max(0, t0 + k[0]), min(n, t0 + k[-1] + 1)
        pulse = -(k / sig) * np.exp(0.5 - 0.5 * (k / sig) ** 2)  # peak +-1
        spikes[lo:hi] += rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0) * pulse[lo - (t0 + k[0]) : hi - (t0 + k[0])]
    return _unit(bursts + steps + spikes + 0.5 * baseline_wander(rng, n, fs) + 0.3 * muscle_artifact(rng, n, fs))


RECIPES = {"bw": baseline_wander, "ma": muscle_artifact, "em": electrode_motion}


def make_noise(kind: str, n: int, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Unscaled noise of type ``kind`` (bw, ma, em or mix), ``n`` samples at ``fs`` Hz, unit N.

    ``mix`` sums the three types after scaling each to N = 1 (so each contributes a third)."""
    if kind == MIX:
        y = sum(make_noise(k, n, fs, rng) for k in NOISE_TYPES)
    elif kind in RECIPES:
        y = RECIPES[kind](rng, n, fs)
    else:
        raise ValueError(f"noise type must be one of {list(ALL_NOISE)}, got {kind!r}")
    p = noise_power(y, fs)
    return y / np.sqrt(p) if p > 0 else y


def noise_gain(signal_pow: float, noise_pow: float, snr: float) -> float:
    """nst's gain: ``a`` with ``snr = 10 log10(S / (N a^2))``."""
    return float(np.sqrt(signal_pow / (noise_pow * 10.0 ** (snr / 10.0))))


def add_noise(x, noise, fs: float, snr: float, signal_pow: float, segments) -> tuple[np.ndarray, float]:
    """``x`` plus ``noise`` scaled to ``snr`` dB during ``segments`` (nst protocol). Returns (y, gain).

    nst's offsets: when the gain changes, the offset changes so that the output has no step; the
    added noise is therefore ``a (n(t) - n(start)) + b`` inside a segment and a constant between
    segments (zero before the first)."""
    x = np.asarray(x, np.float64)
    noise = np.asarray(noise, np.float64)
    a = noise_gain(signal_pow, noise_power(noise, fs, segments), snr)
    added = np.zeros(len(x))
    b = 0.0
    for s, e in segments:
        added[s:e] = b + a * (noise[s:e] - noise[s])
        b = float(added[e - 1])
        added[e:] = b
    return x + added, a
