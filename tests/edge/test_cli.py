import json

import pytest

from edgecnn.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


class TestInfo:
    def test_json(self, capsys, fixtures_dir):
        code, out, _ = run_cli(capsys, "info", str(fixtures_dir / "generic_int8.tflite"), "--json")
        assert code == 0
        info = json.loads(out)
        assert info["task"] == "generic"
        assert {t["name"] for t in info["inputs"]} == {"image", "vec"}
        assert info["inputs"][0]["dtype"] == "int8" and info["inputs"][0]["scale"] > 0
        assert info["ops"]["CONV_2D"] == 1 and info["op_count"] >= 4
        assert info["file_size_bytes"] > 0 and info["activation_bytes_upper_bound"] > 0
        assert info["edgetpu"]["ready"] is True
        assert info["metadata"]["quantization"]["mode"] == "int8"

    def test_text_without_metadata(self, capsys, fixtures_dir):
        code, out, _ = run_cli(capsys, "info", str(fixtures_dir / "nometa_int8.tflite"))
        assert code == 0 and "unknown (no edgecnn metadata)" in out

    def test_float_model_not_edgetpu_ready(self, capsys, fixtures_dir):
        code, out, _ = run_cli(capsys, "info", str(fixtures_dir / "generic_float32.tflite"), "--json")
        tpu = json.loads(out)["edgetpu"]
        assert tpu["ready"] is False and "not int8" in " ".join(tpu["problems"])

    def test_unknown_builtin(self, capsys):
        code, out, err = run_cli(capsys, "info", "builtin:nope")
        assert code == 2 and out == "" and "unknown built-in model" in err


class TestBench:
    def test_json(self, capsys, fixtures_dir):
        code, out, _ = run_cli(capsys, "bench", str(fixtures_dir / "generic_int8.tflite"), "--runs", "5",
                               "--warmup", "1", "--threads", "2", "--json")
        assert code == 0
        res = json.loads(out)
        assert res["threads"] == 2 and res["runs"] == 5
        assert 0 < res["invoke_median_ms"] <= res["invoke_p90_ms"]
        assert res["run_median_ms"] > 0

    @pytest.mark.parametrize("args", [["--runs", "0"], ["--threads", "0"]])
    def test_bad_numbers(self, capsys, fixtures_dir, args):
        code, out, err = run_cli(capsys, "bench", str(fixtures_dir / "generic_int8.tflite"), *args)
        assert code == 2 and "expected" in err

    def test_bench_fallback_device_warns(self, capsys, fixtures_dir):
        code, out, _ = run_cli(capsys, "bench", str(fixtures_dir / "generic_int8.tflite"), "--runs", "2",
                               "--device", "usb:0", "--json")
        res = json.loads(out)
        assert code == 0 and "cpu fallback" in res["backend"] and res["warnings"]


class TestDispatcher:
    def test_unknown_option_is_usage_error(self, capsys, fixtures_dir):
        with pytest.raises(SystemExit) as err:
            main(["info", str(fixtures_dir / "generic_int8.tflite"), "--bogus"])
        assert err.value.code == 2

    def test_eval_refuses_model_without_task(self, capsys, fixtures_dir):
        code, out, err = run_cli(capsys, "eval", str(fixtures_dir / "nometa_int8.tflite"), "--data", "x")
        assert code == 2 and "no evaluator" in err
