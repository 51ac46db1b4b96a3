"""Optional rhythm-context RR columns of edge/ecg/signal.py (prevK_local): values, stream == batch."""

from dataclasses import replace

import numpy as np
import pytest

from edgecnn.edge.ecg import runtime as ecg
from edgecnn.edge.ecg import signal
from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_record

CTX = signal.RR_FEATURES + ("prev1_local", "prev2_local", "prev5_local")


def test_prev_columns_are_earlier_intervals_over_the_local_mean():
    cfg = signal.RRConfig(local_beats=3, long_beats=6, names=CTX)
    pre = np.array([1.0, 0.8, 1.2, 0.6, 1.0, 1.1, 0.9, 0.7])
    post = np.roll(pre, -1)
    f = signal.rr_features(pre, post, cfg)
    assert f.shape == (8, 11)
    local = f[:, 2]
    want1 = np.r_[pre[0], pre[:-1]] / local             # RR_{i-1}; the first beat repeats its own
    want2 = np.r_[pre[0], pre[0], pre[:-2]] / local
    want5 = np.r_[[pre[0]] * 5, pre[:-5]] / local
    np.testing.assert_allclose(f[:, 8], want1, rtol=1e-6)
    np.testing.assert_allclose(f[:, 9], want2, rtol=1e-6)
    np.testing.assert_allclose(f[:, 10], want5, rtol=1e-6)
    np.testing.assert_array_equal(f[:, :8], signal.rr_features(pre, post, replace(cfg, names=signal.RR_FEATURES)))


@pytest.mark.parametrize("cut", [1, 3, 6])
def test_prev_columns_from_history_equal_batch(cut):
    cfg = signal.RRConfig(local_beats=3, long_beats=4, names=CTX)
    assert cfg.history_beats >= 5                      # the stream keeps enough earlier intervals
    pre = np.random.default_rng(0).uniform(0.4, 1.4, 30)
    post = np.roll(pre, -1)
    full = signal.rr_features(pre, post, cfg)
    hist = pre[max(0, cut - cfg.history_beats):cut]
    np.testing.assert_allclose(signal.rr_features(pre[cut:], post[cut:], cfg, history=hist), full[cut:], rtol=1e-6)


def test_config_round_trip_and_old_models():
    cfg = signal.RRConfig(names=CTX)
    assert signal.RRConfig.from_dict(cfg.to_dict()) == cfg
    assert signal.prev_lags(CTX) == [1, 2, 5] and signal.prev_lags(signal.RR_FEATURES) == []
    assert signal.RRConfig().history_beats == 299      # unchanged for models without the columns
    assert signal.RRConfig(local_beats=2, long_beats=2, names=("prev16_local",)).history_beats == 16
    with pytest.raises(ValueError, match="rr names"):
        signal.RRConfig(names=("prev17_local",))


EXTRA_COLUMNS = {"ratios": (("post_pre", "irregularity"), 12), "rhythm_context": (("prev1_local", "prev8_local"), 8)}


@pytest.mark.parametrize("chunk", [11, 900])
@pytest.mark.parametrize("extra", sorted(EXTRA_COLUMNS))
def test_stream_equals_batch_with_extra_rr_columns(extra, chunk):
    """The RR inputs a model is given are the same streamed (any chunking) as in batch, for the
    optional columns too (their history reaches back further than the local / long means)."""
    names, long_beats = EXTRA_COLUMNS[extra]
    record = synth_record(SyntheticConfig(duration_s=60, hr_bpm=(70, 90)), seed=11)
    rr = signal.RRConfig(local_beats=4, long_beats=long_beats, names=signal.RR_FEATURES + names)
    params = replace(ecg.ECGParams(), rr=rr)

    class Echo:  # records what the model is given
        metadata = {}

        def __init__(self):
            self.seen = []

        def run(self, inputs):
            self.seen.append(inputs["rr"])
            return {"probs": np.full((len(inputs["rr"]), 5), 0.2, np.float32)}

    batch_model, stream_model = Echo(), Echo()
    ecg.classify(batch_model, record.signal, record.fs, params, quality=False)
    sc = ecg.StreamingClassifier(stream_model, record.fs, params, quality=False)
    for i in range(0, len(record.signal), chunk):
        sc.push(record.signal[i : i + chunk])
    sc.flush()
    want, got = np.concatenate(batch_model.seen), np.concatenate(stream_model.seen)
    assert want.shape[1] == 10 and len(want) > 3 * rr.history_beats
    np.testing.assert_allclose(got, want, rtol=1e-6)
