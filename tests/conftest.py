"""Shared test set-up: markers by folder, fixture paths, seeded RNGs."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
HAS_TF = importlib.util.find_spec("tensorflow") is not None
SHARED_DATA = Path(os.environ.get("EDGECNN_DATA", ROOT.parent / "shared" / "data"))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT).parts
        if len(parts) > 1 and parts[1] in ("train", "convert"):
            item.add_marker(pytest.mark.tf)
        if item.get_closest_marker("tf") and not HAS_TF:
            item.add_marker(pytest.mark.skip(reason="TensorFlow not installed (edge-only environment)"))
        if item.get_closest_marker("realdata") and not SHARED_DATA.is_dir():
            item.add_marker(pytest.mark.skip(reason=f"real data not found at {SHARED_DATA}"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA
