"""train/ecg.py and train/data/{wfdb_records,synthetic_ecg}.py (TensorFlow tests, tiny and seeded)."""

import json

import numpy as np
import pytest

from edgecnn.edge import ecg_io
from edgecnn.edge.ecg import ECGParams
from edgecnn.train import ecg as E
from edgecnn.train.data import wfdb_records as W
from edgecnn.train.data.synthetic_ecg import SyntheticConfig, synth_record, write_wfdb

TINY = dict(stem=4, filters=(4, 8), kernel=5, squeeze=4, rr_units=4, hidden=8, dropout=0.0)


class TestData:
    def test_folds_are_patient_disjoint(self):
        recs = list(W.DS1) + ["202"]
        folds = W.patient_folds(recs, 5, seed=1)
        flat = sorted(r for f in folds for r in f)
        assert flat == sorted(recs)
        assert any({"201", "202"} <= set(f) for f in folds)  # one patient, one fold
        assert len({len(f) for f in folds}) <= 3

    @pytest.mark.parametrize("k", [1, 40])
    def test_bad_fold_count(self, k):
        with pytest.raises(ValueError, match="folds"):
            W.patient_folds(["100", "101"], k)

    def test_splits_are_disjoint_and_exclude_paced(self):
        assert not set(W.DS1) & set(W.DS2) and not (set(W.DS1) | set(W.DS2)) & set(W.PACED)
        assert len(W.DS1) == len(W.DS2) == 22

    def test_wfdb_package_agrees_with_device_reader(self, tmp_path):
        rec = synth_record(SyntheticConfig(duration_s=20), seed=2)
        write_wfdb(tmp_path, "s1", rec)
        x, fs, samples, symbols = W.read_labelled(tmp_path / "s1")
        dev = ecg_io.read_wfdb(tmp_path / "s1")
        np.testing.assert_allclose(x, dev.signal, atol=1e-9)
        np.testing.assert_array_equal(samples, rec.r_samples)
        assert fs == dev.fs and "".join(symbols) == "".join(rec.symbols)
        assert W.resolve_records(tmp_path) == ["s1"]
        with pytest.raises(ValueError, match="missing"):
            W.resolve_records(tmp_path, ["DS1"])

    def test_label_beats(self):
        lab = W.label_beats(np.array([100, 500, 905, 2000]), np.array([102, 300, 900, 1990]),
                            np.array(["N", "+", "V", "A"]), 360.0)
        assert lab.tolist() == [0, -1, 2, 1]

    def test_synthetic_beats_all_classes(self):
        beats = E.load_training_beats("builtin:synthetic", None, ECGParams(), synthetic_records=4)
        assert beats.beat.shape[1:] == (128, 2) and beats.rr.shape[1] == 8
        assert set(np.unique(beats.label)) >= {0, 1, 2}

    def test_class_weights(self):
        w = E.class_weights(np.array([0] * 100 + [1] * 4 + [2] * 25), power=0.5)
        np.testing.assert_allclose(w[:3], [1.0, 5.0, 2.0])
        assert w[3] == w[4] == 0.0


class TestModel:
    def test_tiny_model_trains(self):
        import keras

        keras.utils.set_random_seed(0)
        params = ECGParams()
        beats = E.load_training_beats("builtin:synthetic", None, params, synthetic_records=3)
        mean, std = E.rr_stats(beats.rr)
        from dataclasses import replace

        params = replace(params, rr_mean=tuple(mean), rr_std=tuple(std))
        model = E.build_model(params.window, 8, E.ECGModelConfig(**TINY), lr=5e-3)
        ds = E._dataset(beats, params, E.class_weights(beats.label), 64, True, 0)
        hist = model.fit(ds, epochs=3, verbose=0)
        assert hist.history["loss"][-1] < hist.history["loss"][0]
        out = E.evaluate_beats(model, beats, params)
        assert {"macro_f1", "per_class", "confusion"} <= set(out)
        probs = model.predict({"beat": beats.beat[:4], "rr": np.zeros((4, 8), np.float32)}, verbose=0)["probs"]
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)

    def test_cli_train_writes_model_and_metadata(self, tmp_path):
        from edgecnn.edge.cli import main

        code = main(["train", "ecg", "--data", "builtin:synthetic", "--out", str(tmp_path), "--epochs", "1",
                     "--synthetic-records", "4", "--width", "0.25", "--folds", "2", "--fold", "1", "--seed", "3"])
        assert code == 0
        meta = json.loads((tmp_path / "model.keras.json").read_text())
        assert meta["task"] == "ecg" and meta["labels"] == list("NSVFQ")
        p = meta["params"]
        assert p["window"]["fs"] == 180 and len(p["rr"]["mean"]) == 8 and p["detector"]["name"] == "pantompkins"
        assert meta["inputs"]["beat"]["shape"] == [1, 128, 2]
        assert meta["provenance"]["validation_records"] and meta["evaluation"]["float_validation_beats"]["per_class"]
        assert (tmp_path / "config.json").is_file() and (tmp_path / "history.csv").is_file()
