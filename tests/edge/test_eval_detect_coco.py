"""Our detection mAP against pycocotools' COCOeval on a small deterministic fixture.

The fixture: 8 images, 3 classes with ground truth plus one class without any (only false
positives), predictions with duplicates, misses, poorly placed boxes (IoU spread over 0.3-0.98, so
every threshold of 0.50:0.95 matters), two overlapping objects of one class with a detection that
overlaps both, wrong-class and background false positives; all scores
distinct; no crowd boxes; COCO's ``maxDets`` raised above the number of predictions (no cap).

COCOeval matches the same way (by descending score, the unmatched ground truth with the highest
IoU >= t) but averages the precision envelope at 101 recall points, where ours is all-point
interpolated (the area under the envelope). So:

* with ``interpolation="coco101"`` our per-class AP and mAP must equal COCOeval's to 1e-9;
* the default all-point AP is checked against COCOeval within 0.02: the envelope is
  non-increasing, so a mean over recall 0, 0.01, ..., 1 is within about one recall step (1/100)
  of its integral, plus the 1/101 weight the point at recall 0 gets.
"""

import contextlib
import io

import numpy as np
import pytest

from edgecnn.edge.detect import evaluate as E
from edgecnn.edge.detect.runtime import Detections

coco = pytest.importorskip("pycocotools.coco")
cocoeval = pytest.importorskip("pycocotools.cocoeval")

LABELS = ("cat", "dog", "bird", "fish")  # "fish" has no ground truth
N_GT_CLASSES = 3
IMG = 200.0


def _jitter(rng, box, iou_lo, iou_hi):
    """A box near ``box`` whose IoU with it lies in [iou_lo, iou_hi] (rejection sampling)."""
    w, h = box[2] - box[0], box[3] - box[1]
    for _ in range(1000):
        d = rng.normal(0, rng.uniform(0.01, 0.3), 4) * np.array([w, h, w, h])
        cand = box + d
        if cand[2] - cand[0] < 2 or cand[3] - cand[1] < 2:
            continue
        iou = float(E.B.iou_matrix(cand, box)[0, 0])
        if iou_lo <= iou <= iou_hi:
            return cand.astype(np.float32)
    raise RuntimeError("no jittered box found")


def make_fixture(seed: int = 0):
    """``(preds, truths)``: Detections and ``(xyxy, class_ids)`` per image; deterministic."""
    rng = np.random.default_rng(seed)
    preds, truths = [], []
    for _ in range(8):
        n = int(rng.integers(2, 6))
        xy = rng.uniform(0, IMG - 60, (n, 2))
        gt = np.concatenate([xy, xy + rng.uniform(15, 60, (n, 2))], 1).astype(np.float32)
        gt_ids = rng.integers(0, N_GT_CLASSES, n)
        boxes, ids, quality = [], [], []
        for box, c in zip(gt, gt_ids, strict=True):
            kind = rng.random()
            if kind < 0.15:
                continue  # a miss
            lo = 0.3 if rng.random() < 0.2 else 0.5  # one detection: a fifth placed too poorly for IoU 0.5
            boxes.append(_jitter(rng, box, lo, 0.98))
            ids.append(c)
            quality.append(1.0)
            if kind > 0.65:  # a duplicate of the same object, same class
                boxes.append(_jitter(rng, box, 0.5, 0.95))
                ids.append(c)
                quality.append(0.7)
            if kind > 0.85:  # the same object called another class
                boxes.append(_jitter(rng, box, 0.6, 0.95))
                ids.append((c + 1) % N_GT_CLASSES)
                quality.append(0.5)
        for j in range(int(rng.integers(1, 3))):  # background false positives, any class incl. "fish"
            xy = rng.uniform(0, IMG - 40, 2)
            boxes.append(np.concatenate([xy, xy + rng.uniform(10, 40, 2)]).astype(np.float32))
            ids.append(len(LABELS) - 1 if j == 0 and len(preds) % 3 == 0 else int(rng.integers(0, len(LABELS))))
            quality.append(0.4)
        preds.append((np.array(boxes, np.float32).reshape(-1, 4), ids, np.array(quality)))
        truths.append((gt, gt_ids))
    # two overlapping objects of one class (IoU 0.71): the first detection overlaps both but fits the
    # second better (0.94 vs 0.72), the second fits the first only (0.85 vs 0.60); matching each to the
    # best free box keeps both true positives up to IoU 0.70, the first box over the threshold would not
    xyxy, ids, q = preds[0]
    preds[0] = (np.concatenate([xyxy, [[129, 121, 189, 179], [115, 120, 175, 180]]]).astype(np.float32),
                ids + [0, 0], np.concatenate([q, [3.0, 2.0]]))  # the first ranks first
    gt, gt_ids = truths[0]
    truths[0] = (np.concatenate([gt, [[120, 120, 180, 180], [130, 120, 190, 180]]]).astype(np.float32),
                 np.concatenate([gt_ids, [0, 0]]))
    # scores follow quality with noise, so good boxes mostly rank first; ranks make them all distinct
    noisy = np.concatenate([q for _, _, q in preds]) + rng.normal(0, 0.25, sum(len(q) for _, _, q in preds))
    scores = (np.argsort(np.argsort(noisy)) + 1).astype(np.float32) / 1000
    out, k = [], 0
    for xyxy, ids, q in preds:
        out.append(Detections(xyxy, scores[k:k + len(q)], ids, LABELS))
        k += len(q)
    return out, truths


def coco_eval(preds, truths):
    """COCOeval (bbox, all areas, no cap) on the fixture: per-class AP at each IoU threshold, and the thresholds."""
    images, anns, dets = [], [], []
    for i, (det, (gt, gt_ids)) in enumerate(zip(preds, truths, strict=True)):
        images.append({"id": i + 1, "width": IMG, "height": IMG})
        for box, c in zip(gt.astype(np.float64), gt_ids, strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(c) + 1, "iscrowd": 0,
                         "bbox": [box[0], box[1], w, h], "area": w * h})
        for box, s, c in zip(det.xyxy.astype(np.float64), det.scores, det.class_ids, strict=True):
            dets.append({"image_id": i + 1, "category_id": int(c) + 1, "score": float(s),
                         "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    with contextlib.redirect_stdout(io.StringIO()):
        gt_api = coco.COCO()
        gt_api.dataset = {"images": images, "annotations": anns,
                          "categories": [{"id": k + 1, "name": n} for k, n in enumerate(LABELS)]}
        gt_api.createIndex()
        ev = cocoeval.COCOeval(gt_api, gt_api.loadRes(dets), "bbox")
        ev.params.maxDets = [10_000]  # above the number of predictions: no cap
        ev.params.areaRng, ev.params.areaRngLbl = [[0, 1e10]], ["all"]
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval["precision"][:, :, :, 0, 0]  # (T, R, K): IoU thresholds, recall points, classes
    ap = np.where((prec > -1).all(axis=1), prec.mean(axis=1), -1.0)  # (T, K); -1: class without ground truth
    return ap, np.asarray(ev.params.iouThrs)


@pytest.fixture(scope="module")
def fixture():
    preds, truths = make_fixture()
    ap, thresholds = coco_eval(preds, truths)
    return preds, truths, ap, thresholds


class TestAgainstPycocotools:
    def test_fixture_is_not_trivial(self, fixture):
        preds, truths, ap, _ = fixture
        n_pred, n_gt = sum(len(p) for p in preds), sum(len(t[0]) for t in truths)
        assert n_pred > n_gt > 20
        assert (ap[:, N_GT_CLASSES:] == -1).all()            # the class without ground truth is left out
        ap50, ap_hi = ap[0, :N_GT_CLASSES], ap[-1, :N_GT_CLASSES]
        assert (ap50 > 0.3).all() and (ap50 < 0.99).all()    # neither perfect nor empty
        assert (ap_hi < ap50).all()                          # strict IoU thresholds cost AP

    def test_coco101_equals_cocoeval(self, fixture):
        preds, truths, ap, thresholds = fixture
        res = E.evaluate_detections(preds, truths, LABELS, thresholds=thresholds, interpolation="coco101")
        for k, name in enumerate(LABELS[:N_GT_CLASSES]):
            assert res["per_class"][name]["ap50"] == pytest.approx(ap[0, k], abs=1e-9), name
            assert res["per_class"][name]["ap50_95"] == pytest.approx(ap[:, k].mean(), abs=1e-9), name
        assert res["per_class"]["fish"]["n_gt"] == 0
        assert res["map50"] == pytest.approx(ap[0, :N_GT_CLASSES].mean(), abs=1e-9)
        assert res["map50_95"] == pytest.approx(ap[:, :N_GT_CLASSES].mean(), abs=1e-9)

    def test_all_point_within_tolerance_of_cocoeval(self, fixture):
        preds, truths, ap, thresholds = fixture
        res = E.evaluate_detections(preds, truths, LABELS)  # the default: all-point, our thresholds
        np.testing.assert_allclose(thresholds, E.IOU_THRESHOLDS, atol=1e-12)
        ours = np.array([[res["per_class"][n]["ap50"], res["per_class"][n]["ap50_95"]]
                         for n in LABELS[:N_GT_CLASSES]])
        theirs = np.stack([ap[0, :N_GT_CLASSES], ap[:, :N_GT_CLASSES].mean(axis=0)], axis=1)
        np.testing.assert_allclose(ours, theirs, atol=0.02)
        assert res["map50"] == pytest.approx(theirs[:, 0].mean(), abs=0.02)
        assert res["map50_95"] == pytest.approx(theirs[:, 1].mean(), abs=0.02)
        assert np.abs(ours - theirs).max() > 1e-6  # the two interpolations do differ here

    def test_interpolation_names(self):
        with pytest.raises(ValueError, match="interpolation.*all-point"):
            E.average_precision([0.5], [1.0], "voc11")
        assert E.ap_coco101([], []) == 0.0
        assert E.ap_coco101([0.5, 1.0], [1.0, 0.5]) == pytest.approx((51 * 1.0 + 50 * 0.5) / 101)
