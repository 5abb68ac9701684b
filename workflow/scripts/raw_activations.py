"""Raw pixels as an embedding source: float32 in [0, 1]."""

from layermaps.smk import tracked_job

with tracked_job(snakemake, dataset=snakemake.wildcards.dataset, run_name="raw pixels"):
    from layermaps.train_stage import raw_activations_job

    raw_activations_job(data_path=snakemake.input.data,
                        out={"train": snakemake.output.train, "test": snakemake.output.test})
