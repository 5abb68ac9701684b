"""The tests get the real datasets as a user's machine does: downloaded once into a cache folder,
through the workflow's own download code, from whatever mirror is reachable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import SHARED_DATA

from layermaps.data.cache import CACHE_ENV, cache_dir, cached_datasets
from layermaps.data.datasets import FILES, Dataset
from layermaps.data.download import DownloadError


def _mirror(tmp_path, names=("mnist", "fashion-mnist")):
    """A local folder laid out as the public mirrors: one folder per dataset."""
    mirror = tmp_path / "mirror"
    for name in names:
        (mirror / name).mkdir(parents=True)
        for key in FILES:
            (mirror / name / Dataset.filename(key)).symlink_to(SHARED_DATA / name / Dataset.filename(key))
    return mirror


def test_the_cache_folder_follows_the_environment(tmp_path):
    assert cache_dir({CACHE_ENV: str(tmp_path)}) == tmp_path
    assert cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "layermaps"
    assert cache_dir({}).parts[-2:] == (".cache", "layermaps")


def test_downloads_once_then_reads_the_cache(tmp_path):
    mirror = _mirror(tmp_path, ["mnist"])
    lines = []
    folder = cached_datasets(
        {}, ["mnist"], folder=tmp_path / "cache", env_mirror=mirror.as_uri(), log=lines.append
    )
    assert sorted(p.name for p in (folder / "mnist").iterdir()) == sorted(Dataset.filename(k) for k in FILES)
    assert sum("sha256 verified" in line for line in lines) == 4
    # The mirror gone: the cache alone serves the next session.
    for f in (mirror / "mnist").iterdir():
        f.unlink()
    lines.clear()
    cached_datasets({}, ["mnist"], folder=folder, env_mirror=mirror.as_uri(), log=lines.append)
    assert lines == []


def test_no_mirror_no_files_is_one_clear_error(tmp_path):
    with pytest.raises(DownloadError, match="no mirror served a verified copy"):
        cached_datasets(
            {"mnist": [(tmp_path / "nowhere").as_uri() + "/"]},
            ["mnist"],
            folder=tmp_path / "cache",
            log=lambda m: None,
        )
    assert not list((tmp_path / "cache").glob("mnist/*.gz"))  # nothing half-written


def test_a_clone_with_nothing_beside_it_passes_the_data_tests(project_copy, tmp_path):
    """`make test` on a user's machine: no ../shared beside the checkout, the datasets come from
    a mirror (here a local folder laid out as the public ones) into the cache."""
    assert not (project_copy.parent / "shared").exists()
    cache = tmp_path / "cache"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAYERMAPS_", "PYTEST_", "XDG_CACHE"))}
    env.update(
        {
            CACHE_ENV: str(cache),
            "LAYERMAPS_DATA_MIRROR": _mirror(tmp_path).as_uri(),
            "PYTHONPATH": str(project_copy / "src"),
        }
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-n",
            "0",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_idx.py",
            "tests/test_download.py",
        ],
        cwd=project_copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("mnist", "fashion-mnist"):
        assert all((cache / name / Dataset.filename(k)).is_file() for k in FILES)
