"""Every task in the registry (edgecnn.tasks) has a training recipe with the plug-in functions
that `edgecnn train` and `edgecnn convert` call."""

import pytest

from edgecnn import tasks

PLUGIN = ("add_train_args", "run_train", "representative_dataset")


@pytest.mark.parametrize("task", tasks.names())
def test_trainer_module_has_the_plugin_functions(task):
    module = tasks.get(task).train_module("recipe")
    missing = [name for name in PLUGIN if not callable(getattr(module, name, None))]
    assert not missing, f"{module.__name__} lacks {missing}"


FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE_OF = {"detect": "det_tiny_int8.tflite", "face": "face_tiny_int8.tflite", "ecg": "ecg_tiny_int8.tflite"}


@pytest.mark.parametrize("task", tasks.names())
def test_plugins_work(task):
    """add_train_args registers options that parse; representative_dataset yields calibration
    inputs named and shaped as the model's inputs (from the task's fixture model)."""
    import argparse

    import numpy as np

    from edgecnn.edge.core.interpreter import load_model

    module = tasks.get(task).train_module("recipe")
    parser = argparse.ArgumentParser()
    module.add_train_args(parser)
    assert len(parser._actions) > 3 and parser.parse_args([]) is not None
    model = load_model(FIXTURES / FIXTURE_OF[task])
    samples = list(module.representative_dataset(model.metadata, "builtin:synthetic", 3, seed=0))
    assert 1 <= len(samples) <= 3
    want = {t.name: tuple(t.shape) for t in model.inputs}
    for s in samples:
        assert {k: tuple(np.shape(v)) for k, v in s.items()} == want
        assert all(np.asarray(v).dtype == np.float32 and np.all(np.isfinite(v)) for v in s.values())
