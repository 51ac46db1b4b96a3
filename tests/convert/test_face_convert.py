"""Face: Keras -> int8 TFLite parity through edge/ (embedding cosine, nearest neighbours), int8-only ops,
and (real data, slow) the same checks on the trained real model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from edgecnn.convert.tflite import convert_keras
from edgecnn.edge.core.flatbuf import parse_model
from edgecnn.edge.core.interpreter import load_model
from edgecnn.edge.face.runtime import Embedder, FaceConfig, distance_matrix, normalize_pixels
from edgecnn.train.face import model as E
from edgecnn.train.face import recipe as R
from edgecnn.train.face import synthetic as S

SIZE = 32
L2_NORMALIZATION, QUANTIZE, DEQUANTIZE = 11, 114, 6  # TFLite builtin operator codes


def shallow_embedder(cfg):
    """The embedder's head and L2 normalisation on a 3-block trunk that trains in seconds (the
    trained real model is checked by ``test_real_model_parity_on_held_out_people``)."""
    import keras

    from edgecnn.train.core import blocks

    inp = keras.Input((cfg.size, cfg.size, 3), name="image")
    x = blocks.conv_bn_act(inp, 16, 3, strides=2)
    x = blocks.depthwise_separable(x, 32, strides=2)
    x = blocks.inverted_residual(x, 32, expansion=2)
    emb = E.L2Normalize(name="embedding")(E.HEADS[cfg.head](x, cfg))
    model = keras.Model({"image": inp}, {"embedding": emb})
    E.set_bn_momentum(model, cfg.bn_momentum)
    return model


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    import keras

    keras.utils.set_random_seed(0)
    fs = S.make_face_set(16, 6, SIZE, seed=0)  # calibration images
    cfg = E.EmbedderConfig(size=SIZE, embedding_size=16, head="gap", dropout=0.0)
    rc = R.RecipeConfig(cfg, FaceConfig(size=SIZE, margin=0.0, finder="none"), p=4, k=4, workers=1)
    model = shallow_embedder(cfg)
    model.compile(optimizer=keras.optimizers.Adam(5e-3), loss={"embedding": E.TripletLoss(0.2, "batch_hard")})
    model.fit(R.FaceBatches(fs, rc, seed=0), epochs=15, verbose=0)
    x = normalize_pixels(fs.pixels, rc.face)
    for _ in range(25):  # BatchNorm statistics caught up with the last weights (momentum 0.9)
        model({"image": x}, training=True)
    tau = {"threshold": 1.0, "threshold_far_1e-3": 0.5, "validation": {}}
    meta = R.face_metadata(rc, tau, device_finder="none", data=S.SYNTHETIC, provenance={"test": True})
    calib = [{"image": normalize_pixels(fs.pixels[i : i + 1], rc.face)} for i in range(0, len(fs), 2)]
    flat = convert_keras(model, representative=calib, metadata=meta, num_calibration=len(calib))
    path = tmp_path_factory.mktemp("face") / "face_int8.tflite"
    path.write_bytes(flat)
    return model, path, S.make_face_set(8, 4, SIZE, seed=9)


def cosines_and_neighbours(keras_emb, int8_emb, clear: float = 0.05):
    """Per-sample cosine, and whether the nearest other sample is the same for both models, over
    the samples whose float nearest neighbour is clear (second nearest >= ``clear`` farther)."""
    cos = np.sum(keras_emb * int8_emb, axis=1)
    d_k, d_q = distance_matrix(keras_emb, keras_emb), distance_matrix(int8_emb, int8_emb)
    np.fill_diagonal(d_k, np.inf)
    np.fill_diagonal(d_q, np.inf)
    two = np.sort(d_k, axis=1)[:, :2]
    clear_nn = two[:, 1] - two[:, 0] >= clear
    return cos, (np.argmin(d_k, axis=1) == np.argmin(d_q, axis=1))[clear_nn]


def test_int8_embeddings_match_keras(converted):
    model, path, probe = converted
    emb = Embedder.from_model(load_model(path, task="face"), flip_tta=False)
    x = normalize_pixels(probe.pixels, emb.config)
    keras_emb = np.asarray(model({"image": x}, training=False)["embedding"], np.float32)
    int8_emb = emb.embed_faces(probe.pixels)
    cos, same_nn = cosines_and_neighbours(keras_emb, int8_emb)
    assert cos.min() >= 0.99, cos.min()
    assert len(same_nn) >= 8 and same_nn.mean() >= 0.9, (len(same_nn), same_nn.mean())


def test_fully_int8_with_l2_normalization_op(converted):
    _, path, _ = converted
    tables = parse_model(path.read_bytes())
    builtins = {code for code, custom in tables.op_codes}
    assert L2_NORMALIZATION in builtins  # tf.math.l2_normalize, not a float island
    assert not builtins & {QUANTIZE, DEQUANTIZE}
    m = load_model(path)
    assert m.input("image").dtype == np.int8 and m.output("embedding").dtype == np.int8
    assert m.metadata["params"]["distance"] == "squared_l2_unit"


REAL_MODEL = Path(os.environ.get("EDGECNN_FACE_MODEL", "runs/face/model.keras"))


@pytest.mark.slow
@pytest.mark.realdata
def test_real_model_parity_on_held_out_people(shared_data):
    """The trained real model (``make real``) vs its int8 file on LFW test people's faces."""
    from edgecnn.edge.face.data import list_identities
    from edgecnn.edge.face.runtime import face_from_file
    from edgecnn.train.core.keras_model import KerasModel

    int8 = REAL_MODEL.with_name("model_int8.tflite")
    people = REAL_MODEL.with_name("test_people_lfw.txt")
    if not (REAL_MODEL.is_file() and int8.is_file() and people.is_file()):
        pytest.skip(f"no trained real model at {REAL_MODEL} (run `make real`)")
    ids = list_identities(shared_data / "faces" / "lfw")
    ids = ids.subset([n for n in people.read_text().split() if n in ids.names])
    keras_e = Embedder.from_model(KerasModel(REAL_MODEL), finder="center", flip_tta=False)
    int8_e = Embedder.from_model(load_model(int8), finder="center", flip_tta=False)
    crops = np.stack([face_from_file(p, keras_e.config).pixels for p in ids.paths[:300]])
    cos, same_nn = cosines_and_neighbours(keras_e.embed_faces(crops), int8_e.embed_faces(crops))
    # measured on the recipe with QAT (docs/face.md): mean 0.997, 99.5 % of faces >= 0.99, min 0.980
    assert cos.mean() >= 0.99 and np.percentile(cos, 5) >= 0.985, (cos.mean(), np.percentile(cos, 5))
    assert same_nn.mean() >= 0.9, same_nn.mean()
