"""Keras vs int8 TFLite parity for the detector, through edge/ (raw heads and decoded boxes)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from edgecnn.edge.core.image import unletterbox_boxes
from edgecnn.edge.detect import boxes as B

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _fixture_module():
    spec = importlib.util.spec_from_file_location("make_det_fixture", FIXTURES / "make_det_fixture.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from edgecnn.convert.tflite import convert_keras
    from edgecnn.edge.core.interpreter import load_model
    from edgecnn.train.detect import model as T

    model, meta = _fixture_module().train_tiny(steps=30, box_gain=2.5)  # parity through the --box-gain path
    rep = list(T.representative_dataset(meta, "builtin:synthetic", 40, seed=1))
    path = tmp_path_factory.mktemp("det") / "tiny_int8.tflite"
    path.write_bytes(convert_keras(model, representative=rep[:32], metadata=meta))
    return model, meta, load_model(path, task="detect"), rep[32:]


class TestParity:
    def test_raw_heads_within_a_few_quantization_steps(self, converted):
        from edgecnn.convert.tflite import parity

        model, _, edge, check = converted
        res = parity(model, edge, check)
        assert set(res) == {"p4", "p5"}
        for name, r in res.items():
            assert r["mean_abs"] <= 2.0 * r["output_scale"] and r["max_abs"] <= 12 * r["output_scale"], (name, r)

    def test_box_gain_is_folded_into_the_head_convolution(self, converted):
        """The tiny detector carries box_gain 2.5: the converter folds the gain, no MUL in the int8 file."""
        model, meta, edge, check = converted
        assert meta["params"]["box_gain"] == 2.5
        from edgecnn.edge.core.edgetpu import op_name

        ops = {op_name(*edge.tables.op_codes[i]) for i in edge.tables.operators}
        assert "MUL" not in ops and {"MINIMUM", "MAXIMUM"} <= ops, ops

    def test_every_candidate_decodes_alike(self, converted):
        """Anchor by anchor, through each Detector's own preprocess (float normalisation for Keras,
        the int8 lookup table for TFLite), decode, box_gain and letterbox inverse on non-square
        images: the same box (IoU >= 0.95), objectness and class probabilities (within 0.01).

        Pre-NMS candidates are compared because they correspond one to one; the top box after NMS
        does not on a briefly trained model, whose best scores tie within less than one int8 step.
        """
        model, meta, edge, _ = converted
        f_xyxy, f_scores, q_xyxy, q_scores = _candidate_pairs(model, meta, edge, _scenes())
        ious = _pairwise_iou(f_xyxy, q_xyxy)
        assert len(ious) == len(f_xyxy) > 500
        assert ious.min() >= 0.95 and np.abs(f_scores - q_scores).max() <= 0.01, \
            (float(ious.min()), np.abs(f_scores - q_scores).max(axis=0))

    def test_candidate_check_catches_a_decode_difference(self, converted):
        """The comparison above fails when one path decodes differently (here: box_gain ignored)."""
        model, meta, edge, _ = converted
        wrong = {**meta, "params": {**meta["params"], "box_gain": 1.0}}
        f_xyxy, _, q_xyxy, _ = _candidate_pairs(model, meta, edge, _scenes(), q_metadata=wrong)
        assert _pairwise_iou(f_xyxy, q_xyxy).min() < 0.95  # the threshold the check above holds to

    def test_detections_after_nms_agree(self, converted):
        """Every detection of one path is on the other (IoU >= 0.9, score within the int8
        tolerance), or the other kept an overlapping box whose score is within that tolerance (NMS
        resolved a near-tie the other way). Class-agnostic NMS: on this briefly trained model the
        class probabilities tie, and the class decoding is compared anchor by anchor above."""
        from edgecnn.edge.detect.runtime import Detector
        from edgecnn.train.detect.model import _LiveModel

        model, meta, edge, _ = converted
        f = Detector(_LiveModel(model, meta)).with_config(conf=0.05, max_det=1000, class_agnostic=True)
        q = Detector(edge).with_config(conf=0.05, max_det=1000, class_agnostic=True)
        total = 0
        for img in _scenes():
            df, dq = f(img), q(img)
            total += len(df)
            for a, b in ((df, dq), (dq, df)):
                unexplained = _unexplained(a, b, nms_iou=f.cfg.iou, score_tol=0.02)
                assert not unexplained, (unexplained, a.to_list(), b.to_list())
        assert total >= 8


def _scenes():
    """Non-square synthetic scenes (so the letterbox inverse matters), RGB uint8."""
    from edgecnn.train.detect import data as D

    return D.synthetic_samples(6, 4242, size=(90, 140)).images


def _candidate_pairs(model, meta, edge, images, q_metadata=None):
    """All pre-NMS candidates of both paths, in anchor order: xyxy in source pixels and scores."""
    from edgecnn.edge.detect.runtime import Detector
    from edgecnn.train.detect.model import _LiveModel

    f = Detector(_LiveModel(model, meta))
    q = Detector(edge)
    qp = (q_metadata or meta)["params"]
    out = [[], [], [], []]
    for img in images:
        for k, (det, params) in enumerate(((f, meta["params"]), (q, qp))):
            inputs, info = det.preprocess(img)
            xyxy, scores = _decode_all(det.infer(inputs), params)
            out[2 * k].append(unletterbox_boxes(xyxy, info, clip=False))
            out[2 * k + 1].append(scores)
    return tuple(np.concatenate(v) for v in out)


def _decode_all(outputs, params):
    from edgecnn.edge.detect.runtime import decode_head

    parts = [decode_head(outputs[h["name"]], h["anchors"], h["stride"], params["num_classes"],
                         method=params.get("decoder", "yolov5"), conf=0.0, box_gain=params.get("box_gain", 1.0))
             for h in params["heads"]]
    xyxy = np.concatenate([p[0] for p in parts])
    # objectness and every class probability, so that the class decoding is compared too
    scores = np.concatenate([np.concatenate([p[1][:, None], p[2]], axis=1) for p in parts])
    return xyxy, scores


def _pairwise_iou(a, b):
    """IoU of a[i] with b[i]."""
    lt, rb = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=1)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def _unexplained(a, b, *, nms_iou, score_tol):
    """Detections of ``a`` neither reproduced by ``b`` nor suppressed there by a near-tied box."""
    if len(a) == 0:
        return []
    iou = B.iou_matrix(a.xyxy, b.xyxy) if len(b) else np.zeros((len(a), 0))
    near = np.abs(a.scores[:, None] - b.scores[None, :]) <= score_tol
    bad = []
    for i in range(len(a)):
        hit = (iou[i] >= 0.9) & near[i]
        tie = (iou[i] > nms_iou) & (b.scores >= a.scores[i] - score_tol)
        if not (hit.any() or tie.any()):
            bad.append((i, float(a.scores[i])))
    return bad
