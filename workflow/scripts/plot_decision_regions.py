"""A model's decision regions on a 2-D dataset (added to its training run)."""

from layermaps.tracking.jobs import tracked_job

w, i, p = snakemake.wildcards, snakemake.input, snakemake.params
with tracked_job(snakemake, dataset=w.dataset):
    from layermaps.figures.stage import decision_regions_job

    decision_regions_job(
        dataset=w.dataset,
        model=w.model,
        model_path=i.model,
        data_path=i.data,
        metrics_path=i.metrics,
        bounds=p.bounds,
        curves=p.curves,
        resolution=p.resolution,
        out_path=snakemake.output.figure,
        dpi=p.dpi,
        cmap=p.cmap,
        threads=p.threads,
    )
