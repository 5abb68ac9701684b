"""A verified copy of the built-in datasets outside any results folder: what the tests read.

`make test` needs the real MNIST and Fashion-MNIST files. They come through the same download
code as the workflow's (`layermaps.data.download`: $LAYERMAPS_DATA_MIRROR first, then the mirrors
of config.yaml, every file's decompressed sha256 checked) into $LAYERMAPS_DATA_CACHE, else
$XDG_CACHE_HOME/layermaps, else ~/.cache/layermaps: once, then they are read from there. The
folder is laid out as a mirror (one folder per dataset), so a test's workflow run downloads from
it with LAYERMAPS_DATA_MIRROR=file://<the folder>.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from layermaps.data.datasets import FILES, Dataset
from layermaps.data.download import fetch_dataset

CACHE_ENV = "LAYERMAPS_DATA_CACHE"
BUILT_IN = ("mnist", "fashion-mnist")


def cache_dir(environ=os.environ) -> Path:
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV]).expanduser()
    base = environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()
    return Path(base, "layermaps")


@contextlib.contextmanager
def _locked(folder: Path):
    """One process at a time fills the cache (the tests run in several processes)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached_datasets(
    mirrors: dict[str, list[str]],
    names=BUILT_IN,
    *,
    folder: Path | None = None,
    env_mirror: str | None = None,
    log=print,
) -> Path:
    """The cache folder, holding every file of `names`; downloads a dataset with a missing file.
    A file present is a verified one: downloads move a file into place only once verified."""
    folder = Path(folder) if folder else cache_dir()
    with _locked(folder):
        for name in names:
            if not all((folder / name / Dataset.filename(key)).is_file() for key in FILES):
                log(f"[cache] downloading {name} into {folder / name} (once)")
                fetch_dataset(name, folder / name, mirrors.get(name) or [], env_mirror=env_mirror, log=log)
    return folder
