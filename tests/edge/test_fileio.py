import json
import os

import pytest

from edgecnn.edge import fileio


class TestAtomicWrite:
    def test_writes_and_replaces(self, tmp_path):
        p = tmp_path / "sub" / "f.json"
        fileio.atomic_write_json(p, {"a": 1})
        fileio.atomic_write_json(p, {"a": 2})
        assert json.loads(p.read_text()) == {"a": 2}
        assert [x.name for x in p.parent.iterdir()] == ["f.json"]

    def test_failure_midway_keeps_old_file(self, tmp_path, monkeypatch):
        p = tmp_path / "g.bin"
        fileio.atomic_write_bytes(p, b"old")

        def boom(src, dst):
            raise OSError("disk full")

        monkeypatch.setattr(os, "replace", boom)
        with pytest.raises(OSError):
            fileio.atomic_write_bytes(p, b"new")
        assert p.read_bytes() == b"old"
        assert [x.name for x in tmp_path.iterdir()] == ["g.bin"]  # no temp file left behind

    def test_keeps_permissions_of_existing_file(self, tmp_path):
        p = tmp_path / "m"
        p.write_bytes(b"x")
        p.chmod(0o640)
        fileio.atomic_write_bytes(p, b"y")
        assert p.stat().st_mode & 0o777 == 0o640

    def test_rejects_text_for_bytes(self, tmp_path):
        with pytest.raises(TypeError):
            fileio.atomic_write_bytes(tmp_path / "x", "text")

    def test_json_refuses_nan(self, tmp_path):
        with pytest.raises(ValueError):
            fileio.atomic_write_json(tmp_path / "x.json", {"v": float("nan")})
        assert not (tmp_path / "x.json").exists()
