"""edge/ecg/runtime.py, io.py, evaluate.py, cli.py with the tiny int8 fixture model (no TensorFlow)."""

import json

import numpy as np
import pytest

from edgecnn.cli import main
from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.core.interpreter import load_model
from edgecnn.edge.ecg import io as ecg_io
from edgecnn.edge.ecg import runtime as ecg
from edgecnn.edge.ecg.evaluate import class_metrics, match_beats, matched_beats, peak_counts, score_record
from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_record, write_wfdb


@pytest.fixture(scope="module")
def model(fixtures_dir):
    return load_model(fixtures_dir / "ecg_tiny_int8.tflite", task="ecg")


@pytest.fixture(scope="module")
def record():
    return synth_record(SyntheticConfig(duration_s=60, hr_bpm=(70, 90)), seed=11)


@pytest.fixture(scope="module")
def wfdb_dir(tmp_path_factory, record):
    d = tmp_path_factory.mktemp("ecgdata")
    write_wfdb(d, "syn000", record)
    write_wfdb(d, "syn001", synth_record(SyntheticConfig(duration_s=30, hr_bpm=(100, 120)), seed=12))
    return d


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


class TestClassMap:
    @pytest.mark.parametrize("symbol, cls", [
        ("N", "N"), ("L", "N"), ("R", "N"), ("e", "N"), ("j", "N"), ("A", "S"), ("a", "S"), ("J", "S"),
        ("S", "S"), ("V", "V"), ("E", "V"), ("F", "F"), ("/", "Q"), ("f", "Q"), ("Q", "Q"),
        ("+", None), ("~", None), ("|", None), ("!", None), ("B", None), ("?", None), ("", None),
    ])
    def test_aami(self, symbol, cls):
        assert ecg_io.aami_class(symbol) == cls

    def test_index(self):
        assert ecg_io.aami_index(["N", "V", "x", "/"]).tolist() == [0, 2, -1, 4]


def _pack212(values):
    v = np.asarray(values, np.int64) & 0xFFF
    v = v.reshape(-1, 2)
    out = np.stack([v[:, 0] & 0xFF, ((v[:, 0] >> 8) & 0x0F) | ((v[:, 1] >> 8) << 4), v[:, 1] & 0xFF], axis=1)
    return out.astype(np.uint8).tobytes()


class TestReaders:
    def test_wfdb_roundtrip(self, wfdb_dir, record):
        rec = ecg_io.read_wfdb(wfdb_dir / "syn000")
        assert rec.fs == 360 and rec.lead == "MLII" and len(rec.signal) == len(record.signal)
        assert np.abs(rec.signal - record.signal).max() <= 0.0005 + 1e-9
        ann = ecg_io.read_annotations(wfdb_dir / "syn000.hea")
        np.testing.assert_array_equal(ann.sample, record.r_samples)
        assert "".join(ann.symbol) == "".join(record.symbols)

    def test_format_212_two_leads(self, tmp_path):
        a = [0, 1, -1, 2047, -2047, 100]
        b = [5, -5, 300, -300, 0, 7]
        frames = np.stack([a, b], axis=1).ravel()
        (tmp_path / "r.dat").write_bytes(_pack212(frames))
        (tmp_path / "r.hea").write_text("r 2 250 6\nr.dat 212 100 12 0 0 0 0 I\nr.dat 212 200(10)/mV 12 0 0 0 0 II\n")
        one = ecg_io.read_wfdb(tmp_path / "r", lead="II")
        np.testing.assert_allclose(one.signal, (np.array(b) - 10) / 200.0)
        np.testing.assert_allclose(ecg_io.read_wfdb(tmp_path / "r", lead=0).signal, np.array(a) / 100.0)
        assert one.fs == 250 and one.leads == ("I", "II")

    @pytest.mark.parametrize("lead", ["V9", "7"])
    def test_bad_lead(self, wfdb_dir, lead):
        with pytest.raises(InputDataError, match="lead"):
            ecg_io.read_wfdb(wfdb_dir / "syn000", lead=lead)

    @pytest.mark.parametrize("files, match", [
        ({}, "no WFDB header"),
        ({"x.hea": "garbage"}, "not a valid WFDB header"),
        ({"x.hea": "x 1 360 100\nx.dat 16 200 16 0 0 0 0 II\n"}, "signal file named in the header does not exist"),
        ({"x.hea": "x 1 360 100\nx.dat 311 200 16 0 0 0 0 II\n", "x.dat": "ab"}, "format 311"),
    ])
    def test_unreadable_record(self, tmp_path, files, match):
        for name, text in files.items():
            (tmp_path / name).write_text(text)
        with pytest.raises(InputDataError, match=match):
            ecg_io.read_wfdb(tmp_path / "x")

    def test_missing_atr(self, tmp_path):
        with pytest.raises(InputDataError, match="no annotation file"):
            ecg_io.read_annotations(tmp_path / "x")

    def test_csv_with_header_and_lead(self, tmp_path):
        p = tmp_path / "s.csv"
        p.write_text("time,MLII,V5\n0,1.5,2\n1,2.5,3\n")
        rec = ecg_io.read_signal(p, fs=250, lead="MLII")
        assert rec.signal.tolist() == [1.5, 2.5] and rec.fs == 250

    @pytest.mark.parametrize("text, fs, match", [
        ("1\n2\nabc\n", 250, "not numeric"),
        ("1\n2\n", None, "--fs"),
        ("1\n2\n", 5, "between"),
    ])
    def test_csv_errors(self, tmp_path, text, fs, match):
        p = tmp_path / "s.csv"
        p.write_text(text)
        with pytest.raises((InputDataError, ValueError), match=match):
            ecg_io.read_signal(p, fs=fs)


class TestClassify:
    def test_batch_result_and_summary(self, model, record):
        res = ecg.classify(model, record.signal, record.fs)
        r2d, _ = match_beats(record.r_samples, res.sample, int(0.15 * record.fs))
        assert (r2d >= 0).mean() > 0.97
        assert set(res.label.tolist()) <= set("NSVFQ")
        assert np.all((res.confidence > 0) & (res.confidence <= 1))
        np.testing.assert_allclose(res.time_s, res.sample / record.fs)
        s = ecg.summarize(res, len(record.signal) / record.fs)
        assert 60 < s["heart_rate_bpm"] < 110 and sum(s["counts"].values()) == len(res) and s["warnings"] == []

    @pytest.mark.parametrize("chunk", [7, 250, 100000])
    def test_stream_equals_batch(self, model, record, chunk):
        batch = ecg.classify(model, record.signal, record.fs)
        sc = ecg.StreamingClassifier(model, record.fs)
        got = ecg.BeatResult.empty()
        for i in range(0, len(record.signal), chunk):
            got = got.concat(sc.push(record.signal[i : i + chunk]))
        got = got.concat(sc.flush())
        np.testing.assert_array_equal(got.sample, batch.sample)
        np.testing.assert_array_equal(got.class_id, batch.class_id)
        np.testing.assert_allclose(got.probs, batch.probs, atol=1e-6)
        assert len(sc._raw) < 3 * record.fs  # bounded memory

    def test_other_fs_is_resampled(self, model):
        rec = synth_record(SyntheticConfig(fs=250, duration_s=30, hr_bpm=(60, 80)), seed=4)
        res = ecg.classify(model, rec.signal, rec.fs)
        r2d, _ = match_beats(rec.r_samples, res.sample, int(0.15 * rec.fs))
        assert (r2d >= 0).mean() > 0.95

    @pytest.mark.parametrize("x, fs, match", [
        (np.r_[np.zeros(500), np.nan, np.zeros(500)], 360, "NaN/infinite.*index 500"),
        (np.r_[np.zeros(500), np.inf, np.zeros(500)], 360, "NaN/infinite"),
        (np.zeros(100), 360, "too short"),
        (np.zeros(1000), 0, "between"),
        (np.zeros(1000), float("nan"), "between"),
        (np.zeros((10, 10)), 360, "1-D"),
        (np.array(["a"] * 1000), 360, "numeric"),
    ])
    def test_bad_input_errors(self, model, x, fs, match):
        with pytest.raises(InputDataError, match=match):
            ecg.classify(model, x, fs)

    @pytest.mark.parametrize("x", [np.zeros(3600), np.full(3600, 1024.0)])
    def test_flat_line_is_empty(self, model, x):
        res = ecg.classify(model, x, 360)
        assert len(res) == 0 and ecg.summarize(res, 10.0)["beats"] == 0

    def test_stream_nan_rejected(self, model):
        sc = ecg.StreamingClassifier(model, 360)
        with pytest.raises(InputDataError, match="NaN"):
            sc.push([0.0, np.nan])

    def test_wrong_fs_warns(self, model, record):
        res = ecg.classify(model, record.signal, 60.0)  # 360 Hz data claimed to be 60 Hz
        assert ecg.summarize(res, len(record.signal) / 60.0)["warnings"]


class TestMetrics:
    @pytest.mark.parametrize("ref, det, tol, expect", [
        ([100, 200, 300], [102, 199, 500], 5, [0, 1, -1]),
        ([100, 104], [103], 5, [-1, 0]),  # closest pair wins
        ([], [1, 2], 5, []),
        ([5], [], 5, [-1]),
    ])
    def test_match(self, ref, det, tol, expect):
        assert match_beats(np.array(ref), np.array(det), tol)[0].tolist() == expect

    def test_matched_beats_and_score(self):
        ann = np.array([100, 200, 300, 350, 380, 500, 600])
        sym = np.array(["N", "V", "[", "N", "]", "?", "A"])  # N at 350 inside VF; "?" has no AAMI class
        det = np.array([102, 205, 352, 498, 700])
        probs = np.eye(5, dtype=np.float32)[[0, 2, 1, 0, 1]]
        res = ecg.BeatResult.from_probs(det, 100.0, probs, ecg_io.AAMI_CLASSES)
        truth, rows = matched_beats(res, ann, sym, 1000, 100.0)
        assert truth.tolist() == [0, 2] and rows.tolist() == [0, 1]
        s = score_record(res, ann, sym, 1000, 100.0)
        assert (s["tp"], s["fn"], s["fp"]) == (3, 1, 1)
        assert s["confusion"][0, 0] == 1 and s["confusion"][2, 2] == 1 and s["confusion"].sum() == 2
        empty = score_record(ecg.BeatResult.empty(), ann, sym, 1000, 100.0)
        assert (empty["tp"], empty["fn"], empty["fp"], empty["confusion"].sum()) == (0, 4, 0, 0)
        # peaks alone (the detector benches) are counted exactly as a classified record's beats
        assert peak_counts(det, ann, sym, 1000, 100.0) == (3, 1, 1)
        assert peak_counts(np.zeros(0, np.int64), ann, sym, 1000, 100.0) == (0, 4, 0)

    def test_class_metrics(self):
        cm = np.zeros((5, 5), int)
        cm[0, 0], cm[1, 1], cm[1, 0], cm[2, 2], cm[0, 2] = 90, 5, 5, 8, 2
        m = class_metrics(cm)
        assert m["per_class"]["S"]["se"] == 0.5 and m["per_class"]["V"]["ppv"] == 0.8
        assert m["macro_classes"] == ["N", "S", "V"] and m["per_class"]["F"]["se"] is None
        assert m["accuracy"] == pytest.approx(103 / 110, abs=1e-5)


class TestEvalAndCli:
    def test_eval_json_keys_and_report(self, capsys, fixtures_dir, wfdb_dir, tmp_path):
        code, out, _ = run_cli(capsys, "eval", fixtures_dir / "ecg_tiny_int8.tflite", "--data", wfdb_dir,
                               "--json", "--report", tmp_path / "rep")
        assert code == 0
        res = json.loads(out)
        assert {"macro_f1", "accuracy", "per_class", "rpeak"} <= set(res)
        assert {"se", "ppv", "f1"} <= set(res["per_class"]["N"]) and res["rpeak"]["se"] > 0.97
        # values, not just keys: macro-F1 is the mean F1 of N, S, V, F present in the reference
        present = [c for c in "NSVF" if res["per_class"][c]["support"] > 0]
        assert res["macro_f1"] == pytest.approx(np.mean([res["per_class"][c]["f1"] for c in present]), abs=1e-3)
        for c in present:
            se, ppv, f1 = (res["per_class"][c][k] for k in ("se", "ppv", "f1"))
            assert f1 == pytest.approx(2 * se * ppv / (se + ppv) if se + ppv else 0.0, abs=2e-3)
        assert set(res["records"]) == {"syn000", "syn001"}
        for name in ("eval_ecg.md", "confusion.png", "eval_ecg.json"):
            assert (tmp_path / "rep" / name).stat().st_size > 0
        assert list((tmp_path / "rep").glob("strip_*.png"))

    def test_eval_missing_atr(self, capsys, fixtures_dir, tmp_path):
        (tmp_path / "a.hea").write_text("a 1 360 10\n")
        code, out, err = run_cli(capsys, "eval", fixtures_dir / "ecg_tiny_int8.tflite", "--data", tmp_path)
        assert code == 2 and out == "" and "no WFDB records with .atr" in err

    def test_ecg_batch_json(self, capsys, fixtures_dir, wfdb_dir):
        code, out, _ = run_cli(capsys, "ecg", fixtures_dir / "ecg_tiny_int8.tflite", wfdb_dir / "syn000", "--json")
        res = json.loads(out)
        assert code == 0 and res["fs"] == 360 and len(res["beats"]) == res["summary"]["beats"] > 50
        assert {"sample", "time_s", "class", "confidence"} == set(res["beats"][0])

    def test_ecg_stream_matches_batch(self, capsys, fixtures_dir, record, tmp_path):
        csv = tmp_path / "rec.csv"
        csv.write_text("MLII\n" + "\n".join(f"{v:.5f}" for v in record.signal) + "\n")
        model = fixtures_dir / "ecg_tiny_int8.tflite"
        code, out, _ = run_cli(capsys, "ecg", model, csv, "--fs", 360, "--json")
        batch = json.loads(out)["beats"]
        code2, out2, _ = run_cli(capsys, "ecg", model, csv, "--fs", 360, "--json", "--stream", "--chunk", 100,
                                 "--idle-timeout", 0.01)
        lines = [json.loads(line) for line in out2.splitlines()]
        assert code == code2 == 0 and "summary" in lines[-1]
        assert lines[:-1] == batch

    @pytest.mark.parametrize("argv, match", [
        (["{rec}"], "--fs"),
        (["{rec}", "--fs", "360", "--stream"], "not a number"),
        (["{missing}"], "no WFDB header"),
        (["-"], "--stream"),
    ])
    def test_ecg_errors_exit_2(self, capsys, fixtures_dir, tmp_path, argv, match):
        rec = tmp_path / "bad.csv"
        rec.write_text("1\n2\nx\n")
        argv = [a.format(rec=rec, missing=tmp_path / "nope") for a in argv]
        code, out, err = run_cli(capsys, "ecg", fixtures_dir / "ecg_tiny_int8.tflite", *argv, "--idle-timeout", "0.01")
        assert code == 2 and out == "" and match in err and "Traceback" not in err

    def test_wrong_task_model(self, capsys, fixtures_dir, wfdb_dir):
        code, _, err = run_cli(capsys, "ecg", fixtures_dir / "generic_int8.tflite", wfdb_dir / "syn000")
        assert code == 2 and "ecg" in err
