"""Build data.npz: checked inputs, labels, class names, the seeded split, the scaling (tracked)."""

from pathlib import Path

from layermaps.data.datasets import load_dataset, prepare, save_npz
from layermaps.tracking.jobs import tracked_job
from layermaps.tracking.worktime import work

p = snakemake.params
dataset = snakemake.wildcards.dataset
with tracked_job(snakemake, dataset=dataset):
    from layermaps.tracking.store import log_dataset

    files = dict(snakemake.input.items()).get("files")  # only built-in datasets are downloaded
    folder = Path(files[0]).parent if files else None
    with work("prepare"):
        arrays = prepare(
            load_dataset(p.spec, folder),
            scale=p.spec["scale"],
            train_size=p.train_size,
            test_size=p.test_size,
            validation_fraction=p.validation_fraction,
            seed=p.seed,
        )
        save_npz(snakemake.output.data, arrays)
    source = folder or p.spec.get("path")  # two_cosines is generated: its kind is its source
    log_dataset(dataset, arrays, source=str(Path(source).resolve()) if source else p.spec["kind"])
