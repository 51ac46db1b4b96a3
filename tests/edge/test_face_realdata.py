"""Real-data checks of builtin:face (``make eval``): the shipped pipeline (learned finder,
landmarks, alignment, int8 student) on AT&T faces, and face verify on real photos."""

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def builtin_face():
    from edgecnn.edge.core.loader import open_model
    from edgecnn.edge.face.runtime import Embedder

    return Embedder.from_model(open_model("builtin:face", task="face", num_threads=1))


@pytest.mark.realdata
def test_att_faces_are_found_and_same_people_are_nearer(shared_data, builtin_face):
    from edgecnn.edge.face.evaluate import auc
    from edgecnn.edge.face.runtime import distance_matrix

    people = [f"s{k}" for k in (1, 5, 9, 13, 17, 21)]
    paths = [shared_data / "faces" / "att_orl" / p / f"{i}.pgm" for p in people for i in (1, 4, 7, 10)]
    vecs, faces = zip(*(builtin_face.embed_file(p) for p in paths), strict=True)
    assert all(f.landmarks.shape == (5, 2) for f in faces)
    labels = np.repeat(np.arange(len(people)), 4)
    d = distance_matrix(np.stack(vecs), np.stack(vecs))
    iu = np.triu_indices(len(paths), 1)
    same = (labels[:, None] == labels[None, :])[iu]
    assert auc(d[iu], same) > 0.95


@pytest.mark.realdata
def test_verify_verb_on_real_photos(shared_data, capsys):
    from edgecnn.cli import main

    att = shared_data / "faces" / "att_orl"
    assert main(["face", "verify", "builtin:face", str(att / "s3/1.pgm"), str(att / "s3/6.pgm"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["same"] and len(res["landmarks_a"]) == 5
