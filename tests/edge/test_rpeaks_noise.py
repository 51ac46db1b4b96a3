"""R-peak detection under electrode-motion noise (issue #16): the nstdb-style ``em`` recipe of
bench/ecg_noise.py added at 12 dB SNR (nst's definition) to synthetic records, at 360 and 128 Hz.

Pooled over the three records of ``test_em_noise_12db``, the detector before the
background-normalised candidate score and the held-candidate competition (edge/ecg/rpeaks.py,
docs/ecg_noise.md) found 97.9 % (360 Hz) and 96.7 % (128 Hz) of the beats inside the noise; now
99.2 % and 98.6 % (+P 87.3 % and 86.1 %)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgecnn.edge.ecg import rpeaks
from edgecnn.edge.ecg.evaluate import match_beats
from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_record

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import ecg_noise as en  # noqa: E402

CLEAN_S = 30.0  # learning period before the noise starts
SEEDS = (0, 2, 3)


def _noisy(fs: float, seed: int, snr: float = 12.0):
    cfg = SyntheticConfig(fs=fs, duration_s=240.0, hr_bpm=(60.0, 100.0), baseline_mv=0.1, mains_mv=0.0, muscle_mv=0.01)
    rec = synth_record(cfg, seed=seed)
    n = len(rec.signal)
    segments = [(int(CLEAN_S * fs), n)]
    s_pow = en.signal_power(rec.signal, rec.r_samples, rec.symbols, fs)
    unit = en.make_noise("em", n, fs, np.random.default_rng([seed, 16]))
    y, _ = en.add_noise(rec.signal, unit, fs, snr, s_pow, segments)
    return rec, y, en.noisy_mask(n, segments)


def _counts(ref, det, fs):
    r2d, d2r = match_beats(ref, det, int(round(0.15 * fs)))
    return int((r2d >= 0).sum()), int((r2d < 0).sum()), int((d2r < 0).sum())


@pytest.mark.parametrize("fs", [360.0, 128.0])
def test_em_noise_12db(fs):
    """Pooled over three seeded records: Se >= 98 % of the beats inside the noise, +P >= 84 %,
    and the clean records are still detected without a miss or an extra beat."""
    tp = fn = fp = 0
    for seed in SEEDS:
        rec, y, mask = _noisy(fs, seed)
        det = rpeaks.detect_rpeaks(y, fs)
        a, b, c = _counts(rec.r_samples[mask[rec.r_samples]], det[mask[det]], fs)
        tp, fn, fp = tp + a, fn + b, fp + c
        clean = _counts(rec.r_samples, rpeaks.detect_rpeaks(rec.signal, fs), fs)
        assert clean[1:] == (0, 0), (fs, seed, clean)
    se, ppv = tp / (tp + fn), tp / (tp + fp)
    assert se >= 0.98 and ppv >= 0.84, (fs, se, ppv)


@pytest.mark.parametrize("chunk", [1, 37, 1000, 10**7])
def test_stream_equals_batch_under_em_noise(chunk):
    """Noise makes many candidates, held QRS candidates and replaced ones: the stream still returns
    exactly the batch peaks."""
    fs = 250.0
    _, y, _ = _noisy(fs, seed=5, snr=6.0)
    y = y[: int(120 * fs)]
    batch = rpeaks.detect_rpeaks(y, fs)
    sd = rpeaks.StreamingDetector(fs)
    parts = [sd.push(y[i : i + chunk]) for i in range(0, len(y), chunk)]
    stream = np.concatenate(parts + [sd.flush()])
    np.testing.assert_array_equal(stream, batch)


@pytest.mark.parametrize("burst_seed", [0, 2, 5])
def test_qrs_before_a_burst_is_kept(burst_seed):
    """A burst of 1-20 Hz motion noise (0.8 s Hann gate, peak as large as the QRS) starting 60 ms
    after a QRS complex: its energy peak within 200 ms is larger than the QRS's. The
    background-normalised score keeps the QRS (its other side is quiet); the raw-height choice
    of the previous detector took the burst 160-200 ms later for these three realisations."""
    fs = 360.0
    rec = synth_record(SyntheticConfig(fs=fs, duration_s=20.0, hr_bpm=(60.0, 60.0), class_probs={},
                                       baseline_mv=0.0, mains_mv=0.0, muscle_mv=0.0), seed=1)
    x = rec.signal.copy()
    beat = int(rec.r_samples[10])
    burst = en.bandlimited(np.random.default_rng(burst_seed), len(x), fs, 1.0, 20.0)
    gate = np.zeros(len(x))
    w, start = int(0.8 * fs), beat + int(0.06 * fs)
    gate[start : start + w] = np.hanning(w)
    x += float(np.ptp(x[beat - 18 : beat + 19])) * burst * gate
    det = rpeaks.detect_rpeaks(x, fs)
    assert np.min(np.abs(det - beat)) <= 0.05 * fs
    assert _counts(rec.r_samples, det, fs)[1] == 0
