"""Extract every hidden layer's (and the output's) activations of one model (tracked)."""

from layermaps.tracking.jobs import tracked_job

w = snakemake.wildcards
out = {
    (layer, split): path
    for layer, split, path in zip(snakemake.params.layers, snakemake.params.splits, snakemake.output.arrays)
}
with tracked_job(snakemake, dataset=w.dataset, run_name=f"activations {snakemake.params.model}"):
    from layermaps.models.stage import activations_job

    # a snapshot's activations (train.smk) hold a subset of the fit rows
    activations_job(
        model_path=snakemake.input.model,
        data_path=snakemake.input.data,
        threads=snakemake.params.threads,
        out=out,
        subset=snakemake.params.get("subset"),
        rows_path=snakemake.output.get("rows"),
    )
