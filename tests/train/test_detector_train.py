"""Detector training pieces: k-means anchors, target assignment, loss, a tiny model learning."""

import numpy as np
import pytest

from edgecnn.train.core.fit import recalibrate_batchnorm
from edgecnn.train.detect import data as D
from edgecnn.train.detect import model as T

IMG = 96


class TestAnchors:
    def test_kmeans_finds_the_clusters(self):
        rng = np.random.default_rng(0)
        centers = np.array([[10, 10], [40, 20], [90, 120]], float)
        wh = np.concatenate([c * rng.uniform(0.9, 1.1, (50, 2)) for c in centers])
        got = T.kmeans_anchors(wh, 3, seed=0)
        np.testing.assert_allclose(got, centers, rtol=0.1)
        assert np.all(np.diff(got.prod(axis=1)) > 0)  # sorted by area

    @pytest.mark.parametrize("wh, k", [([[5, 5]], 3), ([[5, 5], [5, 5], [9, 9]], 4)])
    def test_fewer_boxes_than_k(self, wh, k):
        assert T.kmeans_anchors(wh, k).shape == (k, 2)

    def test_no_boxes(self):
        with pytest.raises(ValueError, match="no boxes"):
            T.kmeans_anchors(np.zeros((0, 2)), 3)


class TestTargets:
    HEADS = [{"name": "p4", "stride": 16, "grid": [6, 6], "anchors": [[10, 10], [20, 20], [30, 30]]},
             {"name": "p5", "stride": 32, "grid": [3, 3], "anchors": [[40, 40], [60, 60], [90, 90]]}]

    def test_assignment_centre_and_neighbours(self):
        box = np.array([[20, 36, 40, 56]], np.float32)  # centre (30, 46): cell (1, 2), fx=.875, fy=.875
        t4, t5 = D.build_targets(box, [1], self.HEADS, 2, max_boxes=4)
        pos = t4[: 6 * 6 * 3].reshape(6, 6, 3, 7)[..., 4]
        ys, xs, a = np.nonzero(pos)
        assert set(zip(ys, xs, strict=False)) == {(2, 1), (2, 2), (3, 1)}       # centre, right, below
        assert set(a) == {0, 1, 2}                               # anchors within 4x of 20x20
        p5 = t5[:27].reshape(3, 3, 3, 7)[..., 4]
        assert set(zip(*np.nonzero(p5), strict=False)) == {(y, x, a) for y, x in [(1, 0), (1, 1), (0, 0)] for a in (0, 1)}
        np.testing.assert_allclose(t4[36 * 3, :5], [20, 36, 40, 56, 1])  # the ground-truth rows
        assert t4[:108].reshape(6, 6, 3, 7)[2, 1, 0, 6] == 1.0   # one-hot class 1

    def test_empty_image(self):
        t4, t5 = D.build_targets(np.zeros((0, 4)), [], self.HEADS, 2, max_boxes=3)
        assert t4.shape == (6 * 6 * 3 + 3, 7) and not t4.any() and not t5.any()

    def test_split_is_seeded(self):
        a = D.split(10, 0.3, seed=1)
        b = D.split(10, 0.3, seed=1)
        assert [x.tolist() for x in a] == [x.tolist() for x in b] and len(a[1]) == 3

    def test_kfold_validation_sets_partition_the_images(self):
        parts = [D.split(11, 0.2, seed=3, folds=3, fold=k) for k in range(3)]
        vals = np.concatenate([v for _, v in parts])
        assert sorted(vals.tolist()) == list(range(11)) and [len(v) for _, v in parts] == [4, 4, 3]
        for tr, va in parts:
            assert not set(tr) & set(va) and len(tr) + len(va) == 11
        for folds, fold, n in ((1, 0, 11), (3, 3, 11), (3, -1, 11), (5, 0, 4)):
            with pytest.raises(ValueError, match="folds"):
                D.split(n, 0.2, seed=3, folds=folds, fold=fold)


def _tiny(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    cfg = T.DetectorConfig(img_size=IMG, backbone="tiny", width=32)
    samples = D.synthetic_samples(24, seed, size=(96, 128))
    heads = T.head_specs(cfg, T.kmeans_anchors(T._letterboxed_wh(samples, IMG), 6, seed))
    model = T.build_model(cfg, heads, 3)
    meta = T.make_detect_metadata(cfg, heads, samples.labels, {"data": "builtin:synthetic"})
    return cfg, samples, heads, model, meta


class TestModel:
    def test_outputs_are_raw_4d_heads(self):
        cfg, _, heads, model, _ = _tiny()
        out = model({"image": np.zeros((1, IMG, IMG, 3), np.float32)})
        assert {k: tuple(v.shape) for k, v in out.items()} == {"p4": (1, 6, 6, 24), "p5": (1, 3, 3, 24)}

    def test_head_clip_bounds_the_raw_outputs(self, tmp_path):
        import keras

        from edgecnn.train.core.blocks import Clamp

        samples = D.synthetic_samples(8, 0, size=(96, 128))
        for clip, n_clamps in ((0.5, 2), (0.0, 0)):
            cfg = T.DetectorConfig(img_size=IMG, backbone="tiny", width=32, head_clip=clip)
            heads = T.head_specs(cfg, T.kmeans_anchors(T._letterboxed_wh(samples, IMG), 6, 0))
            model = T.build_model(cfg, heads, 3)
            assert sum(isinstance(layer, Clamp) for layer in model.layers) == n_clamps
        x = np.random.default_rng(0).normal(0, 50, (2, IMG, IMG, 3)).astype(np.float32)
        out = model({"image": x})
        assert max(float(np.abs(v).max()) for v in out.values()) > 0.5  # unclamped
        cfg = T.DetectorConfig(img_size=IMG, backbone="tiny", width=32, head_clip=0.5)
        model = T.build_model(cfg, heads, 3)
        model.save(tmp_path / "m.keras")
        again = keras.models.load_model(tmp_path / "m.keras", compile=False)
        for m in (model, again):
            assert max(float(np.abs(v).max()) for v in m({"image": x}).values()) <= 0.5
        with pytest.raises(ValueError, match="head_clip"):
            T.DetectorConfig(head_clip=-1)

    def test_box_gain_scales_box_channels_and_the_loss_undoes_it(self):
        """Same weights with box_gain 1 and 2.5: box channels x2.5, obj/cls unchanged, same loss."""
        samples = D.synthetic_samples(8, 0, size=(96, 128))
        heads = T.head_specs(T.DetectorConfig(img_size=IMG), T.kmeans_anchors(T._letterboxed_wh(samples, IMG), 6, 0))
        cfgs = [T.DetectorConfig(img_size=IMG, backbone="tiny", width=32, head_clip=0, box_gain=g) for g in (1.0, 2.5)]
        m1, m2 = (T.build_model(c, heads, 3) for c in cfgs)
        m2.set_weights(m1.get_weights())
        x = np.random.default_rng(0).normal(0, 1, (2, IMG, IMG, 3)).astype(np.float32)
        o1, o2 = m1({"image": x}), m2({"image": x})
        seq = D.make_sequence(samples, heads, 3, (IMG, IMG), 4, None, 0, steps=1)
        xb, yb = seq[0]
        for name in ("p4", "p5"):
            a = np.asarray(o1[name]).reshape(2, *o1[name].shape[1:3], 3, 8)
            b = np.asarray(o2[name]).reshape(a.shape)
            np.testing.assert_allclose(b[..., :4], 2.5 * a[..., :4], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(b[..., 4:], a[..., 4:], rtol=1e-5, atol=1e-5)
        l1, l2 = (T.losses_for(heads, 3, c) for c in cfgs)
        p1, p2 = m1(xb), m2(xb)
        for name in ("p4", "p5"):
            assert float(l1[name](yb[name], p1[name])) == pytest.approx(float(l2[name](yb[name], p2[name])), rel=1e-4)
        with pytest.raises(ValueError, match="box_gain"):
            T.DetectorConfig(box_gain=0)

    def test_imagenet_without_network_is_a_clear_error(self, monkeypatch):
        import keras

        from edgecnn.edge.core.errors import EdgeError

        def no_net(*a, **k):
            raise Exception("URL fetch failure")

        monkeypatch.setattr(keras.utils, "get_file", no_net)
        cfg = T.DetectorConfig(img_size=96, backbone="mobilenet", weights="imagenet")
        with pytest.raises(EdgeError, match="--weights PATH"):
            T.build_model(cfg, T.head_specs(cfg, np.ones((6, 2)) * 20), 1)

    def test_tiny_model_learns(self):
        import keras

        from edgecnn.train.detect.augment import NO_AUGMENT

        cfg, samples, heads, model, meta = _tiny()
        lb = D.Samples([], [], [], [], samples.labels)
        for img, b, c in zip(samples.images, samples.boxes, samples.class_ids, strict=False):
            from edgecnn.train.detect.augment import letterbox_sample

            i2, b2, c2 = letterbox_sample(img, b, c, (IMG, IMG))
            lb.images.append(i2), lb.boxes.append(b2), lb.class_ids.append(c2), lb.names.append("x")
        before = T.validation_map(model, meta, lb)["val_map50"]
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=T.losses_for(heads, 3, cfg))
        seq = D.make_sequence(lb, heads, 3, (IMG, IMG), 8, NO_AUGMENT, 0, steps=90)
        hist = model.fit(seq, epochs=1, verbose=0).history
        assert recalibrate_batchnorm(model, T.letterboxed_batches(lb, IMG, 8)) == 3
        after = T.validation_map(model, meta, lb)["val_map50"]
        assert np.isfinite(hist["loss"][-1])
        assert after > before + 0.01 and after > 3 * before, (before, after)


class TestQAT:
    def test_qat_from_a_trained_model(self, tmp_path):
        """`train detect --qat-from`: kernels end on the int8 grid, provenance records the QAT, bad use is refused."""
        import json

        from edgecnn.cli import main
        from edgecnn.train.core import qat as Q
        from edgecnn.train.core.keras_model import load_keras

        common = ["--data", "builtin:synthetic", "--synthetic-images", "24", "--img-size", str(IMG),
                  "--batch-size", "8", "--quiet", "--no-resume"]
        base, tuned = tmp_path / "base", tmp_path / "qat"
        assert main(["train", "detect", *common, "--out", str(base), "--backbone", "tiny", "--width", "32",
                     "--epochs", "1", "--steps", "2", "--val-every", "1"]) == 0
        assert main(["train", "detect", *common, "--out", str(tuned), "--qat-from", str(base / "model.keras"),
                     "--qat-epochs", "1"]) == 0
        model, meta = load_keras(tuned / "model.keras", "detect")
        assert Q.grid_error(model) < 1e-3
        assert meta["provenance"]["qat"]["epochs"] == 1 and len(meta["provenance"]["qat"]["loss"]) == 1
        assert meta["params"]["heads"] == json.loads((base / "model.keras.json").read_text())["params"]["heads"]
        assert "float_val_before_qat" in meta["evaluation"]
        assert meta["params"]["config"]["head_clip"] == 8.0
        import subprocess
        import sys

        load = ("from edgecnn.train.core.keras_model import load_keras; "
                f"m, _ = load_keras({str(tuned / 'model.keras')!r}, 'detect'); print(m.layers[-1].name)")
        done = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True)  # a fresh process
        assert done.returncode == 0, done.stderr[-2000:]
        assert main(["train", "detect", *common, "--out", str(tuned), "--qat-from", str(base / "model.keras")]) == 2


class TestResamplingMatchesTheDevice:
    """Training images must look like what the device feeds the model: the device letterbox
    shrinks with INTER_AREA; a bilinear warp that shrinks aliases fine texture (a detector that had
    memorised 32 synthetic scenes scored mAP@0.5 0.98 on its training letterbox, 0.60 on the
    device's)."""

    @staticmethod
    def _texture(h=190, w=250, seed=0):
        return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)

    def test_letterbox_sample_is_the_device_letterbox(self):
        from edgecnn.edge.core.image import letterbox, letterbox_boxes
        from edgecnn.train.detect.augment import letterbox_sample

        img = self._texture()
        boxes = np.array([[10, 20, 60, 90], [100, 50, 240, 180]], np.float32)
        got, bx, ids = letterbox_sample(img, boxes, [0, 1], (128, 128))
        want, info = letterbox(img, (128, 128), fill=114)
        assert np.array_equal(got, want)
        np.testing.assert_allclose(bx, letterbox_boxes(boxes, info), atol=1e-4)
        assert ids.tolist() == [0, 1]

    def test_a_shrinking_warp_is_area_averaged(self):
        import cv2

        from edgecnn.edge.core.image import letterbox
        from edgecnn.train.detect.augment import warp

        img = self._texture()
        want, info = letterbox(img, (96, 96), fill=114)
        m = np.array([[info.scale, 0, info.pad_x], [0, info.scale, info.pad_y]])
        ours = warp(img, m, (96, 96)).astype(float)
        bilinear = cv2.warpAffine(img, m, (96, 96), flags=cv2.INTER_LINEAR, borderValue=(114,) * 3).astype(float)
        inner = (slice(30, 60), slice(30, 60))  # away from the padding edges
        assert np.abs(ours[inner] - want[inner]).mean() < 3.0
        assert np.abs(bilinear[inner] - want[inner]).mean() > 15.0  # the aliasing the fix removes
