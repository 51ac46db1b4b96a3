"""Property-based fuzzing of every reader and device verb (#17).

The invariant, for any input: the verb exits 0 (with a well-formed result) or exits 2 with one
line on stderr; never a traceback (an exception escaping ``cli.main``), never a hang (each example
has a deadline), never a changed existing file when it fails.

Budget: ``EDGECNN_FUZZ_EXAMPLES`` examples per property (default 15 in ``make test``; ``make eval``
runs 300).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from edgecnn import cli  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXAMPLES = int(os.environ.get("EDGECNN_FUZZ_EXAMPLES", "15"))
FUZZ = settings(max_examples=EXAMPLES, deadline=20_000, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ECG_FIX = FIXTURES / "ecg_tiny_int8.tflite"
DET_FIX = FIXTURES / "det_tiny_int8.tflite"
FACE_FIX = FIXTURES / "face_tiny_int8.tflite"


def run(*argv) -> tuple[int, str, str]:
    """``cli.main`` in-process; any exception escaping it fails the test (a traceback)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse usage errors
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def check(code, out, err, *, json_out=False):
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("edgecnn"), err
    elif json_out:
        for line in out.strip().splitlines():
            json.loads(line)


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch):
    monkeypatch.delenv("EDGECNN_DEBUG", raising=False)


# ----------------------------------------------------------------------------- strategies

numbers = st.one_of(
    # no subnormals: the aarch64 tflite-runtime build flushes them to zero (fast-math), and hypothesis
    # refuses to generate floats there; NaN, infinities and extremes are what the readers must take
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False, width=32),
    st.integers(-10**12, 10**12),
    st.sampled_from(["nan", "inf", "-inf", "-1", "0", "1e309", "", "x", "0x10", "1,5"]),
)
header_tokens = st.one_of(st.text(alphabet="0123456789./()+:x-abcMLIV ", max_size=12), numbers.map(str))


@st.composite
def wfdb_header(draw):
    nsig = draw(st.sampled_from(["1", "2", "0", "-1", "x", "99"]))
    head = " ".join(["r", nsig] + [str(draw(header_tokens)) for _ in range(draw(st.integers(0, 3)))])
    sig_lines = []
    for _ in range(draw(st.integers(0, 3))):
        fmt = draw(st.sampled_from(["16", "212", "80", "311", "16+8", "212x2", "x", ""]))
        rest = " ".join(str(draw(header_tokens)) for _ in range(draw(st.integers(0, 7))))
        sig_lines.append(f"r.dat {fmt} {rest}")
    return "\n".join([head, *sig_lines]) + "\n"


# ----------------------------------------------------------------------------- readers


class TestSignalReaders:
    @FUZZ
    @given(header=wfdb_header(), dat=st.binary(max_size=4000))
    def test_wfdb_records(self, header, dat):
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "r.hea").write_text(header)
            (Path(tmp) / "r.dat").write_bytes(dat)
            check(*run("ecg", ECG_FIX, Path(tmp) / "r", "--json"), json_out=True)

    @FUZZ
    @given(rows=st.lists(st.one_of(numbers.map(str), st.text(max_size=8)), max_size=400),
           fs=st.sampled_from(["360", "250", "nan", "0", "-5", "1e9", "x"]))
    def test_csv_signals(self, rows, fs):
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "x.csv"
            f.write_text("\n".join(rows) + "\n")
            check(*run("ecg", ECG_FIX, f, "--fs", fs, "--json"), json_out=True)

    @FUZZ
    @given(rows=st.lists(numbers.map(str), max_size=2000))
    def test_stream_text(self, rows):
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "x.txt"
            f.write_text("\n".join(rows))
            check(*run("ecg", ECG_FIX, f, "--stream", "--fs", "360", "--idle-timeout", "0", "--json"),
                  json_out=True)

    @FUZZ
    @given(words=st.lists(st.integers(0, 65535), max_size=300))
    def test_annotations_in_eval(self, words):
        with tempfile.TemporaryDirectory() as tmp:
            t = np.arange(3600 * 4) / 360
            x = np.round(200 * np.exp(-((t % 0.8) - 0.4) ** 2 / 0.0005)).astype("<i2")
            (Path(tmp) / "r.dat").write_bytes(x.tobytes())
            (Path(tmp) / "r.hea").write_text(f"r 1 360 {len(x)}\nr.dat 16 200 12 0 0 0 0 MLII\n")
            (Path(tmp) / "r.atr").write_bytes(np.asarray(words, "<u2").tobytes())
            check(*run("eval", ECG_FIX, "--data", tmp, "--json"), json_out=True)


class TestModelFiles:
    @FUZZ
    @given(meta=st.recursive(st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=10)),
                             lambda c: st.one_of(st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c,
                                                                                           max_size=4)),
                             max_leaves=30),
           keep=st.sampled_from(["schema", "task", "params", "labels", "inputs", "outputs", "none"]))
    def test_metadata_json(self, meta, keep):
        """Replace the metadata JSON (same length, so the flatbuffer stays valid) with random JSON,
        optionally keeping one real top-level field."""
        raw = ECG_FIX.read_bytes()
        start = raw.index(b'{"schema"')
        end = raw.index(b"\x00", start)
        real = json.loads(raw[start:end])
        doc = dict(meta) if isinstance(meta, dict) else {"x": meta}
        if keep != "none":
            doc[keep] = real[keep]
        text = json.dumps(doc, allow_nan=True).encode()[: end - start]
        with tempfile.TemporaryDirectory() as tmp:
            m = Path(tmp) / "m.tflite"
            m.write_bytes(raw[:start] + text.ljust(end - start) + raw[end:])
            check(*run("info", m, "--json"), json_out=True)
            check(*run("ecg", m, "builtin:ecg-sample", "--json"), json_out=True)

    @FUZZ
    @given(data=st.binary(max_size=3000), suffix=st.sampled_from([".tflite", ".lite", ".bin", ""]))
    def test_random_model_bytes(self, data, suffix):
        with tempfile.TemporaryDirectory() as tmp:
            m = Path(tmp) / f"m{suffix}"
            m.write_bytes(data)
            check(*run("info", m, "--json"), json_out=True)


class TestGalleries:
    @FUZZ
    @given(header=st.dictionaries(st.sampled_from(["format", "version", "model_fingerprint", "embedding_size",
                                                   "distance", "names", "sources", "threshold", "calibration"]),
                                  st.one_of(st.none(), numbers, st.text(max_size=6),
                                            st.lists(st.text(max_size=4), max_size=3)), max_size=9),
           n=st.integers(0, 3), d=st.integers(0, 4))
    def test_gallery_headers(self, header, n, d):
        """list / remove on a damaged gallery: one line, and the file is never changed by a failure."""
        header = {"format": "edgecnn.gallery", **header}
        with tempfile.TemporaryDirectory() as tmp:
            g = Path(tmp) / "g.npz"
            buf = io.BytesIO()
            np.savez(buf, header=np.frombuffer(json.dumps(header).encode(), np.uint8),
                     embeddings=np.ones((n, d), np.float32), labels=np.zeros(n, np.int32))
            g.write_bytes(buf.getvalue())
            before = snapshot(Path(tmp))
            check(*run("face", "list", "--gallery", g, "--json"), json_out=True)
            code, out, err = run("face", "remove", "--gallery", g, "--name", "ada", "--json")
            check(code, out, err, json_out=True)
            if code != 0:
                assert snapshot(Path(tmp)) == before

    @FUZZ
    @given(data=st.binary(max_size=2000))
    def test_gallery_bytes(self, data):
        with tempfile.TemporaryDirectory() as tmp:
            g = Path(tmp) / "g.npz"
            g.write_bytes(data)
            check(*run("face", "list", "--gallery", g, "--json"), json_out=True)
            assert g.read_bytes() == data


class TestImagesAndAnnotations:
    @FUZZ
    @given(kind=st.sampled_from(["png", "jpg", "bmp", "random"]), w=st.integers(0, 200000),
           h=st.integers(0, 200000), tail=st.binary(max_size=500))
    def test_image_headers(self, kind, w, h, tail):
        head = {"png": b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", w % 2**32, h % 2**32),
                "jpg": b"\xff\xd8\xff\xc0\x00\x11\x08" + struct.pack(">HH", h % 65536, w % 65536),
                "bmp": b"BM" + b"\x00" * 16 + struct.pack("<ii", w % 2**31, h % 2**31),
                "random": b""}[kind]
        with tempfile.TemporaryDirectory() as tmp:
            img = Path(tmp) / f"x.{'jpg' if kind == 'random' else kind}"
            img.write_bytes(head + tail)
            check(*run("detect", DET_FIX, img, "--json"), json_out=True)
            check(*run("face", "verify", FACE_FIX, img, img, "--json"), json_out=True)

    @FUZZ
    @given(lines=st.lists(st.lists(numbers.map(str), max_size=7).map(" ".join), max_size=6),
           classes=st.lists(st.text(alphabet="abc ", max_size=5), max_size=4))
    def test_yolo_labels(self, lines, classes):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "images").mkdir()
            (root / "labels").mkdir()
            src = next((FIXTURES / "det" / "yolo" / "images").iterdir())
            (root / "images" / src.name).write_bytes(src.read_bytes())
            (root / "labels" / (src.stem + ".txt")).write_text("\n".join(lines))
            (root / "classes.txt").write_text("\n".join(classes))
            report = root / "report"
            check(*run("eval", DET_FIX, "--data", root, "--report", report, "--json"), json_out=True)

    @FUZZ
    @given(doc=st.recursive(st.one_of(st.none(), numbers, st.text(max_size=6)),
                            lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(
                                st.sampled_from(["images", "annotations", "categories", "id", "file_name",
                                                 "bbox", "category_id", "image_id", "name", "width", "height"]),
                                c, max_size=5)), max_leaves=25))
    def test_coco_json(self, doc):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            (root / "images").mkdir()
            src = next((FIXTURES / "det" / "coco" / "images").iterdir())
            (root / "images" / src.name).write_bytes(src.read_bytes())
            (root / "annotations.json").write_text(json.dumps(doc))
            check(*run("eval", DET_FIX, "--data", root, "--json"), json_out=True)


class TestNumbers:
    @FUZZ
    @given(conf=numbers, iou=numbers, max_det=numbers, threads=numbers)
    def test_detect_flags(self, conf, iou, max_det, threads):
        img = next((FIXTURES / "det" / "yolo" / "images").iterdir())
        check(*run("detect", DET_FIX, img, "--conf", conf, "--iou", iou, "--max-det", max_det,
                   "--threads", threads, "--json"), json_out=True)

    @FUZZ
    @given(fs=numbers, chunk=numbers, runs=numbers)
    def test_ecg_and_bench_flags(self, fs, chunk, runs):
        with tempfile.TemporaryDirectory() as tmp:
            f = Path(tmp) / "x.csv"
            f.write_text("\n".join(["0.1"] * 800) + "\n")
            check(*run("ecg", ECG_FIX, f, "--fs", fs, "--json"), json_out=True)
            check(*run("ecg", ECG_FIX, f, "--stream", "--fs", fs, "--chunk", chunk, "--idle-timeout", "0",
                       "--json"), json_out=True)
        check(*run("bench", ECG_FIX, "--runs", runs, "--json"), json_out=True)
