"""A model's layer x layer CKA heatmap (added to its CKA run)."""

from layermaps.tracking.jobs import tracked_job

with tracked_job(snakemake, dataset=snakemake.wildcards.dataset):
    from layermaps.measures.stage import cka_figure_job

    cka_figure_job(
        record_path=snakemake.input.cka, out_path=snakemake.output.figure, dpi=snakemake.params.dpi
    )
