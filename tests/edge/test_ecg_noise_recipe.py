"""The synthetic nstdb-style noise of bench/ecg_noise.py: requested SNR (nst's definition, measured
here independently), seeded, and added only during the noisy segments of nst's protocol."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_record

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import ecg_noise as en  # noqa: E402

FS = 250.0


@pytest.fixture(scope="module")
def rec():
    # 11 minutes: learning period 0-300 s, noisy 300-420 s and 540-660 s, clean 420-540 s.
    cfg = SyntheticConfig(fs=FS, duration_s=660.0, hr_bpm=(60.0, 80.0), baseline_mv=0.0, mains_mv=0.0, muscle_mv=0.0)
    return synth_record(cfg, seed=3)


def _snr_independent(clean, noisy, r_samples, symbols, fs, segments):
    """nst/sigamp written out again: S = (trimmed mean p-p within +-50 ms of the first 300 normal
    beats)^2 / 8; N = (trimmed mean RMS about the mean of whole 1-s chunks of the added noise)^2."""
    h = int(round(0.05 * fs))
    pp = [np.ptp(clean[s - h : s + h + 1]) for s, y in zip(r_samples, symbols, strict=True)
          if y not in ("V", "F") and s - h >= 0 and s + h < len(clean)][:300]
    added = noisy - clean
    k = int(fs)
    rms = np.concatenate([np.std(added[a : a + (b - a) // k * k].reshape(-1, k), axis=1) for a, b in segments])

    def trim(v):
        v = np.sort(v)
        return v[len(v) // 20 : len(v) - len(v) // 20].mean()

    return 10 * np.log10((trim(np.array(pp)) ** 2 / 8) / trim(rms) ** 2)


def test_protocol_segments():
    fs = 360.0
    segs = en.noisy_segments(int(1800 * fs), fs)
    assert [(a / fs, b / fs) for a, b in segs] == [(300, 420), (540, 660), (780, 900), (1020, 1140),
                                                    (1260, 1380), (1500, 1620), (1740, 1800)]
    assert en.noisy_segments(int(299 * fs), fs) == []


@pytest.mark.parametrize("kind", en.ALL_NOISE)
def test_snr_noise_only_in_segments_and_seeded(rec, kind):
    x, n = rec.signal, len(rec.signal)
    segs = en.noisy_segments(n, FS)
    assert [(a / FS, b / FS) for a, b in segs] == [(300, 420), (540, 660)]
    s_pow = en.signal_power(x, rec.r_samples, rec.symbols, FS)
    unit = en.make_noise(kind, n, FS, en.noise_rng(7, "rec", kind))
    assert np.array_equal(unit, en.make_noise(kind, n, FS, en.noise_rng(7, "rec", kind)))
    assert not np.allclose(unit, en.make_noise(kind, n, FS, en.noise_rng(8, "rec", kind)))
    assert not np.allclose(unit, en.make_noise(kind, n, FS, en.noise_rng(7, "other", kind)))
    for snr in (24.0, 12.0, 0.0):
        y, gain = en.add_noise(x, unit, FS, snr, s_pow, segs)
        assert gain > 0
        assert abs(_snr_independent(x, y, rec.r_samples, rec.symbols, FS, segs) - snr) < 0.5
        assert abs(en.measured_snr(x, y, rec.r_samples, rec.symbols, FS, segs) - snr) < 0.5
        d = y - x
        assert np.all(d[: int(300 * FS)] == 0)  # learning period untouched
        gap = d[int(420 * FS) : int(540 * FS)]  # clean segment: nst's constant offset only
        assert np.ptp(gap) < 1e-9 * max(1.0, np.abs(gap).max())
        for a, b in segs:
            assert np.std(d[a:b]) > 0
            assert abs(d[a] - (d[a - 1] if a else 0.0)) < 1e-12  # no step where the gain changes
    y1, _ = en.add_noise(x, unit, FS, 12.0, s_pow, segs)
    y2, _ = en.add_noise(x, en.make_noise(kind, n, FS, en.noise_rng(7, "rec", kind)), FS, 12.0, s_pow, segs)
    assert np.array_equal(y1, y2)


def _power_below(y, fs, f_hz):
    p = np.abs(np.fft.rfft(y - y.mean())) ** 2
    f = np.fft.rfftfreq(len(y), 1 / fs)
    return p[f < f_hz].sum() / p.sum()


def test_noise_types_have_their_spectra():
    n, fs = int(300 * FS), FS
    bw = en.make_noise("bw", n, fs, en.noise_rng(0, "r", "bw"))
    ma = en.make_noise("ma", n, fs, en.noise_rng(0, "r", "ma"))
    em = en.make_noise("em", n, fs, en.noise_rng(0, "r", "em"))
    assert _power_below(bw, fs, 1.0) > 0.95  # baseline wander: below 1 Hz
    assert _power_below(ma, fs, 5.0) < 0.05  # muscle: 5 Hz and up
    assert _power_below(ma, fs, 20.0) < 0.3
    qrs_band = _power_below(em, fs, 20.0) - _power_below(em, fs, 1.0)
    assert qrs_band > 0.3  # electrode motion: much of it in the QRS band
    for y in (bw, ma, em):
        assert en.noise_power(y, fs) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        en.make_noise("pink", n, fs, en.noise_rng(0, "r", "bw"))
