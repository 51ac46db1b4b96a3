"""The runtimes' informational C++ log lines stay off the terminal; everything else passes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgecnn.edge.core.native_log import RUNTIME_INFO, TENSORFLOW_INFO, filtered_native_output

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
XNNPACK = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
ABSL_I = ("I0000 00:00:1796556694.256897   10452 reader.cc:83] Reading SavedModel from: /tmp/x\n")
ABSL_W = ("W0000 00:00:1796556694.256326   10452 tf_tfl_flatbuffer_helpers.cc:364] Ignored output_format.\n")
ABSL_E = "E0000 00:00:1796556694.256326   10452 something.cc:1] a real error\n"


class TestFilter:
    @pytest.mark.parametrize("written, patterns, shown", [
        ([XNNPACK], RUNTIME_INFO, ""),
        ([XNNPACK, "ERROR: failed to allocate\n"], RUNTIME_INFO, "ERROR: failed to allocate\n"),
        (["before\n", XNNPACK, "after\n"], RUNTIME_INFO, "before\nafter\n"),
        ([ABSL_I, ABSL_W], RUNTIME_INFO, ABSL_I + ABSL_W),        # the runtime filter keeps TF's lines
        ([ABSL_I, ABSL_W, ABSL_E], TENSORFLOW_INFO, ABSL_E),      # errors always pass
        (["no newline at the end"], TENSORFLOW_INFO, "no newline at the end"),
        ([], RUNTIME_INFO, ""),
    ])
    def test_fd2(self, capfd, written, patterns, shown):
        with filtered_native_output(patterns):
            for text in written:
                os.write(2, text.encode())
        assert capfd.readouterr().err == shown

    def test_output_is_written_back_when_the_block_raises(self, capfd):
        with pytest.raises(RuntimeError), filtered_native_output(RUNTIME_INFO):
            os.write(2, b"ERROR: boom\n" + XNNPACK.encode())
            raise RuntimeError("x")
        assert capfd.readouterr().err == "ERROR: boom\n"

    def test_dropped_lines_go_to_the_debug_log(self, caplog):
        import logging

        with caplog.at_level(logging.DEBUG, logger="edgecnn.native"), filtered_native_output(RUNTIME_INFO):
            os.write(2, XNNPACK.encode())
        assert XNNPACK.strip() in caplog.text

    def test_stdout_too(self, capfd):
        with filtered_native_output(TENSORFLOW_INFO, fds=(1, 2)):
            os.write(1, b"fully_quantize: 0, inference_type: 6, input_inference_type: INT8, "
                        b"output_inference_type: INT8\nresult\n")
        assert capfd.readouterr().out == "result\n"


class TestQuietRuntime:
    """A fresh process: loading and running a model prints nothing on stderr; a bad input prints
    exactly the tool's one line."""

    def _run(self, *argv):
        env = {k: v for k, v in os.environ.items() if k != "EDGECNN_DEBUG"}
        return subprocess.run([sys.executable, "-m", "edgecnn.cli", *argv], capture_output=True,
                              text=True, env=env, timeout=120)

    def test_load_and_run_is_silent(self):
        r = self._run("bench", str(FIXTURES / "generic_int8.tflite"), "--runs", "3", "--json")
        assert r.returncode == 0, r.stderr
        assert r.stderr == ""

    def test_bad_input_is_one_line(self, tmp_path):
        bad = tmp_path / "x.csv"
        bad.write_text("not,a,number\n")
        r = self._run("ecg", "builtin:ecg", str(bad), "--fs", "360")
        assert r.returncode == 2
        assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("edgecnn: error: "), r.stderr


GOOD_INPUT = [
    ["info", "{F}/det_tiny_int8.tflite"],
    ["bench", "{F}/det_tiny_int8.tflite", "--runs", "3"],
    ["detect", "{F}/det_tiny_int8.tflite", "{F}/det/yolo/images/a.png", "--json"],
    ["detect", "{F}/det_tiny_int8.tflite", "{F}/det/yolo/images", "--out", "{T}/drawn"],
    ["face", "verify", "{F}/face_tiny_int8.tflite", "{F}/faces/person_0/0.png", "{F}/faces/person_0/1.png"],
    ["face", "enroll", "{F}/face_tiny_int8.tflite", "--gallery", "{T}/g.npz", "--name", "a",
     "{F}/faces/person_0/0.png"],
    ["ecg", "builtin:ecg", "builtin:ecg-sample", "--plot", "{T}/strip.png"],
    ["eval", "{F}/det_tiny_int8.tflite", "--data", "{F}/det/yolo", "--json"],
    ["eval", "builtin:ecg", "--data", "builtin-samples", "--report", "{T}/rep"],
]


@pytest.mark.parametrize("argv", GOOD_INPUT, ids=[" ".join(a[:2]) for a in GOOD_INPUT])
def test_device_verbs_print_nothing_on_stderr_on_good_input(tmp_path, argv):
    from edgecnn.edge.ecg.io import SAMPLES_DIR

    args = [a.format(F=FIXTURES, T=tmp_path).replace("builtin-samples", str(SAMPLES_DIR)) for a in argv]
    env = {k: v for k, v in os.environ.items() if k != "EDGECNN_DEBUG"}
    r = subprocess.run([sys.executable, "-m", "edgecnn.cli", *args], capture_output=True, text=True,
                       env=env, timeout=180)
    assert r.returncode == 0 and r.stderr == "", r.stderr
