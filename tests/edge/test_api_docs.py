"""The public API: the snippets of docs/api.md run as written, and misuse gets the package's errors."""

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def _snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S)


@pytest.mark.parametrize("code", _snippets(), ids=["detect", "face", "builtin_face", "ecg"])
def test_docs_snippet_runs(code, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    exec(compile(code, "docs/api.md", "exec"), {})
    assert capsys.readouterr().out.strip()


def test_four_snippets():
    assert len(_snippets()) == 4


class TestMisuse:
    def test_wrong_task_names_file_and_both_tasks(self):
        from edgecnn.edge import BeatClassifier, Detector, FaceVerifier, ModelFileError

        det, face, ecg = (FIXTURES / f"{n}_tiny_int8.tflite" for n in ("det", "face", "ecg"))
        for opener, model, want in ((Detector.open, ecg, "detect"), (FaceVerifier.open, det, "face"),
                                    (BeatClassifier.open, face, "ecg")):
            with pytest.raises(ModelFileError) as exc:
                opener(model)
            msg = str(exc.value)
            assert str(model) in msg and want in msg and model.name.split("_")[0][:3] in msg

    def test_model_without_metadata(self):
        from edgecnn.edge import Detector, ModelFileError

        with pytest.raises(ModelFileError, match="no edgecnn metadata"):
            Detector.open(FIXTURES / "nometa_int8.tflite")

    @pytest.mark.parametrize("image, match", [
        (np.zeros((64, 64, 3), np.float32), "uint8"),
        (np.zeros((64, 64, 4), np.uint8), "shape"),
        (np.zeros((0, 64, 3), np.uint8), "empty"),
        ("photo.jpg", "uint8"),
    ])
    def test_bad_images(self, image, match):
        from edgecnn.edge import Detector, InputDataError

        det = Detector.open(FIXTURES / "det_tiny_int8.tflite")
        with pytest.raises(InputDataError, match=match):
            det(image)

    def test_colour_order_matters_and_is_explicit(self):
        import cv2

        from edgecnn.edge import Detector

        det = Detector.open(FIXTURES / "det_tiny_int8.tflite", conf=0.01)
        bgr = cv2.imread(str(FIXTURES / "det" / "yolo" / "images" / "a.png"))
        a, b = det(bgr), det(bgr[:, :, ::-1].copy(), colour="rgb")
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        c = det(bgr, colour="rgb")  # the wrong order changes the answer
        assert len(a) != len(c) or not np.array_equal(a.scores, c.scores)
        with pytest.raises(ValueError, match="colour"):
            det(bgr, colour="bgra")

    def test_grey_frames_are_accepted(self):
        from edgecnn.edge import Detector

        det = Detector.open(FIXTURES / "det_tiny_int8.tflite")
        assert det(np.full((120, 160), 90, np.uint8)).xyxy.shape[1] == 4

    def test_detections_slice_iterate_and_refuse_bad_indices(self):
        from edgecnn.edge import Detection, Detections

        d = Detections(np.array([[0, 0, 10, 10], [5, 5, 20, 20], [1, 1, 3, 3]], np.float32),
                       np.array([0.9, 0.5, 0.2], np.float32), np.array([0, 1, 0]), ("cat", "dog"))
        assert len(d[:2]) == 2 and len(d[1:]) == 2 and len(d[::-1]) == 3 and len(d[0]) == 1
        assert [x.label for x in d] == ["cat", "dog", "cat"] and isinstance(next(iter(d)), Detection)
        assert len(d[d.scores > 0.4]) == 2 and len(Detections.empty()[:5]) == 0
        with pytest.raises(IndexError):
            d[7]
        with pytest.raises(TypeError):
            d["x"]
        with pytest.raises(ValueError):
            d[np.array([True])]

    def test_signal_needs_its_rate(self):
        from edgecnn.edge import BeatClassifier, InputDataError

        ecg = BeatClassifier.open("builtin:ecg")
        with pytest.raises(InputDataError, match="fs"):
            ecg(np.zeros(5000), fs=float("nan"))
        with pytest.raises(InputDataError, match="1-D"):
            ecg(np.zeros((100, 100)), fs=360)


def test_every_submodule_is_reachable_from_the_package():
    """`from edgecnn.edge import X` gives the submodule X (the lazy exports shadow none of them)."""
    import importlib
    import pkgutil
    import types

    import edgecnn.edge as pkg

    for m in pkgutil.iter_modules(pkg.__path__):
        got = importlib.import_module(f"edgecnn.edge.{m.name}")
        exec(f"from edgecnn.edge import {m.name} as x", ns := {})
        assert isinstance(ns["x"], types.ModuleType) and ns["x"] is got, m.name
