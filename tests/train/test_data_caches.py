"""The training data caches (decoded detection images, face crops): written once as one whole
file, read back equal on the next load instead of decoding again."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

pytest.importorskip("keras")

from edgecnn.edge.detect.records import AnnotationSet, ImageRecord  # noqa: E402
from edgecnn.edge.face.runtime import FaceConfig  # noqa: E402
from edgecnn.train.detect.data import load_samples  # noqa: E402
from edgecnn.train.face.data import load_face_set  # noqa: E402


def _only_the_cache(folder, prefix):
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 1 and names[0].startswith(prefix) and names[0].endswith(".npz"), names
    return folder / names[0]


def test_detection_images_are_cached_whole_and_reused(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    records = []
    for i, (h, w) in enumerate([(120, 200), (64, 48)]):
        path = tmp_path / f"img{i}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, (h, w, 3), np.uint8))
        records.append(ImageRecord(str(path), w, h, np.array([[4, 4, 30, 40]], np.float32), np.array([0])))
    ann = AnnotationSet("yolo", ("thing",), tuple(records))
    first = load_samples(ann, 100, tmp_path / "cache")
    cache = _only_the_cache(tmp_path / "cache", "det_")
    assert first.images[0].shape[:2] == (60, 100) and first.images[1].shape[:2] == (64, 48)  # shrunk, kept

    import edgecnn.train.detect.data as D

    monkeypatch.setattr(D, "load_image", lambda p: pytest.fail(f"decoded {p} again instead of the cache"))
    again = load_samples(ann, 100, tmp_path / "cache")
    assert _only_the_cache(tmp_path / "cache", "det_") == cache
    for a, b in zip(first.images, again.images, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(again.boxes[0], first.boxes[0])


def test_face_crops_are_cached_whole_and_reused(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    root = tmp_path / "people"
    for person in ("ada", "bob"):
        (root / person).mkdir(parents=True)
        for k in range(2):
            cv2.imwrite(str(root / person / f"{k}.png"), rng.integers(0, 255, (80, 70, 3), np.uint8))
    cfg = FaceConfig(size=32, finder="center")
    first = load_face_set(root, cfg, cache_dir=tmp_path / "cache")
    _only_the_cache(tmp_path / "cache", "faces_people_")

    import edgecnn.train.face.data as F

    monkeypatch.setattr(F, "load_image", lambda p: pytest.fail(f"decoded {p} again instead of the cache"))
    again = load_face_set(root, cfg, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(first.pixels, again.pixels)
    assert first.pixels.shape == (4, 32, 32, 3)
    assert again.names == first.names == ("ada", "bob") and again.paths == first.paths
    np.testing.assert_array_equal(again.labels, first.labels)
