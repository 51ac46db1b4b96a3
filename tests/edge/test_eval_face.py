"""Pair metrics with hand-checked values, pair lists, and the `eval` plug-in on the tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.face import data as FD
from edgecnn.edge.face import evaluate as EV


class TestRoc:
    @pytest.mark.parametrize("d, same, auc", [
        ([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0], 1.0),  # perfectly separated
        ([0.1, 0.2, 0.3, 0.4], [0, 0, 1, 1], 0.0),  # perfectly wrong
        ([0.1, 0.2, 0.3, 0.4], [1, 0, 1, 0], 0.75),  # (0,.5) (.5,.5) (.5,1) (1,1)
        ([0.5, 0.5], [1, 0], 0.5),  # a tie is one step: the diagonal
    ])
    def test_auc_hand_values(self, d, same, auc):
        assert EV.auc(d, np.array(same, bool)) == pytest.approx(auc)

    def test_roc_points(self):
        far, tar, thr = EV.roc([0.1, 0.2, 0.3, 0.4], np.array([1, 0, 1, 0], bool))
        np.testing.assert_allclose(far, [0, 0, 0.5, 0.5, 1])
        np.testing.assert_allclose(tar, [0, 0.5, 0.5, 1, 1])
        assert thr[0] < 0.1 and list(thr[1:]) == [0.1, 0.2, 0.3, 0.4]

    def test_needs_both_classes(self):
        with pytest.raises(InputDataError, match="both"):
            EV.roc([0.1, 0.2], np.array([1, 1], bool))

    @pytest.mark.parametrize("far_target, tar, tau", [(0.0, 0.5, 0.1), (0.5, 1.0, 0.3), (1.0, 1.0, 0.4)])
    def test_tar_at_far(self, far_target, tar, tau):
        got = EV.tar_at_far([0.1, 0.2, 0.3, 0.4], np.array([1, 0, 1, 0], bool), far_target)
        assert got == pytest.approx((tar, tau))

    @pytest.mark.parametrize("d, same, tau", [
        ([0.1, 0.2, 0.3, 0.4], [1, 1, 0, 0], 0.25),
        ([0.1, 0.2, 0.3, 0.4], [0, 0, 0, 0], 0.1 - 1e-6),  # all different: accept nothing
        ([0.1, 0.2, 0.3, 0.4], [1, 1, 1, 1], 0.4 + 1e-6),  # all same: accept everything
    ])
    def test_best_threshold(self, d, same, tau):
        assert EV.best_threshold(d, np.array(same, bool)) == pytest.approx(tau)

    def test_kfold_on_separable_pairs(self, rng):
        same = np.arange(200) % 2 == 0
        d = np.where(same, rng.uniform(0, 1, 200), rng.uniform(1.2, 2, 200))
        kf = EV.kfold_accuracy(d, same)
        assert kf["mean"] == 1.0 and len(kf["per_fold"]) == 10
        assert all(1.0 <= t <= 1.2 for t in kf["thresholds"])

    def test_kfold_tau_comes_from_the_other_folds(self):
        # fold 0 alone would want tau 0.5, the other folds want tau 1.5: fold 0 is judged with ~1.5
        d = np.array([0.4, 0.6] + [1.4, 1.6, 1.3, 1.7] * 2)
        same = np.array([1, 0] + [1, 0, 1, 0] * 2, bool)
        folds = np.array([0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
        kf = EV.kfold_accuracy(d, same, folds)
        assert kf["per_fold"] == [0.5, 1.0, 1.0]

    def test_pair_metrics_keys(self, rng):
        same = np.arange(400) % 2 == 0
        d = np.where(same, rng.normal(0.8, 0.2, 400), rng.normal(1.4, 0.2, 400))
        m = EV.pair_metrics(d, same, model_tau=1.1)
        assert {"pair_accuracy", "auc", "tar_at_far", "threshold", "accuracy_at_model_threshold"} <= set(m)
        assert set(m["tar_at_far"]) == {"0.01", "0.001"} and 0.9 < m["pair_accuracy"] <= 1.0

    def test_identification_top1(self):
        emb = np.repeat(np.eye(4), 3, axis=0) + 0.01
        labels = np.repeat(np.arange(4), 3)
        res = EV.identification_top1(emb, labels)
        assert res == {"top1": 1.0, "probes": 8, "gallery": 4}


class TestPairs:
    def test_balanced_pairs(self):
        labels = np.repeat(np.arange(10), 4)
        a, b, same, folds = FD.balanced_pairs(labels, 100, seed=3)
        assert same.sum() == 50 and (~same).sum() == 50
        assert np.all((labels[a] == labels[b]) == same) and np.all(a < b)
        assert len(set(zip(a.tolist(), b.tolist(), strict=True))) == 100 and set(folds.tolist()) == set(range(10))
        again = FD.balanced_pairs(labels, 100, seed=3)
        np.testing.assert_array_equal(a, again[0])

    def test_few_same_pairs_available(self):
        labels = np.array([0, 0, 1, 2, 3])  # one possible same pair
        _, _, same, _ = FD.balanced_pairs(labels, 10, seed=0)
        assert same.sum() == 1 and (~same).sum() == 5

    def test_strict_keeps_few_same_pairs_balanced(self):
        labels = np.array([0, 0, 1, 2, 3])  # one possible same pair
        a, b, same, _ = FD.balanced_pairs(labels, 10, seed=0, strict=True)
        assert same.sum() == 1 and (~same).sum() == 1 and labels[a[1]] != labels[b[1]]
        plenty = np.repeat(np.arange(10), 4)  # enough same pairs: strict changes nothing
        np.testing.assert_array_equal(FD.balanced_pairs(plenty, 100, 3, strict=True)[0],
                                      FD.balanced_pairs(plenty, 100, 3)[0])

    def test_pairs_picture(self, tmp_path):
        from edgecnn.edge.core import plots

        img = np.full((48, 48, 3), 128, np.uint8)
        path = plots.pairs_png(tmp_path / "pairs.png", [(img, img, "same person\nd 0.1", True),
                                                         (img, img[:, :, 0], "different", False)], title="t")
        import cv2

        assert cv2.imread(str(path)).shape[0] > 2 * 96
        with pytest.raises(ValueError, match="no rows"):
            plots.pairs_png(tmp_path / "x.png", [])

    def test_balanced_pairs_needs_two_people(self):
        with pytest.raises(InputDataError, match="two people"):
            FD.balanced_pairs(np.zeros(5, int), 10)

    def _lfw_tree(self, tmp_path):
        for name, n in [("Ann_A", 3), ("Bob_B", 2), ("Cy_C", 1)]:
            (tmp_path / "lfw" / name).mkdir(parents=True)
            for k in range(1, n + 1):
                (tmp_path / "lfw" / name / f"{name}_{k:04d}.jpg").write_bytes(b"x")
        return tmp_path / "lfw"

    def test_view1_pairs_with_missing_files(self, tmp_path):
        root = self._lfw_tree(tmp_path)
        (tmp_path / "pairs.txt").write_text("3\nAnn_A 1 2\nBob_B 1 2\nDan_D 1 2\n"
                                            "Ann_A 3 Bob_B 1\nCy_C 1 Bob_B 2\nAnn_A 1 Eve_E 1\n")
        pl = FD.parse_pairs(tmp_path / "pairs.txt", root)
        assert len(pl) == 4 and pl.skipped == 2
        assert pl.same.tolist() == [True, True, False, False]
        assert pl.a[0].endswith("Ann_A_0001.jpg") and pl.b[2].endswith("Bob_B_0001.jpg")

    def test_view2_sets_are_folds(self, tmp_path):
        root = self._lfw_tree(tmp_path)
        (tmp_path / "pairs.txt").write_text("2 1\nAnn_A 1 2\nAnn_A 1 Bob_B 1\nBob_B 1 2\nCy_C 1 Ann_A 3\n")
        pl = FD.parse_pairs(tmp_path / "pairs.txt", root)
        assert pl.folds.tolist() == [0, 0, 1, 1]

    def test_att_style_names(self, tmp_path):
        for k in (1, 2):
            (tmp_path / "s1").mkdir(exist_ok=True)
            (tmp_path / "s1" / f"{k}.pgm").write_bytes(b"x")
        (tmp_path / "p.txt").write_text("1\ns1 1 2\n")
        assert len(FD.parse_pairs(tmp_path / "p.txt", tmp_path)) == 1

    @pytest.mark.parametrize("text, word", [("", "first line"), ("x\n", "first line"),
                                            ("1\nAnn_A 1\n", "expected"), ("1\nAnn_A one 2\n", "image number")])
    def test_malformed(self, tmp_path, text, word):
        self._lfw_tree(tmp_path)
        (tmp_path / "p.txt").write_text(text)
        with pytest.raises(InputDataError, match=word):
            FD.parse_pairs(tmp_path / "p.txt", tmp_path / "lfw")

    def test_identity_folder_errors(self, tmp_path):
        with pytest.raises(InputDataError, match="not found"):
            FD.list_identities(tmp_path / "absent")
        (tmp_path / "empty_person").mkdir()
        with pytest.raises(InputDataError, match="no person folders"):
            FD.list_identities(tmp_path)


class TestEvaluatePlugin:
    def test_evaluate_tiny_model_on_fixture_faces(self, fixtures_dir, tmp_path):
        from edgecnn.edge.core.interpreter import load_model

        opts = EV.Options(data=str(fixtures_dir / "faces"), num_pairs=40, report=str(tmp_path / "rep"))
        res = EV.evaluate(load_model(fixtures_dir / "face_tiny_int8.tflite"), opts)
        assert {"pair_accuracy", "auc", "tar_at_far", "threshold", "identification"} <= set(res)
        assert res["num_pairs"] == 12 + 12  # all 12 same-person pairs of 4 x 3 images, as many different
        assert (tmp_path / "rep" / "roc.png").stat().st_size > 1000
        assert json.loads((tmp_path / "rep" / "face_eval.json").read_text())["auc"] == res["auc"]
