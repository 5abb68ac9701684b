"""Download and verify a dataset's four IDX files (tracked)."""

import os
from pathlib import Path

from layermaps.data.download import MIRROR_ENV, fetch_dataset
from layermaps.tracking import runlog
from layermaps.tracking.jobs import tracked_job
from layermaps.tracking.worktime import work

dataset = snakemake.wildcards.dataset
# Mirrors are read from the config, not params, on purpose: a new mirror list must not rerun
# a verified download (and with it every downstream job); the checksums make all mirrors equal.
mirrors = snakemake.config["data"]["mirrors"].get(dataset, [])
with tracked_job(snakemake, dataset=dataset):
    with work("fetch"):
        used = fetch_dataset(
            dataset,
            Path(snakemake.output.files[0]).parent,
            mirrors,
            env_mirror=os.environ.get(MIRROR_ENV) or None,
        )
    runlog.log_dict(used, "sources.json")
