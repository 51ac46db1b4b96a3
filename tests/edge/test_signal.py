"""edge/ecg/signal.py and edge/ecg/rpeaks.py: filters, R-peak detection (batch == stream), windows, RR features."""

import numpy as np
import pytest

from edgecnn.edge.ecg import rpeaks, signal
from edgecnn.edge.ecg.evaluate import match_beats
from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_record

NOISY = dict(baseline_mv=0.5, mains_mv=0.05, muscle_mv=0.04)


def _se_ppv(ref, det, fs):
    r2d, _ = match_beats(ref, det, int(0.15 * fs))
    tp = int((r2d >= 0).sum())
    return tp / max(len(ref), 1), tp / max(len(det), 1)


class TestDetector:
    @pytest.mark.parametrize("hr, fs, ectopic", [
        (40, 360, True), (60, 250, True), (90, 360, True), (120, 500, True), (150, 360, True),
        (180, 360, False), (180, 128, False),
    ])
    def test_noisy_synthetic(self, hr, fs, ectopic):
        probs = {"S": 0.06, "V": 0.06, "F": 0.02} if ectopic else {"S": 0.05}
        cfg = SyntheticConfig(fs=fs, duration_s=60, hr_bpm=(hr, hr), class_probs=probs, **NOISY)
        for seed in range(2):
            rec = synth_record(cfg, seed=seed)
            det = rpeaks.detect_rpeaks(rec.signal, fs)
            se, ppv = _se_ppv(rec.r_samples, det, fs)
            assert se >= 0.97 and ppv >= 0.99, (hr, fs, seed, se, ppv)

    def test_cold_start_first_beats(self):
        rec = synth_record(SyntheticConfig(duration_s=10, hr_bpm=(75, 75), class_probs={}), seed=3)
        det = rpeaks.detect_rpeaks(rec.signal, rec.fs)
        assert abs(det[0] - rec.r_samples[0]) <= 0.15 * rec.fs

    @pytest.mark.parametrize("x", [np.zeros(2000), np.full(3600, 3.3), np.zeros(1), np.zeros(0)])
    def test_flat_or_tiny_gives_nothing(self, x):
        assert len(rpeaks.detect_rpeaks(x, 360)) == 0

    @pytest.mark.parametrize("fs", [0, -5, 10, float("nan"), "abc", 1e6])
    def test_bad_fs(self, fs):
        with pytest.raises(ValueError, match="fs"):
            rpeaks.detect_rpeaks(np.zeros(1000), fs)

    def test_unknown_method_lists_valid(self):
        with pytest.raises(ValueError, match="pantompkins"):
            rpeaks.detect_rpeaks(np.zeros(1000), 360, method="magic")

    def test_unknown_config_field(self):
        with pytest.raises(ValueError, match="unknown field"):
            rpeaks.detect_rpeaks(np.zeros(1000), 360, config={"nope": 1})


class TestStreamingDetector:
    @pytest.mark.parametrize("chunk", [1, 13, 360, 4096, 10**7])
    def test_stream_equals_batch(self, chunk):
        rec = synth_record(SyntheticConfig(duration_s=40, hr_bpm=(70, 130), **NOISY), seed=7)
        batch = rpeaks.detect_rpeaks(rec.signal, rec.fs)
        sd = rpeaks.StreamingDetector(rec.fs)
        parts = [sd.push(rec.signal[i : i + chunk]) for i in range(0, len(rec.signal), chunk)]
        stream = np.concatenate(parts + [sd.flush()])
        np.testing.assert_array_equal(stream, batch)

    def test_bounded_latency_and_memory(self):
        rec = synth_record(SyntheticConfig(duration_s=60, hr_bpm=(60, 60), class_probs={}), seed=1)
        sd = rpeaks.StreamingDetector(rec.fs)
        chunk, worst, biggest = 36, 0.0, 0
        for i in range(0, len(rec.signal), chunk):
            for p in sd.push(rec.signal[i : i + chunk]):
                worst = max(worst, (i + chunk - p) / rec.fs)
            biggest = max(biggest, sd.kept_samples)
        sd.flush()
        assert worst < 2.5  # learning period (2 s) aside, a direct detection is ~0.5 s late
        assert biggest < 2 * rec.fs

    def test_push_after_flush(self):
        sd = rpeaks.StreamingDetector(360)
        sd.flush()
        with pytest.raises(ValueError, match="flushed"):
            sd.push([0.0, 1.0])


class TestFilters:
    def test_filter_removes_baseline_and_keeps_length(self):
        fs = 360.0
        t = np.arange(int(10 * fs)) / fs
        wander = 2.0 * np.sin(2 * np.pi * 0.1 * t)
        y = signal.filter_ecg(wander + np.sin(2 * np.pi * 10 * t), fs)
        assert len(y) == len(t)
        mid = slice(int(2 * fs), int(8 * fs))
        assert np.abs(y[mid] - np.sin(2 * np.pi * 10 * t[mid])).max() < 0.1

    def test_unknown_filter(self):
        with pytest.raises(ValueError, match="baseline_lowpass"):
            signal.filter_kernel(signal.FilterSpec(name="magic"), 360)

    @pytest.mark.parametrize("fs_in, fs_out", [(360, 180), (250, 360), (500, 128), (360, 360)])
    def test_resample_sine(self, fs_in, fs_out):
        t = np.arange(int(4 * fs_in)) / fs_in
        y = signal.resample(np.sin(2 * np.pi * 3 * t), fs_in, fs_out)
        t2 = np.arange(len(y)) / fs_out
        core = slice(int(0.5 * fs_out), int(3.5 * fs_out))
        assert np.abs(y[core] - np.sin(2 * np.pi * 3 * t2[core])).max() < 0.02


class TestBeatsAndRR:
    def test_window_shape_alignment_and_norm(self):
        fs, win = 360.0, signal.BeatWindow(fs=180.0, before=10, after=20, norm="median_std")
        sig = np.zeros(2000)
        sig[1000] = 5.0
        w = signal.beat_windows(sig, np.array([1000, 5, 1995]), fs, win)
        assert w.shape == (3, 30, 1) and w.dtype == np.float32
        assert np.argmax(w[0, :, 0]) == 10  # R sits at index `before`
        assert np.allclose(w[0, :, 0].std(), 1.0, atol=1e-5)

    def test_template_channel_is_median_of_previous_beats(self):
        win = signal.BeatWindow(fs=360.0, before=5, after=5, template_beats=3)
        rng = np.random.default_rng(0)
        centred = rng.normal(size=(9, 10))
        out = signal.beat_tensor(centred, win)
        assert out.shape == (9, 10, 2)
        for i in (0, 1, 2, 5, 8):
            tmpl = centred[0] if i == 0 else np.median(centred[max(0, i - 3) : i], axis=0)
            scale = tmpl.std() if tmpl.std() > 0 else 1.0
            np.testing.assert_allclose(out[i, :, 1], tmpl / scale, rtol=1e-5)
            np.testing.assert_allclose(out[i, :, 0], centred[i] / scale, rtol=1e-5)
        streamed = signal.beat_tensor(centred[5:], win, history=centred[2:5])
        np.testing.assert_array_equal(streamed, out[5:])

    def test_empty(self):
        w = signal.BeatWindow()
        assert signal.beat_windows(np.zeros(100), np.zeros(0, int), 360, w).shape == (0, 128, w.channels)

    @pytest.mark.parametrize("peaks, n, pre, post", [
        ([100, 460, 820], 2000, [1.0, 1.0, 1.0], [1.0, 1.0, 3.0]),
        ([100, 460, 620], 700, [1.0, 1.0, 160 / 360], [1.0, 160 / 360, 160 / 360]),
        ([100], 400, [1.0], [1.0]),
        ([100, 2000], 2500, [1800 / 360] * 2, [1800 / 360] * 2),
    ])
    def test_pre_post(self, peaks, n, pre, post):
        cfg = signal.RRConfig(rr_max=3.0)
        a, b = signal.pre_post_rr(np.array(peaks), 360.0, cfg, n_samples=n)
        np.testing.assert_allclose(a, np.minimum(pre, 3.0))
        np.testing.assert_allclose(b, np.minimum(post, 3.0))

    def test_features_history_matches_batch(self):
        cfg = signal.RRConfig(local_beats=3, long_beats=5)
        pre = np.array([1.0, 0.8, 1.2, 0.6, 1.0, 1.1, 0.9])
        post = np.roll(pre, -1)
        full = signal.rr_features(pre, post, cfg)
        part = signal.rr_features(pre[4:], post[4:], cfg, history=pre[:4])
        np.testing.assert_allclose(full[4:], part, rtol=1e-6)
        assert full.shape == (7, len(signal.RR_FEATURES))
        np.testing.assert_allclose(full[2, 2], np.mean(pre[:3]))  # local mean over 3 beats

    def test_named_columns_and_irregularity(self):
        names = ("pre_local", "post_pre", "irregularity")
        cfg = signal.RRConfig(local_beats=2, long_beats=4, names=names)
        pre = np.array([1.0, 1.0, 1.0, 0.5, 1.5, 1.0])
        post = np.roll(pre, -1)
        f = signal.rr_features(pre, post, cfg)
        assert f.shape == (6, 3)
        np.testing.assert_allclose(f[:, 1], post / pre, rtol=1e-6)
        # beat 3 (early): the 2 steps before it are 0 -> regular; beat 5: steps |0.5-1|, |1.5-0.5| over local 1.0
        np.testing.assert_allclose(f[:, 2], [0.0, 0.0, 0.0, 0.0, 0.25 / 0.75, 0.75 / 1.0], rtol=1e-6)
        part = signal.rr_features(pre[3:], post[3:], cfg, history=pre[:3])
        np.testing.assert_allclose(part, f[3:], rtol=1e-6)
        d = cfg.to_dict()
        assert d["names"] == list(names) and signal.RRConfig.from_dict(d) == cfg
        assert signal.RRConfig.from_dict({"local_beats": 10}).names == signal.RR_FEATURES  # models of before

    @pytest.mark.parametrize("kw", [{"names": ("pre_rr", "bogus")}, {"names": ()}, {"local_beats": 0}])
    def test_rr_config_rejects(self, kw):
        with pytest.raises(ValueError, match="rr"):
            signal.RRConfig(**kw)

    def test_normalize_rr_shape_check(self):
        with pytest.raises(ValueError, match="normalisation"):
            signal.normalize_rr(np.zeros((2, 8), np.float32), [0.0] * 7, [1.0] * 7)
