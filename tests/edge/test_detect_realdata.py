"""Real-data checks (``make eval``): the readers on ../shared/data/det and, when `make real`
has trained them, the int8 models' mAP@0.5 on their own validation splits."""

import json
from pathlib import Path

import pytest

from edgecnn.edge.detect.annotations import read_annotations

ROOT = Path(__file__).resolve().parents[2]
SETS = {"raccoon": ("voc", 160), "kangaroo": ("voc", 132), "pennfudan": ("coco", 136)}


@pytest.mark.realdata
@pytest.mark.parametrize("name", sorted(SETS))
def test_reader_on_real_set(shared_data, name):
    fmt, n_images = SETS[name]
    data = read_annotations(shared_data / "det" / name)
    assert data.format == fmt and len(data.records) == n_images and len(data.labels) == 1
    assert all(len(r.class_ids) for r in data.records)


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SETS))
def test_int8_map_on_validation_split(shared_data, name, capsys):
    run = ROOT / "runs" / "detect" / name
    model = run / "model_int8.tflite"
    if not model.is_file():
        pytest.skip(f"{model} missing: run `make real`")
    from edgecnn.cli import main

    assert main(["eval", str(model), "--data", str(shared_data / "det" / name), "--split", str(run / "split.json"),
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["map50"] >= 0.6, res
