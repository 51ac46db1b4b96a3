"""Edge TPU paths not covered by test_interpreter.py::TestEdgeTPU (which fakes the delegate loader
and the compiled flag): a real ``*_edgetpu.tflite`` file, recognised from its flatbuffer, through
the API and the CLI, on a machine without the Edge TPU runtime. Runs under every backend and on
emulated aarch64 (make test-pi). Where libedgetpu is installed these tests do not apply.

tests/fixtures/edgetpu/generic_int8_edgetpu.tflite is made by tests/fixtures/make_edgetpu_fixture.py.
"""

import ctypes
import gc
import json
import subprocess
import sys

import pytest

from edgecnn.edge.core.edgetpu import readiness
from edgecnn.edge.core.errors import BackendError
from edgecnn.edge.core.flatbuf import parse_model
from edgecnn.edge.core.interpreter import EDGETPU_LIBRARY, load_model


def _edgetpu_runtime_installed() -> bool:
    try:
        ctypes.CDLL(EDGETPU_LIBRARY["Linux"])
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(_edgetpu_runtime_installed(), reason="libedgetpu is installed: the no-runtime paths do not apply")


@pytest.fixture(autouse=True)
def _collect_failed_delegates():
    # A Delegate whose library failed to load raises in __del__; collect it here, not while pytest
    # parses source for a report (CPython 3.11.7 then fails with "AST constructor recursion depth mismatch").
    yield
    gc.collect()


@pytest.fixture(scope="module")
def compiled(fixtures_dir):
    return fixtures_dir / "edgetpu" / "generic_int8_edgetpu.tflite"


def cli(*args):
    """The real command line in a fresh interpreter: exit status, stdout, stderr lines."""
    proc = subprocess.run([sys.executable, "-m", "edgecnn.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr.strip().splitlines()


class TestCompiledModelFile:
    def test_recognised_from_the_flatbuffer(self, compiled):
        tables = parse_model(compiled.read_bytes(), source=str(compiled))
        assert [custom for _, custom in tables.op_codes] == ["edgetpu-custom-op"]
        assert readiness(tables).as_dict() == {"ready": True, "compiled_for_edgetpu": True, "problems": []}

    @pytest.mark.parametrize("device, named", [(None, "any Edge TPU"), ("usb", "'usb'"), ("usb:1", "'usb:1'"),
                                               ("pci:0", "'pci:0'")])
    def test_without_runtime_says_what_to_install(self, compiled, device, named):
        with pytest.raises(BackendError) as err:
            load_model(compiled, device=device)
        msg = str(err.value)
        assert str(compiled) in msg and "compiled for the Edge TPU" in msg
        assert "libedgetpu1-std" in msg and named in msg

    def test_is_never_run_on_the_cpu(self, compiled):
        # unlike a plain int8 model, a compiled one has no CPU fallback: the error must come first
        with pytest.raises(BackendError, match="compiled for the Edge TPU"):
            load_model(compiled, num_threads=1)

    def test_bench_exits_2_naming_the_package(self, compiled):
        code, out, err = cli("bench", compiled, "--runs", "1", "--json")
        assert code == 2 and out == ""
        assert any(line.startswith("edgecnn: error:") and "libedgetpu1-std" in line for line in err)

    def test_bench_error_is_one_line_without_traceback(self, compiled):
        code, _, err = cli("bench", compiled, "--runs", "1")
        assert code == 2 and len(err) == 1, err

    def test_info_describes_it_without_the_device(self, compiled):
        code, out, err = cli("info", compiled, "--json")
        assert code == 0, err
        info = json.loads(out)
        assert info["edgetpu"]["compiled_for_edgetpu"] is True and info["task"] == "generic"


class TestPlainModelWithDevice:
    @pytest.mark.parametrize("device", ["usb", "usb:0", "usb:3", "pci", "pci:0"])
    def test_each_device_form_falls_back_to_cpu_naming_it(self, fixtures_dir, device):
        m = load_model(fixtures_dir / "generic_int8.tflite", device=device)
        assert m.backend.endswith("(cpu fallback)")
        assert len(m.warnings) == 1 and repr(device) in m.warnings[0] and "libedgetpu1-std" in m.warnings[0]

    def test_without_device_no_delegate_is_tried(self, fixtures_dir):
        m = load_model(fixtures_dir / "generic_int8.tflite")
        assert "edgetpu" not in m.backend and "fallback" not in m.backend and m.warnings == []

    @pytest.mark.parametrize("device", ["tpu", "usb:a", "USB"])
    def test_misspelt_device_is_an_error_not_a_fallback(self, fixtures_dir, device):
        with pytest.raises(BackendError, match="usb"):
            load_model(fixtures_dir / "generic_int8.tflite", device=device)

    def test_bench_cli_json_reports_the_fallback(self, fixtures_dir):
        code, out, _ = cli("bench", fixtures_dir / "generic_int8.tflite", "--runs", "2", "--warmup", "0",
                           "--device", "pci:0", "--json")
        assert code == 0
        result = json.loads(out)
        assert result["backend"].endswith("(cpu fallback)") and "'pci:0'" in result["warnings"][0]
