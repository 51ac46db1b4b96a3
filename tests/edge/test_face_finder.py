"""The learned face finder (edge/face/finder.py) on a hand-made detection model, and the shipped
int8 finder when it is present (no TensorFlow, no real data)."""

from pathlib import Path

import numpy as np
import pytest

from edgecnn.edge.core.errors import InputDataError, ModelFileError
from edgecnn.edge.face import finder as F
from edgecnn.edge.face.runtime import FaceConfig

SHIPPED = Path(F.__file__).resolve().parents[1] / "models" / "face-finder_int8.tflite"
SIZE, STRIDE, ANCHOR = 64, 16, 16.0


def logit(p):
    return float(np.log(p / (1 - p)))


class FakeDetector:
    """A detect-task model of one 4x4 head (stride 16, one 16x16 anchor) that reports fixed boxes
    on the 64x64 canvas: {(cell_y, cell_x): (score, size_factor)}; a box is centred at the cell
    centre, ``size_factor`` x the anchor (0.25 .. 4)."""

    backend = "fake"

    def __init__(self, faces, labels=("face",)):
        c = len(labels)
        self.metadata = {"task": "detect", "labels": list(labels),
                         "inputs": {"image": {"normalization": {"mean": [127.5] * 3, "std": [127.5] * 3}}},
                         "params": {"img_size": [SIZE, SIZE], "num_classes": c, "decoder": "yolov5",
                                    "heads": [{"name": "p4", "stride": STRIDE, "anchors": [[ANCHOR, ANCHOR]]}],
                                    "conf": 0.25, "iou": 0.45, "max_det": 100}}
        self.inputs = [type("T", (), {"name": "image", "quantized": False})()]
        self.raw = np.zeros((1, 4, 4, 5 + c), np.float32)
        self.raw[..., 4] = -20.0
        for (y, x), (score, factor) in faces.items():
            t = logit(np.sqrt(factor) / 2)  # w = anchor * (2 sigma(t))^2
            self.raw[0, y, x, :5] = [0.0, 0.0, t, t, logit(score)]
            if c > 1:
                self.raw[0, y, x, 5:] = 10.0
        self.seen = []

    def run(self, inputs):
        self.seen.append(inputs["image"])
        return {"p4": self.raw}


def single(model, **kw):
    """A finder with one pass (the fake model answers the same boxes in every pass)."""
    return F.LearnedFinder(model, extra_scales=(), **kw)


def box_at(y, x, factor):
    """The (x, y, w, h) the fake model reports for a cell, on the 64x64 canvas."""
    cx, cy, side = (x + 0.5) * STRIDE, (y + 0.5) * STRIDE, ANCHOR * factor
    return (int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side)), int(round(side)))


class TestLearnedFinder:
    def test_boxes_in_pixels_largest_first_and_min_face(self):
        model = FakeDetector({(1, 1): (0.9, 1.0), (2, 2): (0.8, 2.0), (3, 0): (0.95, 0.5)})
        finder = single(model, conf=0.5)
        img = np.full((SIZE, SIZE, 3), 90, np.uint8)
        boxes = finder(img, FaceConfig(min_face=0))
        assert boxes == [box_at(2, 2, 2.0), box_at(1, 1, 1.0), box_at(3, 0, 0.5)]
        assert finder(img, FaceConfig(min_face=12)) == [box_at(2, 2, 2.0), box_at(1, 1, 1.0)]
        assert all(isinstance(v, int) for b in boxes for v in b)

    def test_conf_threshold_and_detect_scores(self):
        model = FakeDetector({(1, 1): (0.9, 1.0), (2, 2): (0.3, 1.0)})
        finder = single(model, conf=0.5)
        img = np.zeros((SIZE, SIZE, 3), np.uint8)
        assert finder(img, FaceConfig(min_face=0)) == [box_at(1, 1, 1.0)]
        dets = finder.detect(img, conf=0.1)
        np.testing.assert_allclose(sorted(dets.scores), [0.3, 0.9], atol=1e-4)

    def test_large_image_boxes_map_back_to_source_pixels(self):
        model = FakeDetector({(1, 1): (0.9, 1.0)})
        img = np.zeros((128, 128, 3), np.uint8)  # letterboxed 2x down
        x, y, w, h = box_at(1, 1, 1.0)
        assert single(model)(img, FaceConfig(min_face=0)) == [(2 * x, 2 * y, 2 * w, 2 * h)]

    def test_small_image_is_padded_not_enlarged(self):
        model = FakeDetector({(1, 1): (0.9, 1.0)})
        img = np.full((40, 32, 3), 200, np.uint8)  # smaller than the 64x64 input
        finder = single(model)
        assert finder(img, FaceConfig(min_face=0)) == [box_at(1, 1, 1.0)]  # 1:1, top-left placed
        canvas = model.seen[-1][0]
        assert canvas.shape == (SIZE, SIZE, 3)
        assert np.allclose(canvas[:40, :32], (200 - 127.5) / 127.5) and np.allclose(canvas[50:, 40:], (114 - 127.5) / 127.5)
        # upscale=True: the letterbox enlarges 40x32 to 64x51 (scale 1.6), boxes come back shrunk
        up = single(model, upscale=True)(img, FaceConfig(min_face=0))
        assert len(up) == 1 and up[0][2] == pytest.approx(ANCHOR / 1.6, abs=1)

    def test_boxes_are_clipped_to_the_image(self):
        model = FakeDetector({(3, 3): (0.9, 2.0)})  # centre (56, 56), side 32: beyond a 60x60 image
        (x, y, w, h), = single(model)(np.zeros((60, 60, 3), np.uint8), FaceConfig(min_face=0))
        assert (x + w, y + h) == (60, 60)

    def test_grey_and_bgr_inputs(self):
        model = FakeDetector({(1, 1): (0.9, 1.0)})
        finder = single(model)
        grey = np.full((SIZE, SIZE), 77, np.uint8)
        assert finder(grey, FaceConfig(min_face=0)) == finder(grey[..., None], FaceConfig(min_face=0))
        bgr = np.zeros((SIZE, SIZE, 3), np.uint8)
        bgr[..., 0] = 255  # blue in BGR -> the model sees RGB (0, 0, 255)
        finder(bgr, FaceConfig(min_face=0))
        x = model.seen[-1][0]
        assert x[0, 0, 2] == pytest.approx(1.0) and x[0, 0, 0] == pytest.approx(-1.0)

    @pytest.mark.parametrize("bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8)])
    def test_bad_images_are_input_errors(self, bad):
        with pytest.raises(InputDataError, match="face finder"):
            F.LearnedFinder(FakeDetector({}))(bad, FaceConfig())

    def test_model_without_a_face_class_is_refused(self):
        model = FakeDetector({(1, 1): (0.9, 1.0)}, labels=("cat", "dog"))
        with pytest.raises(ModelFileError, match="face"):
            single(model)(np.zeros((SIZE, SIZE, 3), np.uint8), FaceConfig())

    def test_face_class_of_a_multi_class_model(self):
        model = FakeDetector({(1, 1): (0.9, 1.0)}, labels=("face", "hand"))
        assert single(model)(np.zeros((SIZE, SIZE, 3), np.uint8), FaceConfig(min_face=0)) == \
            [box_at(1, 1, 1.0)]

    def test_missing_model_file_is_a_clear_error(self, tmp_path):
        finder = F.LearnedFinder(tmp_path / "nope.tflite")
        with pytest.raises(ModelFileError, match="face_finder.sh"):
            finder(np.zeros((SIZE, SIZE, 3), np.uint8), FaceConfig())

    def test_bad_thresholds(self):
        with pytest.raises(ValueError, match="conf"):
            F.LearnedFinder(FakeDetector({}), conf=1.5)
        with pytest.raises(ValueError, match="extra_scales"):
            F.LearnedFinder(FakeDetector({}), extra_scales=(1.0,))

    def test_default_is_two_passes(self):
        assert F.LearnedFinder(FakeDetector({})).extra_scales == (0.5,) == F.DEFAULT_EXTRA_SCALES

    def test_extra_pass_on_the_shrunk_image_maps_back_and_merges(self):
        model = FakeDetector({(1, 1): (0.9, 1.0)})  # the same canvas box in every pass
        finder = F.LearnedFinder(model, extra_scales=(0.5,))
        boxes = finder(np.zeros((SIZE, SIZE, 3), np.uint8), FaceConfig(min_face=0))
        x, y, w, h = box_at(1, 1, 1.0)
        assert boxes == [(2 * x, 2 * y, 2 * w, 2 * h), (x, y, w, h)]  # the half-size pass: twice as large
        assert len(model.seen) == 2
        shrunk = model.seen[1][0]  # the 64x64 image at 32x32, top left, the rest filled
        assert np.allclose(shrunk[:32, :32], -1.0) and np.allclose(shrunk[40:, 40:], (114 - 127.5) / 127.5)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="edge/models/face-finder_int8.tflite not shipped")
class TestShippedFinder:
    def test_builtin_model_is_a_small_int8_face_detector(self):
        from edgecnn.edge.core.loader import open_model

        model = open_model(F.DEFAULT_MODEL)
        assert model.metadata["task"] == "detect" and model.metadata["labels"] == ["face"]
        assert SHIPPED.stat().st_size < 1_000_000
        assert SHIPPED.with_suffix(".md").is_file()

    def test_find_learned_runs_on_frames(self):
        rng = np.random.default_rng(0)
        blank = np.full((480, 640, 3), 128, np.uint8)
        assert F.find_learned(blank, FaceConfig()) == []
        noise = rng.integers(0, 256, (120, 90), np.uint8)
        boxes = F.find_learned(noise, FaceConfig())
        assert all(0 <= x and 0 <= y and x + w <= 90 and y + h <= 120 for x, y, w, h in boxes)


@pytest.mark.skipif(not SHIPPED.is_file(), reason="edge/models/face-finder_int8.tflite not shipped")
def test_learned_is_a_finder_of_the_face_runtime():
    """`--finder learned` reaches the shipped model through the runtime's finder table; the
    builtin name is face-finder, so builtin:face names the whole face pipeline's embedder."""
    import cv2
    import numpy as np

    from edgecnn.edge.core.loader import builtin_models
    from edgecnn.edge.face.runtime import FaceConfig, get_finder

    models = builtin_models()
    assert models["face-finder"].name == "face-finder_int8.tflite" and models["face"].name == "face_int8.tflite"
    img = cv2.imread(str(Path(__file__).resolve().parents[1] / "fixtures" / "faces" / "person_0" / "0.png"))
    boxes = get_finder("learned")(img, FaceConfig(finder="learned"))
    assert isinstance(boxes, list) and all(len(b) == 4 for b in boxes)
    assert get_finder("learned")(np.zeros((120, 160, 3), np.uint8), FaceConfig(finder="learned")) == []
