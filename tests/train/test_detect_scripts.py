"""scripts/detect_gap.py, the last step of scripts/real_detect.sh and detect_cv.sh: it opens the
float ``.keras`` model itself. Run as its own process, as the recipe runs it: in the test process
the Keras opener is already registered by other imports, which once hid that the script did not
register it (every fold then failed at its last step)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("keras")

ROOT = Path(__file__).resolve().parents[2]


def test_detect_gap_opens_a_keras_model_in_its_own_process(tmp_path):
    import importlib.util

    from edgecnn.train.core.keras_model import save_model
    from edgecnn.train.detect.synthetic import write_yolo

    spec = importlib.util.spec_from_file_location("make_det_fixture", ROOT / "tests" / "fixtures" / "make_det_fixture.py")
    fixture = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixture)
    model, meta = fixture.train_tiny(steps=5)
    save_model(model, tmp_path / "model.keras", meta)
    write_yolo(tmp_path / "data", 4, seed=3)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "detect_gap.py"), str(tmp_path / "model.keras"),
         str(ROOT / "tests" / "fixtures" / "det_tiny_int8.tflite"), "--data", str(tmp_path / "data"),
         "--boot", "20", "--json"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)
    assert res["images"] == 4 and res["runs"] == 1
    assert 0.0 <= res["float_map50"] <= 1.0 and 0.0 <= res["int8_map50"] <= 1.0
