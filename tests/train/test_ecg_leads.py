"""The training reader (train/ecg/records.py, wfdb package) on two databases: the device's lead table,
128 Hz records, database folders and named record sets, stratified patient folds (TensorFlow tests)."""

import numpy as np
import pytest

from edgecnn.edge.core.errors import InputDataError
from edgecnn.edge.ecg import io as ecg_io
from edgecnn.edge.ecg.runtime import ECGParams
from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_record, write_wfdb_leads
from edgecnn.train.ecg import recipe as E
from edgecnn.train.ecg import records as W


@pytest.fixture(scope="module")
def two_dbs(tmp_path_factory):
    """``root/mitdb`` (360 Hz, 101: MLII/V1, 114: V5/MLII) and ``root/svdb`` (128 Hz, ECG1/ECG2)."""
    root = tmp_path_factory.mktemp("data")
    cfg = dict(duration_s=40, hr_bpm=(70, 90))
    write_wfdb_leads(root / "mitdb", "101", synth_record(SyntheticConfig(fs=360.0, **cfg), seed=1), ("MLII", "V1"))
    write_wfdb_leads(root / "mitdb", "114", synth_record(SyntheticConfig(fs=360.0, **cfg), seed=2), ("V5", "MLII"))
    for i, name in enumerate(("800", "802")):
        write_wfdb_leads(root / "svdb", name, synth_record(SyntheticConfig(fs=128.0, **cfg), seed=3 + i))
    (root / "faces").mkdir()  # not a database folder: no records
    return root


class TestLeads:
    @pytest.mark.parametrize("record", ["mitdb/101", "mitdb/114", "svdb/800"])
    def test_training_reader_picks_the_device_lead(self, two_dbs, record):
        train = W.read_labelled_record(two_dbs / record)
        dev = ecg_io.read_wfdb(two_dbs / record)
        assert train.lead == dev.lead and train.lead_reason == dev.lead_reason and train.fs == dev.fs
        np.testing.assert_allclose(train.signal, dev.signal, atol=1e-9)
        assert train.lead == ("ECG1" if record.startswith("svdb") else "MLII")

    def test_unknown_leads_refused_unless_named(self, tmp_path):
        write_wfdb_leads(tmp_path, "x", synth_record(SyntheticConfig(duration_s=10), seed=1), ("V1", "V5"))
        with pytest.raises(InputDataError, match="--lead"):
            W.read_labelled_record(tmp_path / "x")
        assert W.read_labelled_record(tmp_path / "x", lead="V5").lead == "V5"
        x, fs, _, _ = W.read_labelled(tmp_path / "x", lead=1)
        assert fs == 360 and x.shape == (3600,)

    def test_128_hz_beats_match_360_hz_beats(self):
        """record_beats at svdb's 128 Hz: the detector finds the beats and the windows are interpolated
        to the model's 180 Hz; the same synthetic patient at 360 Hz gives the same beats and labels."""
        cfg = dict(duration_s=60, hr_bpm=(70, 90), baseline_mv=0.0, mains_mv=0.0, muscle_mv=0.0)
        lo = synth_record(SyntheticConfig(fs=128.0, **cfg), seed=5)
        hi = synth_record(SyntheticConfig(fs=360.0, **cfg), seed=5)
        params = ECGParams()
        a = W.record_beats("lo", lo.signal, lo.fs, lo.r_samples, lo.symbols, params)
        b = W.record_beats("hi", hi.signal, hi.fs, hi.r_samples, hi.symbols, params)
        assert len(a) >= 0.97 * len(lo.r_samples) and a.beat.shape[1:] == (params.window.length, 2)
        assert len(a) == len(b) and (a.label == b.label).all()
        corr = [np.corrcoef(x[:, 0], y[:, 0])[0, 1] for x, y in zip(a.beat, b.beat, strict=True)]
        assert np.median(corr) > 0.95


class TestTwoDatabases:
    def test_database_folders(self, two_dbs):
        assert sorted(W.database_folders(two_dbs)) == ["mitdb", "svdb"]
        assert W.database_folders(two_dbs / "svdb") == {}

    def test_named_sets(self, two_dbs):
        assert W.resolve_records(two_dbs) == ["mitdb/101", "mitdb/114", "svdb/800", "svdb/802"]
        assert W.resolve_records(two_dbs, ["SVDB"]) == ["svdb/800", "svdb/802"]
        assert W.resolve_records(two_dbs, ["mitdb/114", "802", "svdb"]) == ["mitdb/114", "svdb/802", "svdb/800"]
        with pytest.raises(InputDataError, match=r"mitdb/106"):  # DS1 needs all 22 records
            W.resolve_records(two_dbs, ["DS1"])
        with pytest.raises(InputDataError, match="missing"):
            W.resolve_records(two_dbs, ["999"])

    def test_one_folder_layout_is_unchanged(self, two_dbs):
        assert W.resolve_records(two_dbs / "svdb") == ["800", "802"]
        assert W.resolve_records(two_dbs / "svdb", ["SVDB"]) == ["800", "802"]
        assert W.resolve_records(two_dbs / "mitdb", ["114"]) == ["114"]
        with pytest.raises(InputDataError, match="missing"):
            W.resolve_records(two_dbs / "mitdb", ["DS1"])

    def test_ds1_without_mitdb_folder(self, tmp_path, two_dbs):
        (tmp_path / "svdb").symlink_to(two_dbs / "svdb")
        with pytest.raises(InputDataError, match="no mitdb/ folder"):
            W.resolve_records(tmp_path, ["DS1"])

    def test_folds_stratified_by_database(self):
        recs = [f"mitdb/{r}" for r in (*W.DS1, "202")] + [f"svdb/{800 + 2 * i}" for i in range(39)]
        for k in (3, 4):
            folds = W.patient_folds(recs, k, seed=0)
            assert sorted(r for f in folds for r in f) == sorted(recs)
            for f in folds:
                assert {W.database_of(r) for r in f} == {"mitdb", "svdb"}
            assert any({"mitdb/201", "mitdb/202"} <= set(f) for f in folds)  # one patient, one fold
            sizes = [len({W.patient_of(r) for r in f}) for f in folds]
            assert max(sizes) - min(sizes) <= 1

    def test_load_training_beats_over_both(self, two_dbs):
        leads: dict = {}
        beats = E.load_training_beats(str(two_dbs), ["svdb", "mitdb/114"], ECGParams(), leads=leads)
        assert set(beats.record.tolist()) == {"svdb/800", "svdb/802", "mitdb/114"}
        assert {k: v[0] for k, v in leads.items()} == {"svdb/800": "ECG1", "svdb/802": "ECG1", "mitdb/114": "MLII"}
        assert "ECG1 x 2" in E.lead_summary(leads) and "MLII x 1" in E.lead_summary(leads)
        assert E.data_databases(str(two_dbs), beats.record.tolist()) == ["mitdb", "svdb"]
        assert E.data_databases(str(two_dbs / "svdb"), ["800"]) == ["svdb"]
        train, val, held = E.split_folds(beats, 2, 0, seed=0)
        assert set(held) == set(val.record.tolist()) and not set(held) & set(train.record.tolist())
