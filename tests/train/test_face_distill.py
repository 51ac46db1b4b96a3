"""Tiny distillation run (scripts/face_distill.py, a workstation recipe): random crops + fake
teacher vectors -> loss falls, model saves and converts."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from edgecnn.edge.face.runtime import l2_normalize  # noqa: E402


def _load_script():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "face_distill.py"
    spec = importlib.util.spec_from_file_location("face_distill", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


D = _load_script()


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
