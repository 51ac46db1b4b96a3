"""The WIDER FACE reader (edge/detect/wider.py, format "wider") on hand-written files."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.detect import annotations as A
from edgecnn.edge.detect import wider as W

GOOD = """\
0--Parade/a.jpg
3
10 20 30 40 0 0 0 0 0 0
50 5 8 9 2 1 0 0 1 1
1 1 4 4 2 0 0 1 0 0
0--Parade/b.jpg
0
0 0 0 0 0 0 0 0 0 0
1--Handshaking/c.png
2
70 30 40 50 0 0 0 0 0 0
5 6 0 7 0 0 0 0 0 0
"""


def write_set(root: Path, text: str = GOOD, images=("0--Parade/a.jpg", "0--Parade/b.jpg", "1--Handshaking/c.png"),
              size=(80, 60)) -> Path:
    for name in images:
        p = root / "images" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), np.full((size[1], size[0], 3), 100, np.uint8))
    (root / W.WIDER_GT_FILE).write_text(text)
    return root


class TestWiderReader:
    def test_records_boxes_and_issues(self, tmp_path):
        root = write_set(tmp_path)
        data = A.read_annotations(root)  # format guessed from wider_face_bbx_gt.txt
        assert A.detect_format(root) == "wider" and data.format == "wider"
        assert data.labels == ("face",)
        recs = {Path(r.path).name: r for r in data.records}
        assert sorted(recs) == ["a.jpg", "b.jpg", "c.png"]
        assert (recs["a.jpg"].width, recs["a.jpg"].height) == (80, 60)
        # a: the third box is flagged invalid -> skipped; the first two in xyxy pixels
        np.testing.assert_allclose(recs["a.jpg"].xyxy, [[10, 20, 40, 60], [50, 5, 58, 14]])
        assert recs["a.jpg"].class_ids.tolist() == [0, 0]
        assert len(recs["b.jpg"].xyxy) == 0  # count 0 + its line of zeros
        # c: the first box reaches past the 80x60 image -> clipped; the second has zero width -> skipped
        np.testing.assert_allclose(recs["c.png"].xyxy, [[70, 30, 80, 60]])
        assert data.summary()["issues"] == {"invalid face -> skipped box": 1, "box outside image -> clipped": 1,
                                            "zero area -> skipped box": 1}
        invalid = next(i for i in data.issues if i.reason == "invalid face")
        assert invalid.file == f"{root / W.WIDER_GT_FILE}:1"  # the image's line in the file

    def test_gt_file_path_and_explicit_format(self, tmp_path):
        root = write_set(tmp_path)
        a = A.read_annotations(root / W.WIDER_GT_FILE)
        b = A.read_annotations(root, "wider")
        assert A.detect_format(root / W.WIDER_GT_FILE) == "wider"
        assert [r.path for r in a.records] == [r.path for r in b.records]

    def test_other_gt_file_name(self, tmp_path):
        root = write_set(tmp_path)
        (root / W.WIDER_GT_FILE).rename(root / "wider_face_val_bbx_gt.txt")
        assert A.detect_format(root) == "wider"
        assert len(A.read_annotations(root).records) == 3

    def test_missing_image_is_reported_not_fatal(self, tmp_path):
        root = write_set(tmp_path, images=("0--Parade/a.jpg", "1--Handshaking/c.png"))
        data = W.read_wider(root)
        assert len(data.records) == 2
        assert data.summary()["issues"]["missing image -> skipped image"] == 1

    def test_labels_given(self, tmp_path):
        root = write_set(tmp_path)
        assert W.read_wider(root, labels=["person", "face"]).records[0].class_ids.tolist() == [1, 1]
        other = W.read_wider(root, labels=["person"])
        assert sum(len(r.xyxy) for r in other.records) == 0
        assert other.summary()["issues"]["unknown class -> skipped box"] == 4  # zero-size one too

    def test_zero_line_may_be_absent_and_blank_lines_are_harmless(self, tmp_path):
        text = "0--Parade/b.jpg\n0\n\n0--Parade/a.jpg\n1\n10 20 30 40 0 0 0 0 0 0\n\n"
        entries = W.read_wider_gt(write_set(tmp_path, text) / W.WIDER_GT_FILE)
        assert [(e.name, len(e.xywh), e.line) for e in entries] == [("0--Parade/b.jpg", 0, 1),
                                                                    ("0--Parade/a.jpg", 1, 4)]

    def test_read_wider_gt_keeps_every_box_with_attributes(self, tmp_path):
        entries = W.read_wider_gt(write_set(tmp_path) / W.WIDER_GT_FILE)
        a = entries[0]
        assert a.xywh.shape == (3, 4) and a.attrs.shape == (3, 6)
        assert a.attrs[1].tolist() == [2, 1, 0, 0, 1, 1]  # blur expression illumination invalid occlusion pose
        assert a.invalid.tolist() == [False, False, True]


class TestWiderErrors:
    @pytest.mark.parametrize("text, line, expected, got", [
        ("0--Parade/a.jpg\nthree\n", 2, "box count", "'three'"),
        ("0--Parade/a.jpg\n-1\n", 2, "box count", "'-1'"),
        ("0--Parade/a.jpg\n", 2, "box count", "end of the file"),
        ("0--Parade/a.jpg\n2\n10 20 30 40 0 0 0 0 0 0\n", 4, "2 box lines", "end of the file after 1"),
        ("0--Parade/a.jpg\n1\n10 20 30 40 0 0 0\n", 3, "10 numbers", "7 field"),
        ("0--Parade/a.jpg\n1\n10 20 3x 40 0 0 0 0 0 0\n", 3, "10 numbers", "3x"),
        ("0--Parade/a.jpg\n1\n10 20 nan 40 0 0 0 0 0 0\n", 3, "finite", "nan"),
        ("0--Parade/a.jpg\n1\n10 20 30 40 0 0 0 0.5 0 0\n", 3, "integer attributes", "0.5"),
        ("0--Parade/a.jpg\n1\n10 20 30 40 0 0 0 0 0 0\n5 5 5 5 0 0 0 0 0 0\n", 4, "image path", "'5 5 5 5"),
        ("0--Parade/b.jpg\n0\n1 2 3 4 0 0 0 0 0 0\n", 3, "line of zeros", "'1 2 3 4"),
        ("notes.txt\n0\n", 1, "image path", "'notes.txt'"),
    ])
    def test_malformed_lines_name_file_line_expected_and_got(self, tmp_path, text, line, expected, got):
        root = write_set(tmp_path, text)
        with pytest.raises(InputDataError) as err:
            A.read_annotations(root, "wider")
        msg = str(err.value)
        assert msg.startswith(f"{root / W.WIDER_GT_FILE}:{line}: expected"), msg
        assert expected in msg and got in msg, msg

    def test_no_gt_file(self, tmp_path):
        (tmp_path / "images").mkdir()
        with pytest.raises(InputDataError, match=str(tmp_path)):
            W.read_wider(tmp_path)
        with pytest.raises(InputDataError, match="not found"):
            W.read_wider(tmp_path / "absent")

    def test_unknown_format_lists_wider(self, tmp_path):
        with pytest.raises(InputDataError, match="wider"):
            A.detect_format(tmp_path)
