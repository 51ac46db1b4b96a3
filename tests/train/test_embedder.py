"""Triplet loss and mining on hand-made embeddings, the P x K sampler, splits, augmentation, model."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

from edgecnn.train.face import model as E
from edgecnn.train.face import recipe as R
from edgecnn.train.face import synthetic as S
from edgecnn.train.face.data import AugmentConfig, PKSampler, augment_batch, people_split

# Four unit vectors in 2-D, people [0, 0, 1, 1]. Squared distances (2 - 2 a.b):
#        e0   e1   e2   e3
#  e0   0    .8   2    4
#  e1   .8   0    .4   3.2
#  e2   2    .4   0    2
#  e3   4    3.2  2    0
EMB = np.array([[1, 0], [0.6, 0.8], [0, 1], [-1, 0]], np.float32)
LAB = np.array([0, 0, 1, 1], np.float32)


def value(fn, labels, emb, margin):
    return float(fn(labels, emb, margin))


class TestTripletLoss:
    @pytest.mark.parametrize("margin, expected", [
        # per anchor relu(hardest pos - hardest neg + m): e0 .8-2, e1 .8-.4, e2 2-.4, e3 2-3.2
        (0.2, (0 + 0.6 + 1.8 + 0) / 4),
        (0.0, (0 + 0.4 + 1.6 + 0) / 4),
        (1.5, (0.3 + 1.9 + 3.1 + 0.3) / 4),
    ])
    def test_batch_hard(self, margin, expected):
        assert value(E.batch_hard, LAB, EMB, margin) == pytest.approx(expected, abs=1e-5)

    @pytest.mark.parametrize("margin, expected", [
        # pairs (a,p): (0,1) d .8, semi-hard n = 2 (of 2, 4); (1,0) .8 -> 3.2 (of .4, 3.2);
        # (2,3) d 2 -> none > 2 (2, .4): farthest 2; (3,2) d 2 -> 3.2 (of 4, 3.2)
        (0.2, (0 + 0 + 0.2 + 0) / 4),
        (1.5, (0.3 + 0 + 1.5 + 0.3) / 4),
    ])
    def test_semi_hard(self, margin, expected):
        assert value(E.semi_hard, LAB, EMB, margin) == pytest.approx(expected, abs=1e-5)

    @pytest.mark.parametrize("mining", sorted(E.MINING))
    @pytest.mark.parametrize("labels", [[0, 0, 0, 0], [0, 1, 2, 3]])  # no negatives / no positives
    def test_degenerate_batches_give_zero(self, mining, labels):
        assert value(E.MINING[mining], np.array(labels, np.float32), EMB, 0.2) == 0.0

    def test_loss_object_and_config(self):
        loss = E.TripletLoss(0.2, "batch_hard")
        assert float(loss(LAB[:, None], EMB)) == pytest.approx(0.6, abs=1e-5)
        again = E.TripletLoss.from_config(loss.get_config())
        assert (again.margin, again.mining) == (0.2, "batch_hard")
        with pytest.raises(ValueError, match="batch_hard"):
            E.TripletLoss(mining="random")

    def test_cosface_hand_value(self):
        loss = E.CosFaceLoss(scale=1.0, margin=0.0)
        got = float(loss(np.array([0.0], np.float32), np.array([[1.0, 0.0]], np.float32)))
        assert got == pytest.approx(math.log(1 + math.exp(-1)), abs=1e-5)


class TestSampler:
    def test_batches_are_p_people_by_k_images(self):
        labels = np.repeat(np.arange(10), [5, 5, 5, 5, 5, 5, 2, 2, 3, 1])
        s = PKSampler(labels, p=3, k=4, seed=0)
        batches = s.epoch()
        assert len(batches) == len(s) == 3  # 9 people with >= 2 images, 3 per batch
        for b in batches:
            people, counts = np.unique(labels[b], return_counts=True)
            assert len(b) == 12 and len(people) == 3 and set(counts) == {4}
        seen = np.unique(labels[np.concatenate(batches)])
        assert 9 not in seen and len(seen) == 9  # one-image people are never anchors

    def test_seeded(self):
        labels = np.repeat(np.arange(8), 3)
        a = PKSampler(labels, 2, 2, seed=5).epoch()
        b = PKSampler(labels, 2, 2, seed=5).epoch()
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    @pytest.mark.parametrize("p, k, word", [(1, 4, "p >= 2"), (4, 1, "k >= 2"), (20, 2, "need at least")])
    def test_bad(self, p, k, word):
        with pytest.raises(ValueError, match=word):
            PKSampler(np.repeat(np.arange(8), 3), p, k)


class TestData:
    def test_people_split_is_disjoint_and_seeded(self):
        names = [f"p{i}" for i in range(50)]
        tr, va, te = people_split(names, (0.8, 0.1, 0.1), seed=1)
        assert (len(tr), len(va), len(te)) == (40, 5, 5)
        assert not set(tr) & set(va) and not set(tr) & set(te) and sorted(tr + va + te) == sorted(names)
        assert people_split(names, (0.8, 0.1, 0.1), seed=1)[2] == te
        with pytest.raises(ValueError, match="sum to 1"):
            people_split(names, (0.5, 0.1))

    @pytest.mark.parametrize("n, counts", [(1184, (948, 118, 118)), (30, (15, 5, 10)), (6, (3, 1, 2))])
    def test_split_fractions(self, n, counts):
        rc = R.RecipeConfig(E.EmbedderConfig(), None)
        groups = people_split([str(i) for i in range(n)], R.split_fractions(n, rc))
        assert tuple(len(g) for g in groups) == counts

    def test_augment_keeps_shape_and_is_seeded(self):
        x = S.make_face_set(2, 2, 32, seed=0).pixels
        a = augment_batch(x, np.random.default_rng(0), AugmentConfig())
        b = augment_batch(x, np.random.default_rng(0), AugmentConfig())
        assert a.shape == x.shape and a.dtype == np.uint8 and np.array_equal(a, b) and not np.array_equal(a, x)

    def test_synthetic_identities(self):
        fs = S.make_face_set(3, 4, 32, seed=0)
        assert fs.pixels.shape == (12, 32, 32, 3) and fs.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4

    def test_synthetic_people_differ_more_than_images_of_one_person(self):
        """The synthetic task is learnable: raw pixels of one person are already closer than of two."""
        fs = S.make_face_set(12, 4, 32, seed=1)
        x = fs.pixels.reshape(len(fs), -1).astype(np.float32)
        d = ((x[:, None] - x[None]) ** 2).mean(axis=2)
        same = fs.labels[:, None] == fs.labels[None]
        off = ~np.eye(len(fs), dtype=bool)
        assert np.median(d[same & off]) < np.median(d[~same])
        styles = {p["hair_style"] for p in S.identities(40, seed=0)}
        assert styles == set(range(len(S.HAIR_STYLES)))
        assert S.AUGMENT.grey == 0.0  # colour is part of a cartoon's identity; test images are never grey

    def test_validation_pairs_are_balanced_with_few_people(self):
        """tau is fitted by accuracy on these pairs: with 8 people x 8 images there are only 224 same
        pairs; 1000 different pairs beside them made the "best" tau reject nearly every genuine pair
        (the demo model answered "different people" for two images of one person)."""
        fs = S.make_face_set(8, 8, 32, seed=0)
        _, _, same, _ = R.val_pairs(fs, seed=0)
        assert same.sum() == 224 and (~same).sum() == 224


class TestModel:
    def test_embedder_outputs_unit_vectors(self):
        cfg = E.EmbedderConfig(size=32, embedding_size=8, backbone="mobilefacenet", alpha=0.125)
        model = E.build_embedder(cfg)
        assert [t.name for t in model.inputs] == ["image"]
        out = model({"image": np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")})
        assert set(out) == {"embedding"}
        np.testing.assert_allclose(np.linalg.norm(np.asarray(out["embedding"]), axis=1), 1.0, atol=1e-5)
        trainer = E.build_training_model(model, num_classes=5)
        assert set(trainer.output) == {"embedding", "logits"}
        assert E.extract_embedder(trainer).count_params() == model.count_params()

    @pytest.mark.parametrize("kw, word", [({"backbone": "resnet"}, "backbone"), ({"head": "fc"}, "head"),
                                          ({"size": 100}, "multiple of 16")])
    def test_bad_config(self, kw, word):
        with pytest.raises(ValueError, match=word):
            E.EmbedderConfig(**kw)

    def test_missing_weights_file_points_at_the_local_copy(self, tmp_path):
        ns = argparse.Namespace(data="builtin:synthetic", weights=str(tmp_path / "nope.h5"), batch_size=None)
        with pytest.raises(ValueError, match="--weights PATH"):
            R.recipe_from_args(ns)


class TestRunTrain:
    @pytest.mark.slow  # graph tracing of a whole model: ~20 s alone, minutes on a busy 2-core box
    def test_synthetic_end_to_end(self, tmp_path):
        from edgecnn.cli import main

        out = tmp_path / "run"
        code = main(["train", "face", "--out", str(out), "--epochs", "1", "--batch-size", "16",
                     "--synthetic-people", "12", "--synthetic-images", "4", "--backbone", "mobilefacenet",
                     "--alpha", "0.125", "--input-size", "32", "--embedding-size", "16", "--workers", "1",
                     "--no-resume"])
        assert code == 0
        meta = json.loads((out / "model.keras.json").read_text())
        p = meta["params"]
        assert meta["task"] == "face" and p["distance"] == "squared_l2_unit" and p["embedding_size"] == 16
        assert p["size"] == 32 and p["finder"] == "none" and "pipeline check" in p["note"]
        assert -1e-5 <= p["threshold"] <= 4.0  # one step: may be "reject all" (just below 0)
        assert (out / "test_people_synthetic.txt").is_file() and (out / "checkpoints").is_dir()
