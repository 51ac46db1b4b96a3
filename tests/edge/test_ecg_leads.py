"""The lead table of edge/ecg/io.py (MLII, ML2, II, ECG1) and records at 128 Hz (svdb-like), no TensorFlow."""

import json

import numpy as np
import pytest

from edgecnn.cli import main
from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.core.interpreter import load_model
from edgecnn.edge.ecg import io as ecg_io
from edgecnn.edge.ecg import runtime as ecg
from edgecnn.edge.ecg.evaluate import match_beats
from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_record, write_wfdb, write_wfdb_leads


@pytest.fixture(scope="module")
def model(fixtures_dir):
    return load_model(fixtures_dir / "ecg_tiny_int8.tflite", task="ecg")


@pytest.fixture(scope="module")
def rec128():
    return synth_record(SyntheticConfig(fs=128.0, duration_s=60, hr_bpm=(70, 90)), seed=5)


@pytest.fixture(scope="module")
def svdb_like(tmp_path_factory, rec128):
    d = tmp_path_factory.mktemp("svdb")
    write_wfdb_leads(d, "800", rec128)
    return d


class TestLeadTable:
    def test_svdb_names_pick_ecg1_and_say_so(self, svdb_like, rec128):
        r = ecg_io.read_wfdb(svdb_like / "800")
        assert r.fs == 128 and r.lead == "ECG1" and r.leads == ("ECG1", "ECG2")
        assert "lead table" in r.lead_reason and "ECG1" in r.lead_reason
        np.testing.assert_allclose(r.signal, np.round(rec128.signal * 1000) / 1000, atol=1e-9)

    def test_mlii_wins_wherever_it_is(self, tmp_path, rec128):
        """MIT-BIH record 114 has V5 first and MLII second: the table reads MLII, not the first signal."""
        write_wfdb_leads(tmp_path, "114", rec128, names=("V5", "MLII"))
        r = ecg_io.read_wfdb(tmp_path / "114")
        assert r.lead == "MLII" and "signal 1" in r.lead_reason
        np.testing.assert_allclose(r.signal, np.round(rec128.signal * -500) / 1000, atol=1e-9)

    def test_table_order_and_case(self):
        assert ecg_io.choose_lead(["ECG1", "II"])[0] == 1  # a named lead II before svdb's unnamed ECG1
        assert ecg_io.choose_lead(["V1", "mlii"])[0] == 1
        assert ecg_io.choose_lead(["MLII", "V1"])[0] == 0  # MIT-BIH: unchanged
        assert [w for w, _ in ecg_io.LEAD_TABLE][:1] == ["MLII"]

    def test_unknown_leads_are_refused_with_the_way_out(self, tmp_path, rec128):
        write_wfdb_leads(tmp_path, "x", rec128, names=("V1", "V5"))
        with pytest.raises(InputDataError, match=r"\['V1', 'V5'\].*--lead") as err:
            ecg_io.read_wfdb(tmp_path / "x")
        assert "MLII" in str(err.value)  # the table is listed
        r = ecg_io.read_wfdb(tmp_path / "x", lead="V5")
        assert r.lead == "V5" and r.lead_reason.startswith("asked for")
        assert ecg_io.read_wfdb(tmp_path / "x", lead=0).lead == "V1"

    def test_one_unknown_lead_is_used_with_a_note(self, tmp_path, rec128):
        write_wfdb(tmp_path, "one", rec128)
        hea = tmp_path / "one.hea"
        hea.write_text(hea.read_text().replace(" MLII\n", " V2\n"))
        r = ecg_io.read_wfdb(tmp_path / "one")
        assert r.lead == "V2" and "only signal" in r.lead_reason

    def test_csv_keeps_the_first_column(self, tmp_path):
        p = tmp_path / "x.csv"
        p.write_text("V1,MLII\n" + "\n".join(f"{i},{-i}" for i in range(10)) + "\n")
        r = ecg_io.read_signal(p, fs=250)
        assert r.lead == "V1" and "first column" in r.lead_reason
        assert ecg_io.read_signal(p, fs=250, lead="MLII").lead_reason == "asked for (name MLII)"


class TestAt128Hz:
    def test_classify_resamples_and_finds_the_beats(self, model, svdb_like, rec128):
        r = ecg_io.read_wfdb(svdb_like / "800")
        res = ecg.classify(model, r.signal, r.fs)
        r2d, _ = match_beats(rec128.r_samples, res.sample, int(round(0.15 * 128)))
        assert (r2d >= 0).mean() > 0.97 and len(res) <= len(rec128.r_samples) + 2
        np.testing.assert_allclose(res.time_s, res.sample / 128.0)

    def test_beat_windows_match_the_360_hz_record(self, model):
        """The same synthetic patient at 128 and 360 Hz gives nearly the same model inputs: the windows
        are interpolated to the model's 180 Hz, the RR features are in seconds."""
        params = ecg.model_params(model)
        cfg = dict(duration_s=60, hr_bpm=(70, 90), baseline_mv=0.0, mains_mv=0.0, muscle_mv=0.0)
        lo = synth_record(SyntheticConfig(fs=128.0, **cfg), seed=5)
        hi = synth_record(SyntheticConfig(fs=360.0, **cfg), seed=5)
        a = ecg.beat_inputs(lo.signal, lo.fs, lo.r_samples, params)
        b = ecg.beat_inputs(hi.signal, hi.fs, hi.r_samples, params)
        assert a["beat"].shape == b["beat"].shape
        corr = [np.corrcoef(x[:, 0], y[:, 0])[0, 1] for x, y in zip(a["beat"], b["beat"], strict=True)]
        assert np.median(corr) > 0.97
        np.testing.assert_allclose(a["rr"], b["rr"], atol=0.2)  # standardised; R positions differ < 8 ms

    def test_eval_cli_on_a_128_hz_folder(self, capsys, fixtures_dir, svdb_like):
        code = main(["eval", str(fixtures_dir / "ecg_tiny_int8.tflite"), "--data", str(svdb_like), "--json"])
        res = json.loads(capsys.readouterr().out)
        assert code == 0 and res["rpeak"]["se"] > 0.97 and res["signal_seconds"] == pytest.approx(60, abs=1)

    def test_ecg_cli_reads_ecg1(self, capsys, fixtures_dir, svdb_like):
        code = main(["ecg", str(fixtures_dir / "ecg_tiny_int8.tflite"), str(svdb_like / "800"), "--json"])
        res = json.loads(capsys.readouterr().out)
        assert code == 0 and res["lead"] == "ECG1" and res["fs"] == 128
