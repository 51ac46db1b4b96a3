"""Box formats, IoU, NMS (hand-computed cases, ties, empty input, per class, max_det) on every backend,
the NumPy and OpenCV paths identical, and cv2 agreement."""

import cv2
import numpy as np
import pytest

from edgecnn.edge.detect import boxes as B


def textbook_nms(xyxy, scores, thr):
    order = list(np.argsort(-np.asarray(scores), kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order if B.iou_matrix(xyxy[i], xyxy[j])[0, 0] <= thr]
    return keep


class TestFormats:
    @pytest.mark.parametrize("src", B.FORMATS)
    @pytest.mark.parametrize("dst", B.FORMATS)
    def test_round_trip(self, src, dst):
        rng = np.random.default_rng(0)
        xy = rng.uniform(0, 300, (7, 2))
        xyxy = np.concatenate([xy, xy + rng.uniform(1, 100, (7, 2))], 1)
        a = B.convert(xyxy, "xyxy", src, 640, 480)
        back = B.convert(B.convert(a, src, dst, 640, 480), dst, "xyxy", 640, 480)
        np.testing.assert_allclose(back, xyxy, rtol=1e-5, atol=1e-3)

    @pytest.mark.parametrize("fn, inp, want", [
        (B.xyxy_to_xywh, [10, 20, 30, 60], [10, 20, 20, 40]),
        (B.xyxy_to_cxcywh, [10, 20, 30, 60], [20, 40, 20, 40]),
        (B.cxcywh_to_xyxy, [20, 40, 20, 40], [10, 20, 30, 60]),
        (B.xywh_to_xyxy, [10, 20, 20, 40], [10, 20, 30, 60]),
    ])
    def test_hand_values(self, fn, inp, want):
        np.testing.assert_allclose(fn(inp), [want])

    def test_normalised(self):
        np.testing.assert_allclose(B.xyxy_to_cxcywh_norm([0, 0, 50, 100], 100, 200), [[0.25, 0.25, 0.5, 0.5]])

    def test_empty_and_bad(self):
        assert B.xyxy_to_xywh(np.zeros((0, 4))).shape == (0, 4)
        with pytest.raises(ValueError, match=r"\(N, 4\)"):
            B.as_boxes(np.zeros((3, 5)))
        with pytest.raises(ValueError, match="dst"):
            B.convert([[0, 0, 1, 1]], "xyxy", "yxyx")


class TestIoU:
    @pytest.mark.parametrize("a, b, want", [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [10, 10, 20, 20], 0.0),   # touching corners
        ([0, 0, 10, 10], [2, 2, 4, 4], 4 / 100),   # inside
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),         # zero area: defined as 0
    ])
    def test_pairs(self, a, b, want):
        assert B.iou_matrix(a, b)[0, 0] == pytest.approx(want, abs=1e-6)

    def test_shapes(self):
        assert B.iou_matrix(np.zeros((0, 4)), np.ones((3, 4))).shape == (0, 3)
        assert B.iou_matrix(np.ones((2, 4)), np.ones((3, 4))).shape == (2, 3)

    def test_iou_wh(self):
        assert B.iou_wh([[10, 10]], [[5, 20]])[0, 0] == pytest.approx(50 / 150)


BACKENDS = sorted(B.NMS_BACKENDS)


def textbook_nms_classes(xyxy, scores, thr, class_ids):
    """The textbook loop where only boxes of the same class suppress each other."""
    order = list(np.argsort(-np.asarray(scores), kind="stable"))
    keep = []
    while order:
        i = order.pop(0)
        keep.append(i)
        order = [j for j in order
                 if class_ids[j] != class_ids[i] or B.iou_matrix(xyxy[i], xyxy[j])[0, 0] <= thr]
    return keep


def candidates(layout, n, rng, classes=4):
    """Pre-NMS-like boxes: ``clustered`` (jittered around a few objects), ``uniform`` or ``lattice``
    (integer coordinates and scores on a coarse grid: exact IoU and score ties are frequent)."""
    if layout == "uniform":
        xy = rng.uniform(-50, 500, (n, 2))
        xyxy = np.concatenate([xy, xy + rng.uniform(5, 80, (n, 2))], 1).astype(np.float32)
        scores = rng.uniform(0, 1, n)
    elif layout == "clustered":
        c = rng.uniform(50, 450, (8, 2))
        k = rng.integers(0, 8, n)
        cxcywh = np.concatenate([c[k] + rng.normal(0, 6, (n, 2)), rng.uniform(30, 60, (n, 2))], 1)
        xyxy = B.cxcywh_to_xyxy(cxcywh)
        scores = rng.uniform(0, 1, n)
    else:
        xy = rng.integers(-4, 12, (n, 2))
        xyxy = np.concatenate([xy, xy + rng.integers(0, 8, (n, 2))], 1).astype(np.float32)
        scores = rng.integers(0, 5, n) / 4  # 0, 0.25, ..., 1: many ties, zeros included
    return xyxy, scores.astype(np.float32), rng.integers(0, classes, n)


@pytest.mark.parametrize("backend", BACKENDS)
class TestNMS:
    def test_empty(self, backend):
        assert B.nms(np.zeros((0, 4)), np.zeros(0), backend=backend).shape == (0,)
        assert B.nms(np.zeros((0, 4)), np.zeros(0), class_ids=[], max_det=3, backend=backend).dtype == np.int64

    def test_single_box(self, backend):
        for box, score in (([0, 0, 10, 10], 0.7), ([3, 3, 3, 3], 0.0), ([-5, -5, -1, -1], -2.0)):
            assert B.nms(np.array([box], np.float32), [score], 0.5, backend=backend).tolist() == [0]
            assert B.nms(np.array([box], np.float32), [score], 0.5, class_ids=[7], backend=backend).tolist() == [0]
        assert B.nms(np.array([[0, 0, 10, 10]], np.float32), [0.7], 0.5, max_det=0, backend=backend).tolist() == []

    def test_hand_case(self, backend):
        xyxy = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 9]], np.float32)
        scores = np.array([0.9, 0.8, 0.7, 0.95])
        assert B.nms(xyxy, scores, 0.5, backend=backend).tolist() == [3, 2]

    def test_all_overlapping_keeps_one(self, backend):
        xyxy = np.tile([[5, 5, 50, 50]], (20, 1)).astype(np.float32)
        scores = np.linspace(0.1, 0.9, 20)
        assert B.nms(xyxy, scores, 0.5, backend=backend).tolist() == [19]

    def test_ties_keep_earlier_index(self, backend):
        xyxy = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
        assert B.nms(xyxy, np.array([0.5, 0.5, 0.5]), 0.5, backend=backend).tolist() == [0]
        far = np.array([[40, 0, 50, 10], [0, 0, 10, 10], [20, 0, 30, 10], [0, 0, 10, 10]], np.float32)
        assert B.nms(far, [0.5, 0.5, 0.5, 0.5], 0.5, backend=backend).tolist() == [0, 1, 2]  # kept: index order

    def test_per_class(self, backend):
        xyxy = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
        s = np.array([0.9, 0.8, 0.7])
        assert B.nms(xyxy, s, 0.5, class_ids=[0, 1, 0], backend=backend).tolist() == [0, 1]
        assert B.nms(xyxy, s, 0.5, class_ids=[5, 10**6, 5], backend=backend).tolist() == [0, 1]
        assert B.nms(xyxy, s, 0.5, backend=backend).tolist() == [0]

    def test_per_class_negative_coordinates(self, backend):
        # cv2.dnn.NMSBoxesBatched alone merges these classes (it offsets by max coordinate + 1)
        xyxy = np.array([[-100, -100, 10, 10], [-100, -100, 10, 10], [-90, -90, -50, -50]], np.float32)
        assert B.nms(xyxy, [0.9, 0.8, 0.7], 0.5, class_ids=[0, 1, 1], backend=backend).tolist() == [0, 1, 2]

    def test_zero_area_boxes_never_suppress(self, backend):
        # IoU is 0 where the union is 0; OpenCV alone calls two empty boxes an overlap of 1
        xyxy = np.array([[5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10], [8, 8, 2, 2], [0, 0, 10, 10]], np.float32)
        s = [0.9, 0.8, 0.95, 0.9, 0.1]
        assert B.nms(xyxy, s, 0.5, backend=backend).tolist() == [2, 0, 3, 1]
        assert B.nms(xyxy, s, 0.5, max_det=2, backend=backend).tolist() == [2, 0]

    def test_zero_scores_kept(self, backend):
        xyxy = np.array([[0, 0, 10, 10], [20, 0, 30, 10], [21, 0, 30, 10]], np.float32)
        assert B.nms(xyxy, [0.0, 0.0, 0.5], 0.5, backend=backend).tolist() == [2, 0]

    def test_threshold_is_strict(self, backend):
        xyxy = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)  # IoU = 1/3: no +1 pixel
        assert B.nms(xyxy, [0.9, 0.8], 1 / 3 + 1e-6, backend=backend).tolist() == [0, 1]
        assert B.nms(xyxy, [0.9, 0.8], 0.3, backend=backend).tolist() == [0]
        half = np.array([[0, 0, 2, 1], [0, 0, 1, 1]], np.float32)  # IoU exactly 0.5: not above 0.5
        assert B.nms(half, [0.9, 0.8], 0.5, backend=backend).tolist() == [0, 1]
        assert B.nms(half, [0.9, 0.8], 1.0, backend=backend).tolist() == [0, 1]
        assert B.nms(half, [0.9, 0.8], 0.0, backend=backend).tolist() == [0]

    def test_max_det_is_applied_after_nms(self, backend):
        # OpenCV's own top_k would cut the candidates to 2 before NMS and keep only [0]
        xyxy = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60], [80, 80, 90, 90]], np.float32)
        s = [0.9, 0.8, 0.7, 0.6]
        assert B.nms(xyxy, s, 0.5, max_det=2, backend=backend).tolist() == [0, 2]
        assert B.nms(xyxy, s, 0.5, max_det=10, backend=backend).tolist() == [0, 2, 3]

    def test_max_det_and_errors(self, backend):
        xyxy = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]], np.float32)
        assert B.nms(xyxy, [0.1, 0.3, 0.2], 0.5, max_det=2, backend=backend).tolist() == [1, 2]
        with pytest.raises(ValueError, match="scores"):
            B.nms(xyxy, [0.1], 0.5, backend=backend)
        with pytest.raises(ValueError, match="iou_threshold"):
            B.nms(xyxy, [0.1, 0.2, 0.3], 1.5, backend=backend)
        with pytest.raises(ValueError, match="class_ids"):
            B.nms(xyxy, [0.1, 0.2, 0.3], 0.5, class_ids=[0, 1], backend=backend)
        with pytest.raises(ValueError, match="max_det"):
            B.nms(xyxy, [0.1, 0.2, 0.3], 0.5, max_det=-1, backend=backend)


class TestNMSBackends:
    """The NumPy and OpenCV paths give the same indices in the same order, so ``auto`` may switch."""

    def test_unknown_backend(self):
        with pytest.raises(ValueError, match="backend.*numpy"):
            B.nms(np.zeros((1, 4)), [1.0], backend="torch")

    @pytest.mark.parametrize("seed, n, spread", [(0, 300, "uniform"), (1, 500, "clustered"),
                                                  (2, 60, "clustered"), (3, 2000, "uniform")])
    @pytest.mark.parametrize("backend, strategy", [("numpy", {"max_pairs": 0}), ("numpy", {"max_pairs": 10**9}),
                                                   ("numpy", {}), ("opencv", {}), ("auto", {})])
    @pytest.mark.parametrize("thr", [0.3, 0.6])
    def test_matches_textbook_and_opencv(self, backend, strategy, seed, n, spread, thr):
        xyxy, scores, _ = candidates(spread, n, np.random.default_rng(seed))
        got = B.nms(xyxy, scores, thr, backend=backend, **strategy)
        if n <= 500:
            assert got.tolist() == textbook_nms(xyxy, scores, thr)
        ref = cv2.dnn.NMSBoxes(B.xyxy_to_xywh(xyxy).tolist(), scores.tolist(), 0.0, thr)
        assert sorted(np.asarray(ref).ravel().tolist()) == sorted(got.tolist())

    @pytest.mark.parametrize("layout", ["clustered", "uniform", "lattice"])
    @pytest.mark.parametrize("n", [1, 2, 7, 50, B.OPENCV_MAX_BOXES, B.OPENCV_MAX_BOXES + 1, 1500])
    @pytest.mark.parametrize("thr", [0.0, 0.25, 0.5, 0.7, 1.0])
    def test_identical(self, layout, n, thr):
        rng = np.random.default_rng([n, int(100 * thr), len(layout)])
        xyxy, s, c = candidates(layout, n, rng)
        for class_ids, max_det in ((None, None), (c, None), (c, 5)):
            got = {k: B.nms(xyxy, s, thr, class_ids=class_ids, max_det=max_det, backend=k).tolist() for k in BACKENDS}
            assert got["numpy"] == got["opencv"] == got["auto"], (class_ids is not None, max_det)
            if n <= 50 and class_ids is not None and max_det is None:
                assert got["numpy"] == textbook_nms_classes(xyxy, s, thr, class_ids)

    def test_auto_dispatches_by_size(self, monkeypatch):
        calls = []
        for name in ("_nms_numpy", "_nms_opencv"):
            real = getattr(B, name)
            monkeypatch.setattr(B, name, lambda *a, _n=name, _f=real: calls.append(_n) or _f(*a))
        for n in (B.OPENCV_MAX_BOXES, B.OPENCV_MAX_BOXES + 1):
            B.nms(*candidates("uniform", n, np.random.default_rng(0))[:2], 0.5)
        assert calls == ["_nms_opencv", "_nms_numpy"]


class TestSelection:
    def test_top_k_and_filter(self):
        s = np.array([0.2, 0.9, 0.2, 0.5])
        assert B.top_k(s, 3).tolist() == [1, 3, 0]
        assert B.score_filter(s, 0.5).tolist() == [False, True, False, True]
