"""Shared fixtures: the real datasets from ../shared/data (or LAYERMAPS_SHARED_DATA)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from layermaps.datasets import load_raw

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LAYERMAPS_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.fail(f"the real datasets are missing: expected them under {SHARED_DATA}")
    return SHARED_DATA


def _small(folder: Path, n_train: int, n_test: int):
    raw = load_raw(folder)
    rng = np.random.default_rng(0)
    tr = np.sort(rng.choice(len(raw["train_labels"]), n_train, replace=False))
    te = np.sort(rng.choice(len(raw["test_labels"]), n_test, replace=False))
    return (raw["train_images"][tr].astype(np.float32) / 255, raw["train_labels"][tr],
            raw["test_images"][te].astype(np.float32) / 255, raw["test_labels"][te])


@pytest.fixture(scope="session")
def mnist_small(shared_data):
    """(x_train, y_train, x_test, y_test): 2,000 / 500 real MNIST rows, float32 in [0, 1]."""
    return _small(shared_data / "mnist", 2000, 500)


@pytest.fixture(scope="session")
def fashion_small(shared_data):
    """(x_train, y_train, x_test, y_test): 2,000 / 500 real Fashion-MNIST rows."""
    return _small(shared_data / "fashion-mnist", 2000, 500)
