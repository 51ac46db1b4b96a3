"""Never lose or mix data: report folders written as a unit, through the CLI."""

import json
from pathlib import Path

import numpy as np
import pytest

from edgecnn import cli

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
        from edgecnn.edge.core import fileio

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


def _cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _write_record(folder: Path, name="r", n=3600 * 3, fs=360, fmt=16, header_n=None, header_fmt=None):
    """A WFDB record of a clean synthetic ECG-like pulse train (format 16 or 212), NumPy only."""
    t = np.arange(n) / fs
    x = np.round(200 * np.exp(-((t % 0.8) - 0.4) ** 2 / 0.0005)).astype(np.int16)
    if fmt == 16:
        data = x.astype("<i2").tobytes()
    else:
        v = (x.astype(np.int32) & 0xFFF).reshape(-1, 2)
        b = np.stack([v[:, 0] & 0xFF, ((v[:, 0] >> 8) & 0x0F) | ((v[:, 1] >> 4) & 0xF0), v[:, 1] & 0xFF], 1)
        data = b.astype(np.uint8).tobytes()
    (folder / f"{name}.dat").write_bytes(data)
    (folder / f"{name}.hea").write_text(f"{name} 1 {fs} {header_n or n}\n"
                                        f"{name}.dat {header_fmt or fmt} 200 12 0 0 0 0 MLII\n")
    return folder / name


def _atr(words) -> bytes:
    return np.asarray(words, "<u2").tobytes()


class TestDamagedRecords:
    def test_clean_record_still_runs(self, tmp_path, capsys):
        rec = _write_record(tmp_path)
        code, out, err = _cli(capsys, "ecg", "builtin:ecg", rec, "--json")
        assert code == 0 and err == "" and json.loads(out)["summary"]["beats"] > 5

    @pytest.mark.parametrize("damage, match", [
        ({"cut": 0.5}, "cut short"),
        ({"header_n": 3600 * 6}, "cut short"),
        ({"header_n": 3600}, "header's count or format is wrong"),
        ({"header_fmt": 80}, "header's count or format is wrong"),
        ({"header_fmt": 212}, "header's count or format is wrong"),
        ({"empty": True}, "cut short"),
        ({"dev_zero": True}, "not a regular file"),
        ({"fifo": True}, "not a regular file"),
    ])
    def test_refused_with_one_line(self, tmp_path, capsys, damage, match):
        import os

        rec = _write_record(tmp_path, header_n=damage.get("header_n"), header_fmt=damage.get("header_fmt"))
        dat = rec.with_suffix(".dat")
        if "cut" in damage:
            dat.write_bytes(dat.read_bytes()[: int(dat.stat().st_size * damage["cut"])])
        if damage.get("empty"):
            dat.write_bytes(b"")
        if damage.get("dev_zero") or damage.get("fifo"):
            dat.unlink()
            os.symlink("/dev/zero", dat) if damage.get("dev_zero") else os.mkfifo(dat)
        code, out, err = _cli(capsys, "ecg", "builtin:ecg", rec)
        assert code == 2 and out == "" and len(err.splitlines()) == 1, err
        assert match in err

    @pytest.mark.parametrize("words, match", [
        ([], "empty"),
        ([(1 << 10) | 100, (1 << 10) | 280], "cut short"),             # no end-of-file marker
        ([(1 << 10) | 100, (1 << 10) | 280, 0], None),                 # a valid two-beat file
    ])
    def test_annotations(self, tmp_path, words, match):
        from edgecnn.edge.core.errors import InputDataError
        from edgecnn.edge.ecg.io import read_annotations

        rec = _write_record(tmp_path)
        rec.with_suffix(".atr").write_bytes(_atr(words))
        if match is None:
            assert read_annotations(rec).sample.tolist() == [100, 380]
        else:
            with pytest.raises(InputDataError, match=match):
                read_annotations(rec)

    @pytest.mark.parametrize("value", ["1e300", "-3e8"])
    def test_absurd_amplitudes(self, tmp_path, capsys, value):
        f = tmp_path / "x.csv"
        f.write_text("\n".join(["0.1"] * 2000 + [value] + ["0.1"] * 2000) + "\n")
        code, out, err = _cli(capsys, "ecg", "builtin:ecg", f, "--fs", "360")
        assert code == 2 and len(err.splitlines()) == 1 and "sample 2000" in err, err


class TestDamagedModels:
    """builtin:ecg with its metadata edited in place (same length: the flatbuffer stays valid)."""

    from edgecnn.edge.core.loader import resolve_model_path

    FIX = resolve_model_path("builtin:ecg")

    def _patched(self, tmp_path, old: bytes, new: bytes) -> Path:
        raw = self.FIX.read_bytes()
        assert raw.count(old) >= 1 and len(new) <= len(old)
        p = tmp_path / "m.tflite"
        p.write_bytes(raw.replace(old, new.ljust(len(old))))
        return p

    def _meta_span(self) -> bytes:
        raw = self.FIX.read_bytes()
        start = raw.index(b'{"schema"')
        depth, i = 0, start
        while True:
            depth += {ord("{"): 1, ord("}"): -1}.get(raw[i], 0)
            i += 1
            if depth == 0:
                return raw[start:i]

    def test_deeply_nested_metadata(self, tmp_path, capsys):
        meta = self._meta_span()
        depth = min(3000, (len(meta) - 14) // 2)  # deeper than json's recursion limit (~1000)
        assert depth > 1000
        nested = b'{"schema": ' + b"[" * depth + b"]" * depth + b"}"
        p = self._patched(tmp_path, meta, nested)
        for argv in (["info", p], ["ecg", p, FIXTURES / "nonexistent.csv", "--fs", "360"]):
            code, out, err = _cli(capsys, *argv)
            assert code == 2 and len(err.splitlines()) == 1 and "nests" in err, err

    @pytest.mark.parametrize("old, new, match", [
        (b'"lowpass_hz":40.0', b'"lowpass_hz":-4.0', "lowpass_hz"),
        (b'"baseline_s":0.6', b'"baseline_s":1e9', "baseline_s"),
    ])
    def test_invalid_ecg_params(self, tmp_path, capsys, old, new, match):
        p = self._patched(tmp_path, old, new)
        rec = _write_record(tmp_path)
        code, out, err = _cli(capsys, "ecg", p, rec)
        assert code == 2 and len(err.splitlines()) == 1 and match in err, err

    def test_model_fifo_does_not_block(self, tmp_path, capsys):
        import os

        fifo = tmp_path / "m.tflite"
        os.mkfifo(fifo)
        code, out, err = _cli(capsys, "info", fifo)
        assert code == 2 and "not a regular file" in err


def _png_header(w: int, h: int) -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + b"\x00" * 64


class TestDetectInputs:
    DET = FIXTURES / "det_tiny_int8.tflite"

    def _one_line(self, capsys, *argv, match):
        code, out, err = _cli(capsys, *argv)
        assert code == 2 and out == "" and len(err.splitlines()) == 1 and match in err, (code, err)

    def test_image_header_claiming_10_gigapixels(self, tmp_path, capsys):
        img = tmp_path / "huge.png"
        img.write_bytes(_png_header(100000, 100000))
        self._one_line(capsys, "detect", self.DET, img, match="100000 x 100000")

    @pytest.mark.parametrize("content", [b"\xff\xd8\xff\xc0\x00", b"\x89PNG\r\n\x1a\n", b"BM", b"", b"GIF89a"])
    def test_truncated_or_unknown_images(self, tmp_path, capsys, content):
        img = tmp_path / "x.jpg"
        img.write_bytes(content)
        self._one_line(capsys, "detect", self.DET, img, match="x.jpg")

    def test_unknown_out_extension(self, tmp_path, capsys):
        img = next((FIXTURES / "det" / "yolo" / "images").iterdir())
        self._one_line(capsys, "detect", self.DET, img, "--out", tmp_path / "o.xyz", match="--out")
        assert not (tmp_path / "o.xyz").exists()

    def test_folder_without_images(self, tmp_path, capsys):
        (tmp_path / "notes.txt").write_text("x")
        self._one_line(capsys, "detect", self.DET, tmp_path, match="no images")

    def test_missing_camera_fails_fast(self, capsys):
        import time

        t0 = time.monotonic()
        self._one_line(capsys, "detect", self.DET, "--camera", "97", match="camera 97")
        assert time.monotonic() - t0 < 20

    @pytest.mark.parametrize("value", ["nan", "-1", "inf"])
    def test_stream_idle_timeout(self, capsys, value):
        self._one_line(capsys, "ecg", "builtin:ecg", "-", "--stream", "--fs", "360", "--idle-timeout", value,
                       match="--idle-timeout")


class TestUsageErrors:
    @pytest.mark.parametrize("argv", [
        ["bogus"], [], ["detect", "m.tflite", "--max-det", "abc"], ["ecg"], ["ecg", "m", "r", "--fs", "x"],
        ["bench", "m", "--runs", "many"], ["info"], ["eval", "m"], ["detect", "m", "--conf"],
        ["face", "verify"], ["face", "enroll", "m", "--gallery"], ["face", "bogus"],
    ])
    def test_one_line_exit_2(self, capsys, argv):
        with pytest.raises(SystemExit) as exc:
            cli.main(argv)
        err = capsys.readouterr().err
        assert exc.value.code == 2 and len(err.strip().splitlines()) == 1 and "error:" in err, err


class TestStreamSummary:
    def test_constant_memory_tally_matches_the_batch_summary(self):
        from edgecnn.edge.ecg.cli import StreamTally
        from edgecnn.edge.ecg.runtime import BeatResult, summarize

        rng = np.random.default_rng(1)
        for n in (0, 1, 2, 7, 500):
            t = np.cumsum(rng.uniform(0.35, 1.4, n))
            lab = rng.choice(list("NSVFQ"), n)
            tally = StreamTally("NSVFQ")
            for x, y in zip(t, lab, strict=True):
                tally.add(str(y), float(x))
            res = BeatResult(np.zeros(n, np.int64), t, np.zeros(n, np.int64), lab.astype("<U1"),
                             np.zeros(n, np.float32), np.zeros((n, 5), np.float32), tuple("NSVFQ"))
            a, b = tally.summary(600.0), summarize(res, 600.0)
            assert a["counts"] == b["counts"] and a["beats"] == b["beats"]
            assert abs(a["heart_rate_bpm"] - b["heart_rate_bpm"]) <= 0.1
            assert tally.rr_hist.nbytes < 1 << 20  # fixed, whatever n is


class TestConcurrentEnrollCLI:
    def test_two_enrolls_at_once_lose_nobody(self, tmp_path):
        """Two `edgecnn face enroll` processes into one gallery at once, 5 rounds: every person is
        there afterwards (the gallery's lock; without it 2 of 20 were lost in 10 rounds)."""
        import subprocess
        import sys

        faces = FIXTURES / "faces"
        model = FIXTURES / "face_tiny_int8.tflite"
        for r in range(5):
            g = tmp_path / f"g{r}.npz"
            procs = [subprocess.Popen([sys.executable, "-m", "edgecnn.cli", "face", "enroll", str(model),
                                       "--gallery", str(g), "--name", f"p{r}_{k}",
                                       str(faces / f"person_{k}" / "0.png")], stderr=subprocess.PIPE, text=True)
                     for k in (0, 1)]
            for p in procs:
                assert p.wait(60) == 0, p.stderr.read()
            from edgecnn.edge.face.gallery import load_gallery

            assert sorted(load_gallery(g).names) == [f"p{r}_0", f"p{r}_1"]


class TestFaceVideo:
    def test_identify_on_a_video_file_ends_with_a_summary(self, tmp_path, capsys):
        import cv2

        faces = FIXTURES / "faces"
        model = FIXTURES / "face_tiny_int8.tflite"
        face = cv2.resize(cv2.imread(str(faces / "person_0" / "0.png")), (96, 96))
        video = tmp_path / "v.avi"
        w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
        for i in range(6):
            f = np.full((120, 160, 3), 90, np.uint8)
            f[12:108, 20 + i:116 + i] = face
            w.write(f)
        w.release()
        g = tmp_path / "g.npz"
        assert _cli(capsys, "face", "enroll", model, "--gallery", g, "--name", "p0", faces / "person_0" / "0.png")[0] == 0
        code, out, err = _cli(capsys, "face", "identify", model, "--gallery", g, video, "--json")
        lines = [json.loads(x) for x in out.splitlines()]
        assert code == 0 and err == "" and len(lines) == 7
        assert [ln["frame"] for ln in lines[:-1]] == [1, 2, 3, 4, 5, 6] and all(ln["face"] for ln in lines[:-1])
        summary = lines[-1]["summary"]
        assert (summary["frames"], summary["faces"], summary["dropped"]) == (6, 6, 0)
        assert set(summary["stage_ms"]) == {"capture", "preprocess", "invoke", "postprocess"}
        code, _, err = _cli(capsys, "face", "identify", model, "--gallery", g, tmp_path / "missing.mp4")
        assert code == 2 and len(err.splitlines()) == 1


class TestDamagedTaskMetadata:
    def _patch(self, tmp_path, src: Path, old: bytes, new: bytes) -> Path:
        raw = src.read_bytes()
        assert old in raw and len(new) <= len(old)
        p = tmp_path / src.name
        p.write_bytes(raw.replace(old, new.ljust(len(old)), 1))
        return p

    @pytest.mark.parametrize("new", [b'"threshold":-0.5', b'"threshold":NaN', b'"threshold":"x"', b'"threshold":9'])
    def test_face_threshold(self, tmp_path, capsys, new):
        m = self._patch(tmp_path, FIXTURES / "face_tiny_int8.tflite", b'"threshold":0.13662314414978027', new)
        img = FIXTURES / "faces" / "person_0" / "0.png"
        code, out, err = _cli(capsys, "face", "verify", m, img, img)
        assert code == 2 and len(err.splitlines()) == 1 and "threshold" in err, err

    def test_ecg_labels_shorter_than_the_output(self, tmp_path, capsys):
        from edgecnn.edge.core.loader import resolve_model_path

        m = self._patch(tmp_path, resolve_model_path("builtin:ecg"), b'"labels":["N","S","V","F","Q"]',
                        b'"labels":["N","S","V","F"]')
        code, out, err = _cli(capsys, "ecg", m, "builtin:ecg-sample")
        assert code == 2 and len(err.splitlines()) == 1 and "4 labels" in err and "5 class" in err, err


class TestDamagedVideo:
    """FFmpeg's own lines never reach the terminal; a damaged video is reported in one line of ours."""

    @staticmethod
    def _videos(tmp_path):
        import cv2

        rng = np.random.default_rng(0)
        paths = {}
        for name, fourcc in (("v.mp4", "mp4v"), ("v.avi", "MJPG")):
            w = cv2.VideoWriter(str(tmp_path / name), cv2.VideoWriter_fourcc(*fourcc), 30, (160, 120))
            for _ in range(40):
                w.write(rng.integers(0, 255, (120, 160, 3), np.uint8))
            w.release()
            paths[name] = (tmp_path / name).read_bytes()
        if len(paths["v.mp4"]) < 10_000:
            pytest.skip("this OpenCV build cannot write mp4v")
        b = bytearray(paths["v.mp4"])
        for i in range(len(b) // 3, len(b) // 3 + 3000, 7):  # flip bits inside the coded frames
            b[i] ^= 0xFF
        (tmp_path / "bitflip.mp4").write_bytes(bytes(b))
        (tmp_path / "cut.mp4").write_bytes(paths["v.mp4"][: len(paths["v.mp4"]) // 2])  # no moov atom
        (tmp_path / "cut.avi").write_bytes(paths["v.avi"][: len(paths["v.avi"]) // 2])
        return tmp_path

    def _run(self, *argv):
        import subprocess
        import sys

        env = {k: v for k, v in __import__("os").environ.items() if k != "OPENCV_FFMPEG_LOGLEVEL"}
        return subprocess.run([sys.executable, "-m", "edgecnn.cli", *map(str, argv)], capture_output=True,
                              text=True, timeout=120, env=env)

    def test_decoder_errors_stay_off_the_terminal(self, tmp_path):
        d = self._videos(tmp_path)
        model = FIXTURES / "det_tiny_int8.tflite"
        r = self._run("detect", model, d / "bitflip.mp4", "--json", "--every-frame")
        assert r.returncode == 0 and r.stderr == "", r.stderr  # concealed frames are still frames
        assert json.loads(r.stdout.splitlines()[-1])["summary"]["frames"] == 40
        r = self._run("detect", model, d / "cut.mp4", "--json")
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.splitlines() == [f"edgecnn: error: {d / 'cut.mp4'}: cannot open video (unsupported codec "
                                         "or corrupt file)"]

    def test_truncated_video_is_reported(self, tmp_path):
        d = self._videos(tmp_path)
        r = self._run("detect", FIXTURES / "det_tiny_int8.tflite", d / "cut.avi", "--json", "--every-frame")
        summary = json.loads(r.stdout.splitlines()[-1])["summary"]
        assert r.returncode == 0 and 0 < summary["frames"] < 40
        assert r.stderr.splitlines() == [f"edgecnn: warning: {d / 'cut.avi'}: the video ended after "
                                         f"{summary['frames']} of the 40 frames its header declares "
                                         "(truncated or damaged file)"]


class TestKilledWriters:
    """kill -9 at random points of `face enroll` and `eval --report`: the gallery and the report
    folder are always a whole old or a whole new version, and the next run removes the leftovers."""

    @staticmethod
    def _kill_at_random(argv, rounds, seed, check):
        import random
        import signal
        import subprocess
        import sys
        import time

        def start():
            return subprocess.Popen([sys.executable, "-m", "edgecnn.cli", *map(str, argv)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        t0 = time.monotonic()  # one whole run first: the kills land anywhere inside its duration
        assert start().wait() == 0
        duration = time.monotonic() - t0
        check()
        rng = random.Random(seed)
        killed = 0
        for _ in range(rounds):
            proc = start()
            time.sleep(rng.uniform(0.2, 0.9) * duration)
            proc.send_signal(signal.SIGKILL)
            killed += proc.wait() == -signal.SIGKILL
            check()
        return killed

    def test_enroll_killed(self, tmp_path, capsys):
        from edgecnn.edge.face.gallery import load_gallery

        model, faces = FIXTURES / "face_tiny_int8.tflite", FIXTURES / "faces"
        g = tmp_path / "g.npz"
        assert _cli(capsys, "face", "enroll", model, "--gallery", g, "--name", "p0", faces / "person_0" / "0.png")[0] == 0
        versions = {g.read_bytes()}

        def check():
            data = g.read_bytes()
            gal = load_gallery(g)  # never half a file
            assert gal.names[0] == "p0" and set(gal.names) <= {"p0", "p1"}
            versions.add(data)

        argv = ["face", "enroll", model, "--gallery", g, "--name", "p1", *sorted((faces / "person_1").iterdir())]
        killed = self._kill_at_random(argv, 8, 0, check)
        assert killed >= 2  # runs were still going when killed (timing varies with the machine's load)
        assert _cli(capsys, *argv)[0] == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == ["g.npz", "g.npz.lock"]  # leftovers removed

    def test_report_killed(self, tmp_path, capsys):
        import json

        rep = tmp_path / "report"
        rep.mkdir()
        (rep / "OLD").write_text("old report")
        (rep / "eval.json").write_text('{"old": true}')
        argv = ["eval", FIXTURES / "det_tiny_int8.tflite", "--data", FIXTURES / "det" / "voc", "--report", rep]

        def check():
            names = sorted(p.name for p in rep.iterdir())
            if "OLD" in names:
                assert names == ["OLD", "eval.json"] and json.loads((rep / "eval.json").read_text()) == {"old": True}
            else:  # the new report, whole
                assert {"eval.json", "pr_curve.png"} <= set(names), names
                assert json.loads((rep / "eval.json").read_text())["task"] == "detect"

        killed = self._kill_at_random(argv, 8, 1, check)
        assert killed >= 2
        assert _cli(capsys, *argv)[0] == 0
        check()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # staging folders removed
