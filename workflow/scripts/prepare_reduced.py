"""Build a reduced dataset's data.npz: its parent's rows through the stored input transform
(layermaps.data.transforms), logged to the dataset's run (the parent of its models' runs)."""

from pathlib import Path

from layermaps.tracking.jobs import tracked_job

inputs = dict(snakemake.input.items())
with tracked_job(snakemake, dataset=snakemake.wildcards.dataset):
    from layermaps.data.transforms import prepare_job
    from layermaps.tracking.store import log_dataset

    arrays = prepare_job(
        dataset=snakemake.wildcards.dataset,
        parent_path=inputs["parent"],
        transform_path=inputs["transform"],
        out_path=snakemake.output.data,
    )
    log_dataset(snakemake.wildcards.dataset, arrays, source=str(Path(inputs["parent"]).resolve()))
