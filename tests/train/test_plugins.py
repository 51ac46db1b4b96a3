"""Every task module named in train/cli.py TRAINERS provides the plug-in functions that
`edgecnn train` and `edgecnn convert` call."""

import importlib

import pytest

from edgecnn.train.cli import TRAINERS

PLUGIN = ("add_train_args", "run_train", "representative_dataset")


@pytest.mark.parametrize("task", sorted(TRAINERS))
def test_trainer_module_has_the_plugin_functions(task):
    module = importlib.import_module(TRAINERS[task])
    missing = [name for name in PLUGIN if not callable(getattr(module, name, None))]
    assert not missing, f"{TRAINERS[task]} lacks {missing}"
