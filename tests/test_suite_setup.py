"""The suite's own promises: a green CI means the browser and cluster tests ran; runs that do not
use SLURM never wait on its controller."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from conftest import REPO, path_without_slurm


def _pytest(module: str, **env) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CI", "SLURM_ACCOUNT", "SLURM_PARTITION") and not k.startswith("PYTEST_")
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "0", "-q", "-p", "no:cacheprovider", "--collect-only", module],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_a_cluster_the_slurm_tests_skip_but_fail_under_ci():
    # No SLURM_ACCOUNT / SLURM_PARTITION: as on a machine without a cluster.
    skipped = _pytest("tests/test_workflow_slurm.py")
    assert skipped.returncode == 5, skipped.stdout  # nothing collected: the module skipped
    assert "SKIPPED [1]" in skipped.stdout and "no SLURM cluster" in skipped.stdout
    failed = _pytest("tests/test_workflow_slurm.py", CI="true")
    assert failed.returncode not in (0, 5), failed.stdout
    assert "CI=true but no SLURM cluster" in failed.stdout


def test_without_a_browser_the_browser_tests_skip_but_fail_under_ci(tmp_path):
    # A PATH without chromium: the folder of the venv's python only.
    (tmp_path / "bin").mkdir()
    path = f"{tmp_path / 'bin'}{os.pathsep}{os.path.dirname(sys.executable)}"
    skipped = _pytest("tests/test_browser.py", PATH=path)
    assert skipped.returncode == 5 and "SKIPPED [1]" in skipped.stdout, skipped.stdout
    failed = _pytest("tests/test_browser.py", PATH=path, CI="true")
    assert failed.returncode not in (0, 5) and "CI=true but no browser" in failed.stdout, failed.stdout


@pytest.mark.skipif(not shutil.which("sinfo"), reason="no SLURM client tools on PATH to hide")
def test_runs_without_slurm_see_no_slurm_tools():
    path = path_without_slurm(os.environ["PATH"])
    assert shutil.which("sinfo", path=path) is None and shutil.which("scontrol", path=path) is None
    assert shutil.which("git", path=path) and shutil.which("bash", path=path)
