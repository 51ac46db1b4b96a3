"""Tiny distillation run (scripts/face_distill.py, a workstation recipe): random crops + fake
teacher vectors -> loss falls, model saves and converts."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from edgecnn.edge.face.runtime import l2_normalize  # noqa: E402


def _load_script(name: str):
    """scripts/NAME.py as a module (the scripts folder is on the path while it loads: the
    face_teacher_* scripts import their sibling face_teacher)."""
    import importlib.util
    import sys
    from pathlib import Path

    scripts = Path(__file__).resolve().parents[2] / "scripts"
    spec = importlib.util.spec_from_file_location(name, scripts / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    sys.path.insert(0, str(scripts))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(scripts))
    return module


D = _load_script("face_distill")


def test_distill_loss_zero_for_teacher_and_positive_otherwise():
    t = l2_normalize(np.random.default_rng(0).normal(size=(6, 8)).astype("float32"))
    loss = D.DistillLoss(sim_weight=1.0)
    assert float(loss(t, t)) == pytest.approx(0.0, abs=1e-6)
    assert float(loss(t, t[::-1])) > 0.1


def test_distill_trains_saves_and_converts(tmp_path):
    from edgecnn.convert.pipeline import convert_model
    from edgecnn.train.core.keras_model import save_model
    from edgecnn.train.face.synthetic import SYNTHETIC

    rng = np.random.default_rng(0)
    n, size = 32, 32
    pixels = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    targets = l2_normalize(rng.normal(size=(n, 128)).astype("float32"))
    people = np.array([f"lfw:p{i // 4}" for i in range(n)])
    cfg = D.DistillConfig(size=size, epochs=3, batch=16, lr=3e-3, alpha=0.35)
    model, hist = D.train_student(pixels, targets, pixels[:16], people[:16], cfg, tmp_path, verbose=0)
    assert hist["loss"][-1] < hist["loss"][0]
    face = D.FaceConfig(size=size, margin=0.25, finder="none")
    tau = D.choose_threshold(D.embed(model, pixels, face), people, 0)
    meta = D.student_metadata(cfg, tau, {"data": SYNTHETIC})
    assert meta["params"]["align"] == "5point"
    save_model(model, tmp_path / "model.keras", meta)
    report = convert_model(tmp_path / "model.keras", task="face", calib=SYNTHETIC, out=tmp_path / "m.tflite",
                           num_calib=8, parity_samples=2)
    assert (tmp_path / "m.tflite").stat().st_size > 0 and report["task"] == "face"
    from edgecnn.edge.core.interpreter import load_model
    from edgecnn.edge.face.runtime import Embedder

    emb = Embedder.from_model(load_model(tmp_path / "m.tflite", num_threads=1)).embed_faces(pixels[:4])
    assert emb.shape == (4, 128) and np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-3)


def test_teacher_views_join_their_training_faces_only(tmp_path):
    """views_{set}.npz rows index their set's cache; only rows that train are added."""
    ds = {"source": np.array(["lfw"] * 4 + ["wider"] * 2)}
    size = 8
    for name, rows in (("lfw", [0, 1, 3, 3]), ("wider", [1])):
        pix = np.stack([np.full((size, size, 3), 10 * r + k, np.uint8) for k, r in enumerate(rows)])
        np.savez(tmp_path / f"views_{name}.npz", row=np.array(rows, np.int32), pixels=pix,
                 descriptors=np.ones((len(rows), 128), np.float32), size=np.int32(size))
    pixels, vecs = D.load_views(tmp_path, ds, np.array([0, 3, 5]), size)
    assert pixels[:, 0, 0, 0].tolist() == [0, 32, 33, 10]  # lfw row 0, row 3 twice, wider row 1 (ds row 5)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0)
    with pytest.raises(SystemExit, match="96 px"):
        D.load_views(tmp_path, ds, np.array([0]), 96)


def test_split_keeps_unlabelled_wider_faces_out_of_validation():
    people = np.array([f"lfw:p{i}" for i in range(20)] + [f"wider:img{i}.jpg#0" for i in range(20)])
    idx = D.split({"people": people}, {"p0"}, 0.5, seed=0)
    val = people[idx["val"]]
    assert len(val) and all(p.startswith("lfw:") for p in val)
    assert people[idx["test"]].tolist() == ["lfw:p0"]


def test_teacher_described_views_are_used_as_they_are():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    targets = l2_normalize(rng.normal(size=(8, 128)).astype("float32"))
    face = D.FaceConfig(size=16, margin=0.25, finder="none")
    exact = np.array([True] * 4 + [False] * 4)
    x, y = D.DistillBatches(pixels, targets, 8, 0, face, jitter=1.0, exact=exact)[0]
    x = next(iter(x.values()))
    want = D.normalize_pixels(pixels.astype(np.float32), face)
    np.testing.assert_allclose(x[:4], want[:4], atol=1e-6)  # batch rows are sorted: rows 0-3 are the exact ones
    assert not np.allclose(x[4:], want[4:], atol=1e-3)
    np.testing.assert_array_equal(next(iter(y.values())), targets)


def test_teacher_and_student_see_the_same_view():
    """face_teacher_views.render: the teacher's 150 px chip and the student's 96 px crop of one
    view differ by resolution only."""
    import cv2

    V = _load_script("face_teacher_views")
    yy, xx = np.mgrid[0:200, 0:240]
    img = np.stack([(xx * 255 // 240), (yy * 255 // 200), ((xx + yy) % 64) * 4], -1).astype(np.uint8)
    lm = np.array([[150, 90], [130, 90], [90, 90], [110, 90], [120, 120]], np.float32)
    for seed in range(4):
        v = V.draw(np.random.default_rng(seed))
        v["lowres"] = 0.0
        chip, small = V.render(img, lm, V.CHIP, v), V.render(img, lm, 96, v)
        down = cv2.resize(chip, (96, 96), interpolation=cv2.INTER_AREA)
        assert np.abs(down - small)[8:-8, 8:-8].mean() < 4.0, seed


def test_rerender_refuses_views_drawn_otherwise(tmp_path):
    """face_teacher_views --rerender keeps the teacher's vectors only for the very same views."""
    import argparse

    V = _load_script("face_teacher_views")
    np.savez(tmp_path / "att.npz", paths=np.array(["s1/1.pgm", "s1/2.pgm"]), people=np.array(["s1", "s1"]),
             landmarks=np.zeros((2, 5, 2), np.float32), descriptors=np.ones((2, 128), np.float32))
    (tmp_path / "test_people.txt").write_text("s9\n")
    old = tmp_path / "old"
    old.mkdir()
    np.savez(old / "views_att.npz", row=np.array([0, 1, 1], np.int32), pixels=np.zeros((3, 8, 8, 3), np.uint8),
             descriptors=np.ones((3, 128), np.float32), size=np.int32(8), seed=np.int64(0))
    args = argparse.Namespace(teacher=str(tmp_path), data=str(tmp_path), out=str(tmp_path), views=2, size=16, seed=0,
                              workers=1, limit=None, rerender=str(old))
    with pytest.raises(SystemExit, match="drawn with other views"):
        V.run_set("att", args)  # 2 faces x 2 views = 4 views, the old file holds 3
