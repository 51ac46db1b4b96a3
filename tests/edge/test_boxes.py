"""Box formats, IoU, NMS (hand-computed cases, ties, empty input, per class) and cv2 agreement."""

import cv2
import numpy as np
import pytest

from edgecnn.edge import boxes as B


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


class TestNMS:
    def test_empty(self):
        assert B.nms(np.zeros((0, 4)), np.zeros(0)).shape == (0,)

    def test_hand_case(self):
        xyxy = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 9]], np.float32)
        scores = np.array([0.9, 0.8, 0.7, 0.95])
        assert B.nms(xyxy, scores, 0.5).tolist() == [3, 2]

    def test_all_overlapping_keeps_one(self):
        xyxy = np.tile([[5, 5, 50, 50]], (20, 1)).astype(np.float32)
        scores = np.linspace(0.1, 0.9, 20)
        assert B.nms(xyxy, scores, 0.5).tolist() == [19]

    def test_ties_keep_earlier_index(self):
        xyxy = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
        assert B.nms(xyxy, np.array([0.5, 0.5, 0.5]), 0.5).tolist() == [0]

    def test_per_class(self):
        xyxy = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 10, 10]], np.float32)
        s = np.array([0.9, 0.8, 0.7])
        assert B.nms(xyxy, s, 0.5, class_ids=[0, 1, 0]).tolist() == [0, 1]
        assert B.nms(xyxy, s, 0.5).tolist() == [0]

    def test_threshold_is_strict(self):
        xyxy = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)  # IoU = 1/3
        assert B.nms(xyxy, [0.9, 0.8], 1 / 3 + 1e-6).tolist() == [0, 1]
        assert B.nms(xyxy, [0.9, 0.8], 0.3).tolist() == [0]

    def test_max_det_and_errors(self):
        xyxy = np.array([[0, 0, 1, 1], [5, 5, 6, 6], [9, 9, 10, 10]], np.float32)
        assert B.nms(xyxy, [0.1, 0.3, 0.2], 0.5, max_det=2).tolist() == [1, 2]
        with pytest.raises(ValueError, match="scores"):
            B.nms(xyxy, [0.1], 0.5)
        with pytest.raises(ValueError, match="iou_threshold"):
            B.nms(xyxy, [0.1, 0.2, 0.3], 1.5)

    @pytest.mark.parametrize("seed, n, spread", [(0, 300, "uniform"), (1, 500, "clustered"),
                                                  (2, 60, "clustered"), (3, 2000, "uniform")])
    @pytest.mark.parametrize("strategy", [{"max_pairs": 0}, {"max_pairs": 10**9}, {}])
    @pytest.mark.parametrize("thr", [0.3, 0.6])
    def test_matches_textbook_and_opencv(self, seed, n, spread, strategy, thr):
        rng = np.random.default_rng(seed)
        if spread == "uniform":
            xy = rng.uniform(0, 500, (n, 2))
            xyxy = np.concatenate([xy, xy + rng.uniform(5, 80, (n, 2))], 1).astype(np.float32)
        else:
            c = rng.uniform(50, 450, (8, 2))
            k = rng.integers(0, 8, n)
            cxcywh = np.concatenate([c[k] + rng.normal(0, 6, (n, 2)), rng.uniform(30, 60, (n, 2))], 1)
            xyxy = B.cxcywh_to_xyxy(cxcywh)
        scores = rng.uniform(0, 1, n).astype(np.float32)
        got = B.nms(xyxy, scores, thr, **strategy)
        if n <= 500:
            assert got.tolist() == textbook_nms(xyxy, scores, thr)
        ref = cv2.dnn.NMSBoxes(B.xyxy_to_xywh(xyxy).tolist(), scores.tolist(), 0.0, thr)
        assert sorted(np.asarray(ref).ravel().tolist()) == sorted(got.tolist())

    def test_top_k_and_filter(self):
        s = np.array([0.2, 0.9, 0.2, 0.5])
        assert B.top_k(s, 3).tolist() == [1, 3, 0]
        assert B.score_filter(s, 0.5).tolist() == [False, True, False, True]
