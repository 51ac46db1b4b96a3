"""The landmark network's training side (train/face/landmarks.py): split, samples, model, int8 runner."""

from __future__ import annotations

import numpy as np
import pytest

from edgecnn.edge.face import align as A
from edgecnn.edge.face import landmarks as EL
from edgecnn.train.face import landmarks as TL

POINTS = np.array([[92.0, 62.0], [78.0, 63.0], [50.0, 62.0], [64.0, 63.0], [71.0, 88.0]], np.float32)


def spot(shape, pt, sigma: float = 2.0) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.rint(255 * np.exp(-((xx - pt[0]) ** 2 + (yy - pt[1]) ** 2) / (2 * sigma**2))).astype(np.uint8)


def centroid(img) -> np.ndarray:
    g = np.asarray(img, np.float64).reshape(img.shape[0], img.shape[1])
    yy, xx = np.mgrid[: g.shape[0], : g.shape[1]]
    return np.array([np.sum(g * xx), np.sum(g * yy)]) / g.sum()


def landmark_set(images, n_people: int = 1) -> TL.LandmarkSet:
    n = len(images)
    box = np.array([[40.0, 40.0, 64.0, 64.0]] * n, np.float32)
    return TL.LandmarkSet(list(images), np.repeat(POINTS[None], n, 0), box, box + [2, -2, 4, 4],
                          np.ones(n, bool), np.array([f"p{i % n_people}" for i in range(n)]),
                          np.array([f"img{i}.jpg" for i in range(n)]), np.array(["lfw"] * n))


class TestSplit:
    def test_deterministic_disjoint_and_about_the_fraction(self):
        names = [f"Person_{i:04d}" for i in range(2000)]
        train, test = TL.split_people(names, 0.2)
        assert set(train).isdisjoint(test) and len(train) + len(test) == 2000
        assert 0.17 < len(test) / 2000 < 0.23
        assert TL.split_people(list(reversed(names)), 0.2) == (train, test)

    def test_a_persons_side_does_not_depend_on_the_others(self):
        names = [f"Person_{i:04d}" for i in range(300)]
        _, test_all = TL.split_people(names, 0.2)
        _, test_half = TL.split_people(names[::2], 0.2)
        assert set(test_half) == set(test_all) & set(names[::2])

    def test_validation_people(self, tmp_path):
        names = [f"n{i}" for i in range(1000)]
        train, val, test = TL.split_people(names, 0.2, 0.1)
        assert len(set(train) | set(val) | set(test)) == 1000 and 0.06 < len(val) / 1000 < 0.14
        assert TL.split_people(names, 0.2)[1] == test
        path = TL.write_people(tmp_path / "people.txt", test)
        assert path.read_text().split() == test
        with pytest.raises(ValueError):
            TL.split_people(names, 0.9, 0.2)


class TestSamples:
    @pytest.mark.parametrize("seed", range(6))
    def test_targets_follow_the_pixels_through_augmentation(self, seed):
        """Each point drawn alone on its own image: after the same random crop (rotation, scale,
        shift, maybe a flip) the spot sits where the target says, under the swapped name if flipped."""
        images = [spot((150, 150), p) for p in POINTS]
        ls = landmark_set(images)
        crop = EL.LandmarkConfig(size=64, margin=0.2)
        aug = TL.AugmentConfig(brightness=0.0, contrast=0.0, blur=0.0, noise=0.0, flip=0.5)
        flipped = []
        for k in range(5):
            px, unit, m = TL.make_sample(ls, k, crop, np.random.default_rng(seed), aug)
            assert px.shape == (64, 64, 1) and px.dtype == np.uint8
            pts = EL.from_unit(unit, crop.size)
            flip = np.linalg.det(m[:, :2]) < 0
            flipped.append(flip)
            j = A.FLIP_ORDER[k] if flip else k  # where original point k ends up in the target order
            np.testing.assert_allclose(centroid(px), pts[j], atol=0.35)
        assert len(set(flipped)) == 1  # the same draws for every image

    def test_flip_swaps_left_and_right(self):
        ls = landmark_set([np.zeros((150, 150), np.uint8)])
        crop = EL.LandmarkConfig(size=64)
        aug = TL.AugmentConfig(rotate=0.0, scale=(1.0, 1.0), shift=0.0, flip=1.0, teacher_box=0.0, noise=0.0)
        _, unit, _ = TL.make_sample(ls, 0, crop, np.random.default_rng(0), aug)
        _, plain, _ = TL.make_sample(ls, 0, crop)
        assert unit[0, 0] > unit[2, 0]  # still: point 0 on the image's right
        np.testing.assert_allclose(unit, EL.flip_unit(plain), atol=1e-9)

    def test_box_sources(self):
        """Plain crops frame the named box; the learned finder's box falls back to the finder's
        where it found none (NaN); augmentation draws each source at its share."""
        ls = landmark_set([np.zeros((150, 150), np.uint8)] * 2)
        ls.learned_boxes = np.array([[30.0, 30.0, 80.0, 80.0], [np.nan] * 4], np.float32)
        crop = EL.LandmarkConfig(size=64, margin=0.0)
        mats = {k: TL.make_sample(ls, 0, crop, box=k)[2] for k in ("finder", "teacher", "learned")}
        assert len({m.tobytes() for m in mats.values()}) == 3
        np.testing.assert_allclose(TL.make_sample(ls, 1, crop, box="learned")[2], TL.make_sample(ls, 1, crop)[2])
        np.testing.assert_allclose(mats["learned"], EL.crop_matrix(ls.learned_boxes[0], 0.0, 64))
        aug = TL.AugmentConfig(rotate=0.0, scale=(1.0, 1.0), shift=0.0, flip=0.0, teacher_box=0.25, learned_box=0.5)
        rng = np.random.default_rng(0)
        seen = []
        for _ in range(400):
            m = TL.make_sample(ls, 0, crop, rng, aug)[2]
            seen.append(next(k for k, ref in mats.items() if np.allclose(m, ref)))
        share = {k: seen.count(k) / len(seen) for k in mats}
        assert abs(share["teacher"] - 0.25) < 0.07 and abs(share["learned"] - 0.5) < 0.07
        assert len(ls.subset([1]).learned_boxes) == 1

    def test_batches(self):
        rng = np.random.default_rng(0)
        ls = landmark_set([rng.integers(0, 256, (150, 150), dtype=np.uint8) for _ in range(10)], 3)
        cfg = TL.TrainConfig(crop=EL.LandmarkConfig(size=32), batch=4)
        b = TL.LandmarkBatches(ls, cfg, seed=0)
        x, y = b[0]
        assert len(b) == 2 and x["image"].shape == (4, 32, 32, 1) and x["image"].dtype == np.float32
        assert y["landmarks"].shape == (4, 10) and np.all((y["landmarks"] > 0) & (y["landmarks"] < 1))
        assert -1.0 <= x["image"].min() and x["image"].max() <= 1.0
        assert len(ls.of_people(["p0"])) == 4


class TestModel:
    def test_tiny_model_trains_converts_and_runs_int8(self, tmp_path):
        from edgecnn.convert.tflite import convert_keras
        from edgecnn.edge.core.interpreter import load_model

        rng = np.random.default_rng(0)
        images = [np.clip(spot((150, 150), POINTS[0]).astype(int) + rng.integers(0, 60, (150, 150)), 0, 255)
                  .astype(np.uint8) for _ in range(24)]
        ls = landmark_set(images, 4)
        cfg = TL.TrainConfig(crop=EL.LandmarkConfig(size=32), width=4, hidden=8, epochs=2, batch=8)
        model, history = TL.train_model(ls, ls.subset(np.arange(4)), cfg, tmp_path, log=lambda m: None)
        assert len(history["loss"]) == 2 and (tmp_path / "best.weights.h5").is_file()
        assert model.count_params() < 20000
        meta = TL.metadata(cfg, {"note": "test"})
        from edgecnn.train.core.keras_model import load_keras, save_model

        save_model(model, tmp_path / "lm.keras", meta)  # the Rescaling offsets survive a save and load
        again, meta2 = load_keras(tmp_path / "lm.keras")
        x0 = {"image": np.zeros((1, 32, 32, 1), np.float32)}
        np.testing.assert_allclose(again(x0)["landmarks"], model(x0)["landmarks"], atol=1e-6)
        assert meta2["params"]["role"] == EL.ROLE
        flat = convert_keras(model, mode="int8", representative=TL.calibration_samples(ls, cfg, 16), metadata=meta)
        (tmp_path / "lm.tflite").write_bytes(flat)
        det = EL.LandmarkDetector(load_model(tmp_path / "lm.tflite"))
        assert det.config == cfg.crop
        px, _, _ = TL.make_arrays(ls.subset(np.arange(6)), cfg.crop)
        q = det.predict_crops(px)
        f = TL.predict_unit(model, px, cfg.crop)
        assert q.shape == (6, 5, 2) and np.max(np.abs(q - f)) < 0.03
        pts = det.predict(np.stack([images[0]] * 3, axis=-1), ls.finder_boxes[0])
        assert pts.shape == (5, 2) and np.all(np.isfinite(pts))

    def test_default_model_is_small(self):
        model = TL.build_model(TL.TrainConfig())
        assert model.count_params() < 150_000  # about 150 KB of int8 weights at most
        out = model({"image": np.zeros((2, 96, 96, 1), np.float32)})["landmarks"]
        np.testing.assert_allclose(np.asarray(out)[0].reshape(5, 2), TL._mean_unit(EL.LandmarkConfig()), atol=1e-5)
        with pytest.raises(ValueError, match="multiple of 32"):
            TL.build_model(TL.TrainConfig(crop=EL.LandmarkConfig(size=48)))
