"""The wheel holds only the ``edgecnn`` namespace (no generic ``train``/``edge`` at the top)."""

import subprocess
import sys
import zipfile

import pytest


@pytest.mark.tf  # runs in the full dev environment only (needs setuptools + wheel)
class TestWheel:
    def test_only_edgecnn_at_top_level(self, tmp_path):
        root = __import__("pathlib").Path(__file__).resolve().parents[1]
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(root)],
            capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        wheel = next(tmp_path.glob("edgecnn-*.whl"))
        names = zipfile.ZipFile(wheel).namelist()
        tops = {n.split("/")[0] for n in names}
        assert {t for t in tops if not t.endswith(".dist-info")} == {"edgecnn"}
        for module in ("edgecnn/__init__.py", "edgecnn/edge/interpreter.py", "edgecnn/train/fit.py",
                       "edgecnn/convert/tflite.py", "edgecnn/train/data/__init__.py"):
            assert module in names, module
        assert not any(n.startswith("edgecnn/tests") for n in names)
        meta = next(n for n in names if n.endswith("METADATA"))
        text = zipfile.ZipFile(wheel).read(meta).decode()
        assert "Requires-Dist: numpy" in text and "extra == \"train\"" in text
