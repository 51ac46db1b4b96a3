"""Decode (hand-computed), Detections, postprocess, letterbox round trip, mAP code, Detector."""

import numpy as np
import pytest

from edgecnn.edge.core.image import letterbox, letterbox_boxes, unletterbox_boxes
from edgecnn.edge.detect import evaluate as E
from edgecnn.edge.detect import runtime as Dt

PARAMS = {"img_size": [64, 64], "num_classes": 2, "decoder": "yolov5",
          "heads": [{"name": "p4", "stride": 16, "anchors": [[10, 20], [30, 30]]}]}


def logit(p):
    return float(np.log(p / (1 - p)))


def head(cells):
    """A (1, 4, 4, 2*7) raw tensor, very negative objectness except ``cells`` entries."""
    raw = np.zeros((1, 4, 4, 2 * 7), np.float32)
    raw[..., 4::7] = -20.0
    for (y, x, a), vals in cells.items():
        raw[0, y, x, a * 7:(a + 1) * 7] = vals
    return raw


class TestDecode:
    def test_box_gain_divides_the_box_channels_only(self):
        t = [logit(0.75), logit(0.25), logit(0.6), logit(0.4)]
        plain = head({(2, 1, 0): [*t, logit(0.9), 1.0, -1.0]})
        gained = head({(2, 1, 0): [*(2.5 * np.asarray(t)), logit(0.9), 1.0, -1.0]})
        a = Dt.decode_head(plain, [[10, 20], [30, 30]], 16, 2, conf=0.5)
        b = Dt.decode_head(gained, [[10, 20], [30, 30]], 16, 2, conf=0.5, box_gain=2.5)
        for u, v in zip(a, b, strict=True):
            np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-4)
        params = {**PARAMS, "box_gain": 2.5}
        d1 = Dt.postprocess({"p4": plain}, PARAMS, Dt.PostConfig(conf=0.3))
        d2 = Dt.postprocess({"p4": gained}, params, Dt.PostConfig(conf=0.3))
        np.testing.assert_allclose(d1.xyxy, d2.xyxy, atol=1e-3)
        np.testing.assert_allclose(d1.scores, d2.scores, atol=1e-6)

    @pytest.mark.parametrize("bad", [0, -1.0, "2", None, float("nan"), True])
    def test_bad_box_gain_in_metadata_is_named(self, bad):
        with pytest.raises(Dt.ModelFileError, match="box_gain"):
            Dt.postprocess({"p4": head({})}, {**PARAMS, "box_gain": bad}, Dt.PostConfig())

    @pytest.mark.parametrize("method, t, want_cxcywh", [
        # yolov5: x = (2σ(t)-0.5+c)*s, w = a*(2σ(t))^2; σ(0)=0.5 -> centre of cell + 0.5, size = anchor
        ("yolov5", [0, 0, 0, 0], [(1 + 0.5) * 16, (2 + 0.5) * 16, 10, 20]),
        ("yolov5", [logit(0.75), logit(0.25), logit(0.75), logit(0.25)], [(1 + 1.0) * 16, (2 + 0.0) * 16, 22.5, 5]),
        # yolov3: x = (σ(t)+c)*s, w = a*exp(t)
        ("yolov3", [0, 0, np.log(2), 0], [(1 + 0.5) * 16, (2 + 0.5) * 16, 20, 20]),
    ])
    def test_hand_values(self, method, t, want_cxcywh):
        raw = head({(2, 1, 0): [*t, logit(0.9), 0, 0]})
        xyxy, obj, cls = Dt.decode_head(raw, [[10, 20], [30, 30]], 16, 2, method=method, conf=0.5)
        assert len(obj) == 1 and obj[0] == pytest.approx(0.9, abs=1e-5)
        np.testing.assert_allclose(xyxy[0], Dt.B.cxcywh_to_xyxy(want_cxcywh)[0], atol=1e-3)
        np.testing.assert_allclose(cls[0], [0.5, 0.5])

    def test_anchor_and_cell_order(self):
        raw = head({(0, 3, 1): [0, 0, 0, 0, 5, 0, 0]})
        xyxy, _, _ = Dt.decode_head(raw, [[10, 20], [30, 30]], 16, 2, conf=0.5)
        np.testing.assert_allclose(Dt.B.xyxy_to_cxcywh(xyxy)[0], [3.5 * 16, 0.5 * 16, 30, 30], atol=1e-3)

    def test_bad_shapes_and_names(self):
        with pytest.raises(ValueError, match="A\\*\\(5\\+C\\)"):
            Dt.split_head(np.zeros((1, 4, 4, 13)), 2, 2)
        with pytest.raises(ValueError, match="yolov3"):
            Dt.decoder("ssd")


class TestPostprocess:
    def test_empty(self):
        d = Dt.postprocess({"p4": head({})}, PARAMS, Dt.PostConfig(conf=0.25), ("a", "b"))
        assert len(d) == 0 and d.xyxy.shape == (0, 4)

    @pytest.mark.parametrize("agnostic, want", [
        (False, ["a", "a", "b"]),   # per class: the class-b box on top of the first one survives
        (True, ["a", "a"]),         # class-agnostic: it is suppressed by the higher-scoring class-a box
    ])
    def test_nms_per_class_and_score(self, agnostic, want):
        # anchor 1 (30 x 30); a neighbour cell with its offset at -20 reaches the same centre (24, 24)
        cells = {(1, 1, 1): [0, 0, 0, 0, 5, 4, -4],      # class a at (24, 24), score 0.975
                 (1, 2, 1): [-20, 0, 0, 0, 2, -4, 4],    # the same box, class b, score 0.865
                 (2, 1, 1): [0, -20, 0, 0, 4, 3, -4],    # the same box, class a, score 0.936: suppressed
                 (3, 3, 1): [0, 0, 0, 0, 3, 4, -4]}      # class a at (56, 56), score 0.936
        d = Dt.postprocess({"p4": head(cells)}, PARAMS, Dt.PostConfig(conf=0.25, iou=0.3, class_agnostic=agnostic),
                           ("a", "b"))
        assert d.label_names() == want
        assert np.all(np.diff(d.scores) <= 0)

    def test_score_is_obj_times_class(self):
        d = Dt.postprocess({"p4": head({(0, 0, 0): [0, 0, 0, 0, logit(0.8), logit(0.5), logit(0.9)]})},
                           PARAMS, Dt.PostConfig(conf=0.1), ("a", "b"))
        assert d.scores[0] == pytest.approx(0.72, abs=1e-4) and d.class_ids.tolist() == [1]


class TestDetections:
    def test_shapes_checked(self):
        with pytest.raises(ValueError, match="one N"):
            Dt.Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))

    def test_mask_and_json(self):
        d = Dt.Detections([[0, 0, 1, 1], [1, 1, 2, 2]], [0.9, 0.1], [1, 0], ("x", "y"))
        kept = d[d.scores > 0.5]
        assert len(kept) == 1 and kept.label_names() == ["y"]
        assert kept.to_list()[0] == {"box": [0.0, 0.0, 1.0, 1.0], "score": 0.9, "class_id": 1, "label": "y"}
        assert len(Dt.Detections.empty()) == 0


class TestLetterbox:
    @pytest.mark.parametrize("hw, size", [((480, 640), 320), ((640, 360), 320), ((101, 37), 64), ((50, 50), (96, 64))])
    def test_round_trip_non_square(self, hw, size):
        rng = np.random.default_rng(0)
        img = rng.integers(0, 255, (*hw, 3), dtype=np.uint8)
        canvas, info = letterbox(img, size)
        h, w = hw
        boxes = np.array([[0, 0, w, h], [w * 0.2, h * 0.3, w * 0.5, h * 0.9]], np.float32)
        back = unletterbox_boxes(letterbox_boxes(boxes, info), info)
        np.testing.assert_allclose(back, boxes, atol=1e-3 * max(hw))
        full = letterbox_boxes(boxes[:1], info)[0]
        assert full[0] >= -0.5 and full[2] <= canvas.shape[1] + 0.5


class TestMetrics:
    def test_ap_all_point(self):
        # precision 1 up to recall 0.5, then 0.5 up to recall 1.0 -> AP = 0.5 + 0.25
        assert E.average_precision([0.5, 0.5, 1.0], [1.0, 0.5, 0.5]) == pytest.approx(0.75)

    @pytest.mark.parametrize("pred, scores, want50", [
        ([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], 1.0),     # both found
        ([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], 0.5),       # duplicate is a false positive, one missed
        ([[50, 50, 60, 60], [0, 0, 10, 10]], [0.9, 0.8], 0.25),    # FP first: P=0.5 at R=0.5
        ([], [], 0.0),
    ])
    def test_map_table(self, pred, scores, want50):
        det = Dt.Detections(np.asarray(pred, np.float32).reshape(-1, 4), scores, [0] * len(scores), ("a",))
        gt = (np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32), np.array([0, 0]))
        res = E.evaluate_detections([det], [gt], ("a",))
        assert res["map50"] == pytest.approx(want50)

    def test_map50_95_strictness(self):
        det = Dt.Detections([[0, 0, 10, 12]], [0.9], [0], ("a",))  # IoU 0.833
        res = E.evaluate_detections([det], [(np.array([[0, 0, 10, 10]], np.float32), np.array([0]))], ("a",))
        assert res["map50"] == 1.0 and res["map50_95"] == pytest.approx(0.7)  # thresholds .5-.80 -> 7 of 10


FIXTURE = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "det_tiny_int8.tflite"


def _yolo_set(root, n=4):
    import cv2

    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    (root / "classes.txt").write_text("circle\nsquare\ntriangle\n")
    rng = np.random.default_rng(0)
    for i in range(n):
        img = np.full((120, 160, 3), 90, np.uint8)
        cx, cy, r = int(rng.integers(30, 130)), int(rng.integers(30, 90)), int(rng.integers(12, 28))
        cv2.circle(img, (cx, cy), r, (20, 200, 240), -1)
        cv2.imwrite(str(root / "images" / f"s{i}.png"), img)
        (root / "labels" / f"s{i}.txt").write_text(f"0 {cx / 160} {cy / 120} {2 * r / 160} {2 * r / 120}\n")
    return root


@pytest.mark.skipif(not FIXTURE.is_file(), reason="det fixture missing: tests/fixtures/make_det_fixture.py")
class TestFixtureModel:
    def test_detector_end_to_end(self):
        from edgecnn.edge.core.image import letterbox, unletterbox_boxes
        from edgecnn.edge.core.interpreter import load_model

        model = load_model(FIXTURE, task="detect")
        det = Dt.Detector(model).with_config(conf=0.001)
        img = np.random.default_rng(0).integers(0, 255, (150, 230, 3), dtype=np.uint8)
        d = det(img)
        assert d.labels == ("circle", "square", "triangle") and 0 < len(d) <= 100
        assert np.all(d.xyxy[:, [0, 2]] <= 230) and np.all(d.xyxy[:, [1, 3]] <= 150) and np.all(d.xyxy >= 0)
        # the same answer by hand: letterbox, float normalisation, model, decode + NMS, inverse letterbox
        canvas, info = letterbox(img, tuple(det.img_size), fill=det.fill)
        raw = model.run({det.input_name: ((canvas.astype(np.float32) - 127.5) / 127.5)[None]})
        want = Dt.postprocess(raw, det.params, det.cfg, det.labels)
        np.testing.assert_allclose(d.xyxy, unletterbox_boxes(want.xyxy, info), atol=1e-3)
        np.testing.assert_array_equal(d.class_ids, want.class_ids)
        np.testing.assert_allclose(d.scores, want.scores, atol=1e-6)

    def test_wrong_task_refused(self):
        from edgecnn.edge.core.errors import ModelFileError
        from edgecnn.edge.core.interpreter import load_model

        generic = FIXTURE.parent / "generic_int8.tflite"
        with pytest.raises(ModelFileError, match="detect"):
            Dt.Detector(load_model(generic))

    def test_cli_detect_json_and_image_out(self, tmp_path, capsys):
        import json

        from edgecnn.cli import main

        data = _yolo_set(tmp_path / "set")
        out = tmp_path / "out.png"
        assert main(["detect", str(FIXTURE), str(data / "images" / "s0.png"), "--json", "--out", str(out),
                     "--conf", "0.01"]) == 0
        line = json.loads(capsys.readouterr().out.strip().splitlines()[0])
        assert set(line) >= {"source", "frame", "detections"} and out.is_file()
        # the CLI answer is the library's answer on the same image, and the picture shows it
        import cv2

        from edgecnn.edge.core.image import load_image
        from edgecnn.edge.core.interpreter import load_model

        img = load_image(data / "images" / "s0.png")
        want = Dt.Detector(load_model(FIXTURE)).with_config(conf=0.01)(img).to_list()
        assert line["detections"] == want and len(want) > 0 and line["source"].endswith("s0.png")
        drawn = cv2.imread(str(out))
        assert drawn.shape == img.shape and np.any(drawn != cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        assert main(["detect", str(FIXTURE), "--json"]) == 2  # neither source nor camera

    def test_cli_eval_keys_and_report(self, tmp_path, capsys):
        import json

        from edgecnn.cli import main

        data = _yolo_set(tmp_path / "set")
        assert main(["eval", str(FIXTURE), "--data", str(data), "--json", "--report", str(tmp_path / "rep")]) == 0
        res = json.loads(capsys.readouterr().out)
        assert {"map50", "map50_95", "per_class"} <= set(res) and res["per_class"]["circle"]["n_gt"] == 4
        # values, not just keys: the mean of the per-class APs, each in [0, 1], 0.5:0.95 below 0.5
        aps = [c["ap50"] for c in res["per_class"].values() if c["n_gt"] > 0]
        assert res["map50"] == pytest.approx(np.mean(aps)) and all(0 <= a <= 1 for a in aps)
        assert 0 <= res["map50_95"] <= res["map50"]
        assert (tmp_path / "rep" / "pr_curve.png").is_file() and (tmp_path / "rep" / "sample_00.png").is_file()

    def test_cli_detect_video(self, tmp_path, capsys):
        import json

        import cv2

        from edgecnn.cli import main

        src = tmp_path / "in.avi"
        w = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
        for i in range(6):
            w.write(np.full((120, 160, 3), 40 * i, np.uint8))
        w.release()
        out = tmp_path / "out.avi"
        assert main(["detect", str(FIXTURE), str(src), "--every-frame", "--json", "--out", str(out)]) == 0
        lines = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
        assert [x["frame"] for x in lines[:-1]] == [1, 2, 3, 4, 5, 6]
        assert lines[-1]["summary"]["frames"] == 6 and set(lines[-1]["summary"]["stage_ms"]) == {
            "capture", "preprocess", "invoke", "postprocess"}
        assert out.is_file() and out.stat().st_size > 0

    def test_integer_input_lut_matches_float_path(self):
        from edgecnn.edge.core.interpreter import load_model

        det = Dt.Detector(load_model(FIXTURE)).with_config(conf=0.01)
        img = np.random.default_rng(1).integers(0, 255, (120, 200, 3), dtype=np.uint8)
        fast, info = det.preprocess(img)
        assert fast["image"].dtype == np.int8
        slow = dict(fast)
        slow["image"] = (fast["image"].astype(np.float32) - det.model.inputs[0].zero_point) * det.model.inputs[0].scale
        ref = ((Dt.letterbox(img, det.img_size)[0].astype(np.float32) - det.mean) / det.std)[None]
        np.testing.assert_allclose(slow["image"], ref, atol=det.model.inputs[0].scale / 2 + 1e-6)
        a, b = det.postprocess(det.infer(fast), info), det.postprocess(det.infer({"image": ref}), info)
        np.testing.assert_allclose(a.xyxy, b.xyxy)
