"""The shipped ECG sample (edge/samples: MIT-BIH 223 excerpt, builtin:ecg-sample) and `edgecnn ecg --plot`."""

import json

import cv2
import numpy as np
import pytest

from edgecnn.cli import main
from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.ecg import io as ecg_io


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


class TestSample:
    def test_sample_loads_through_the_edge_reader(self):
        path = ecg_io.builtin_samples()["ecg-sample"]
        assert path.name == "mitdb_223" and path.parent.name == "samples"
        rec = ecg_io.read_signal("builtin:ecg-sample")
        assert rec.fs == 360.0 and len(rec.signal) == 240 * 360 and rec.lead == "MLII" and rec.units == "mV"
        assert np.isfinite(rec.signal).all() and 0.5 < np.ptp(rec.signal) < 10
        ann = ecg_io.read_annotations(path)
        cls = ecg_io.aami_index(ann.symbol)
        assert np.bincount(cls[cls >= 0], minlength=5).tolist() == [244, 21, 100, 1, 0]
        assert ann.sample.min() >= 0 and ann.sample.max() < len(rec.signal)
        assert ecg_io.read_signal("builtin:mitdb_223").signal.tolist() == rec.signal.tolist()
        assert sum(p.stat().st_size for p in path.parent.glob("mitdb_223.*")) < 300_000
        assert "ODC-By" in (path.parent / "README.md").read_text()

    def test_unknown_sample_name(self):
        with pytest.raises(InputDataError, match="builtin:ecg-sample"):
            ecg_io.read_signal("builtin:nope")

    def test_sample_folder_is_an_eval_folder(self):
        assert [p.name for p in ecg_io.list_records(ecg_io.SAMPLES_DIR)] == ["mitdb_223"]


class TestPlot:
    def test_ecg_plot_writes_a_strip_png(self, capsys, fixtures_dir, tmp_path):
        png = tmp_path / "strip.png"
        code, out, _ = run_cli(capsys, "ecg", fixtures_dir / "ecg_tiny_int8.tflite", "builtin:ecg-sample",
                               "--plot", png, "--plot-seconds", "5", "--json")
        assert code == 0
        assert json.loads(out)["summary"]["plot"] == str(png)
        img = cv2.imread(str(png))
        assert img is not None and img.shape[1] > 500 and (img < 128).any()

    def test_plot_text_output_and_start(self, capsys, fixtures_dir, tmp_path):
        png = tmp_path / "s.png"
        code, out, _ = run_cli(capsys, "ecg", fixtures_dir / "ecg_tiny_int8.tflite", "builtin:ecg-sample",
                               "--plot", png, "--plot-start", "30")
        assert code == 0 and f"strip: {png}" in out and png.is_file()

    def test_plot_needs_batch_mode(self, capsys, fixtures_dir, tmp_path):
        code, _, err = run_cli(capsys, "ecg", fixtures_dir / "ecg_tiny_int8.tflite", "-", "--stream", "--fs", "360",
                               "--plot", tmp_path / "x.png")
        assert code == 2 and "--plot" in err
