"""Keras vs int8 TFLite parity for the detector, through edge/ (raw heads and decoded boxes)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _fixture_module():
    spec = importlib.util.spec_from_file_location("make_det_fixture", FIXTURES / "make_det_fixture.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    from edgecnn.convert.tflite import convert_keras
    from edgecnn.edge.interpreter import load_model
    from edgecnn.train import detector as T

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
        from edgecnn.edge.edgetpu import op_name

        ops = {op_name(*edge.tables.op_codes[i]) for i in edge.tables.operators}
        assert "MUL" not in ops and {"MINIMUM", "MAXIMUM"} <= ops, ops

    def test_decoded_detections_agree(self, converted):
        from edgecnn.edge import boxes as B
        from edgecnn.edge.detect import Detector
        from edgecnn.train.detector import _LiveModel

        model, meta, edge, check = converted
        f = Detector(_LiveModel(model, meta)).with_config(conf=0.01)
        q = Detector(edge).with_config(conf=0.01)
        ious = []
        for x in check:
            img = np.clip(x["image"][0] * 127.5 + 127.5, 0, 255).astype(np.uint8)
            df, dq = f(img), q(img)
            if len(df) and len(dq):
                ious.append(B.iou_matrix(df.xyxy[:1], dq.xyxy[:1])[0, 0])
        assert len(ious) >= 4 and np.median(ious) > 0.8, ious
