"""train/ecg/recipe.py and train/ecg/records.py, edge/ecg/synthetic.py (TensorFlow tests, tiny and seeded)."""

import json

import numpy as np
import pytest

from edgecnn.edge.ecg import io as ecg_io
from edgecnn.edge.ecg.runtime import ECGParams
from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_record, write_wfdb
from edgecnn.train.ecg import recipe as E
from edgecnn.train.ecg import records as W
from edgecnn.train.ecg import sampling as S

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

    def test_synthetic_ectopic_beats_are_found_by_the_detector(self):
        """V beats 1-2x the patient's R, F = half N + half V, coupling >= 0.42 s: the device's
        detector finds every beat (a missed V made its neighbours' RR features look premature)."""
        from edgecnn.edge.ecg.evaluate import match_beats
        from edgecnn.edge.ecg.rpeaks import detect_rpeaks
        from edgecnn.edge.ecg.synthetic import synth_records

        missed, ectopic = 0, 0
        for rec in synth_records(4, SyntheticConfig(duration_s=60.0, class_probs={"V": 0.15, "F": 0.05}), seed=3):
            a2d, _ = match_beats(rec.r_samples, detect_rpeaks(rec.signal, rec.fs), int(0.15 * rec.fs))
            missed += int((a2d < 0).sum())
            ectopic += int(np.isin(rec.labels, [2, 3]).sum())
        assert ectopic > 40 and missed == 0

    def test_class_weights(self):
        w = E.class_weights(np.array([0] * 100 + [1] * 4 + [2] * 25), power=0.5)
        np.testing.assert_allclose(w[:3], [1.0, 5.0, 2.0])
        assert w[3] == w[4] == 0.0


class TestSampling:
    def test_cap_weights(self):
        w = E.cap_weights(np.array([1.0, 5.0, 2.0, 10.0, 30.0]), ["F=1", "Q=0"])
        np.testing.assert_allclose(w, [1.0, 5.0, 2.0, 1.0, 0.0])

    @pytest.mark.parametrize("bad", ["X=1", "F", "F=", "F=abc"])
    def test_cap_weights_rejects(self, bad):
        with pytest.raises(ValueError, match="max-weight"):
            E.cap_weights(np.ones(5), [bad])

    @pytest.mark.parametrize("kw", [{"n_keep": 0.0}, {"n_keep": 1.5}, {"ectopic_copies": -1}, {"noise": -0.1}])
    def test_sampling_config_rejects(self, kw):
        with pytest.raises(ValueError):
            S.SamplingConfig(**kw)

    @pytest.mark.parametrize("n_keep,copies", [(1.0, 0), (0.3, 1), (0.1, 2)])
    def test_epoch_indices(self, n_keep, copies):
        labels = np.array([0] * 2000 + [1] * 30 + [2] * 50)
        idx = S.epoch_indices(labels, S.SamplingConfig(n_keep=n_keep, ectopic_copies=copies), np.random.default_rng(0))
        counts = np.bincount(labels[idx], minlength=3)
        assert counts[1] == 30 * (1 + copies) and counts[2] == 50 * (1 + copies)
        assert abs(counts[0] - 2000 * n_keep) <= 5 * np.sqrt(2000 * n_keep * (1 - n_keep)) + 1e-9
        assert len(np.unique(idx[labels[idx] == 0])) == counts[0]  # N beats drawn without repetition

    def test_augment_keeps_template_and_r(self):
        rng = np.random.default_rng(1)
        beat = rng.normal(size=(16, 128, 2)).astype(np.float32)
        off = S.augment_beats(beat, rng, S.SamplingConfig(amp=0, shift=0, noise=0, stretch=0), 54)
        np.testing.assert_array_equal(off, beat)
        stretched = S.augment_beats(beat, rng, S.SamplingConfig(amp=0, shift=0, noise=0, stretch=0.1), 54)
        np.testing.assert_allclose(stretched[:, 54, 0], beat[:, 54, 0], atol=1e-6)  # R stays put
        full = S.augment_beats(beat, rng, S.SamplingConfig(), 54)
        np.testing.assert_array_equal(full[:, :, 1], beat[:, :, 1])  # the template channel is untouched
        assert not np.allclose(full[:, :, 0], beat[:, :, 0]) and full.dtype == np.float32

    def test_sequence_resamples_each_epoch(self):
        params = ECGParams(rr_mean=(0.0,) * 8, rr_std=(1.0,) * 8)
        n = 600
        labels = np.array([0] * 500 + [1] * 40 + [2] * 60)
        beats = W.BeatSet(np.zeros((n, 128, 2), np.float32), np.ones((n, 8), np.float32), labels, np.full(n, "r"))
        weights = np.array([1.0, 3.0, 2.0, 1.0, 0.0])
        seq = S.make_sequence(beats, params, weights, 32, S.SamplingConfig(n_keep=0.2, premature=0.0, run=0.0), seed=0)
        x, y, sw = seq[0]
        assert x["beat"].shape == (32, 128, 2) and x["rr"].shape == (32, 8) and y["probs"].shape == (32,)
        np.testing.assert_allclose(sw, weights[y["probs"]])
        assert len(seq) == int(np.ceil((0.2 * 500 + 2 * 100) / 32))
        first = np.concatenate([seq[i][1]["probs"] for i in range(len(seq))])
        seq.on_epoch_end()
        second = np.concatenate([seq[i][1]["probs"] for i in range(len(seq))])
        assert not np.array_equal(first, second)


    def test_make_premature_recomputes_the_ratios(self):
        from edgecnn.edge.ecg.signal import RRConfig

        cfg = RRConfig()
        # pre, post, local, long, pre/local, post/local, pre/long, local/long
        row = np.array([[0.8, 0.8, 0.8, 1.0, 1.0, 1.0, 0.8, 0.8]], np.float32)
        out = S.make_premature(np.repeat(row, 200, axis=0), cfg, np.random.default_rng(0))
        pre, post, local, long = out[:, 0], out[:, 1], out[:, 2], out[:, 3]
        assert np.all((pre >= 0.8 * 0.55 - 1e-6) & (pre <= 0.8 * 0.85 + 1e-6))
        assert np.all((post >= 0.8 - 1e-6) & (post <= 0.8 * 1.35 + 1e-6))
        np.testing.assert_allclose(local, 0.8) and np.testing.assert_allclose(long, 1.0)
        np.testing.assert_allclose(out[:, 4], pre / local, rtol=1e-6)
        np.testing.assert_allclose(out[:, 5], post / local, rtol=1e-6)
        np.testing.assert_allclose(out[:, 6], pre / long, rtol=1e-6)
        np.testing.assert_allclose(out[:, 7], 0.8, rtol=1e-6)
        with pytest.raises(ValueError, match="post_rr"):
            S.make_premature(row[:, :1], RRConfig(names=("pre_rr",)), np.random.default_rng(0))

    def test_make_irregular_sets_an_af_context(self):
        from edgecnn.edge.ecg.signal import RR_FEATURES, RRConfig

        cfg = RRConfig(names=(*RR_FEATURES, "irregularity"))
        row = np.array([[0.8, 0.8, 0.8, 1.0, 1.0, 1.0, 0.8, 0.8, 0.03]], np.float32)
        out = S.make_irregular(np.repeat(row, 200, axis=0), cfg, np.random.default_rng(0))
        assert np.all((out[:, 8] >= 0.12) & (out[:, 8] <= 0.40))
        np.testing.assert_allclose(out[:, 4], out[:, 0] / 0.8, rtol=1e-5)
        assert out[:, 4].min() < 0.7 and out[:, 4].max() > 1.3 and np.all(out[:, 2] == row[0, 2])
        with pytest.raises(ValueError, match="irregularity"):
            S.make_irregular(row[:, :8], RRConfig(), np.random.default_rng(0))

    def test_make_run_puts_beats_inside_an_svt_run(self):
        from edgecnn.edge.ecg.signal import RRConfig

        cfg = RRConfig()
        row = np.array([[0.8, 0.8, 0.8, 1.0, 1.0, 1.0, 0.8, 0.8]], np.float32)
        out = S.make_run(np.repeat(row, 2000, axis=0), cfg, np.random.default_rng(0))
        pre, post, local, long = out[:, 0], out[:, 1], out[:, 2], out[:, 3]
        assert np.all((pre >= 0.8 * 0.45 * 0.9 - 1e-6) & (pre <= 0.8 * 0.8 * 1.1 + 1e-6))
        # the local mean follows the run (k of 10 intervals), never below the run's rate nor above the rhythm's
        assert np.all((local >= 0.8 * 0.45 - 1e-6) & (local <= 0.8 * (0.1 * 0.8 + 0.9) + 1e-6))
        assert local.min() < 0.4 and local.max() > 0.7
        np.testing.assert_allclose(long, 1.0)
        np.testing.assert_allclose(out[:, 6], pre / long, rtol=1e-6)
        np.testing.assert_allclose(out[:, 7], local / long, rtol=1e-6)
        ends = post >= 0.8 - 1e-6                          # the last beat of a run: a pause after it
        assert 0.1 < ends.mean() < 0.3 and np.all(post[~ends] <= 0.8 * 0.8 * 1.1 + 1e-6)
        # beats deep in a run look on-time against the local mean and early only against the long one
        deep = local < 0.44                               # 9 or 10 of the last 10 intervals in the run
        assert np.all(out[deep, 4] > 0.75) and np.all(out[deep, 6] < 0.6)

    def test_sequence_turns_some_n_beats_into_premature_s(self):
        params = ECGParams(rr_mean=(0.0,) * 8, rr_std=(1.0,) * 8)
        n = 400
        labels = np.array([0] * 300 + [2] * 100)
        rr = np.tile(np.array([0.8, 0.8, 0.8, 1.0, 1.0, 1.0, 0.8, 0.8], np.float32), (n, 1))
        beats = W.BeatSet(np.zeros((n, 128, 2), np.float32), rr, labels, np.full(n, "r"))
        weights = np.array([1.0, 3.0, 2.0, 1.0, 0.0])
        seq = S.make_sequence(beats, params, weights, 64, S.SamplingConfig(n_keep=1.0, premature=0.3, run=0.0), seed=0)
        xs, ys, ws = zip(*(seq[i] for i in range(len(seq))), strict=True)
        y = np.concatenate([v["probs"] for v in ys])
        x_rr = np.concatenate([v["rr"] for v in xs])
        s = y == 1
        assert 0.15 < s.sum() / (y != 2).sum() < 0.45            # about 30 % of the N beats
        assert np.all(x_rr[s, 4] < 0.86) and np.all(x_rr[~s, 4] == 1.0)  # made early; the others untouched
        np.testing.assert_allclose(np.concatenate(ws), weights[y])
        with pytest.raises(ValueError, match="premature"):
            S.SamplingConfig(premature=1.0)
        with pytest.raises(ValueError, match="sum below 1"):
            S.SamplingConfig(premature=0.5, run=0.5)

    def test_sequence_puts_some_n_beats_into_runs(self):
        params = ECGParams(rr_mean=(0.0,) * 8, rr_std=(1.0,) * 8)
        n = 400
        rr = np.tile(np.array([0.8, 0.8, 0.8, 1.0, 1.0, 1.0, 0.8, 0.8], np.float32), (n, 1))
        beats = W.BeatSet(np.zeros((n, 128, 2), np.float32), rr, np.zeros(n, np.int64), np.full(n, "r"))
        cfg = S.SamplingConfig(n_keep=1.0, premature=0.0, run=0.3)
        seq = S.make_sequence(beats, params, np.ones(5), 64, cfg, seed=0)
        xs, ys, _ = zip(*(seq[i] for i in range(len(seq))), strict=True)
        y = np.concatenate([v["probs"] for v in ys])
        x_rr = np.concatenate([v["rr"] for v in xs])
        s = y == 1
        assert 0.2 < s.mean() < 0.4
        assert np.all(x_rr[s, 6] < 0.71) and np.all(x_rr[~s] == rr[0])   # early against the long mean


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

    def test_precise_batchnorm_matches_inference_to_training_mode(self):
        """After a few steps the moving BatchNorm statistics are still near their initial values;
        precise_batchnorm replaces them by the un-augmented beats' own statistics."""
        import keras

        keras.utils.set_random_seed(0)
        from dataclasses import replace

        params = ECGParams()
        beats = E.load_training_beats("builtin:synthetic", None, params, synthetic_records=2)
        mean, std = E.rr_stats(beats.rr)
        params = replace(params, rr_mean=tuple(mean), rr_std=tuple(std))
        model = E.build_model(params.window, 8, E.ECGModelConfig(**TINY), lr=5e-3)
        model.fit(E._dataset(beats, params, E.class_weights(beats.label), 64, True, 0), epochs=1, verbose=0)
        x = {"beat": beats.beat[:256], "rr": E.normalize_rr(beats.rr[:256], params.rr_mean, params.rr_std)}

        def gap():
            return float(np.abs(np.asarray(model(x, training=True)["probs"])
                                - np.asarray(model(x, training=False)["probs"])).max())

        before = gap()
        n = E.precise_batchnorm(model, beats.subset(np.arange(256)), params, batch=256, seed=0)
        assert n == 1 and gap() < min(0.02, before / 5)

    def test_cli_train_writes_model_and_metadata(self, tmp_path):
        from edgecnn.cli import main

        code = main(["train", "ecg", "--data", "builtin:synthetic", "--out", str(tmp_path), "--epochs", "1",
                     "--synthetic-records", "4", "--width", "0.25", "--folds", "2", "--fold", "1", "--seed", "3",
                     "--precise-bn"])
        assert code == 0
        meta = json.loads((tmp_path / "model.keras.json").read_text())
        assert "precise_bn" in meta["provenance"]
        assert meta["task"] == "ecg" and meta["labels"] == list("NSVFQ")
        p = meta["params"]
        assert p["window"]["fs"] == 180 and p["detector"]["name"] == "pantompkins"
        assert p["rr"]["names"] == list(E.RECIPE_RR_FEATURES) and len(p["rr"]["mean"]) == len(E.RECIPE_RR_FEATURES)
        assert meta["inputs"]["rr"]["shape"] == [1, len(E.RECIPE_RR_FEATURES)]
        assert meta["inputs"]["beat"]["shape"] == [1, 128, 2]
        assert meta["provenance"]["validation_records"] and meta["evaluation"]["float_validation_beats"]["per_class"]
        assert (tmp_path / "config.json").is_file() and (tmp_path / "history.csv").is_file()
