"""Train one model on one dataset (tracked)."""

from layermaps.tracking.jobs import tracked_job

w = snakemake.wildcards
with tracked_job(snakemake, dataset=w.dataset, run_name=f"train {w.model}"):
    from layermaps.models.stage import train_job

    train_job(dataset=w.dataset, model_name=w.model, spec=snakemake.params.spec,
              data_path=snakemake.input.data, threads=snakemake.params.threads,
              out=dict(snakemake.output.items()))
