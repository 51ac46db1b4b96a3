"""ECG recipe scripts: scripts/ecg_ship.py (the shipped metadata names the databases a model was
trained on and keeps their attribution: a model trained on MIT-BIH + SVDB must not be relabelled
"DS1") and scripts/ecg_pool_folds.py (pools per database whichever model kinds a CV evaluated)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from edgecnn.edge.core.metadata import read_metadata
from edgecnn.train.ecg.records import DS1

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S = _script("ecg_ship")
P = _script("ecg_pool_folds")


def test_data_note_names_each_database_with_its_record_count():
    assert S.data_note(DS1) == "MIT-BIH Arrhythmia Database, DS1 of de Chazal et al. 2004 (22 records)"
    both = [f"mitdb/{r}" for r in DS1] + ["svdb/800", "svdb/801", "svdb/802"]
    assert S.data_note(both) == ("MIT-BIH Arrhythmia Database, DS1 of de Chazal et al. 2004 (22 records) + "
                                 "MIT-BIH Supraventricular Arrhythmia Database (3 records)")
    assert S.data_note(["mitdb/101", "mitdb/106"]) == "MIT-BIH Arrhythmia Database (2 records)"


def test_ship_keeps_the_models_attribution_and_stores_each_evaluation(tmp_path, monkeypatch):
    src = ROOT / "edge" / "models" / "ecg_mitdb_int8.tflite"
    meta = read_metadata(src.read_bytes())
    ev = {"macro_f1": 0.5, "accuracy": 0.9, "extra": 1}
    paths = {}
    for name in ("f_m", "q_m", "f_s", "q_s"):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(ev))
    out = tmp_path / "ecg_int8.tflite"
    monkeypatch.setattr(sys, "argv", ["ecg_ship.py", str(src), "--eval", "mitdb", str(paths["f_m"]), str(paths["q_m"]),
                                      "--eval", "svdb", str(paths["f_s"]), str(paths["q_s"]), "--command", "cmd",
                                      "--out", str(out)])
    assert S.main() == 0
    shipped = read_metadata(out.read_bytes())
    assert shipped["provenance"]["attribution"] == meta["provenance"]["attribution"]
    assert shipped["provenance"]["command"] == "cmd"
    assert shipped["provenance"]["data"].startswith("MIT-BIH Arrhythmia Database, DS1")
    for db in ("mitdb", "svdb"):
        kept = shipped["evaluation"][f"{db}_all_records_training_set"]
        assert kept["float"] == {"macro_f1": 0.5, "accuracy": 0.9} == kept["int8"]


def test_ship_refuses_half_a_pair(tmp_path, monkeypatch, capsys):
    src = ROOT / "edge" / "models" / "ecg_mitdb_int8.tflite"
    monkeypatch.setattr(sys, "argv", ["ecg_ship.py", str(src), "--float-eval", "f.json", "--out", str(tmp_path / "x")])
    with pytest.raises(SystemExit) as stop:
        S.main()
    assert stop.value.code == 2
    assert "--float-eval and --int8-eval go together" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def _eval(tmp, fold, kind, db, cm, tp=10, fn=1, fp=2):
    d = tmp / f"fold{fold}"
    d.mkdir(exist_ok=True)
    body = {"confusion": cm, "rpeak": {"tp": tp, "fn": fn, "fp": fp}, "records": {"r": {}}}
    (d / f"eval_{kind}_{db}.json").write_text(json.dumps(body))


def _cm(s_hit, s_false):
    cm = [[0] * 5 for _ in range(5)]
    cm[0][0], cm[1][1], cm[0][1] = 100, s_hit, s_false
    return cm


def test_pool_folds_sums_per_database_with_the_kinds_evaluated(tmp_path):
    for fold in (0, 1):
        _eval(tmp_path, fold, "model_int8", "mitdb", _cm(3, 1))
        _eval(tmp_path, fold, "model_int8", "svdb", _cm(5, 5))
    res = P.summarize(tmp_path, 2)
    assert "model" not in res  # int8 only: no float rows made up
    assert res["per_database"]["mitdb"]["model_int8"]["confusion"][1][1] == 6
    assert res["model_int8"]["per_class"]["S"]["ppv"] == pytest.approx(16 / 28, abs=1e-5)
    assert res["model_int8"]["rpeak"] == {"se": 40 / 44, "ppv": 40 / 48, "tp": 40, "fn": 4, "fp": 8}
    _eval(tmp_path, 0, "model", "mitdb", _cm(3, 1))  # float in one fold only: refused, not half pooled
    with pytest.raises(SystemExit, match="fold1"):
        P.summarize(tmp_path, 2)
