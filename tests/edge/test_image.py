import numpy as np
import pytest

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.core.image import letterbox, letterbox_boxes, load_image, unletterbox_boxes


class TestLetterbox:
    @pytest.mark.parametrize("hw, size", [((480, 640), 320), ((640, 480), 320), ((100, 300), (96, 128)),
                                          ((37, 53), 64), ((320, 320), 320), ((1, 500), 64)])
    def test_round_trip_boxes(self, hw, size, rng):
        img = rng.integers(0, 255, hw + (3,), dtype=np.uint8)
        canvas, info = letterbox(img, size)
        dst = (size, size) if isinstance(size, int) else size
        assert canvas.shape == (*dst, 3)
        h, w = hw
        x0, y0 = rng.uniform(0, w / 2, 5), rng.uniform(0, h / 2, 5)
        boxes = np.stack([x0, y0, x0 + rng.uniform(1, w / 2, 5), y0 + rng.uniform(0.5, h / 2, 5)], 1)
        back = unletterbox_boxes(letterbox_boxes(boxes, info), info)
        np.testing.assert_allclose(back, np.minimum(boxes, [w, h, w, h]), atol=1e-3)

    def test_content_centered_and_padded(self):
        img = np.full((50, 100, 3), 200, np.uint8)
        canvas, info = letterbox(img, 100, fill=0)
        assert info.pad_y == 25 and info.pad_x == 0
        assert canvas[:25].max() == 0 and canvas[75:].max() == 0 and canvas[25:75].min() == 200

    def test_grey_image(self):
        canvas, _ = letterbox(np.zeros((30, 60), np.uint8), 32)
        assert canvas.shape == (32, 32)

    def test_bad_image(self):
        with pytest.raises(InputDataError):
            letterbox(np.zeros((0, 5, 3), np.uint8), 32)


class TestLoadImage:
    def test_missing_and_corrupt(self, tmp_path):
        with pytest.raises(InputDataError, match="not found"):
            load_image(tmp_path / "nope.jpg")
        bad = tmp_path / "bad.jpg"
        bad.write_bytes(b"\xff\xd8 not really a jpeg")
        with pytest.raises(InputDataError, match="cannot decode"):
            load_image(bad)
        empty = tmp_path / "empty.png"
        empty.write_bytes(b"")
        with pytest.raises(InputDataError):
            load_image(empty)

    def test_rgb_order(self, tmp_path):
        import cv2

        bgr = np.zeros((4, 4, 3), np.uint8)
        bgr[..., 2] = 255  # red in BGR
        cv2.imwrite(str(tmp_path / "red.png"), bgr)
        rgb = load_image(tmp_path / "red.png")
        assert rgb[0, 0].tolist() == [255, 0, 0]
