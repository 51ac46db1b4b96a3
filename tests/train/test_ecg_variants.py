"""train/ecg/sampling.py with the rhythm-context RR columns and --synth-regular (NumPy only, no training)."""

import numpy as np
import pytest

from edgecnn.edge.ecg.runtime import ECGParams
from edgecnn.edge.ecg.signal import RR_FEATURES, RRConfig, rr_features
from edgecnn.train.ecg import recipe as E
from edgecnn.train.ecg import records as W
from edgecnn.train.ecg import sampling as S

CTX = RR_FEATURES + ("prev1_local", "prev2_local", "prev3_local")


def regular_rows(n=2000, rr=0.8):
    # pre, post, local, long, ratios; the 3 earlier intervals all at the rhythm
    row = np.array([[rr, rr, rr, 1.0, 1.0, 1.0, rr, rr, 1.0, 1.0, 1.0]], np.float32)
    return np.repeat(row, n, axis=0)


def test_make_premature_keeps_the_earlier_intervals():
    cfg = RRConfig(names=CTX)
    out = S.make_premature(regular_rows(), cfg, np.random.default_rng(0))
    assert np.all(out[:, 4] < 0.86)                            # early against the local mean
    np.testing.assert_allclose(out[:, 8:], 1.0, rtol=1e-6)     # the rhythm before it unchanged


def test_make_run_fills_the_earlier_intervals_inside_the_run():
    cfg = RRConfig(names=CTX)
    out = S.make_run(regular_rows(), cfg, np.random.default_rng(0))
    prev = out[:, 8:] * out[:, 2:3]                            # back to seconds
    rhythm = np.abs(prev - 0.8) < 1e-5
    run = prev <= 0.8 * 0.8 * 1.1 + 1e-5
    assert np.all(rhythm | run)
    assert np.all(run[:, 1:] <= run[:, :-1])                   # the run's intervals come right before the beat
    counts = np.bincount(run.sum(axis=1), minlength=4)         # k - 1 of them, k uniform in 1..10
    assert counts[0] > 100 and counts[1] > 100 and counts[3] > 1000
    deep = out[:, 2] < 0.44                                     # 9 or 10 of the last 10 intervals in the run
    assert deep.any() and np.all(run[deep])


def test_context_irregularity_per_record():
    cfg = RRConfig()
    pre_a = np.full(20, 0.8)                                    # sinus rhythm
    pre_b = np.random.default_rng(1).uniform(0.5, 1.2, 20)      # atrial fibrillation
    rows = [rr_features(p, np.roll(p, -1), cfg) for p in (pre_a, pre_b)]
    irr = S.context_irregularity(np.concatenate(rows), np.array(["a"] * 20 + ["b"] * 20), cfg)
    assert np.all(irr[:20] == 0.0) and irr[0 + 20] == 0.0       # a new record starts from scratch
    assert np.median(irr[30:]) > 0.2
    step = np.abs(np.diff(pre_b))
    np.testing.assert_allclose(irr[20 + 12], step[3:11].mean() / rows[1][12, 2], rtol=1e-5)
    with pytest.raises(ValueError, match="pre_rr"):
        S.context_irregularity(rows[0][:, 4:], np.full(20, "a"), RRConfig(names=RR_FEATURES[4:]))


def test_synth_regular_makes_s_only_from_regular_n_beats_at_the_same_rate():
    cfg_rr = RRConfig()
    params = ECGParams(rr=cfg_rr, rr_mean=(0.0,) * 8, rr_std=(1.0,) * 8)
    rng = np.random.default_rng(0)
    recs = []
    for name, lo, hi in (("sinus", 0.79, 0.81), ("af", 0.45, 1.3)):
        pre = rng.uniform(lo, hi, 400)
        recs.append((name, rr_features(pre, np.roll(pre, -1), cfg_rr)))
    rr = np.concatenate([r for _, r in recs])
    record = np.repeat([n for n, _ in recs], 400)
    beats = W.BeatSet(np.zeros((800, 128, 2), np.float32), rr, np.zeros(800, np.int64), record)

    def made_up(synth_regular):
        cfg = S.SamplingConfig(n_keep=1.0, premature=0.1, run=0.1, synth_regular=synth_regular)
        seq = S.make_sequence(beats, params, np.ones(5), 80, cfg, seed=0)
        s_rec = []
        for i in range(len(seq)):
            x, y, _ = seq[i]
            idx = seq._plan[1][i * 80 : (i + 1) * 80]
            s_rec += record[idx[y["probs"] == 1]].tolist()
        return np.array(s_rec)

    anywhere, regular = made_up(0.0), made_up(0.1)
    assert 0.3 < np.mean(anywhere == "af") < 0.7
    assert np.all(regular == "sinus")
    assert 0.7 < len(regular) / len(anywhere) < 1.3             # as many made-up S beats per epoch
    with pytest.raises(ValueError, match="synth_regular"):
        S.SamplingConfig(synth_regular=-0.1)


def test_cli_options_parse():
    import argparse

    p = argparse.ArgumentParser()
    E.add_train_args(p)
    a = p.parse_args(["--rr-features", *CTX, "--synth-regular", "0.1", "--synth-p-wave", "1"])
    assert a.synth_regular == 0.1 and a.synth_p_wave == 1.0 and tuple(a.rr_features) == CTX
    d = p.parse_args([])
    assert d.synth_regular == 0.0 and d.synth_p_wave == 0.0      # default: the recipe as before
    assert E._params_for(a).rr.names == CTX


def test_alter_p_wave_changes_only_the_p_segment_of_the_beat_channel():
    fs, before, w = 180.0, 54, 128
    t = (np.arange(w) - before) / fs
    p_wave = 0.3 * np.exp(-0.5 * ((t + 0.15) / 0.025) ** 2)        # a sinus P wave 150 ms before R
    qrs = 3.0 * np.exp(-0.5 * (t / 0.01) ** 2)
    beat = np.stack([p_wave + qrs, p_wave + qrs], axis=1)[None].repeat(200, axis=0).astype(np.float32)
    out = S.alter_p_wave(beat, np.random.default_rng(0), fs, before)
    lo, hi = before - round(0.24 * fs), before - round(0.06 * fs)
    np.testing.assert_array_equal(out[:, :, 1], beat[:, :, 1])      # the template is the patient's
    np.testing.assert_array_equal(out[:, :lo, 0], beat[:, :lo, 0])
    np.testing.assert_array_equal(out[:, hi + 1 :, 0], beat[:, hi + 1 :, 0])  # the QRS and after untouched
    peak = out[:, before - 27, 0] / beat[:, before - 27, 0]          # the P wave's size now
    assert np.all((peak >= -1.0 - 1e-3) & (peak <= 0.3 + 1e-3)) and peak.min() < -0.5 and peak.max() > 0.1


def test_synth_p_wave_alters_the_made_up_s_beats_only():
    params = ECGParams(rr_mean=(0.0,) * 8, rr_std=(1.0,) * 8)
    n, before = 400, 54
    t = (np.arange(128) - before) / 180.0
    shape = 0.3 * np.exp(-0.5 * ((t + 0.15) / 0.025) ** 2) + 3.0 * np.exp(-0.5 * (t / 0.01) ** 2)
    beat = np.stack([shape, shape], axis=1)[None].repeat(n, axis=0).astype(np.float32)
    rr = np.tile(np.array([0.8, 0.8, 0.8, 1.0, 1.0, 1.0, 0.8, 0.8], np.float32), (n, 1))
    beats = W.BeatSet(beat, rr, np.zeros(n, np.int64), np.full(n, "r"))
    cfg = S.SamplingConfig(n_keep=1.0, amp=0.0, shift=0.0, noise=0.0, stretch=0.0, premature=0.2, run=0.1,
                           synth_p_wave=1.0)
    seq = S.make_sequence(beats, params, np.ones(5), 80, cfg, seed=0)
    xs, ys, _ = zip(*(seq[i] for i in range(len(seq))), strict=True)
    y = np.concatenate([v["probs"] for v in ys])
    b = np.concatenate([v["beat"] for v in xs])
    p_now = b[:, before - 27, 0] / shape[before - 27]
    assert (y == 1).sum() > 50 and np.all(p_now[y == 1] <= 0.3 + 1e-3)
    np.testing.assert_allclose(b[y == 0], beat[: (y == 0).sum()], atol=1e-6)  # N beats keep their P wave
    with pytest.raises(ValueError, match="synth_p_wave"):
        S.SamplingConfig(synth_p_wave=1.5)
