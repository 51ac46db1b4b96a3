"""The aligned device path: finder box -> landmarks -> 5-point alignment -> embedder, builtin:face,
the learned finder's still-photo fallback and ``edgecnn face embed`` (no TensorFlow)."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from edgecnn.cli import main
from edgecnn.edge.core.errors import InputDataError, ModelFileError
from edgecnn.edge.core.loader import builtin_models, open_model
from edgecnn.edge.face import align as A
from edgecnn.edge.face import runtime as F
from edgecnn.edge.face.landmarks import LandmarkDetector


class FakeLandmarks:
    """Returns fixed image-pixel landmarks and records the boxes it was given."""

    def __init__(self, points):
        self.points, self.boxes = np.asarray(points, np.float64), []

    def predict(self, image_bgr, box):
        self.boxes.append(tuple(box))
        return self.points


def gradient_image(size=96):
    y, x = np.mgrid[0:size, 0:size]
    img = np.stack([x * 2, y * 2, (x + y)], axis=-1).astype(np.uint8)
    return np.ascontiguousarray(img)


class TestAlignedExtraction:
    def test_template_landmarks_give_the_image_itself(self):
        img = gradient_image(96)
        cfg = F.FaceConfig(size=96, finder="none", align="5point", align_padding=0.25, learned_box_scale=0.5)
        det = FakeLandmarks(A.template(96, 0.25))
        face = F.extract_face(img, cfg, landmarks=det)
        np.testing.assert_allclose(face.pixels.astype(int), cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(int), atol=1)
        assert face.box == (0, 0, 96, 96)
        np.testing.assert_allclose(face.landmarks, A.template(96, 0.25))
        assert det.boxes == [(0.0, 0.0, 96.0, 96.0)]  # the box scale is for the learned finder's boxes only

    def test_learned_finder_boxes_are_scaled_for_the_landmark_model(self, monkeypatch):
        from edgecnn.edge.face import finder as FF

        class Stub:
            def __call__(self, image, cfg):
                return [(10, 20, 40, 60)]

        monkeypatch.setattr(FF, "default_finder", lambda n=None: Stub())
        cfg = F.FaceConfig(size=32, finder="learned", align="5point", learned_box_scale=0.5)
        det = FakeLandmarks(A.template(64, 0.25))
        F.extract_face(gradient_image(64), cfg, landmarks=det)
        assert det.boxes == [(20.0, 35.0, 20.0, 30.0)]  # scaled by 0.5 about its centre

    def test_rotated_face_is_turned_upright(self):
        img = gradient_image(96)
        pts = A.template(96, 0.25)
        m = cv2.getRotationMatrix2D((47.5, 47.5), 20, 1.0)
        rotated = cv2.warpAffine(img, m, (96, 96), borderMode=cv2.BORDER_REPLICATE)
        cfg = F.FaceConfig(size=96, finder="none", align="5point")
        face = F.extract_face(rotated, cfg, landmarks=FakeLandmarks(A.transform_points(m, pts)))
        want = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(int)
        inner = slice(20, 76)
        assert np.abs(face.pixels[inner, inner].astype(int) - want[inner, inner]).mean() < 3

    def test_aligned_grey_model(self):
        cfg = F.FaceConfig(size=32, finder="none", align="5point", channels=1)
        face = F.extract_face(gradient_image(64), cfg, landmarks=FakeLandmarks(A.template(64, 0.25)))
        assert face.pixels.shape == (32, 32, 1)

    def test_aligned_model_without_a_landmark_model_is_a_model_error(self):
        cfg = F.FaceConfig(size=32, finder="none", align="5point")
        with pytest.raises(ModelFileError, match="landmark"):
            F.extract_face(gradient_image(64), cfg)

    @pytest.mark.parametrize("kw, word", [({"align": "3point"}, "align"), ({"align_padding": -1}, "align_padding"),
                                          ({"learned_box_scale": 0}, "learned_box_scale"),
                                          ({"fallback_conf": 1.5}, "fallback_conf")])
    def test_bad_alignment_settings_name_the_field(self, kw, word):
        with pytest.raises(ValueError, match=word):
            F.FaceConfig(**kw)

    def test_unaligned_models_keep_the_square_crop(self):
        face = F.extract_face(gradient_image(64), F.FaceConfig(size=16, finder="none", margin=0.0))
        assert face.landmarks is None and face.pixels.shape == (16, 16, 3)


class FakeEmbedderModel:
    def __init__(self, params, path=None):
        self.metadata = {"task": "face", "params": params}
        self.path = path

    def run(self, feeds):
        return {"embedding": np.ones((len(feeds["image"]), 4), np.float32)}


ALIGNED = {"embedding_size": 4, "distance": "squared_l2_unit", "threshold": 1.0, "size": 32, "finder": "none",
           "align": "5point"}


class TestEmbedderLandmarks:
    def test_metadata_without_landmark_model_names_the_field(self):
        with pytest.raises(ModelFileError, match="landmarks_model"):
            F.Embedder.from_model(FakeEmbedderModel(ALIGNED), fingerprint="x")

    def test_detector_passed_in_is_used(self):
        det = FakeLandmarks(A.template(64, 0.25))
        emb = F.Embedder.from_model(FakeEmbedderModel(ALIGNED), fingerprint="x", landmarks=det)
        vec, face = emb.embed_image(gradient_image(64))
        assert emb.landmarks is det and face.landmarks is not None and vec.shape == (4,)

    def test_relative_landmark_model_is_found_beside_the_model(self, tmp_path):
        src = builtin_models()["face-landmarks"]
        (tmp_path / "lm.tflite").write_bytes(src.read_bytes())
        model = tmp_path / "face.tflite"
        model.write_bytes(b"")
        emb = F.Embedder.from_model(FakeEmbedderModel({**ALIGNED, "landmarks_model": "lm.tflite"}, path=model),
                                    fingerprint="x")
        assert isinstance(emb.landmarks, LandmarkDetector)

    def test_missing_landmark_model_file_is_a_clear_error(self, tmp_path):
        params = {**ALIGNED, "landmarks_model": str(tmp_path / "absent.tflite")}
        with pytest.raises((ModelFileError, InputDataError), match="absent.tflite"):
            F.Embedder.from_model(FakeEmbedderModel(params), fingerprint="x")


@pytest.fixture(scope="module")
def builtin_face():
    return F.Embedder.from_model(open_model("builtin:face", task="face", num_threads=1))


class TestBuiltinFace:
    """The shipped pipeline: builtin:face names builtin:face-finder and builtin:face-landmarks."""

    def test_metadata_names_the_device_path(self, builtin_face):
        cfg = builtin_face.config
        assert (cfg.finder, cfg.align) == ("learned", "5point")
        assert isinstance(builtin_face.landmarks, LandmarkDetector)
        params = builtin_face.model.metadata["params"]
        assert params["landmarks_model"] == "builtin:face-landmarks"
        assert "licence" in builtin_face.model.metadata["provenance"]
        assert 0 < builtin_face.threshold <= 4

    def test_fingerprint_covers_the_landmark_model(self, builtin_face):
        alone = F.model_fingerprint(builtin_face.model.path)
        assert len(builtin_face.fingerprint) == 16 and builtin_face.fingerprint != alone

    def test_fingerprint_is_hashed_on_first_use(self):
        emb = F.Embedder.from_model(open_model("builtin:face", task="face", num_threads=1))
        assert emb.given_fingerprint is None  # opening the model hashes nothing
        lm = emb.landmarks.model.path
        want = F.combine_fingerprints(F.model_fingerprint(emb.model.path), F.model_fingerprint(lm))
        assert emb.fingerprint == want and emb.given_fingerprint == want

    def test_verifying_never_loads_openssl(self, tmp_path):
        """hashlib's OpenSSL costs ~3.6 MB resident: only gallery work may load it (RSS target)."""
        code = ("import sys, numpy as np, cv2\n"
                "from edgecnn.edge.core.loader import open_model\n"
                "m = open_model('builtin:face', task='face', num_threads=1)\n"
                "before = 'hashlib' in sys.modules\n"
                "from edgecnn.edge.face.runtime import Embedder\n"
                "e = Embedder.from_model(m, finder='none')\n"
                "img = (np.arange(120 * 100 * 3) % 251).astype(np.uint8).reshape(120, 100, 3)\n"
                "e.embed_image(img)\n"
                "print(before, 'hashlib' in sys.modules)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
        before, after = out.stdout.split()
        if before == "True":
            pytest.skip("NumPy or the interpreter loads hashlib itself (NumPy < 2 does)")
        assert after == "False", out.stdout + out.stderr

    def test_shipped_face_files_fit_the_budget(self):
        models = builtin_models()
        sizes = {k: models[k].stat().st_size for k in ("face", "face-landmarks", "face-finder")}
        assert sizes["face"] <= 2_000_000 and sum(sizes.values()) <= 4_000_000, sizes

    def test_whole_image_as_face_runs_landmarks_alignment_and_int8_embedder(self, fixtures_dir):
        emb = F.Embedder.from_model(open_model("builtin:face", task="face", num_threads=1), finder="none")
        paths = sorted((fixtures_dir / "faces").glob("*/*.png"))[:4]
        vecs = []
        for p in paths:
            vec, face = emb.embed_file(p)
            assert face.landmarks.shape == (5, 2) and np.isfinite(face.landmarks).all()
            vecs.append(vec)
        vecs = np.stack(vecs)
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
        assert vecs.shape == (4, 128)

    def test_blank_photo_has_no_face(self, builtin_face):
        with pytest.raises(F.FaceNotFound, match="no face"):
            builtin_face.embed_image(np.full((240, 320, 3), 128, np.uint8), name="blank.png")


class TestFinderFallback:
    def test_still_photo_falls_back_to_the_best_lower_score_box(self, monkeypatch):
        from edgecnn.edge.face import finder as FF

        calls = []

        class Stub:
            def __call__(self, image, cfg):
                calls.append("threshold")
                return []

            def best(self, image, cfg, *, conf):
                calls.append(conf)
                return [(1, 2, 30, 30)]

        threads = []
        monkeypatch.setattr(FF, "default_finder", lambda n=None: threads.append(n) or Stub())
        cfg = F.FaceConfig(size=16, finder="learned", fallback_conf=0.25)
        assert F.extract_face(gradient_image(64), cfg).box == (1, 2, 30, 30)
        assert calls == ["threshold", 0.25]
        calls.clear()
        with pytest.raises(F.FaceNotFound):
            F.extract_face(gradient_image(64), cfg, still=False)  # camera frames never fall back
        assert calls == ["threshold"]
        with pytest.raises(F.FaceNotFound):
            F.extract_face(gradient_image(64), F.FaceConfig(size=16, finder="learned", fallback_conf=0.0))
        F.extract_face(gradient_image(64), cfg, threads=1)
        assert threads == [None, None, None, 1]  # the finder runs with the caller's thread count


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


class TestEmbedVerb:
    def test_json_lines_for_files_and_folders(self, capsys, fixtures_dir):
        model = fixtures_dir / "face_tiny_int8.tflite"
        folder = fixtures_dir / "faces" / "person_0"
        code, out, err = run(capsys, "face", "embed", model, folder, fixtures_dir / "faces/person_1/0.png", "--json")
        assert code == 0, err
        rows = [json.loads(line) for line in out.splitlines()]
        assert [r["path"] for r in rows] == [str(p) for p in sorted(folder.glob("*.png"))] + [
            str(fixtures_dir / "faces/person_1/0.png")]
        for r in rows:
            assert set(r) == {"path", "box", "landmarks", "embedding"}
            assert len(r["embedding"]) == 16 and abs(np.linalg.norm(r["embedding"]) - 1) < 1e-4
            assert r["landmarks"] is None and len(r["box"]) == 4

    def test_aligned_model_reports_landmarks(self, capsys, fixtures_dir):
        code, out, err = run(capsys, "face", "embed", "builtin:face", "--finder", "none",
                             fixtures_dir / "faces/person_0/0.png", "--json")
        assert code == 0, err
        row = json.loads(out)
        assert len(row["landmarks"]) == 5 and len(row["embedding"]) == 128

    def test_image_without_face_gives_an_error_record_and_status_1(self, capsys, tmp_path):
        blank = tmp_path / "blank.png"
        cv2.imwrite(str(blank), np.full((120, 160, 3), 90, np.uint8))
        code, out, err = run(capsys, "face", "embed", "builtin:face", blank, "--json")
        row = json.loads(out)
        assert code == 1 and row["embedding"] is None and row["box"] is None and "no face" in row["error"]
        assert "1 of 1" in err

    def test_unreadable_image_does_not_stop_the_others(self, capsys, fixtures_dir, tmp_path):
        bad = tmp_path / "bad.png"
        bad.write_bytes(b"not a png")
        good = fixtures_dir / "faces/person_0/0.png"
        code, out, err = run(capsys, "face", "embed", fixtures_dir / "face_tiny_int8.tflite", bad, good, "--json")
        rows = [json.loads(line) for line in out.splitlines()]
        assert code == 1 and [r["path"] for r in rows] == [str(bad), str(good)]
        assert "decode" in rows[0]["error"] and rows[1]["embedding"] is not None
        assert "1 of 2" in err

    def test_text_output(self, capsys, fixtures_dir):
        code, out, _ = run(capsys, "face", "embed", fixtures_dir / "face_tiny_int8.tflite",
                           fixtures_dir / "faces/person_0/0.png")
        assert code == 0 and "16-d vector" in out

    @pytest.mark.parametrize("make", ["missing", "empty_dir"])
    def test_bad_inputs_exit_2_naming_the_path(self, capsys, fixtures_dir, tmp_path, make):
        target = tmp_path / ("absent.png" if make == "missing" else "empty")
        if make == "empty_dir":
            target.mkdir()
        code, _, err = run(capsys, "face", "embed", fixtures_dir / "face_tiny_int8.tflite", target)
        assert code == 2 and str(target) in err


class TestPick:
    BOXES = [(0, 0, 50, 50), (40, 40, 20, 20), (90, 0, 10, 10)]

    def test_largest_is_the_default(self):
        assert F.pick_face(self.BOXES, (100, 100)) == (0, 0, 50, 50)

    def test_center_takes_the_box_nearest_the_image_centre(self):
        assert F.pick_face(self.BOXES, (100, 100), "center") == (40, 40, 20, 20)

    def test_embedder_and_cli_accept_pick(self, capsys, fixtures_dir):
        model = open_model(fixtures_dir / "face_tiny_int8.tflite", task="face")
        assert F.Embedder.from_model(model, pick="center").config.pick == "center"
        with pytest.raises(ValueError, match="pick"):
            F.FaceConfig(pick="smallest")
        code, _, err = run(capsys, "face", "embed", fixtures_dir / "face_tiny_int8.tflite", "--pick", "center",
                           fixtures_dir / "faces/person_0/0.png")
        assert code == 0, err
