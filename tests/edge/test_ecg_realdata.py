"""ECG on the real MIT-BIH DS1 records (make eval): detector accuracy and speed, shipped model."""

import time

import numpy as np
import pytest

from edgecnn.edge.ecg.evaluate import excluded_mask, match_beats
from edgecnn.edge.ecg.io import BEAT_SYMBOLS, read_annotations, read_wfdb
from edgecnn.edge.ecg.rpeaks import detect_rpeaks

DS1 = "101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230".split()
pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_rpeak_ds1_accuracy_and_speed(shared_data):
    tp = fn = fp = 0
    seconds = wall = 0.0
    for name in DS1:
        rec, ann = read_wfdb(shared_data / "mitdb" / name), read_annotations(shared_data / "mitdb" / name)
        n = len(rec.signal)
        t0 = time.perf_counter()
        peaks = detect_rpeaks(rec.signal, rec.fs)
        wall += time.perf_counter() - t0
        seconds += n / rec.fs
        excl = excluded_mask(ann.sample, ann.symbol, n)
        ref = ann.sample[np.isin(ann.symbol, list(BEAT_SYMBOLS)) & ~excl[ann.sample]]
        det = peaks[~excl[peaks]]
        r2d, _ = match_beats(ref, det, int(0.15 * rec.fs))
        tp, fn, fp = tp + (r2d >= 0).sum(), fn + (r2d < 0).sum(), fp + len(det) - (r2d >= 0).sum()
    assert tp / (tp + fn) >= 0.997 and tp / (tp + fp) >= 0.998
    assert seconds / wall >= 3000


def test_builtin_model_on_two_records(shared_data):
    from edgecnn.edge.core.loader import builtin_models, open_model
    from edgecnn.edge.ecg.runtime import classify

    if "ecg" not in builtin_models():
        pytest.skip("no shipped ECG model")
    model = open_model("builtin:ecg", task="ecg")
    assert model.size_bytes <= 200_000
    for name in ("119", "208"):
        rec = read_wfdb(shared_data / "mitdb" / name)
        res = classify(model, rec.signal, rec.fs)
        assert len(res) > 1500 and {"N", "V"} <= set(res.label.tolist())
