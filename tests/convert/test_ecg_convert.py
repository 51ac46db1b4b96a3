"""ECG: Keras -> int8 TFLite, Keras-vs-int8 parity through edge/, and the convert CLI with evaluation."""

import json
from dataclasses import replace

import numpy as np
import pytest

from edgecnn.convert.tflite import convert_keras, parity
from edgecnn.edge.core.interpreter import load_model
from edgecnn.edge.core.metadata import read_metadata
from edgecnn.edge.ecg.runtime import ECGParams
from edgecnn.train.ecg import recipe as E

TINY = dict(stem=8, filters=(8, 12), kernel=5, squeeze=4, rr_units=8, hidden=16, dropout=0.0)


@pytest.fixture(scope="module")
def trained():
    import keras

    keras.utils.set_random_seed(1)
    params = ECGParams()
    beats = E.load_training_beats("builtin:synthetic", None, params, synthetic_records=6, seed=1)
    mean, std = E.rr_stats(beats.rr)
    params = replace(params, rr_mean=tuple(mean), rr_std=tuple(std))
    model = E.build_model(params.window, 8, E.ECGModelConfig(**TINY), lr=5e-3)
    model.fit(E._dataset(beats, params, E.class_weights(beats.label), 64, True, 1), epochs=4, verbose=0)
    meta = E.ecg_metadata(params, 8, {"data": "builtin:synthetic"})
    return model, params, meta


def test_int8_parity(trained, tmp_path):
    model, params, meta = trained
    rep = list(E.representative_dataset(meta, "builtin:synthetic", 300, seed=0))
    assert rep[0]["beat"].shape == (1, 128, 2) and rep[0]["rr"].shape == (1, 8)
    flat = convert_keras(model, representative=rep[:200], metadata=meta)
    path = tmp_path / "ecg.tflite"
    path.write_bytes(flat)
    edge = load_model(path, task="ecg")
    assert {t.dtype for t in edge.inputs} == {np.dtype("int8")}
    assert read_metadata(path)["params"]["rr"]["mean"] == list(params.rr_mean)
    check = rep[200:]
    ref = np.concatenate([model(s, training=False)["probs"].numpy() for s in check])
    got = edge.run({k: np.concatenate([s[k] for s in check]) for k in ("beat", "rr")})["probs"]
    assert (ref.argmax(1) == got.argmax(1)).mean() >= 0.95
    report = parity(model, edge, check)
    assert report["probs"]["max_abs"] < 0.15 and report["probs"]["mean_abs"] < 0.02


def test_convert_cli_with_eval(tmp_path, capsys):
    from edgecnn.cli import main
    from edgecnn.edge.ecg.synthetic import SyntheticConfig, synth_record, write_wfdb

    data = tmp_path / "data"
    for i in range(2):
        write_wfdb(data, f"syn{i}", synth_record(SyntheticConfig(duration_s=40), seed=50 + i))
    out = tmp_path / "run"
    assert main(["train", "ecg", "--data", "builtin:synthetic", "--out", str(out), "--epochs", "2",
                 "--synthetic-records", "4", "--width", "0.5", "--precise-bn"]) == 0
    tfl = tmp_path / "ecg_int8.tflite"
    assert main(["convert", str(out / "model.keras"), "--task", "ecg", "--out", str(tfl), "--num-calib", "64",
                 "--parity-samples", "32", "--eval-data", str(data), "--json"]) == 0
    meta = read_metadata(tfl)
    ev = meta["evaluation"]
    assert ev["float"]["rpeak"]["se"] > 0.95 and "macro_f1" in ev["int8"]
    # the evaluation stored in the file is what `edgecnn eval` measures on the same data, for the
    # int8 file and for the .keras it came from (same edge/ metric code)
    capsys.readouterr()
    for model, key in ((tfl, "int8"), (out / "model.keras", "float")):
        assert main(["eval", str(model), "--data", str(data), "--json"]) == 0
        got = json.loads(capsys.readouterr().out)
        assert got["macro_f1"] == pytest.approx(ev[key]["macro_f1"], abs=1e-9), (key, got["macro_f1"], ev[key])
        if "per_class" in ev[key]:
            assert got["per_class"] == ev[key]["per_class"]
    assert abs(ev["float"]["macro_f1"] - ev["int8"]["macro_f1"]) < 0.1
    assert tfl.stat().st_size < 200_000
    assert json.loads(json.dumps(meta))["task"] == "ecg"


def test_members_ensemble_trains_saves_and_converts(tmp_path):
    """`train ecg --members 2`: two seeds, one model whose probs are their mean, in Keras and in int8."""
    from edgecnn.cli import main
    from edgecnn.edge.core.edgetpu import op_name
    from edgecnn.train.core.keras_model import load_keras

    out = tmp_path / "ens"
    args = ["train", "ecg", "--data", "builtin:synthetic", "--out", str(out), "--epochs", "1",
            "--synthetic-records", "4", "--width", "0.25", "--members", "2", "--seed", "5"]
    assert main(args) == 0
    model, meta = load_keras(out / "model.keras", "ecg")
    assert meta["provenance"]["members"]["seeds"] == [5, 6]
    import keras

    members = [keras.models.load_model(out / f"member{k}" / "checkpoints" / "last.keras", compile=False)
               for k in range(2)]
    rep = list(E.representative_dataset(meta, "builtin:synthetic", 120, seed=0))
    x = {k: np.concatenate([s[k] for s in rep[100:]]) for k in ("beat", "rr")}
    mean = np.mean([m.predict(x, verbose=0)["probs"] for m in members], axis=0)
    np.testing.assert_allclose(model.predict(x, verbose=0)["probs"], mean, atol=1e-5)
    path = tmp_path / "ens.tflite"
    path.write_bytes(convert_keras(model, representative=rep[:100], metadata=meta))
    edge = load_model(path, task="ecg")
    ops = {op_name(*edge.tables.op_codes[i]) for i in edge.tables.operators}
    assert "SOFTMAX" in ops and "ADD" in ops, ops
    got = edge.run(x)["probs"]
    assert np.abs(got - mean).max() < 0.1 and (got.argmax(1) == mean.argmax(1)).mean() >= 0.9
    # the same command again (resume is the default): the finished members are loaded, not trained again
    stamps = [(out / f"member{k}" / "history.json").stat().st_mtime_ns for k in range(2)]
    assert main(args) == 0
    assert [(out / f"member{k}" / "history.json").stat().st_mtime_ns for k in range(2)] == stamps
    again, _ = load_keras(out / "model.keras", "ecg")
    np.testing.assert_allclose(again.predict(x, verbose=0)["probs"], mean, atol=1e-5)
    assert main([*args, "--no-resume"]) == 0   # afresh: trained again
    assert all((out / f"member{k}" / "history.json").stat().st_mtime_ns != t for k, t in enumerate(stamps))
    assert main(["train", "ecg", "--data", "builtin:synthetic", "--out", str(tmp_path / "bad"), "--members", "0"]) == 2
