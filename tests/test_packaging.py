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
        # every source file of every room is in the wheel (a subpackage missing from pyproject's
        # package list would drop a whole room), and the shipped model and sample with them
        folders = {"pkg": "edgecnn", "edge": "edgecnn/edge", "train": "edgecnn/train", "convert": "edgecnn/convert"}
        expected = {f"{prefix}/{f.relative_to(root / folder).as_posix()}"
                    for folder, prefix in folders.items() for f in (root / folder).rglob("*.py")
                    if not (folder == "pkg" and f.parent != root / "pkg")}
        assert len(expected) > 60 and expected <= set(names), sorted(expected - set(names))
        assert {"edgecnn/edge/models/ecg_mitdb_int8.tflite", "edgecnn/edge/samples/mitdb_223.dat"} <= set(names)
        assert not any(n.startswith("edgecnn/tests") for n in names)
        meta = next(n for n in names if n.endswith("METADATA"))
        text = zipfile.ZipFile(wheel).read(meta).decode()
        assert "Requires-Dist: numpy" in text and "extra == \"train\"" in text
