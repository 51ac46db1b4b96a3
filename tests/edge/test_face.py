"""Face preprocessing, the distance table, verify and the Embedder (no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from edgecnn.edge.core.errors import InputDataError, ModelFileError
from edgecnn.edge.face import runtime as F

FIXTURE_MODEL = "face_tiny_int8.tflite"


class TestFaceConfig:
    @pytest.mark.parametrize("kw, word", [
        ({"size": 4}, "size"), ({"margin": -0.1}, "margin"), ({"margin": 1.5}, "margin"),
        ({"finder": "dlib"}, "finder"), ({"center_scale": 0.0}, "center_scale"), ({"channels": 2}, "channels"),
        ({"std": 0.0}, "std"),
    ])
    def test_bad_values_name_the_field(self, kw, word):
        with pytest.raises(ValueError, match=word):
            F.FaceConfig(**kw)

    def test_from_params_ignores_unknown_keys_and_applies_overrides(self):
        cfg = F.FaceConfig.from_params({"size": 32, "finder": "none", "threshold": 0.9}, finder="center")
        assert (cfg.size, cfg.finder) == (32, "center")

    def test_unknown_finder_lists_valid_names(self):
        with pytest.raises(ValueError, match="haar"):
            F.get_finder("mtcnn")


class TestImages:
    @pytest.mark.parametrize("shape", [(40, 30), (40, 30, 1), (40, 30, 3)])
    def test_as_bgr_gives_three_channels(self, shape):
        assert F.as_bgr(np.zeros(shape, np.uint8)).shape == (40, 30, 3)

    @pytest.mark.parametrize("image, word", [
        (np.zeros((8, 8, 3), np.uint8), "too small"),
        (np.zeros((40, 40, 3), np.float32), "uint8"),
        (np.zeros((40, 40, 4), np.uint8), "shape"),
    ])
    def test_bad_images_are_clear_errors(self, image, word):
        with pytest.raises(InputDataError, match=word):
            F.as_bgr(image)

    def test_corrupt_and_missing_files(self, tmp_path):
        bad = tmp_path / "bad.jpg"
        bad.write_bytes(b"\xff\xd8 not really a jpeg")
        with pytest.raises(InputDataError, match="cannot decode"):
            F.load_image(bad)
        with pytest.raises(InputDataError, match="not found"):
            F.load_image(tmp_path / "absent.png")


class TestCrop:
    def test_crop_is_centred_on_the_box_with_margin(self):
        img = np.zeros((100, 120, 3), np.uint8)
        img[40:60, 50:70] = 255  # the "face" box (50, 40, 20, 20)
        crop = F.crop_square(img, (50, 40, 20, 20), margin=0.5, size=40)  # 40 px window, face in the middle half
        assert crop.shape == (40, 40, 3)
        assert crop[20, 20, 0] == 255 and crop[2, 2, 0] == 0
        assert crop[10:30, 10:30].mean() > 250

    def test_crop_past_the_border_replicates_edges(self):
        img = np.full((50, 50, 3), 7, np.uint8)
        crop = F.crop_square(img, (-10, -10, 30, 30), margin=0.3, size=16)
        assert crop.shape == (16, 16, 3) and np.all(crop == 7)

    @pytest.mark.parametrize("shape, scale, box", [
        ((100, 100), 0.5, (25, 25, 50, 50)), ((100, 200), 0.5, (75, 25, 50, 50)), ((90, 60), 1.0, (0, 15, 60, 60)),
    ])
    def test_center_finder(self, shape, scale, box):
        cfg = F.FaceConfig(finder="center", center_scale=scale)
        assert F.find_center(np.zeros((*shape, 3), np.uint8), cfg) == [box]

    def test_none_finder_is_the_whole_image(self):
        assert F.find_none(np.zeros((30, 40, 3), np.uint8), F.FaceConfig()) == [(0, 0, 40, 30)]

    def test_no_face_is_a_clear_result(self):
        blank = np.full((120, 120, 3), 128, np.uint8)
        with pytest.raises(F.FaceNotFound, match="no face"):
            F.extract_face(blank, F.FaceConfig(finder="haar"), name="blank.png")

    def test_haar_or_center_falls_back_to_the_centre(self):
        blank = np.full((120, 120, 3), 128, np.uint8)
        cfg = F.FaceConfig(finder="haar_or_center", center_scale=0.5, size=32)
        face = F.extract_face(blank, cfg)
        assert face.box == (30, 30, 60, 60) and face.pixels.shape == (32, 32, 3)

    def test_grey_model_input(self):
        img = np.random.default_rng(0).integers(0, 255, (50, 50, 3), dtype=np.uint8)
        face = F.extract_face(img, F.FaceConfig(finder="none", size=16, channels=1))
        assert face.pixels.shape == (16, 16, 1)

    def test_normalize(self):
        x = F.normalize_pixels(np.array([0, 127.5, 255]), F.FaceConfig())
        np.testing.assert_allclose(x, [-1, 0, 1])


class TestDistance:
    @pytest.mark.parametrize("a, b, expected", [
        ([1, 0], [1, 0], 0.0), ([1, 0], [0, 1], 2.0), ([1, 0], [-1, 0], 4.0),
        ([3, 0], [0, 5], 2.0),  # normalised first
        ([1, 1], [1, 0], 2 - np.sqrt(2)),
    ])
    def test_squared_l2_unit_hand_values(self, a, b, expected):
        assert F.distance_matrix([a], [b])[0, 0] == pytest.approx(expected, abs=1e-6)

    def test_unknown_distance_lists_valid(self):
        with pytest.raises(ValueError, match="squared_l2_unit"):
            F.distance_matrix([[1, 0]], [[1, 0]], "cosine")

    def test_pair_distances_is_the_diagonal(self, rng):
        a, b = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
        np.testing.assert_allclose(F.pair_distances(a, b), np.diag(F.distance_matrix(a, b)), atol=1e-6)

    def test_size_mismatch(self):
        with pytest.raises(InputDataError, match="sizes differ"):
            F.distance_matrix([[1, 0]], [[1, 0, 0]])

    @pytest.mark.parametrize("b, tau, same", [([1, 0], 0.5, True), ([0, 1], 2.0, True), ([0, 1], 1.99, False)])
    def test_verify_accepts_at_or_below_tau(self, b, tau, same):
        res = F.verify([1, 0], b, tau)
        assert res.same is same and res.tau == tau


class FakeModel:
    """Embeds a crop as a fixed direction chosen by its mean brightness (two 'people')."""

    def __init__(self, params):
        self.metadata = {"task": "face", "params": params}

    def run(self, feeds):
        x = feeds["image"]
        bright = x.mean(axis=(1, 2, 3)) > 0
        return {"embedding": np.where(bright[:, None], [[3.0, 0.0]], [[0.0, 2.0]]).astype(np.float32)}


PARAMS = {"embedding_size": 2, "distance": "squared_l2_unit", "threshold": 0.5, "size": 16, "finder": "none"}


class TestEmbedder:
    def test_fake_model_embeds_unit_vectors(self):
        emb = F.Embedder.from_model(FakeModel(PARAMS), fingerprint="x")
        crops = np.stack([np.full((16, 16, 3), 250, np.uint8), np.full((16, 16, 3), 5, np.uint8)])
        e = emb.embed_faces(crops)
        np.testing.assert_allclose(e, [[1, 0], [0, 1]], atol=1e-6)
        assert emb.verify(e[0], e[1]).same is False

    @pytest.mark.parametrize("missing", ["embedding_size", "distance", "threshold", "size"])
    def test_missing_metadata_is_a_model_error(self, missing):
        params = {k: v for k, v in PARAMS.items() if k != missing}
        with pytest.raises(ModelFileError, match=missing):
            F.Embedder.from_model(FakeModel(params))

    def test_wrong_crop_shape(self):
        emb = F.Embedder.from_model(FakeModel(PARAMS), fingerprint="x")
        with pytest.raises(InputDataError, match="shape"):
            emb.embed_faces(np.zeros((1, 8, 8, 3), np.uint8))


@pytest.fixture(scope="module")
def embedder(fixtures_dir):
    from edgecnn.edge.core.interpreter import load_model

    return F.Embedder.from_model(load_model(fixtures_dir / FIXTURE_MODEL, task="face"))


class TestFixtureModel:
    """The tiny int8 embedder (trained on synthetic cartoon identities) through the real runtime."""

    def test_metadata_and_fingerprint(self, embedder):
        assert embedder.distance == "squared_l2_unit" and embedder.embedding_size == 16
        assert len(embedder.fingerprint) == 16 and embedder.config.finder == "none"

    def test_same_people_are_closer_than_different_people(self, embedder, fixtures_dir):
        paths = sorted((fixtures_dir / "faces").glob("*/*.png"))
        labels = np.array([p.parent.name for p in paths])
        emb = np.stack([embedder.embed_file(p)[0] for p in paths])
        np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
        d = F.distance_matrix(emb, emb)
        same = labels[:, None] == labels[None, :]
        off = ~np.eye(len(paths), dtype=bool)
        assert d[same & off].mean() < d[~same].mean()
