"""The streaming speed-ups give the same numbers: incremental detector features and filtered signal,
the pairwise rival test, numpy-free-overhead medians / quantiles (synthetic records, no timing)."""

import numpy as np
import pytest

from edgecnn.edge.core.interpreter import load_model
from edgecnn.edge.ecg import quality, rpeaks
from edgecnn.edge.ecg import runtime as ecg
from edgecnn.edge.ecg.signal import fir_valid, pad_edges
from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_record

NOISY = dict(baseline_mv=0.5, mains_mv=0.05, muscle_mv=0.04)


@pytest.fixture(scope="module")
def model(fixtures_dir):
    return load_model(fixtures_dir / "ecg_tiny_int8.tflite", task="ecg")


@pytest.fixture(scope="module")
def record():
    return synth_record(SyntheticConfig(duration_s=45, hr_bpm=(60, 140), **NOISY), seed=11)


def _chunks(n, how, seed=0):
    if isinstance(how, int):
        return [(i, min(n, i + how)) for i in range(0, n, how)]
    rng, out, i = np.random.default_rng(seed), [], 0
    while i < n:
        step = int(rng.integers(1, 1500))
        out.append((i, min(n, i + step)))
        i += step
    return out


def _same_bits(a, b):
    return np.array_equal(a, b) and np.array_equal(np.signbit(a), np.signbit(b))


def test_row_median_and_quantile_are_numpys():
    rng = np.random.default_rng(0)
    for t in range(1500):
        a = rng.standard_normal((int(rng.integers(1, 5)), int(rng.integers(1, 30)))) * 10 ** rng.uniform(-6, 6)
        if t % 3 == 0:
            a = np.round(a)  # ties and signed zeros
        assert _same_bits(quality._row_medians(a), np.median(a, axis=1))
        for q in (0.0, 0.2, 0.5, 0.77, 1.0):
            assert _same_bits(quality._row_quantile(a, q), np.quantile(a, q, axis=1))
    w = np.lib.stride_tricks.sliding_window_view(rng.standard_normal(14), 5)
    assert _same_bits(quality._row_medians(w), np.median(w, axis=1))
    a = np.array([[1.0, np.nan, 2.0]])  # non-finite rows go to numpy itself
    assert np.isnan(quality._row_medians(a)[0]) and np.isnan(quality._row_quantile(a, 0.2)[0])


@pytest.mark.parametrize("fs", [360.0, 250.0])
def test_pairwise_rivals_equal_the_loop(monkeypatch, fs):
    rec = synth_record(SyntheticConfig(fs=fs, duration_s=20, hr_bpm=(70, 150), **NOISY), seed=3)
    k = rpeaks._Kernels(fs, rpeaks.DetectorConfig())
    bp, d, m = rpeaks._features(pad_edges(rec.signal, k.half, k.half), k)
    out = {}
    for limit in (0, 10**6):  # the loop only / all pairs at once
        monkeypatch.setattr(rpeaks, "PAIRWISE_MAX", limit)
        out[limit] = (rpeaks._candidates(bp, d, m, 0, 0, len(rec.signal), k), rpeaks.detect_rpeaks(rec.signal, fs))
    (c0, p0), (c1, p1) = out[0], out[10**6]
    assert len(c0[0]) > 20
    assert all(_same_bits(a, b) for a, b in zip(c0, c1, strict=True))
    np.testing.assert_array_equal(p0, p1)


@pytest.mark.parametrize("how", [1, 90, 360, "random"])
def test_incremental_detector_features_equal_batch(record, how):
    x, fs = record.signal, record.fs
    k = rpeaks._Kernels(fs, rpeaks.DetectorConfig())
    bp, d, m = rpeaks._features(pad_edges(x, k.half, k.half), k)  # index j = absolute sample j
    sd = rpeaks.StreamingDetector(fs)
    for a, b in _chunks(len(x), how, seed=5):
        sd.push(x[a:b])
        for got, start, want in ((sd._m, sd._m0, m), (sd._bp, sd._bp0, bp), (sd._d, sd._d0, d)):
            lo, hi = max(start, 0), min(start + len(got), b - k.half)  # not yet touched by the right edge
            if hi > lo:
                assert _same_bits(got[lo - start : hi - start], want[lo:hi])
    assert sd.kept_samples < 2 * fs


@pytest.mark.parametrize("how", [360, 90, "random"])
def test_incremental_filtered_signal_and_chunkings(model, record, how):
    x, fs = record.signal, record.fs
    sc = ecg.StreamingClassifier(model, fs)
    got = ecg.BeatResult.empty()
    for a, b in _chunks(len(x), how, seed=7):
        got = got.concat(sc.push(x[a:b]))
        assert _same_bits(sc._sig, fir_valid(sc._raw, sc.kernel)[: len(sc._sig)])
    got = got.concat(sc.flush())
    ref = ecg.StreamingClassifier(model, fs)  # whole record in one push
    want = ref.push(x).concat(ref.flush())
    for f in ("sample", "class_id", "label", "confidence", "probs", "readable", "reason"):
        assert np.array_equal(getattr(got, f), getattr(want, f)), f
    batch = ecg.classify(model, x, fs)
    np.testing.assert_array_equal(got.sample, batch.sample)
    np.testing.assert_array_equal(got.class_id, batch.class_id)
