"""Annotation readers on tiny fixtures, malformed entries included (tests/fixtures/det/)."""

from pathlib import Path

import numpy as np
import pytest

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.core.image import image_size
from edgecnn.edge.detect import annotations as A

DET = Path(__file__).resolve().parents[1] / "fixtures" / "det"


class TestReaders:
    @pytest.mark.parametrize("fmt, labels, images, boxes, issues", [
        ("yolo", ("cat", "dog"), 3, 3, {"box outside image -> clipped": 1, "no label file -> kept as background": 1,
                                        "unknown class -> skipped box": 1, "unparsable line -> skipped box": 1,
                                        "zero area -> skipped box": 1, "missing image -> skipped image": 1}),
        ("voc", ("dog", "raccoon"), 2, 3, {"box outside image -> clipped": 1, "box outside image -> skipped box": 1,
                                           "zero area -> skipped box": 1, "missing image -> skipped image": 1,
                                           "unparsable XML -> skipped image": 1}),
        ("coco", ("bike", "person"), 2, 2, {"box outside image -> clipped": 1, "unknown class -> skipped box": 1,
                                            "crowd region -> skipped box": 1, "zero area -> skipped box": 1,
                                            "missing image -> skipped image": 1,
                                            "annotation for unknown image -> skipped box": 1}),
    ])
    def test_summary_counts_every_problem(self, fmt, labels, images, boxes, issues):
        data = A.read_annotations(DET / fmt)
        assert A.detect_format(DET / fmt) == fmt
        s = data.summary()
        assert (data.format, data.labels, s["images"], s["boxes"]) == (fmt, labels, images, boxes)
        assert s["issues"] == issues
        assert all(str(i).startswith(str(DET)) for i in data.issues)

    @pytest.mark.parametrize("fmt, name, xyxy, ids", [
        ("yolo", "a.png", [[24, 12, 40, 36], [54.4, 19.2, 64, 28.8]], [0, 1]),
        ("voc", "v1.jpg", [[5, 5, 25, 20], [10, 10, 40, 30]], [1, 0]),
        ("voc", "v2.png", [[0, 2, 20, 20]], [1]),
        ("coco", "c1.jpg", [[10, 5, 30, 35], [50, 30, 60, 40]], [1, 0]),
    ])
    def test_boxes_in_pixels(self, fmt, name, xyxy, ids):
        rec = {Path(r.path).name: r for r in A.read_annotations(DET / fmt).records}[name]
        np.testing.assert_allclose(rec.xyxy, xyxy, atol=1e-3)
        assert rec.class_ids.tolist() == ids

    def test_fixed_labels_report_unknown(self):
        data = A.read_voc(DET / "voc", labels=["raccoon"])
        assert data.labels == ("raccoon",)
        assert any(i.reason == "unknown class" for i in data.issues)

    def test_image_size_header(self):
        assert image_size(DET / "voc" / "images" / "v1.jpg") == (50, 40)
        assert image_size(DET / "voc" / "images" / "v2.png") == (30, 20)

    @pytest.mark.parametrize("fmt", ["yolo", "voc", "coco"])
    def test_wrong_layout_is_a_clear_error(self, tmp_path, fmt):
        with pytest.raises(InputDataError, match=str(tmp_path)):
            A.read_annotations(tmp_path, fmt)

    def test_unknown_format(self):
        with pytest.raises(ValueError, match="coco"):
            A.read_annotations(DET / "voc", "kitti")
