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


# ---- running the real workflow -------------------------------------------------------------
import subprocess
import sys

import yaml

SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")


def write_config(workdir: Path, **overrides) -> Path:
    """config.yaml in workdir: the repo's default config, deep-updated with overrides."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())

    def update(base, new):
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                update(base[key], value)
            else:
                base[key] = value

    update(config, overrides)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900,
              tracking_uri: str | None = None) -> subprocess.CompletedProcess:
    """Run the real snakemake CLI on the repo's Snakefile in workdir (default MLflow store
    under results/ unless tracking_uri names another)."""
    env = dict(os.environ, LAYERMAPS_DATA_MIRROR=f"file://{SHARED_DATA}")
    env.pop("MLFLOW_TRACKING_URI", None)
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    proc = subprocess.run([SNAKEMAKE, "-s", str(REPO / "Snakefile"), *args], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture
def run_snakemake():
    return snakemake
