import json
import subprocess
import sys

import pytest

from edgecnn.edge.core.errors import ModelFileError
from edgecnn.edge.core.flatbuf import parse_model
from edgecnn.edge.core.interpreter import load_model
from edgecnn.edge.core.metadata import check_task, make_metadata, read_metadata, validate_metadata


class TestReadMetadata:
    def test_fields(self, fixtures_dir):
        meta = read_metadata(fixtures_dir / "generic_int8.tflite")
        assert meta["task"] == "generic" and meta["schema_version"] == 1
        assert meta["labels"] == ["a", "b", "c"]
        assert set(meta["inputs"]) == {"image", "vec"} and set(meta["outputs"]) == {"probs", "vec_out"}
        q = meta["quantization"]
        assert q["mode"] == "int8" and q["io_dtype"] == "int8" and q["per_channel"] is True
        assert q["tensors"]["image"]["dtype"] == "int8"

    def test_model_without_metadata_still_opens(self, fixtures_dir):
        assert read_metadata(fixtures_dir / "nometa_int8.tflite") == {}
        m = load_model(fixtures_dir / "nometa_int8.tflite")
        assert m.task is None and len(m.outputs) == 2

    def test_signatures_and_ops_parsed(self, fixtures_dir):
        tables = parse_model((fixtures_dir / "generic_int8.tflite").read_bytes())
        sig = tables.signatures["serving_default"]
        assert set(sig["inputs"]) == {"image", "vec"}
        assert len(tables.operators) >= 4 and tables.tensors

    @pytest.mark.parametrize(
        "content, match",
        [
            (b"", "not a TFLite model"),
            (b"hello world, not a model", "not a TFLite model"),
            (b"\x10\x00\x00\x00TFL3" + b"\x00" * 4, "truncated|corrupt"),
        ],
    )
    def test_not_tflite(self, tmp_path, content, match):
        p = tmp_path / "x.tflite"
        p.write_bytes(content)
        with pytest.raises(ModelFileError, match=match):
            load_model(p)

    def test_truncated(self, tmp_path, fixtures_dir):
        data = (fixtures_dir / "generic_int8.tflite").read_bytes()
        for cut in (16, 100, len(data) // 2, len(data) - 10):
            p = tmp_path / f"cut{cut}.tflite"
            p.write_bytes(data[:cut])
            with pytest.raises(ModelFileError):
                load_model(p)

    def test_missing_file_and_folder(self, tmp_path):
        with pytest.raises(ModelFileError, match="not found"):
            load_model(tmp_path / "none.tflite")
        with pytest.raises(ModelFileError, match="folder"):
            load_model(tmp_path)


class TestTaskCheck:
    def test_wrong_task_refused(self, fixtures_dir):
        with pytest.raises(ModelFileError, match="'generic' model.*'ecg'"):
            load_model(fixtures_dir / "generic_int8.tflite", task="ecg")

    def test_no_metadata_refused_for_a_task(self, fixtures_dir):
        with pytest.raises(ModelFileError, match="no edgecnn metadata"):
            load_model(fixtures_dir / "nometa_int8.tflite", task="detect")

    def test_right_task(self):
        check_task({"task": "face"}, "face", "m")


class TestValidate:
    @pytest.mark.parametrize(
        "change, match",
        [
            ({"schema": "other"}, "schema"),
            ({"schema_version": 99}, "newer"),
            ({"task": "speech"}, "task"),
            ({"inputs": {}}, "inputs"),
        ],
    )
    def test_bad_fields(self, change, match):
        meta = make_metadata("ecg", inputs={"beat": {}}, outputs={"probs": {}})
        meta.update(change)
        with pytest.raises(ModelFileError, match=match):
            validate_metadata(meta)

    def test_missing_field(self):
        with pytest.raises(ModelFileError, match="lacks"):
            validate_metadata({"schema": "edgecnn.model"})

    def test_json_round_trip(self):
        meta = make_metadata("face", labels=[], inputs={"image": {"shape": [1, 112, 112, 3]}},
                             outputs={"embedding": {}}, params={"threshold": 0.8})
        assert validate_metadata(json.loads(json.dumps(meta))) == meta


class TestCliErrors:
    @pytest.mark.parametrize("content", [b"", b"garbage" * 10, None])
    def test_info_exits_2_with_one_line(self, tmp_path, content):
        p = tmp_path / "bad.tflite"
        if content is not None:
            p.write_bytes(content)
        proc = subprocess.run([sys.executable, "-m", "edgecnn.cli", "info", str(p)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("edgecnn:")]
        assert len(lines) == 1 and "Traceback" not in proc.stderr
        assert proc.stdout == ""
