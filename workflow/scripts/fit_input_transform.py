"""Fit a reduced dataset's input transform on its parent's training rows (no MLflow run of its
own: the reduced dataset's prepare run logs the transform it applies)."""

from layermaps.tracking.jobs import tracked_job

p, w = snakemake.params, snakemake.wildcards
with tracked_job(snakemake, dataset=w.dataset, mlflow=False):
    from layermaps.data.transforms import fit_job

    fit_job(
        dataset=w.dataset,
        spec=p.spec,
        parent_path=snakemake.input.parent,
        threads=snakemake.threads,
        out_path=snakemake.output.transform,
    )
