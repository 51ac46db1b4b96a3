"""Five-point alignment (edge/face/align.py) and the landmark crop geometry (edge/face/landmarks.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from edgecnn.edge.core.errors import InputDataError, ModelFileError
from edgecnn.edge.face import align as A
from edgecnn.edge.face import landmarks as L
from edgecnn.edge.face.runtime import crop_square


def similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = math.radians(angle_deg)
    r = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.hstack([r, [[tx], [ty]]])


def blob(shape, pt, sigma: float = 2.0) -> np.ndarray:
    """A black grey image with one Gaussian spot centred (sub-pixel) at ``pt``."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    d2 = (xx - pt[0]) ** 2 + (yy - pt[1]) ** 2
    return np.rint(255.0 * np.exp(-d2 / (2.0 * sigma**2))).astype(np.uint8)


def centroid(img: np.ndarray) -> np.ndarray:
    grey = (img if img.ndim == 2 else img[..., 0]).astype(np.float64)
    yy, xx = np.mgrid[: grey.shape[0], : grey.shape[1]]
    return np.array([np.sum(grey * xx), np.sum(grey * yy)]) / grey.sum()


def where_points_go(shape, pts, sigma: float, warp) -> np.ndarray:
    """Draw each point as a spot on its own image, apply ``warp`` (image -> image), find it again."""
    return np.array([centroid(warp(blob(shape, p, sigma))) for p in pts])


class TestSimilarityTransform:
    @pytest.mark.parametrize("angle, scale, tx, ty", [
        (0.0, 1.0, 0.0, 0.0), (17.0, 1.3, 5.0, -9.0), (-40.0, 0.25, 100.0, 3.5), (179.0, 3.0, -20.0, 40.0),
        (90.0, 0.7, 1.0, 2.0),
    ])
    def test_exact_recovery(self, angle, scale, tx, ty, rng):
        src = rng.uniform(0, 100, (5, 2))
        m_true = similarity(angle, scale, tx, ty)
        dst = A.transform_points(m_true, src)
        m = A.similarity_transform(src, dst)
        np.testing.assert_allclose(m, m_true, atol=1e-9)
        np.testing.assert_allclose(A.transform_points(m, src), dst, atol=1e-9)

    def test_two_points_are_enough(self):
        m_true = similarity(30.0, 2.0, 3.0, 4.0)
        src = np.array([[0.0, 0.0], [10.0, 0.0]])
        np.testing.assert_allclose(A.similarity_transform(src, A.transform_points(m_true, src)), m_true, atol=1e-9)

    def test_least_squares_beats_perturbations(self, rng):
        src = A.template(112)
        dst = A.transform_points(similarity(12.0, 1.7, 20.0, -5.0), src) + rng.normal(0, 2.0, (5, 2))
        m = A.similarity_transform(src, dst)

        def residual(mat):
            return np.sum((A.transform_points(mat, src) - dst) ** 2)

        best = residual(m)
        for _ in range(50):
            a, s = rng.normal(0, 0.01), 1 + rng.normal(0, 0.01)
            rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * s
            other = np.hstack([rot @ m[:, :2], (m[:, 2] + rng.normal(0, 0.2, 2))[:, None]])
            assert residual(other) >= best - 1e-9
        assert np.linalg.det(m[:, :2]) > 0

    def test_no_reflection(self):
        src = A.template(112)
        mirrored = src.copy()
        mirrored[:, 0] = -mirrored[:, 0]
        m = A.similarity_transform(src, mirrored)
        assert np.linalg.det(m[:, :2]) > 0  # a proper rotation, never the (exact) reflection
        assert np.max(np.abs(A.transform_points(m, src) - mirrored)) > 1.0

    @pytest.mark.parametrize("src, dst, match", [
        (np.ones((5, 2)), np.arange(10.0).reshape(5, 2), "degenerate"),
        (np.arange(10.0).reshape(5, 2), np.full((5, 2), 3.0), "degenerate"),
        (np.zeros((1, 2)), np.zeros((1, 2)), "at least 2"),
        (np.zeros((5, 2)), np.zeros((4, 2)), "differ in shape"),
        (np.zeros((5, 3)), np.zeros((5, 3)), "shape"),
        (np.array([[0.0, np.nan], [1.0, 1.0]]), np.eye(2), "NaN"),
    ])
    def test_degenerate_input_errors(self, src, dst, match):
        with pytest.raises(InputDataError, match=match):
            A.similarity_transform(src, dst)

    def test_invert_affine_round_trip(self, rng):
        m = similarity(33.0, 0.8, 7.0, -2.0)
        pts = rng.uniform(-50, 50, (10, 2))
        np.testing.assert_allclose(A.transform_points(A.invert_affine(m), A.transform_points(m, pts)), pts, atol=1e-9)
        with pytest.raises(InputDataError, match="singular"):
            A.invert_affine(np.zeros((2, 3)))


class TestTemplate:
    def test_dlib_order_and_framing(self):
        t = A.template(150, 0.25)
        assert t.shape == (5, 2)
        assert t[0, 0] > t[1, 0] > t[3, 0] > t[2, 0]  # right outer, right inner, left inner, left outer
        assert t[4, 1] > t[:4, 1].max()  # the nose base lies below the eyes
        np.testing.assert_allclose(t, (0.25 + A.TEMPLATE_UNIT) / 1.5 * 150)
        np.testing.assert_allclose(A.template(112, 0.0), A.TEMPLATE_UNIT * 112)

    def test_template_is_nearly_mirror_symmetric(self):
        t = A.template(112)
        np.testing.assert_allclose(A.flip_points(t, 112), t, atol=1.0)

    @pytest.mark.parametrize("size, padding", [(4, 0.25), (112, -0.1), (112.5, 0.25)])
    def test_bad_arguments(self, size, padding):
        with pytest.raises(ValueError):
            A.template(size, padding)


class TestAlignFace:
    def test_shape_dtype_and_grey(self, rng):
        img = rng.integers(0, 256, (200, 180, 3), dtype=np.uint8)
        lm = A.transform_points(similarity(5.0, 0.9, 40.0, 50.0), A.template(112))
        for image in (img, img[:, :, 0], img[:, :, :1]):
            out = A.align_face(image, lm, 96)
            assert out.shape == (96, 96, 3) and out.dtype == np.uint8
        assert A.aligned_pixels(img, lm, 64, channels=1).shape == (64, 64, 1)
        rgb = A.aligned_pixels(img, lm, 64, channels=3)
        np.testing.assert_array_equal(rgb, A.align_face(img, lm, 64)[:, :, ::-1])

    @pytest.mark.parametrize("angle, scale", [(0.0, 1.0), (25.0, 1.4), (-35.0, 0.6), (10.0, 6.0)])
    def test_landmarks_land_on_the_template(self, angle, scale):
        """Blobs drawn at a similarity of the template come out at the template's pixels, also
        through the anti-aliased path for large faces (scale 6: a 4x shrink)."""
        size = 112
        t = A.template(size)
        centre = np.array([size / 2, size / 2])
        side = int(size * scale * 1.8) + 40
        m_true = similarity(angle, scale, 0.0, 0.0)
        pts = A.transform_points(m_true, t - centre) + side / 2
        got = where_points_go((side, side), pts, max(2.0, 2.0 * scale), lambda im: A.align_face(im, pts, size))
        np.testing.assert_allclose(got, t, atol=0.2)

    def test_round_trip_restores_the_image(self, rng):
        """Align, then warp the chip back with the inverse: the face region comes back."""
        base = cv2.GaussianBlur(rng.integers(0, 256, (160, 160), dtype=np.uint8), (0, 0), 3)
        img = cv2.cvtColor(base, cv2.COLOR_GRAY2BGR)
        lm = A.transform_points(similarity(15.0, 1.1, 20.0, 25.0), A.template(112))
        m = A.align_matrix(lm, 112)
        chip = A.align_face(img, lm, 112)
        back = cv2.warpAffine(chip, A.invert_affine(m), (160, 160), flags=cv2.INTER_LINEAR)
        inside = cv2.warpAffine(np.full((112, 112), 255, np.uint8), A.invert_affine(m), (160, 160)) == 255
        inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        err = np.abs(back.astype(int) - img.astype(int))[inside]
        assert inside.sum() > 5000 and err.mean() < 3.0

    def test_bad_inputs(self, rng):
        img = rng.integers(0, 256, (100, 100, 3), dtype=np.uint8)
        with pytest.raises(InputDataError, match="5 points"):
            A.align_face(img, np.zeros((4, 2)), 64)
        with pytest.raises(InputDataError, match="degenerate"):
            A.align_face(img, np.full((5, 2), 50.0), 64)
        with pytest.raises(InputDataError, match="uint8"):
            A.align_face(img.astype(np.float32), A.template(100), 64)
        with pytest.raises(InputDataError, match="image"):
            A.align_face(np.zeros((10, 10, 4), np.uint8), A.template(100), 64)


class TestPointHelpers:
    def test_flip_points_twice_is_identity(self, rng):
        pts = rng.uniform(0, 100, (5, 2))
        np.testing.assert_allclose(A.flip_points(A.flip_points(pts, 100), 100), pts)
        f = A.flip_points(pts, 100)
        np.testing.assert_allclose(f[0], [99 - pts[2, 0], pts[2, 1]])  # new right outer = old left outer
        np.testing.assert_allclose(f[4], [99 - pts[4, 0], pts[4, 1]])

    def test_flip_unit_matches_flip_points(self, rng):
        size = 64
        pts = rng.uniform(0, size - 1, (5, 2))
        np.testing.assert_allclose(L.flip_unit(L.to_unit(pts, size)), L.to_unit(A.flip_points(pts, size), size))
        np.testing.assert_allclose(L.from_unit(L.to_unit(pts, size), size), pts)

    def test_landmark_error_hand_value(self):
        ref = A.template(100)[None]
        iod = np.linalg.norm(ref[0, 0] - ref[0, 2])
        pred = ref + np.array([3.0, 4.0])  # every point 5 px off
        np.testing.assert_allclose(A.landmark_error(pred, ref), [5.0 / iod])
        np.testing.assert_allclose(A.interocular(ref), [iod])
        with pytest.raises(InputDataError):
            A.landmark_error(np.zeros((1, 4, 2)), np.zeros((1, 4, 2)))


class TestLandmarkCrop:
    def test_crop_matrix_frames_like_crop_square(self, rng):
        img = cv2.GaussianBlur(rng.integers(0, 256, (150, 150, 3), dtype=np.uint8), (0, 0), 2)
        box = (40, 45, 60, 60)
        cfg = L.LandmarkConfig(size=64, margin=0.2, channels=3)
        ours = L.crop_pixels(img, L.crop_matrix(box, 0.2, 64), cfg)
        ref = cv2.cvtColor(crop_square(img, box, 0.2, 64), cv2.COLOR_BGR2RGB)
        assert np.abs(ours.astype(int) - ref.astype(int)).mean() < 4.0

    def test_points_follow_rotation_scale_shift_and_flip(self):
        pts = np.array([[90.0, 60.0], [75.0, 61.0], [45.0, 60.0], [60.0, 61.0], [68.0, 85.0]])
        cfg = L.LandmarkConfig(size=96, margin=0.2, channels=1)
        for kw in ({}, {"angle": 20.0}, {"scale": 1.2, "shift": (0.05, -0.03)}, {"flip": True, "angle": -10.0}):
            m = L.crop_matrix((35, 40, 70, 70), cfg.margin, cfg.size, **kw)
            got = where_points_go((150, 150), pts, 2.0, lambda im, m=m: L.crop_pixels(im, m, cfg))
            np.testing.assert_allclose(got, A.transform_points(m, pts), atol=0.2)

    def test_rotation_uprights_a_tilted_face(self):
        """A face turned counter-clockwise on screen by 20 degrees (cv2.getRotationMatrix2D(+20))
        comes out upright from a crop with angle=20: template -> crop points has no rotation."""
        t = A.template(100)
        tilted = A.transform_points(cv2.getRotationMatrix2D((50.0, 50.0), 20.0, 1.0), t)
        m = L.crop_matrix((20, 20, 60, 60), 0.2, 96, angle=20.0)
        fit = A.similarity_transform(t, A.transform_points(m, tilted))
        assert abs(fit[1, 0]) < 1e-9 and fit[0, 0] > 0  # the sine term of the rotation is zero

    def test_config_and_bad_box(self):
        cfg = L.LandmarkConfig.from_params({"role": L.ROLE, "size": 64, "margin": 0.1, "other": 1})
        assert cfg.size == 64 and cfg.to_params()["role"] == L.ROLE
        with pytest.raises(ValueError):
            L.LandmarkConfig(size=8)
        with pytest.raises(InputDataError, match="box"):
            L.crop_matrix((0, 0, 0, 10), 0.2, 64)

    def test_detector_refuses_other_models(self):
        class Fake:
            metadata = {"task": "face", "params": {"embedding_size": 128}}
            path = "x.tflite"

        with pytest.raises(ModelFileError, match="not a landmark model"):
            L.LandmarkDetector(Fake())

    def test_detector_maps_points_back_to_the_image(self):
        """A stub model that returns fixed normalised points: predict() returns them in image pixels."""
        unit = np.array([[0.7, 0.4], [0.6, 0.4], [0.3, 0.4], [0.4, 0.4], [0.5, 0.6]])

        class Stub:
            metadata = {"task": "face", "params": L.LandmarkConfig(size=32).to_params()}

            def run(self, feeds):
                x = feeds[L.INPUT_NAME]
                assert x.shape[1:] == (32, 32, 1) and x.dtype == np.float32
                return {L.OUTPUT_NAME: np.tile(unit.reshape(1, -1), (len(x), 1))}

        det = L.LandmarkDetector(Stub())
        img = np.zeros((200, 300, 3), np.uint8)
        box = (100, 50, 80, 80)
        got = det.predict(img, box)
        side = 80 * 1.4
        expect = np.array([140.0, 90.0]) + (unit - 0.5) * side  # unit 0.5 is the box centre
        np.testing.assert_allclose(got, expect, atol=1e-6)
        assert det.predict_many(img, []).shape == (0, 5, 2)
        flip = L.LandmarkDetector(Stub(), flip_tta=True).predict(img, box)  # average with the mirror
        np.testing.assert_allclose(flip, 0.5 * (got + (np.array([140.0, 90.0]) + (L.flip_unit(unit) - 0.5) * side)),
                                   atol=1e-6)
