"""edge/ecg/quality.py and its use in runtime/cli: synthetic ECG, seeded, no real data, no TensorFlow."""

import json

import numpy as np
import pytest

from edgecnn.cli import main
from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.core.interpreter import load_model
from edgecnn.edge.ecg import quality as Q
from edgecnn.edge.ecg import runtime as ecg
from edgecnn.edge.ecg.cli import StreamTally
from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_record

START, END = 20.0, 30.0  # the damaged stretch of every artefact below


@pytest.fixture(scope="module")
def model(fixtures_dir):
    return load_model(fixtures_dir / "ecg_tiny_int8.tflite", task="ecg")


def clean(fs=360.0, seed=0, duration=50.0):
    return synth_record(SyntheticConfig(fs=fs, duration_s=duration, hr_bpm=(60, 100)), seed=seed)


def _muscle(rng, n, fs, rms):
    """Muscle-like noise: Gaussian, 20-150 Hz (EMG is broadband above the QRS band)."""
    w = rng.standard_normal(n)
    spec, f = np.fft.rfft(w), np.fft.rfftfreq(n, 1.0 / fs)
    spec[(f < 20) | (f > 150)] = 0
    w = np.fft.irfft(spec, n)
    return rms * w / w.std()


def damaged(kind, fs=360.0, seed=0):
    """A clean synthetic record with ``kind`` of damage between START and END seconds."""
    x = clean(fs, seed).signal.copy()
    t = np.arange(len(x)) / fs
    s = slice(int(START * fs), int(END * fs))
    rng = np.random.default_rng(seed)
    if kind == "flat":  # lead off: the input holds its last value
        x[s] = x[s.start]
    elif kind == "saturated":  # a big baseline swing drives the amplifier into its rails
        x[s] = np.clip(x[s] + 6.0 * np.sin(2 * np.pi * 0.25 * (t[s] - START)), -2.5, 2.5)
    elif kind == "amplitude":  # 20x: QRS of 20-40 mV, no human heart
        x[s] *= 20.0
    elif kind in ("mains50", "mains60"):
        x[s] += 2.0 * np.sin(2 * np.pi * float(kind[-2:]) * t[s])  # 4 mV peak-to-peak hum
    elif kind == "noisy":
        x[s] += _muscle(rng, s.stop - s.start, fs, 0.5)
    elif kind == "motion":  # electrode motion: baseline steps of 3 mV every 1.8 s
        for k, ts in enumerate(np.arange(START + 0.5, END, 1.8)):
            x[int(ts * fs) :] += 3.0 * (-1) ** k
    return x


def stretches(x, fs):
    return [(s.start_s, s.end_s, s.reason) for s in Q.assess(x, fs).stretches()]


class TestWindows:
    @pytest.mark.parametrize("fs", [360.0, 250.0, 128.0])
    @pytest.mark.parametrize("seed", [0, 1, 2])
    def test_clean_synthetic_is_all_usable(self, fs, seed):
        q = Q.assess(clean(fs, seed).signal, fs)
        assert len(q) == 25 and q.usable.all() and (q.reason == "ok").all()
        assert q.score.min() > 0.5 and q.stretches() == [] and q.usable_s == pytest.approx(50.0)

    @pytest.mark.parametrize("kind", ["flat", "saturated", "amplitude", "mains50", "mains60", "noisy", "motion"])
    @pytest.mark.parametrize("fs", [360.0, 250.0])
    def test_artefact_flagged_with_reason_and_bounds(self, kind, fs):
        got = stretches(damaged(kind, fs), fs)
        reason = "mains" if kind.startswith("mains") else kind
        assert len(got) == 1, got
        start, end, why = got[0]
        assert why == reason and abs(start - START) <= 2.0 and abs(end - END) <= 2.0, got  # within one window

    @pytest.mark.parametrize("kind", ["flat", "mains60", "noisy", "motion"])
    def test_artefacts_at_128_hz(self, kind):  # SVDB's rate: 60 Hz is just below Nyquist
        got = stretches(damaged(kind, 128.0, seed=3), 128.0)
        assert [g[2] for g in got] == ["mains" if kind == "mains60" else kind]

    def test_window_fields_and_score(self):
        q = Q.assess(damaged("flat"), 360.0)
        assert q.window == 720 and q.start[0] == 0 and np.all(q.end - q.start == 720)
        bad = ~q.usable
        assert (q.reason[bad] == "flat").all() and (q.score[bad] == 0.0).all()  # flat: badness inf
        assert np.all((q.score >= 0) & (q.score <= 1)) and np.all(q.usable == (q.score > 0.5))
        assert {"qrs_pp", "plateau_s", "mains", "motion_mv", "excursion_mv", "noise"} <= set(q.features)
        assert q.rows()[int(START / 2)] == {"start_s": 20.0, "end_s": 22.0, "score": 0.0, "reason": "flat",
                                            "usable": False}

    def test_short_tail_takes_the_verdict_before_it(self):
        x = damaged("flat")[: int(30.4 * 360)]  # ends 0.4 s into a window, inside the flat stretch
        q = Q.assess(x, 360.0)
        assert len(q) == 16 and q.end[-1] == len(x) and q.reason[-1] == "flat"
        assert q.stretches()[-1].end == len(x)
        y = clean().signal[: int(3.5 * 360)]  # a long tail (1.5 s) is a window of its own
        assert Q.assess(y, 360.0).end.tolist() == [720, len(y)]

    def test_units(self):
        x = clean().signal
        assert Q.assess(x * 1000.0, 360.0, Q.QualityConfig(units_per_mv=1000.0)).usable.all()  # uV, said so
        assert set(Q.assess(x * 1000.0, 360.0).reason) == {"amplitude"}  # uV taken for mV
        assert Q.units_per_mv("uV") == 1000.0 and Q.units_per_mv(" mV ") == 1.0 and Q.units_per_mv("adu") is None

    def test_stretch_reason_is_the_longest(self):
        x = damaged("flat")
        x[int(30 * 360) : int(32 * 360)] += 2.0 * np.sin(2 * np.pi * 50 * np.arange(720) / 360)  # a mains window
        (st,) = Q.assess(x, 360.0).stretches()
        assert (st.start_s, st.end_s, st.reason) == (20.0, 32.0, "flat")
        assert st.to_dict() == {"start_s": 20.0, "end_s": 32.0, "reason": "flat"} and st.seconds == 12.0

    @pytest.mark.parametrize("x, fs, match", [
        (np.r_[np.zeros(500), np.nan, np.zeros(500)], 360, "NaN/infinite.*index 500"),
        (np.r_[np.zeros(500), np.inf], 360, "NaN/infinite"),
        (np.zeros(1000), 0, "between"),
        (np.zeros(1000), -360, "between"),
        (np.zeros(1000), float("nan"), "between"),
        (np.zeros(0), 360, "no samples"),
        (np.zeros((10, 10)), 360, "1-D"),
        (np.array(["a"] * 100), 360, "numeric"),
    ])
    def test_bad_input(self, x, fs, match):
        with pytest.raises(InputDataError, match=match):
            Q.assess(x, fs)

    def test_bad_stream_input(self):
        with pytest.raises(InputDataError, match="between"):
            Q.StreamingQuality(0)
        sq = Q.StreamingQuality(360)
        sq.push(np.zeros(100))
        with pytest.raises(InputDataError, match="NaN/infinite sample at index 102"):
            sq.push([0.0, 0.0, np.nan])
        with pytest.raises(InputDataError, match="no samples"):
            Q.StreamingQuality(360).flush()
        sq.flush()
        with pytest.raises(InputDataError, match="already ended"):
            sq.push([1.0])

    @pytest.mark.parametrize("field, value", [("window_s", 0.1), ("noise_ratio", 0.0), ("flat_mv", float("nan")),
                                              ("units_per_mv", True), ("block_s", 1.5)])
    def test_bad_config(self, field, value):
        with pytest.raises(ValueError, match=field):
            Q.QualityConfig(**{field: value})
        with pytest.raises(ValueError, match="unknown"):
            Q.QualityConfig.from_dict({"windows": 2})


class TestStreaming:
    @pytest.mark.parametrize("seed", [0, 1, 2, 3])
    def test_stream_equals_batch_for_random_chunks(self, seed):
        rng = np.random.default_rng(seed)
        fs = [360.0, 250.0][seed % 2]
        x = damaged(["motion", "flat", "noisy", "saturated"][seed], fs, seed)[: int((48 + 1.37 * seed) * fs)]
        batch = Q.assess(x, fs)
        sq = Q.StreamingQuality(fs)
        got, i = Q.QualityWindows.empty(fs, sq.window), 0
        while i < len(x):
            n = int(rng.choice([1, 7, 100, 719, 720, 721, 3000, int(rng.integers(1, 5000))]))
            got = got.concat(sq.push(x[i : i + n]))
            i += n
            assert sq.assessed_until <= i
        got = got.concat(sq.flush())
        for f in ("start", "end", "reason", "usable"):  # the decisions: identical
            np.testing.assert_array_equal(getattr(got, f), getattr(batch, f))
        # the measures: equal up to the summation order NumPy's SIMD reductions take on a given CPU
        # (bit-identical on x86_64; aarch64 NumPy 2 differs in the last bit, 1e-16)
        np.testing.assert_allclose(got.score, batch.score, rtol=1e-12, atol=1e-12)
        for k, v in batch.features.items():
            np.testing.assert_allclose(got.features[k], v, rtol=1e-12, atol=1e-12)
        assert got.stretches() == batch.stretches() and len(batch.stretches()) >= 1

    def test_stream_latency(self):
        sq = Q.StreamingQuality(360)
        assert len(sq.push(np.zeros(720 + 269))) == 0  # a window waits for the 0.75 s after it
        assert len(sq.push(np.zeros(1))) == 1 and sq.assessed_until == 720


class TestBeats:
    def test_clean_beats_all_readable(self, model):
        rec = clean(seed=4)
        res = ecg.classify(model, rec.signal, rec.fs)
        assert len(res) > 30 and res.readable.all() and (res.reason == "ok").all() and res.stretches == ()
        off = ecg.classify(model, rec.signal, rec.fs, quality=False)
        assert off.windows is None and "quality" not in ecg.summarize(off, 50.0)
        np.testing.assert_array_equal(off.class_id, res.class_id)
        q = ecg.summarize(res, 50.0)["quality"]
        assert q["usable_s"] == 50.0 and q["usable_fraction"] == 1.0 and q["stretches"] == [] and q["window_s"] == 2.0

    def test_beats_in_a_flagged_stretch_are_unreadable_q(self, model):
        x = damaged("noisy", seed=1)
        res = ecg.classify(model, x, 360.0)
        (st,) = res.stretches
        inside = (res.sample >= st.start) & (res.sample < st.end)
        assert inside.sum() >= 5 and (~inside).sum() >= 20
        assert not res.readable[inside].any() and res.readable[~inside].all()
        assert (res.label[inside] == "Q").all() and (res.class_id[inside] == 4).all()
        assert (res.confidence[inside] == 0).all() and (res.reason[inside] == "noisy").all()
        np.testing.assert_allclose(res.probs.sum(axis=1), 1.0, atol=0.02)  # the model's output is kept
        rows = res.rows()
        bad = [r for r, i in zip(rows, inside, strict=True) if i]
        assert all(r["unreadable"] is True and r["reason"] == "noisy" and r["class"] == "Q" for r in bad)
        assert all(set(r) == {"sample", "time_s", "class", "confidence"} for r, i in zip(rows, inside, strict=True)
                   if not i)
        s = ecg.summarize(res, len(x) / 360.0)
        assert s["counts"]["Q"] == inside.sum() and s["quality"]["unreadable_beats"] == inside.sum()

    def test_summary_usable_seconds(self, model):
        x = damaged("flat")  # 20-30 s flat: exactly 5 windows
        s = ecg.summarize(ecg.classify(model, x, 360.0), 50.0)
        q = s["quality"]
        assert q["usable_s"] == 40.0 and q["unreadable_s"] == 10.0 and q["usable_fraction"] == 0.8
        assert q["stretches"] == [{"start_s": 20.0, "end_s": 30.0, "reason": "flat"}]
        assert q["unreadable_by_reason"] == {"flat": 10.0} and s["warnings"] == []
        assert 60 <= s["heart_rate_bpm"] <= 100

    def test_mostly_unreadable_warns(self, model):
        x = clean().signal * 1000.0  # uV read as mV
        s = ecg.summarize(ecg.classify(model, x, 360.0), 50.0)
        assert s["quality"]["usable_fraction"] == 0.0 and any("in mV" in w for w in s["warnings"])
        res = ecg.classify(model, x, 360.0, quality=Q.QualityConfig(units_per_mv=1000.0))
        assert res.readable.all()

    def test_flat_record_is_one_stretch(self, model):
        res = ecg.classify(model, np.zeros(3600), 360)
        assert len(res) == 0 and [s.to_dict() for s in res.stretches] == [{"start_s": 0.0, "end_s": 10.0,
                                                                          "reason": "flat"}]

    @pytest.mark.parametrize("chunk", [13, 250, 4000])
    def test_stream_classifier_equals_batch(self, model, chunk):
        x = damaged("motion", seed=2)
        batch = ecg.classify(model, x, 360.0)
        sc = ecg.StreamingClassifier(model, 360.0)
        got = ecg.BeatResult.empty()
        for i in range(0, len(x), chunk):
            got = got.concat(sc.push(x[i : i + chunk]))
        got = got.concat(sc.flush())
        for f in ("sample", "class_id", "label", "readable", "reason"):
            np.testing.assert_array_equal(getattr(got, f), getattr(batch, f))
        assert got.stretches == batch.stretches and len(batch.stretches) == 1 and not batch.readable.all()
        np.testing.assert_array_equal(got.windows.reason, batch.windows.reason)
        assert len(sc._qwin) <= 4 and len(sc._raw) < 3 * 360  # bounded memory

    def test_stream_tally_matches_batch_summary(self, model):
        x = damaged("flat", seed=3)
        batch = ecg.classify(model, x, 360.0)
        sc = ecg.StreamingClassifier(model, 360.0)
        tally = StreamTally(sc.params.labels, quality_window_s=2.0)
        for res in [sc.push(x[i : i + 500]) for i in range(0, len(x), 500)] + [sc.flush()]:
            for row in res.rows():
                tally.add(row["class"], row["time_s"], not row.get("unreadable", False))
            for st in res.stretches:
                tally.add_stretch(st)
        a, b = tally.summary(len(x) / 360.0), ecg.summarize(batch, len(x) / 360.0)
        assert a["quality"] == b["quality"] and a["counts"] == b["counts"]
        assert abs(a["heart_rate_bpm"] - b["heart_rate_bpm"]) <= 0.1

    def test_quality_argument(self, model):
        with pytest.raises(InputDataError, match="quality"):
            ecg.classify(model, clean().signal, 360.0, quality="yes")
        res = ecg.classify(model, damaged("flat"), 360.0, quality={"window_s": 5.0})
        assert res.windows.window == 1800


class TestCli:
    def run(self, capsys, *argv):
        code = main([str(a) for a in argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    @pytest.fixture()
    def csv(self, tmp_path):
        p = tmp_path / "rec.csv"
        p.write_text("MLII\n" + "\n".join(f"{v:.5f}" for v in damaged("flat", seed=5)) + "\n")
        return p

    def test_batch_json_text_and_no_quality(self, capsys, fixtures_dir, csv):
        m = fixtures_dir / "ecg_tiny_int8.tflite"
        code, out, _ = self.run(capsys, "ecg", m, csv, "--fs", 360, "--json")
        res = json.loads(out)
        q = res["summary"]["quality"]
        assert code == 0 and q["usable_s"] == 40.0 and q["usable_fraction"] == 0.8
        assert q["stretches"] == [{"start_s": 20.0, "end_s": 30.0, "reason": "flat"}]
        assert all(b["unreadable"] and b["class"] == "Q" for b in res["beats"] if 20 <= b["time_s"] < 30)
        code, out, _ = self.run(capsys, "ecg", m, csv, "--fs", 360)
        assert code == 0 and "usable 40.0 s of 50.0 s (80.0 %)" in out and "unreadable 20.000-30.000 s (flat)" in out
        code, out, _ = self.run(capsys, "ecg", m, csv, "--fs", 360, "--json", "--no-quality")
        res = json.loads(out)
        assert "quality" not in res["summary"] and not any("unreadable" in b for b in res["beats"])

    def test_units_flag(self, capsys, fixtures_dir, tmp_path):
        p = tmp_path / "uv.csv"
        p.write_text("\n".join(f"{1000 * v:.2f}" for v in clean(seed=6).signal) + "\n")
        m = fixtures_dir / "ecg_tiny_int8.tflite"
        code, out, _ = self.run(capsys, "ecg", m, p, "--fs", 360, "--json", "--units", "uV")
        assert code == 0 and json.loads(out)["summary"]["quality"]["usable_fraction"] == 1.0
        code, out, err = self.run(capsys, "ecg", m, p, "--fs", 360, "--units", "furlong")
        assert code == 2 and "--units" in err

    def test_stream_reports_stretches_and_matches_batch(self, capsys, fixtures_dir, csv):
        m = fixtures_dir / "ecg_tiny_int8.tflite"
        _, out, _ = self.run(capsys, "ecg", m, csv, "--fs", 360, "--json")
        batch = json.loads(out)
        code, out, _ = self.run(capsys, "ecg", m, csv, "--fs", 360, "--json", "--stream", "--chunk", 100,
                                "--idle-timeout", 0.01)
        lines = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and lines[-1]["summary"]["quality"] == batch["summary"]["quality"]
        assert [ln["stretch"] for ln in lines if "stretch" in ln] == batch["summary"]["quality"]["stretches"]
        assert [ln for ln in lines[:-1] if "sample" in ln] == batch["beats"]
        code, out, _ = self.run(capsys, "ecg", m, csv, "--fs", 360, "--stream", "--idle-timeout", 0.01)
        assert code == 0 and "unreadable 20.000-30.000 s (flat)" in out and "usable 40.0 s" in out

    def test_eval_reports_quality(self, capsys, fixtures_dir, tmp_path):
        from edgecnn.edge.ecg.synthetic import SyntheticRecord, write_wfdb

        rec = clean(seed=7)
        x = damaged("noisy", seed=7)
        write_wfdb(tmp_path, "syn", SyntheticRecord(x, rec.fs, rec.r_samples, rec.labels, rec.symbols))
        m = fixtures_dir / "ecg_tiny_int8.tflite"
        code, out, _ = self.run(capsys, "eval", m, "--data", tmp_path, "--json")
        res = json.loads(out)
        q = res["quality"]
        assert code == 0 and 8.0 <= q["unreadable_s"] <= 12.0 and set(q["unreadable_by_reason"]) == {"noisy"}
        assert q["unreadable_matched_beats"] >= 5 and res["per_class"]["Q"]["predicted"] >= 5
        assert res["records"]["syn"]["usable_fraction"] == pytest.approx(1 - q["unreadable_s"] / 50.0)
        assert q["usable_s"] + q["unreadable_s"] == pytest.approx(50.0)
        code, out, _ = self.run(capsys, "eval", m, "--data", tmp_path, "--json", "--no-quality")
        res = json.loads(out)
        assert "quality" not in res and res["per_class"]["Q"]["predicted"] == 0
