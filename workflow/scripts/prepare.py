"""Build data.npz: uint8 images, labels, class names, the seeded split (tracked)."""

from pathlib import Path

from layermaps.data.datasets import prepare, save_npz
from layermaps.tracking.jobs import tracked_job
from layermaps.tracking.worktime import work

p = snakemake.params
dataset = snakemake.wildcards.dataset
with tracked_job(snakemake, dataset=dataset):
    from layermaps.tracking.store import log_dataset

    with work("prepare"):
        arrays = prepare(Path(snakemake.input.files[0]).parent, dataset, train_size=p.train_size,
                         test_size=p.test_size, validation_fraction=p.validation_fraction,
                         seed=p.seed)
        save_npz(snakemake.output.data, arrays)
    log_dataset(dataset, arrays, source=str(Path(snakemake.input.files[0]).parent.resolve()))
