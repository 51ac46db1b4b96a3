"""ECG on the real MIT-BIH DS1 records (make eval): detector accuracy, shipped model (speed: bench/bench_ecg.py)."""

import pytest

from edgecnn.edge.ecg.evaluate import peak_counts
from edgecnn.edge.ecg.io import read_annotations, read_wfdb
from edgecnn.edge.ecg.rpeaks import detect_rpeaks

DS1 = "101 106 108 109 112 114 115 116 118 119 122 124 201 203 205 207 208 209 215 220 223 230".split()
pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_rpeak_ds1_accuracy(shared_data):
    """Speed is measured by bench/bench_ecg.py (side by side, one run), not asserted here."""
    tp = fn = fp = 0
    for name in DS1:
        rec, ann = read_wfdb(shared_data / "mitdb" / name), read_annotations(shared_data / "mitdb" / name)
        n = len(rec.signal)
        peaks = detect_rpeaks(rec.signal, rec.fs)
        t, f, p = peak_counts(peaks, ann.sample, ann.symbol, n, rec.fs)
        tp, fn, fp = tp + t, fn + f, fp + p
    assert tp / (tp + fn) >= 0.997 and tp / (tp + fp) >= 0.998


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
