import errno
import json
import os
import re

import pytest

from edgecnn.edge.core import fileio


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

    @pytest.mark.parametrize("compressed", [False, True])
    def test_npz_round_trip_at_the_name_given(self, tmp_path, compressed):
        import numpy as np

        arrays = {"a": np.arange(6, dtype=np.int16).reshape(2, 3), "name": np.array("x")}
        target = tmp_path / "cache.bin"  # no .npz suffix: written where asked, not at cache.bin.npz
        target.write_bytes(b"old")
        assert fileio.atomic_write_npz(target, arrays, compressed=compressed) == target
        with np.load(target) as z:
            assert z["a"].dtype == np.int16 and z["a"].tolist() == [[0, 1, 2], [3, 4, 5]] and str(z["name"]) == "x"
        assert sorted(q.name for q in tmp_path.iterdir()) == ["cache.bin"]

    def test_npz_failure_midway_keeps_old_file(self, tmp_path, monkeypatch):
        import numpy as np

        target = tmp_path / "t.npz"
        fileio.atomic_write_npz(target, {"v": np.zeros(3)})
        monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
        with pytest.raises(OSError, match="t.npz"):
            fileio.atomic_write_npz(target, {"v": np.ones(3)})
        with np.load(target) as z:
            assert z["v"].tolist() == [0.0, 0.0, 0.0]


def _dead_pid() -> int:
    """A PID that no process has (a child that already exited and was reaped)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


class TestTargets:
    def test_symlink_is_followed_and_kept(self, tmp_path):
        real = tmp_path / "data" / "home.gallery"
        real.parent.mkdir()
        real.write_bytes(b"old")
        link = tmp_path / "link.gallery"
        link.symlink_to(real)
        assert fileio.atomic_write_bytes(link, b"new") == real
        assert link.is_symlink() and real.read_bytes() == b"new"

    def test_dangling_symlink_creates_its_target(self, tmp_path):
        link = tmp_path / "l"
        link.symlink_to(tmp_path / "made")
        fileio.atomic_write_bytes(link, b"x")
        assert link.is_symlink() and (tmp_path / "made").read_bytes() == b"x"

    def test_symlink_loop_is_named(self, tmp_path):
        a, b = tmp_path / "a", tmp_path / "b"
        a.symlink_to(b)
        b.symlink_to(a)
        with pytest.raises(OSError, match="symlink loop") as exc:
            fileio.atomic_write_bytes(a, b"x")
        assert exc.value.filename == str(a)

    def test_folder_as_target(self, tmp_path):
        with pytest.raises(IsADirectoryError):
            fileio.atomic_write_bytes(tmp_path, b"x")

    @pytest.mark.parametrize("err", [28, 30, 13])  # ENOSPC, EROFS, EACCES
    def test_write_errors_name_the_file(self, tmp_path, monkeypatch, err):
        p = tmp_path / "g.bin"
        p.write_bytes(b"old")

        def fail(fd):
            raise OSError(err, os.strerror(err))

        monkeypatch.setattr(os, "fsync", fail)
        with pytest.raises(OSError) as exc:
            fileio.atomic_write_bytes(p, b"new")
        assert exc.value.filename == str(p) and exc.value.errno == err
        assert p.read_bytes() == b"old" and [x.name for x in tmp_path.iterdir()] == ["g.bin"]


class TestStaleTemporaries:
    def test_dead_writers_temporaries_are_removed_live_ones_kept(self, tmp_path):
        dead = tmp_path / f".g.npz.{_dead_pid()}.abc123.tmp"
        live = tmp_path / f".g.npz.{os.getppid()}.abc123.tmp"
        dead_dir = tmp_path / f".report.{_dead_pid()}.xyz.new"
        other = tmp_path / ".hidden.tmp"  # not ours: no PID field
        for f in (dead, live, other):
            f.write_bytes(b"partial")
        dead_dir.mkdir()
        fileio.atomic_write_bytes(tmp_path / "g.npz", b"x")
        assert not dead.exists() and not dead_dir.exists()
        assert live.exists() and other.exists()

    def test_kill_9_midway_leaves_old_or_new_and_is_cleaned(self, tmp_path):
        """A writer killed at random points: the file is always the old or the new content, and the
        next write removes what the killed one left."""
        import random
        import signal
        import subprocess
        import sys
        import time

        target = tmp_path / "model.bin"
        old, new = b"o" * 3_000_000, b"n" * 3_000_000
        fileio.atomic_write_bytes(target, old)
        started = tmp_path / "started"
        code = ("import sys; from pathlib import Path; from edgecnn.edge.core import fileio\n"
                "Path(sys.argv[2]).touch()\n"
                "while True: fileio.atomic_write_bytes(sys.argv[1], b'n' * 3_000_000)\n")
        rng = random.Random(0)
        for _ in range(5):
            started.unlink(missing_ok=True)
            proc = subprocess.Popen([sys.executable, "-c", code, str(target), str(started)])
            deadline = time.monotonic() + 60
            while not started.exists():  # the writer is past its imports: it is writing when killed
                assert proc.poll() is None, "the writer died before it started writing"
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(0.05 + rng.random() * 0.3)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait() == -signal.SIGKILL
            assert target.read_bytes() in (old, new)
        assert target.read_bytes() == new  # some write completed between the kills
        fileio.atomic_write_bytes(target, new)
        assert sorted(x.name for x in tmp_path.iterdir()) == ["model.bin", "started"]


class TestAtomicFolder:
    def test_replaces_the_old_folder_whole(self, tmp_path):
        rep = tmp_path / "report"
        rep.mkdir()
        (rep / "old_only.png").write_bytes(b"1")
        (rep / "eval.json").write_text("old")
        with fileio.atomic_folder(rep) as stage:
            (stage / "eval.json").write_text("new")
        assert sorted(x.name for x in rep.iterdir()) == ["eval.json"]
        assert (rep / "eval.json").read_text() == "new"
        assert sorted(x.name for x in tmp_path.iterdir()) == ["report"]

    def test_failure_leaves_the_old_folder_untouched(self, tmp_path):
        rep = tmp_path / "report"
        rep.mkdir()
        (rep / "eval.json").write_text("old")
        with pytest.raises(OSError), fileio.atomic_folder(rep) as stage:
            (stage / "eval.json").write_text("half")
            raise OSError(28, "No space left on device")
        assert (rep / "eval.json").read_text() == "old"
        assert sorted(x.name for x in tmp_path.iterdir()) == ["report"]

    def test_new_folder_and_file_in_the_way(self, tmp_path):
        with fileio.atomic_folder(tmp_path / "r") as stage:
            (stage / "a").write_text("1")
        assert (tmp_path / "r" / "a").read_text() == "1"
        (tmp_path / "f").write_text("x")
        with pytest.raises(NotADirectoryError), fileio.atomic_folder(tmp_path / "f"):
            pass

    def test_without_renameat2(self, tmp_path, monkeypatch):
        monkeypatch.setattr(fileio, "_exchange", lambda a, b: False)
        rep = tmp_path / "report"
        rep.mkdir()
        (rep / "x").write_text("old")
        with fileio.atomic_folder(rep) as stage:
            (stage / "y").write_text("new")
        assert sorted(x.name for x in rep.iterdir()) == ["y"]
        assert sorted(x.name for x in tmp_path.iterdir()) == ["report"]


class TestRegularFile:
    """The one boundary check every reader (model, gallery, image, WFDB files) goes through."""

    def test_each_refusal_names_the_file_and_what_it_should_be(self, tmp_path):
        import os

        from edgecnn.edge.core.errors import InputDataError, ModelFileError
        from edgecnn.edge.core.fileio import regular_file

        ok = tmp_path / "ok.bin"
        ok.write_bytes(b"x" * 10)
        p, st = regular_file(ok, "thing", 10)
        assert p == ok and st.st_size == 10
        (tmp_path / "dir").mkdir()
        (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
        os.mkfifo(tmp_path / "fifo")
        cases = [
            (tmp_path / "none", "none: thing not found"),
            (tmp_path / "dangling", "a symlink whose target does not exist (expected a thing)"),
            (tmp_path / "dir", "is a folder, not a regular file (expected a thing)"),
            (tmp_path / "fifo", "the thing is not a regular file (a device, FIFO or socket)"),
            ("/dev/zero", "the thing is not a regular file"),
        ]
        for path, message in cases:
            with pytest.raises(InputDataError, match=re.escape(message)):
                regular_file(path, "thing", 10)
        with pytest.raises(InputDataError, match=re.escape("11 bytes, more than the 10 a thing may have")):
            ok.write_bytes(b"x" * 11)
            regular_file(ok, "thing", 10)
        with pytest.raises(ModelFileError, match="custom"):
            regular_file(tmp_path / "none", "model file", 10, error=ModelFileError, missing="custom")
        loop = tmp_path / "loop"
        loop.symlink_to(loop)
        with pytest.raises(InputDataError, match="cannot open the thing"):
            regular_file(loop, "thing", 10)
