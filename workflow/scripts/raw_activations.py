"""Raw pixels as an embedding source: float32 in [0, 1] (added to the data's MLflow run)."""

from layermaps.tracking.jobs import tracked_job

with tracked_job(snakemake, dataset=snakemake.wildcards.dataset):
    from layermaps.data.datasets import raw_activations_job
    from layermaps.tracking.worktime import work

    with work("prepare"):
        raw_activations_job(
            data_path=snakemake.input.data,
            out={"train": snakemake.output.train, "test": snakemake.output.test},
        )
