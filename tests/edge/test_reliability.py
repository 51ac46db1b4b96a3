"""Never lose or mix data: report folders written as a unit, through the CLI."""

import json
from pathlib import Path

import pytest

from edgecnn.edge import cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


class TestReportFolder:
    def _eval(self, report):
        return cli.main(["eval", str(FIXTURES / "det_tiny_int8.tflite"), "--data", str(FIXTURES / "det" / "yolo"),
                         "--report", str(report), "--json"])

    def test_rerun_replaces_the_report_whole(self, tmp_path, capsys):
        rep = tmp_path / "rep"
        rep.mkdir()
        (rep / "from_an_older_run.png").write_bytes(b"x")
        assert self._eval(rep) == 0
        names = sorted(p.name for p in rep.iterdir())
        assert "eval.json" in names and "from_an_older_run.png" not in names
        assert json.loads((rep / "eval.json").read_text())["task"] == "detect"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]

    def test_failed_run_leaves_the_old_report(self, tmp_path, capsys, monkeypatch):
        rep = tmp_path / "rep"
        assert self._eval(rep) == 0
        before = {p.name: p.read_bytes() for p in rep.iterdir()}
        from edgecnn.edge import fileio

        real = fileio.atomic_write_json

        def full_disk(path, obj):
            if Path(path).name == "eval.json":
                raise OSError(28, "No space left on device", str(path))
            return real(path, obj)

        monkeypatch.setattr(fileio, "atomic_write_json", full_disk)
        assert self._eval(rep) == 2
        err = capsys.readouterr().err
        assert "No space left on device" in err and len(err.strip().splitlines()) == 1
        assert {p.name: p.read_bytes() for p in rep.iterdir()} == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]

    def test_report_path_is_a_file(self, tmp_path, capsys):
        f = tmp_path / "rep"
        f.write_text("mine")
        assert self._eval(f) == 2
        assert f.read_text() == "mine"
        assert "not a folder" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("EDGECNN_DEBUG", raising=False)
